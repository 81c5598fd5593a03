// Builders for API objects as the API server returns them, and a bounded polling wait.
import type { KubeObject } from './server.js';

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { kind: 'Namespace', apiVersion: 'v1', metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } } };
}

export interface PodOpts {
  labels?: Record<string, string>;
  ips?: string[];
  node?: string;
  phase?: string;
  hostNetwork?: boolean;
  ports?: { name: string; containerPort: number; protocol?: string }[];
  /** metadata.creationTimestamp (RFC 3339). */
  created?: string;
}

/** `pod('x/a', {ips: ['192.0.2.10']})`: a running pod carrying the noise a real one has
 *  (annotations, conditions, container statuses) that the slim store must drop. */
export function pod(ref: string, o: PodOpts = {}): KubeObject {
  const [ns, name] = ref.split('/') as [string, string];
  const ips = o.ips ?? [];
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, namespace: ns, labels: o.labels ?? {}, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z' }, uid: `uid-${ns}-${name}`, ...(o.created ? { creationTimestamp: o.created } : {}) },
    spec: {
      nodeName: o.node ?? 'node-1',
      hostNetwork: o.hostNetwork,
      containers: [{ name: 'main', image: 'registry.example/app:1', ports: o.ports ?? [] }],
    },
    status: {
      phase: o.phase ?? 'Running',
      podIP: ips[0],
      podIPs: ips.map((ip) => ({ ip })),
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'registry.example/app:1', imageID: 'sha256:0', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
    },
  };
}

export function policy(ref: string, spec: Record<string, unknown>): KubeObject {
  const [ns, name] = ref.split('/') as [string, string];
  return { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { name, namespace: ns }, spec };
}

/** Polls `cond` every few ms until it holds; fails naming `what` after `timeoutMs` (real
 *  time, generous: the machine is shared). Returns the last value of `cond`. */
export async function waitFor<T>(what: string, cond: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
