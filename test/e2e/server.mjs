// Serves one pod (or node) of the e2e topology: TCP and UDP echo on the given ports, IPv4
// and IPv6, until killed. Plain JavaScript so that starting nine of them costs no compile.
// usage: node server.mjs PORT[,PORT...]
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const ports = (process.argv[2] ?? '80,81').split(',').map(Number);
let pending = ports.length * 4;
const ready = () => {
  // One line on stdout tells the topology every socket is bound.
  if (--pending === 0) process.stdout.write('ready\n');
};

for (const port of ports) {
  for (const host of ['0.0.0.0', '::']) {
    const tcp = createServer((c) => {
      c.on('error', () => c.destroy());
      c.pipe(c); // echo: the revocation case exchanges messages on one long-lived connection
    });
    tcp.on('error', (e) => { process.stderr.write(`tcp ${host} ${port}: ${e.message}\n`); process.exit(1); });
    tcp.listen({ host, port, ipv6Only: host === '::' }, ready);

    const udp = createSocket({ type: host === '::' ? 'udp6' : 'udp4', ipv6Only: host === '::' });
    udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
    udp.on('error', (e) => { process.stderr.write(`udp ${host} ${port}: ${e.message}\n`); process.exit(1); });
    udp.bind({ address: host, port }, ready);
  }
}
// Dies with its parent: stdin is a pipe from the test run.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
