// Load generators for the wire benchmark, built by bench/wire.ts with gcc.
// (netperf TCP_CRR is not in Debian main; iperf3's 64-byte UDP is bound by iperf3 itself at a
// rate too low to show a firewall's per-packet cost.)
//
//   loadgen server PORT WORKERS               TCP accept loop in WORKERS processes, until killed
//   loadgen client IP PORT SECONDS WORKERS    new connections for SECONDS: prints "ok errors seconds"
//   loadgen udp-sink PORT SECONDS             counts datagrams: prints "packets seconds", where
//                                             seconds is first to last packet; ends 0.5 s after
//                                             the last packet or SECONDS + 5 s after the start
//   loadgen udp-flood IP PORT SECONDS WORKERS 64-byte datagrams (sendmmsg batches) for SECONDS
//
// Every client iteration is a fresh TCP connection (connect, 1-byte request, 1-byte reply,
// close), so the firewall decides each one from its first packet. The client closes with
// SO_LINGER 0 (an RST): no TIME_WAIT, so ephemeral ports never run out and the bound is the
// firewall, not the port range.
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
    perror("loadgen server: bind/listen");
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
    fprintf(stderr, "loadgen client: bad address %s\n", ip);
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

static int udp_sink(int port, double seconds) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 8 << 20;
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("loadgen udp-sink: bind");
    return 1;
  }
  struct timeval tv = {.tv_usec = 100000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  enum { B = 64 };
  static char bufs[B][2048];
  struct mmsghdr m[B];
  struct iovec io[B];
  for (int i = 0; i < B; i++) {
    io[i] = (struct iovec){bufs[i], sizeof bufs[i]};
    m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &io[i], .msg_iovlen = 1}};
  }
  double start = now(), first = 0, last = 0;
  long n = 0;
  for (;;) {
    double t = now();
    if (t > start + seconds + 5 || (n > 0 && t - last > 0.5)) break;
    int got = recvmmsg(s, m, B, 0, NULL);
    if (got <= 0) continue;
    t = now();
    if (n == 0) first = t;
    last = t;
    n += got;
  }
  printf("%ld %.6f\n", n, last - first);
  return 0;
}

static int udp_flood(const char *ip, int port, double seconds, int workers) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "loadgen udp-flood: bad address %s\n", ip);
    return 2;
  }
  double end = now() + seconds;
  for (int w = 0; w < workers; w++) {
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int s = socket(AF_INET, SOCK_DGRAM, 0);
      if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) _exit(1);
      enum { B = 64 };
      static char payload[64];
      struct mmsghdr m[B];
      struct iovec io = {payload, sizeof payload};
      for (int i = 0; i < B; i++) m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &io, .msg_iovlen = 1}};
      while (now() < end) (void)sendmmsg(s, m, B, 0);
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {}
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 4 && strcmp(argv[1], "server") == 0) return serve(atoi(argv[2]), atoi(argv[3]));
  if (argc == 6 && strcmp(argv[1], "client") == 0) return client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
  if (argc == 4 && strcmp(argv[1], "udp-sink") == 0) return udp_sink(atoi(argv[2]), atof(argv[3]));
  if (argc == 6 && strcmp(argv[1], "udp-flood") == 0) return udp_flood(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
  fprintf(stderr, "usage: loadgen server PORT WORKERS | client IP PORT SECONDS WORKERS | udp-sink PORT SECONDS | udp-flood IP PORT SECONDS WORKERS\n");
  return 2;
}
