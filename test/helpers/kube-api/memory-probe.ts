// Measures what the Kubernetes source keeps per pod: N realistic pods go through the real
// reflector (paged list → parsePod → slim store), pages generated on the fly so that only
// the store stays reachable; heap after minus heap before, with forced GCs, over N.
//
//   node --expose-gc --import tsx test/helpers/kube-api/memory-probe.ts [PODS]
//
// Prints one JSON line: {"pods":N,"heapBytes":B,"bytesPerPod":B/N,"listMs":T}.
import type { PodInfo } from '../../../compiler/index.js';
import { Backoff } from '../../../controller/kube/backoff.js';
import { Reflector, type WatchClient } from '../../../controller/kube/reflector.js';
import { slimParsers, type ListPage, type Resource } from '../../../controller/kube/resources.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('memory-probe: run node with --expose-gc\n');
  process.exit(2);
}

const total = Number(process.argv[2] ?? 100_000);

/** Pod i as the API server sends it: a Deployment replica with the usual metadata noise. */
function apiPod(i: number): unknown {
  const app = `app-${i % 997}`;
  const ns = `team-${i % 101}`;
  const hash = (((i % 997) * 2654435761) >>> 0).toString(16).slice(0, 10);
  const a = (i >> 16) & 255, b = (i >> 8) & 255, c = i & 255;
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: {
      name: `${app}-${hash}-${(i * 7919).toString(36).slice(-5)}`, namespace: ns, uid: `0d8e7f0c-1b7a-4c4e-9f7e-${String(i).padStart(12, '0')}`,
      resourceVersion: String(1000 + i), creationTimestamp: new Date(1_700_000_000_000 + i * 1000).toISOString(),
      labels: { app, 'app.kubernetes.io/name': app, 'pod-template-hash': hash, tier: i % 3 === 0 ? 'web' : 'backend' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z', 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hash}`, uid: 'x', controller: true }],
    },
    spec: {
      nodeName: `node-${i % 500}`,
      containers: [
        { name: 'main', image: 'registry.example/app:1.2.3', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }], env: [{ name: 'A', value: 'b' }], resources: { requests: { cpu: '100m', memory: '128Mi' } } },
        { name: 'sidecar', image: 'registry.example/proxy:2', ports: [{ name: 'admin', containerPort: 15000, protocol: 'TCP' }] },
      ],
      serviceAccountName: 'default', restartPolicy: 'Always',
    },
    status: {
      phase: 'Running', hostIP: '192.0.2.1',
      podIP: `10.${a}.${b}.${c}`, podIPs: [{ ip: `10.${a}.${b}.${c}` }, { ip: `fd00::${a.toString(16)}:${b.toString(16)}:${c.toString(16)}` }],
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'registry.example/app:1.2.3', imageID: 'sha256:00', containerID: 'containerd://00', started: true, state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
    },
  };
}

const pageSize = 500;
const resource: Resource<PodInfo> = {
  kind: 'pod', path: '/api/v1/pods', namespaced: true, parse: slimParsers().pod,
  list: async (limit, cont): Promise<ListPage> => {
    const from = cont ? Number(cont) : 0;
    const to = Math.min(total, from + limit);
    const items: unknown[] = [];
    for (let i = from; i < to; i++) items.push(apiPod(i));
    return { items, resourceVersion: '5000000', continueToken: to < total ? String(to) : undefined };
  },
};

// The watch never delivers anything: the probe only measures what the list left behind.
let stopWatch: ((err: unknown) => void) | undefined;
const watchClient: WatchClient = {
  watch: async (_p, _q, _cb, done) => {
    stopWatch = done;
    return new AbortController();
  },
};

gc();
gc();
const before = process.memoryUsage().heapUsed;
const reflector = new Reflector<PodInfo>(resource, {
  clock: Date.now, sleep: async () => {}, backoff: new Backoff({ minMs: 1, maxMs: 1 }), watchClient,
  logger: { info: () => {}, warn: (m) => process.stderr.write(m + '\n'), error: (m) => process.stderr.write(m + '\n') },
  hooks: () => undefined, pageSize, watchTimeoutSeconds: () => 300, idleMs: 1e9, checkEveryMs: 1e9, listTimeoutMs: 600_000,
});
const t0 = Date.now();
await new Promise<void>((resolve) => void reflector.run(resolve));
const listMs = Date.now() - t0;
gc();
gc();
const after = process.memoryUsage().heapUsed;
if (reflector.store.size !== total) throw new Error(`store holds ${reflector.store.size} pods, expected ${total}`);
process.stdout.write(JSON.stringify({ pods: total, heapBytes: after - before, bytesPerPod: Math.round((after - before) / total), listMs }) + '\n');
reflector.stop();
stopWatch?.(null);
