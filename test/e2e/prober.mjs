// Probes from inside one pod's network namespace.
//
// One-shot: node prober.mjs '[{"host":"192.0.2.11","port":80,"proto":"tcp"}, ...]'
//   probes every target in parallel and prints a JSON array of booleans (true = reached).
// Serving:  node prober.mjs --serve
//   reads one JSON request per line on stdin and answers one JSON line per request:
//   {"id":1,"op":"probe","targets":[...],"timeoutMs":1000}      -> {"id":1,"results":[true,...]}
//   {"id":2,"op":"open","conn":"k","host":"..","port":80,"proto":"tcp"} -> {"id":2,"ok":true}
//   {"id":3,"op":"send","conn":"k","timeoutMs":1500}           -> {"id":3,"ok":true}  (echo came back)
//   {"id":4,"op":"close","conn":"k"}                            -> {"id":4,"ok":true}
// The test run keeps one serving prober per pod, so a probe costs no process start.
// TCP: reached = the connection was accepted within the timeout. UDP: reached = the echo of a
// unique payload came back; sent twice (half the timeout each) since UDP may lose a packet.
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { isIPv6 } from 'node:net';

let seq = 0;

function probeTcp(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.once('connect', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
  });
}

function probeUdp(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    const payload = Buffer.from(`probe-${process.pid}-${++seq}`);
    let tries = 0, timer;
    const done = (ok) => { clearTimeout(timer); try { s.close(); } catch {} resolve(ok); };
    const send = () => {
      if (tries++ === 2) return done(false);
      s.send(payload, () => {});
      timer = setTimeout(send, timeoutMs / 2);
    };
    s.on('message', (m) => { if (m.equals(payload)) done(true); });
    s.on('error', () => done(false));
    s.connect(port, host, (err) => (err ? done(false) : send()));
  });
}

/** How a TCP connect ends: 'connected', 'timeout' (dropped), or the error code ('ECONNREFUSED'
 *  for a reject, 'EHOSTUNREACH' for an ICMP error). */
function connectOutcome(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const done = (why) => { s.destroy(); resolve(why); };
    s.once('connect', () => done('connected'));
    s.once('timeout', () => done('timeout'));
    s.once('error', (e) => done(e.code ?? 'error'));
  });
}

export function probe(t, timeoutMs = 1000) {
  return t.proto === 'udp' ? probeUdp(t.host, t.port, timeoutMs) : probeTcp(t.host, t.port, timeoutMs);
}

// ---------------------------------------------------------------- long-lived flows

const conns = new Map();

/** A flow that keeps its 5-tuple: one TCP connection or one connected UDP socket. */
function openConn(t) {
  return new Promise((resolve) => {
    let inbox = Buffer.alloc(0);
    const waiters = [];
    const onData = (d) => {
      inbox = Buffer.concat([inbox, d]);
      for (const w of [...waiters]) w();
    };
    const conn = { proto: t.proto, sock: undefined, inbox: () => inbox, waiters, seq: 0 };
    if (t.proto === 'udp') {
      const s = createSocket(isIPv6(t.host) ? 'udp6' : 'udp4');
      conn.sock = s;
      s.on('message', onData);
      s.on('error', () => {});
      s.connect(t.port, t.host, (err) => resolve(err ? undefined : conn));
    } else {
      const s = connect({ host: t.host, port: t.port, timeout: t.timeoutMs ?? 2000 });
      conn.sock = s;
      s.on('data', onData);
      s.once('connect', () => { s.setTimeout(0); resolve(conn); });
      s.once('timeout', () => { s.destroy(); resolve(undefined); });
      s.on('error', () => resolve(undefined));
    }
  });
}

/** Sends one unique message and waits for its echo (TCP retransmits on its own). */
function sendConn(conn, timeoutMs) {
  return new Promise((resolve) => {
    const msg = `m${++conn.seq}-${process.pid};`;
    const check = () => {
      if (conn.inbox().includes(msg)) finish(true);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (ok) => {
      clearTimeout(timer);
      const i = conn.waiters.indexOf(check);
      if (i >= 0) conn.waiters.splice(i, 1);
      resolve(ok);
    };
    conn.waiters.push(check);
    if (conn.proto === 'udp') conn.sock.send(Buffer.from(msg), () => {});
    else conn.sock.write(msg);
  });
}

async function handle(req) {
  switch (req.op) {
    case 'probe':
      return { results: await Promise.all(req.targets.map((t) => probe(t, req.timeoutMs ?? 1000))) };
    case 'connectOutcome':
      return { outcome: await connectOutcome(req.host, req.port, req.timeoutMs ?? 1000) };
    case 'open': {
      const c = await openConn(req);
      if (c) conns.set(req.conn, c);
      return { ok: !!c };
    }
    case 'send': {
      const c = conns.get(req.conn);
      return { ok: c ? await sendConn(c, req.timeoutMs ?? 1500) : false };
    }
    case 'close': {
      const c = conns.get(req.conn);
      conns.delete(req.conn);
      if (c) c.proto === 'udp' ? c.sock.close() : c.sock.destroy();
      return { ok: true };
    }
    default:
      return { error: `unknown op ${JSON.stringify(req.op)}` };
  }
}

if (process.argv[2] === '--serve') {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let req;
    try { req = JSON.parse(line); } catch { process.stdout.write(JSON.stringify({ error: 'bad json' }) + '\n'); return; }
    handle(req).then((r) => process.stdout.write(JSON.stringify({ id: req.id, ...r }) + '\n'));
  });
  rl.on('close', () => process.exit(0));
  process.stdout.write('ready\n');
} else if (process.argv[2]) {
  const targets = JSON.parse(process.argv[2]);
  Promise.all(targets.map((t) => probe(t))).then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}
