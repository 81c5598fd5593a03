// The agent's HTTP face on --metrics-address: /metrics, /healthz, /readyz.
//
// /healthz (liveness) fails only when a change has waited past --health-timeout without
// reaching the kernel: a transient nft failure must not get the pod restarted (a restart
// would not fix nft, and the last good ruleset is still in force), but an agent that has
// stopped applying changes is worth restarting.
// /readyz succeeds once the source has listed everything and the first full sync is in the
// kernel: from then on this node enforces the cluster's policies.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthState {
  /** Source synced and first full sync applied. */
  ready(): boolean;
  /** How long the oldest unapplied change has waited, in ms (0: none). */
  unappliedFor(): number;
  readonly healthTimeoutMs: number;
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
  return s.ready() ? { ok: true, message: 'ok' } : { ok: false, message: 'waiting for the cluster state and the first full sync' };
}

export function startHttp(registry: Registry, state: HealthState, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    const check = (c: Check) => send(c.ok ? 200 : 500, 'text/plain; charset=utf-8', c.message + '\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (m) => send(200, registry.contentType, m),
          (e: Error) => send(500, 'text/plain', `collecting metrics failed: ${e.message}\n`),
        );
        return;
      case '/healthz':
        return check(liveness(state));
      case '/readyz':
        return check(readiness(state));
      default:
        return send(404, 'text/plain', 'not found: /metrics, /healthz, /readyz\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
