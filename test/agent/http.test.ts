// The HTTP listener (/metrics, /healthz, /readyz) on its own, without a kernel: it runs in a
// worker thread, so it answers while the main thread is blocked, and it defends itself against
// the pods that can reach it: slow or idle connections are closed, connections are capped in
// all and per client, and the node's own addresses keep slots of their own for the probes.
//
// Client addresses: the whole of 127.0.0.0/8 is loopback, so a test picks its source address
// (127.0.0.1 plays a pod, 127.0.0.2 the node itself through `reservedSources`).
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { DEFAULT_HTTP_LIMITS, startHttp, type HealthState, type HttpLimits, type HttpServer } from '../../controller/health.js';

const POD = '127.0.0.1', NODE_ADDR = '127.0.0.2';

interface Started { server: HttpServer; rejected: string[]; state: { ready: boolean; unappliedFor: number } }

async function start(limits: Partial<HttpLimits>, healthTimeoutMs = 60_000): Promise<Started> {
  const registry = new Registry();
  new Gauge({ name: 'test_gauge', help: 'a gauge', registers: [registry] }).set(7);
  const state = { ready: true, unappliedFor: 0 };
  const health: HealthState = { ready: () => state.ready, unappliedFor: () => state.unappliedFor, healthTimeoutMs };
  const rejected: string[] = [];
  const server = await startHttp(registry, health, '127.0.0.1', 0, { ...DEFAULT_HTTP_LIMITS, reservedSources: [NODE_ADDR], ...limits }, { onRejected: (r) => rejected.push(r) });
  return { server, rejected, state };
}

/** One HTTP/1.1 request on a raw socket from `from`; resolves with the status line's code, or
 *  'closed' when the server closed the connection without an answer. */
function request(port: number, path: string, from = POD): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    let data = '';
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`));
    s.on('data', (b) => { data += b.toString(); });
    s.on('error', () => {});
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d+)/.exec(data);
      resolve(m ? Number(m[1]) : 'closed');
    });
  });
}

/** A keep-alive connection that has been answered once (so the server has surely counted it). */
function held(port: number, from = POD): Promise<Socket | 'closed'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    s.on('error', () => {});
    s.on('connect', () => s.write('GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.once('data', () => resolve(s));
    s.on('close', () => resolve('closed'));
  });
}

const closed = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

/** Runs a fetch in a child process while this thread waits for it synchronously: the main
 *  thread is blocked for the whole request, as during a long compile. */
function fetchWhileBlocked(url: string, delayMs = 0): { status: number; stale?: string; body: string } {
  const script = `setTimeout(async () => { const r = await fetch(${JSON.stringify(url)}); console.log(JSON.stringify({ status: r.status, stale: r.headers.get('x-netpol-nft-stale-seconds') ?? undefined, body: await r.text() })); }, ${delayMs});`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`child fetch failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; stale?: string; body: string };
}

describe('agent: HTTP listener limits', function () {
  this.timeout(20_000);
  let s: Started | undefined;
  afterEach(async () => {
    await s?.server.close();
    s = undefined;
  });

  it('serves /metrics, /healthz, /readyz, 404 and 405 as before', async () => {
    s = await start({});
    const base = `http://127.0.0.1:${s.server.port}`;
    const m = await fetch(`${base}/metrics`);
    expect(m.status).to.equal(200);
    expect(await m.text()).to.include('test_gauge 7');
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    expect((await fetch(`${base}/readyz`)).status).to.equal(200);
    s.state.ready = false;
    const r = await fetch(`${base}/readyz`);
    expect([r.status, await r.text()]).to.deep.equal([500, 'waiting for the cluster state and the first full sync\n']);
    expect((await fetch(`${base}/nothing`)).status).to.equal(404);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).to.equal(405);
  });

  it('closes a connection that never sends a request', async () => {
    s = await start({ idleTimeoutMs: 300 });
    const sock = connect({ host: '127.0.0.1', port: s.server.port, localAddress: POD });
    sock.on('error', () => {});
    let ended = false;
    sock.on('end', () => { ended = true; });
    await closed(sock);
    expect(ended || sock.destroyed).to.equal(true);
    expect(s.rejected).to.include('timeout');
  });

  it('closes a slowloris connection whose headers never end, though it keeps sending', async () => {
    s = await start({ headersTimeoutMs: 400, requestTimeoutMs: 800, idleTimeoutMs: 10_000 });
    const sock = connect({ host: '127.0.0.1', port: s.server.port, localAddress: POD });
    sock.on('error', () => {});
    let data = '';
    sock.on('data', (b) => { data += b.toString(); });
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /metrics HTTP/1.1\r\nhost: x\r\n');
    let sent = 0;
    const drip = setInterval(() => { if (!sock.destroyed) { sock.write(`x-${sent++}: y\r\n`); } }, 50);
    await closed(sock);
    clearInterval(drip);
    expect(data, 'never answered with metrics').to.not.include('test_gauge');
    expect(sent, 'the client was still sending when it was cut').to.be.greaterThan(2);
  });

  it('caps connections in all; the node\'s own address still gets /healthz; a freed slot is usable again', async () => {
    s = await start({ maxConnections: 4, maxConnectionsPerClient: 100, reservedConnections: 2 });
    const port = s.server.port;
    const open: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const h = await held(port);
      expect(h, `connection ${i + 1} of 4`).to.not.equal('closed');
      open.push(h as Socket);
    }
    expect(await request(port, '/healthz'), 'a fifth from a pod').to.equal('closed');
    expect(s.rejected).to.include('limit');
    expect(await request(port, '/healthz', NODE_ADDR), 'the kubelet, from the node').to.equal(200);
    open.pop()!.destroy();
    // The server learns of the close asynchronously: retry until the slot is free.
    let status: number | 'closed' = 'closed';
    for (let i = 0; i < 50 && status === 'closed'; i++) status = await request(port, '/healthz');
    expect(status).to.equal(200);
    for (const o of open) o.destroy();
  });

  it('caps connections per client address, so one pod cannot take every slot', async () => {
    s = await start({ maxConnections: 10, maxConnectionsPerClient: 2 });
    const port = s.server.port;
    const a = [await held(port), await held(port)];
    expect(a).to.not.include('closed');
    expect(await request(port, '/healthz')).to.equal('closed');
    expect(s.rejected).to.include('client_limit');
    expect(await request(port, '/healthz', '127.0.0.3'), 'another client').to.equal(200);
    for (const o of a) (o as Socket).destroy();
  });

  it('answers /healthz and /readyz while the main thread is blocked, and /metrics from its last page', async () => {
    s = await start({ metricsWaitMs: 200, stateWaitMs: 50 });
    const base = `http://127.0.0.1:${s.server.port}`;
    expect((await fetch(`${base}/metrics`)).status).to.equal(200); // the page to fall back on
    const h = fetchWhileBlocked(`${base}/healthz`);
    expect([h.status, h.body]).to.deep.equal([200, 'ok\n']);
    expect(fetchWhileBlocked(`${base}/readyz`).status).to.equal(200);
    const m = fetchWhileBlocked(`${base}/metrics`);
    expect(m.status).to.equal(200);
    expect(m.body).to.include('test_gauge 7');
    expect(m.stale, 'marked as a page from before').to.match(/^\d+$/);
  });

  it('before a first page exists, /metrics waits for a busy main thread rather than failing', async () => {
    s = await start({ metricsWaitMs: 200, requestTimeoutMs: 10_000 });
    const url = `http://127.0.0.1:${s.server.port}/metrics`;
    const child = spawn(process.execPath, ['-e', `fetch(${JSON.stringify(url)}).then(async (r) => console.log(r.status, r.headers.has('x-netpol-nft-stale-seconds'), (await r.text()).includes('test_gauge 7')))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    // Busy for much longer than metricsWaitMs while the child's scrape is in flight.
    const end = Date.now() + 2000;
    while (Date.now() < end) { /* a long compile */ }
    await new Promise((r) => child.once('close', r));
    expect(out.trim()).to.equal('200 false true');
  });

  it('/healthz fails when the main thread has not run for longer than the health timeout', async () => {
    s = await start({ stateWaitMs: 50 }, 300);
    const base = `http://127.0.0.1:${s.server.port}`;
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    // Blocked for well over the timeout plus a heartbeat before the probe arrives.
    const h = fetchWhileBlocked(`${base}/healthz`, 1000);
    expect(h.status).to.equal(500);
    expect(h.body).to.match(/has not run for \d+s/);
    expect((await fetch(`${base}/healthz`)).status, 'and recovers').to.equal(200);
  });

  it('/healthz fails once a change has waited past the health timeout', async () => {
    s = await start({}, 1000);
    const base = `http://127.0.0.1:${s.server.port}`;
    s.state.unappliedFor = 5000;
    const r = await fetch(`${base}/healthz`);
    expect([r.status, await r.text()]).to.deep.equal([500, 'a change has waited 5s unapplied (limit 1s)\n']);
    s.state.unappliedFor = 0;
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
  });
});
