// The agent's HTTP face on --metrics-address: /metrics, /healthz, /readyz, served from a
// worker thread (see startHttp) with limits on connections and time (see HttpLimits).
//
// /healthz (liveness) fails only when a change has waited past --health-timeout without
// reaching the kernel, or when the main thread has not run for that long: a transient nft failure must not get the pod restarted (a restart
// would not fix nft, and the last good ruleset is still in force), but an agent that has
// stopped applying changes is worth restarting.
// /readyz succeeds once the source has listed everything and the first full sync is in the
// kernel: from then on this node enforces the cluster's policies. It fails again while the
// source is degraded (a file of --source that cannot be read: its last good objects are in
// force, but later edits of it are not), so that `kubectl get pods` and a rollout show it;
// /healthz stays up, as a restart would not mend a file.
import { Worker } from 'node:worker_threads';
import { prometheusContentType, type Registry } from 'prom-client';
import { HTTP_WORKER_SOURCE, SHARED } from './http-worker.js';
import { OWN_TEXT, type OwnText } from './metrics.js';
import { begin } from './spans.js';

export interface HealthState {
  /** Source synced and first full sync applied. */
  ready(): boolean;
  /** How long the oldest unapplied change has waited, in ms (0: none). */
  unappliedFor(): number;
  readonly healthTimeoutMs: number;
  /** Why the source is degraded now (undefined: it is not). */
  degraded?(): string | undefined;
}

export interface Check {
  ok: boolean;
  message: string;
}

export function liveness(s: HealthState): Check {
  const waited = s.unappliedFor();
  return waited > s.healthTimeoutMs
    ? { ok: false, message: `a change has waited ${Math.round(waited / 1000)}s unapplied (limit ${Math.round(s.healthTimeoutMs / 1000)}s)` }
    : { ok: true, message: 'ok' };
}

export function readiness(s: HealthState): Check {
  if (!s.ready()) return { ok: false, message: 'waiting for the cluster state and the first full sync' };
  const d = s.degraded?.();
  return d ? { ok: false, message: d } : { ok: true, message: 'ok' };
}

/** The listener's limits. Every pod of the node can reach it (hostNetwork): these keep a
 *  flood of connections or a slow client from using up the agent's file descriptors or
 *  starving the kubelet's probes. */
export interface HttpLimits {
  /** Connections open at once, from all clients together. */
  readonly maxConnections: number;
  /** Connections open at once from one client address (the node's own addresses excepted). */
  readonly maxConnectionsPerClient: number;
  /** Extra connections only the node's own addresses may use (the kubelet's probes). */
  readonly reservedConnections: number;
  /** Time to receive a request's headers, and the whole request. */
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** An idle connection (no request yet, or between keep-alive requests) is closed after this. */
  readonly idleTimeoutMs: number;
  /** How long /metrics waits for the main thread before it serves the last page it has
   *  (before a first page exists, it waits up to the request timeout instead). */
  readonly metricsWaitMs: number;
  /** How long /healthz and /readyz wait for the main thread to refresh the shared state
   *  before they answer from the state it last wrote. */
  readonly stateWaitMs: number;
  /** Addresses that may use the reserved connections (default: the node's own addresses). */
  readonly reservedSources?: readonly string[];
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 32,
  maxConnectionsPerClient: 4,
  reservedConnections: 8,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 10_000,
  metricsWaitMs: 500,
  stateWaitMs: 100,
};

/** The running listener. */
export interface HttpServer {
  readonly port: number;
  /** Writes the health state for the listener now (it is also written every heartbeat). */
  publish(): void;
  close(): Promise<void>;
}

export interface HttpEvents {
  /** A connection closed by the limits (for the rejected-connections metric). */
  onRejected?(reason: string): void;
}

/** How often the main thread writes its heartbeat and health state for the listener. */
export const HEARTBEAT_MS = 250;

/**
 * Serves /metrics, /healthz and /readyz from a worker thread (http-worker.ts). /healthz and
 * /readyz are answered from shared memory the main thread writes every HEARTBEAT_MS, so they
 * answer while the main thread is busy; /healthz also fails when the main thread has not
 * written for longer than the health timeout (a stuck agent is worth restarting).
 */
export function startHttp(registry: Registry, state: HealthState, host: string, port: number, limits: HttpLimits = DEFAULT_HTTP_LIMITS, events: HttpEvents = {}): Promise<HttpServer> {
  const shared = new SharedArrayBuffer(SHARED.size * Float64Array.BYTES_PER_ELEMENT);
  const view = new Float64Array(shared);
  const publish = () => {
    const now = Date.now();
    const waited = state.unappliedFor();
    view[SHARED.healthTimeoutMs] = state.healthTimeoutMs;
    view[SHARED.ready] = state.ready() ? 1 : 0;
    view[SHARED.degraded] = state.degraded?.() ? 1 : 0;
    view[SHARED.unappliedSince] = waited > 0 ? now - waited : 0;
    view[SHARED.heartbeat] = now;
  };
  publish();
  const { reservedSources, ...rest } = limits;
  const worker = new Worker(HTTP_WORKER_SOURCE, { eval: true, workerData: { host, port, limits: rest, shared, reservedSources } });
  const beat = setInterval(publish, HEARTBEAT_MS);
  beat.unref();
  let closed: (() => void) | undefined;
  let exited = false;
  worker.once('exit', () => { exited = true; });
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      clearInterval(beat);
      void worker.terminate();
      reject(e);
    };
    worker.once('error', fail);
    worker.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'listening':
          worker.off('error', fail);
          worker.on('error', () => {}); // a crash after start ends the worker; /healthz then stops answering
          resolve({
            port: m.port,
            publish,
            close: () => new Promise<void>((r) => {
              clearInterval(beat);
              if (exited) return r();
              // The worker closes its server (and its connections), then is ended; a worker
              // that died or does not answer is ended all the same.
              worker.once('exit', () => r());
              closed = () => void worker.terminate();
              setTimeout(closed, 1000).unref();
              worker.postMessage({ type: 'close' });
            }),
          });
          return;
        case 'error':
          fail(Object.assign(new Error(`cannot listen on ${host}:${port}: ${m.message}`), { code: m.code }));
          return;
        case 'closed':
          closed?.();
          return;
        case 'rejected':
          events.onRejected?.(m.reason);
          return;
        case 'state':
          publish();
          worker.postMessage({ type: 'state', id: m.id });
          return;
        case 'metrics':
          renderSliced(registry).then(
            (body) => worker.postMessage({ type: 'metrics', id: m.id, ok: true, body, contentType: registry.contentType }),
            (e: Error) => worker.postMessage({ type: 'metrics', id: m.id, ok: false, error: e.message }),
          );
          return;
      }
    });
  });
}

/** The page registry.metrics() makes (the Prometheus text format), one metric at a time with
 *  a turn of the event loop between them: at 5,000 local pods the two drop metrics hold
 *  10,000 series, and rendering the page in one go held the loop for 45 ms and more. */
export async function renderSliced(registry: Registry, pause: () => Promise<void> = () => new Promise((r) => setImmediate(r))): Promise<string> {
  const parts: string[] = [];
  // A metric that writes its own text (metrics.ts OWN_TEXT) writes the Prometheus text format
  // without default labels; anything else goes through prom-client.
  const ownText = registry.contentType === prometheusContentType && !Object.keys((registry as unknown as { _defaultLabels?: object })._defaultLabels ?? {}).length;
  for (const m of registry.getMetricsAsArray()) {
    // A span only when the metric was collected and rendered in one stretch (no turn of the
    // loop in between: no I/O awaited), so that it names time the thread was held.
    let turned = false;
    const turn = setImmediate(() => { turned = true; });
    const end = begin(`metrics: render ${m.name}`);
    const own = ownText ? (m as OwnText)[OWN_TEXT] : undefined;
    parts.push(await (own ? own() : registry.getSingleMetricAsString(m.name)));
    if (!turned) end();
    clearImmediate(turn);
    await pause();
  }
  return `${parts.join('\n\n')}\n`;
}

type WorkerMessage =
  | { type: 'listening'; port: number }
  | { type: 'error'; message: string; code?: string }
  | { type: 'closed' }
  | { type: 'rejected'; reason: string }
  | { type: 'metrics' | 'state'; id: number };
