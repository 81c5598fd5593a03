// The HTTP listener of /metrics, /healthz and /readyz, run in a worker thread (health.ts
// starts it) so that it keeps answering while the main thread is busy: a large compile holds
// the main event loop for seconds, and a liveness probe that times out then would restart a
// healthy agent in the middle of its work.
//
// The worker reads the agent's health from a SharedArrayBuffer the main thread writes (no
// message needed, so /healthz and /readyz never wait for the main loop) and forwards /metrics
// to the main thread (prom-client lives there), answering with the last good page when the
// main thread does not reply in time.
//
// The listener is reachable from every pod of the node (hostNetwork), so it defends itself:
// a cap on connections in all and per client address (with slots kept for the node's own
// addresses, where the kubelet's probes come from), short header, request and idle timeouts.
//
// Plain JavaScript in a string, evaluated by `new Worker(..., { eval: true })`: a worker cannot
// load a .ts file under tsx (the loader is not inherited), and a string works the same from
// source and from dist/. Keep it small; the logic worth testing lives in health.ts.

/** Layout of the shared state (Float64Array indices). */
export const SHARED = {
  /** Date.now() of the main loop's last heartbeat. */
  heartbeat: 0,
  /** 1 when ready (/readyz). */
  ready: 1,
  /** Date.now() since which a change has waited unapplied (0: none). */
  unappliedSince: 2,
  /** --health-timeout in ms. */
  healthTimeoutMs: 3,
  /** 1 while a file of --source cannot be read or parsed (/readyz fails). */
  degraded: 4,
  size: 5,
} as const;

export const HTTP_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { networkInterfaces } = require('node:os');

const { host, port, limits, shared, reservedSources } = workerData;
const state = new Float64Array(shared);
const I = ${JSON.stringify(SHARED)};

// Addresses whose connections may use the reserved slots: the node's own (the kubelet
// probes the pod IP, which is the node's address under hostNetwork), unless told otherwise.
const norm = (a) => (a || '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
const reserved = new Set(
  (reservedSources || Object.values(networkInterfaces()).flat().map((i) => i.address)).map(norm),
);

let open = 0;
const perClient = new Map();
const rejected = (reason) => parentPort.postMessage({ type: 'rejected', reason });

const pending = new Map();
let nextId = 1;
let lastPage;
parentPort.on('message', (m) => {
  if (m.type !== 'metrics' && m.type !== 'state') return;
  // A page that came too late for its scrape still serves the next busy one.
  if (m.type === 'metrics' && m.ok) lastPage = { body: m.body, contentType: m.contentType, at: Date.now() };
  const p = pending.get(m.id);
  if (!p) return;
  pending.delete(m.id);
  clearTimeout(p.timer);
  p.done(m);
});

// Asks the main thread for something; gives up after waitMs (then done gets undefined).
function ask(type, waitMs, done) {
  const id = nextId++;
  const timer = setTimeout(() => { pending.delete(id); done(undefined); }, waitMs);
  pending.set(id, { timer, done });
  parentPort.postMessage({ type, id });
}

function liveness(now) {
  const timeout = state[I.healthTimeoutMs];
  const beat = now - state[I.heartbeat];
  if (beat > timeout) return [false, 'the agent has not run for ' + Math.round(beat / 1000) + 's (limit ' + Math.round(timeout / 1000) + 's)'];
  const since = state[I.unappliedSince];
  const waited = since > 0 ? now - since : 0;
  if (waited > timeout) return [false, 'a change has waited ' + Math.round(waited / 1000) + 's unapplied (limit ' + Math.round(timeout / 1000) + 's)'];
  return [true, 'ok'];
}

const server = http.createServer({
  headersTimeout: limits.headersTimeoutMs,
  requestTimeout: limits.requestTimeoutMs,
  keepAliveTimeout: limits.idleTimeoutMs,
  // How often Node looks for requests past their timeouts (default 30 s).
  connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 2)),
  maxHeaderSize: 8192,
}, (req, res) => {
  const path = (req.url || '/').split('?')[0];
  const send = (code, type, body, headers) => {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(code, Object.assign({ 'content-type': type }, headers || {}));
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const check = (c) => send(c[0] ? 200 : 500, 'text/plain; charset=utf-8', c[1] + '\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
  switch (path) {
    // The main thread refreshes the shared state when it can answer at once; when it is
    // busy, the state it last wrote (at most a heartbeat old) is the answer.
    case '/healthz':
      return ask('state', limits.stateWaitMs, () => check(liveness(Date.now())));
    case '/readyz':
      return ask('state', limits.stateWaitMs, () => check(state[I.ready] !== 1 ? [false, 'waiting for the cluster state and the first full sync']
        : state[I.degraded] === 1 ? [false, 'source: files of --source cannot be read or parsed; their last good objects stay in force (the log names them; netpol_nft_source_files_failing counts them)'] : [true, 'ok']));
    // Until a first page exists there is nothing to fall back on: wait longer then (up to the
    // request timeout), rather than answer 503 to a scrape that a second more would serve.
    case '/metrics':
      return ask('metrics', lastPage ? limits.metricsWaitMs : Math.max(limits.metricsWaitMs, limits.requestTimeoutMs - 1000), (m) => {
        if (m && m.ok) send(200, m.contentType, m.body);
        else if (m) send(500, 'text/plain', 'collecting metrics failed: ' + m.error + '\n');
        else if (lastPage) send(200, lastPage.contentType, lastPage.body, { 'x-netpol-nft-stale-seconds': String(Math.round((Date.now() - lastPage.at) / 1000)) });
        else send(503, 'text/plain', 'the agent is busy; no metrics collected yet\n');
      });
    default:
      return send(404, 'text/plain', 'not found: /metrics, /healthz, /readyz\n');
  }
});
// A connection that stays idle (no request at all, or between requests) is closed.
server.setTimeout(limits.idleTimeoutMs, (socket) => { rejected('timeout'); socket.destroy(); });
server.on('clientError', (err, socket) => {
  if (err && (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT')) rejected('timeout');
  if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  socket.destroy();
});
server.on('connection', (socket) => {
  const client = norm(socket.remoteAddress);
  const own = reserved.has(client);
  const n = perClient.get(client) || 0;
  // Every client counts against the cap; the node's own addresses may also use the reserved
  // slots (and are not held to the per-client cap), so that a flood from pods can never lock
  // the kubelet's probes out.
  const full = open >= limits.maxConnections + (own ? limits.reservedConnections : 0);
  if (full || (!own && n >= limits.maxConnectionsPerClient)) {
    rejected(full ? 'limit' : 'client_limit');
    socket.destroy();
    return;
  }
  open++;
  perClient.set(client, n + 1);
  socket.once('close', () => {
    open--;
    const left = (perClient.get(client) || 1) - 1;
    if (left) perClient.set(client, left);
    else perClient.delete(client);
  });
});
server.once('error', (e) => parentPort.postMessage({ type: 'error', message: e.message, code: e.code }));
server.listen(port, host, () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
parentPort.on('message', (m) => {
  if (m.type !== 'close') return;
  server.close(() => parentPort.postMessage({ type: 'closed' }));
  server.closeAllConnections();
});
`;
