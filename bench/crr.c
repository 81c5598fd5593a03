// Connection-rate load generator for the wire benchmark (netperf TCP_CRR is not in Debian main).
// Every iteration is a fresh TCP connection (connect, 1-byte request, 1-byte reply, close), so
// the firewall decides each one from its first packet. Built by bench/wire.ts with gcc.
//
//   crr server PORT WORKERS                  accept loop in WORKERS processes, until killed
//   crr client IP PORT SECONDS WORKERS       prints "connections errors seconds" and exits
//
// The client closes with SO_LINGER 0 (an RST): no TIME_WAIT, so ephemeral ports never run
// out and the bound is the firewall, not the port range.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int serve(int port, int workers) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4096) != 0) {
    perror("crr server: bind/listen");
    return 1;
  }
  for (int w = 0; w < workers; w++) {
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL); // die with the parent the benchmark kills
      char b;
      for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        if (read(c, &b, 1) == 1) (void)!write(c, &b, 1);
        close(c);
      }
    }
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}

static int client(const char *ip, int port, double seconds, int workers) {
  long *counts = mmap(NULL, sizeof(long) * 2 * workers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  memset(counts, 0, sizeof(long) * 2 * workers);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "crr client: bad address %s\n", ip);
    return 2;
  }
  double start = now(), end = start + seconds;
  for (int w = 0; w < workers; w++) {
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      struct timeval tv = {.tv_sec = 1};
      struct linger lg = {.l_onoff = 1, .l_linger = 0};
      int one = 1;
      char b = 'x';
      long ok = 0, err = 0;
      while (now() < end) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); // bounds connect when dropped
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c, (struct sockaddr *)&a, sizeof a) == 0 && write(c, &b, 1) == 1 && read(c, &b, 1) == 1) ok++;
        else err++;
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c);
      }
      counts[2 * w] = ok;
      counts[2 * w + 1] = err;
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {}
  long ok = 0, err = 0;
  for (int w = 0; w < workers; w++) ok += counts[2 * w], err += counts[2 * w + 1];
  printf("%ld %ld %.3f\n", ok, err, now() - start);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 4 && strcmp(argv[1], "server") == 0) return serve(atoi(argv[2]), atoi(argv[3]));
  if (argc == 6 && strcmp(argv[1], "client") == 0) return client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
  fprintf(stderr, "usage: crr server PORT WORKERS | crr client IP PORT SECONDS WORKERS\n");
  return 2;
}
