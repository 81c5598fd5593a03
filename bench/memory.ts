// Memory held per pod and per policy, two ways, each measured as the V8 heap retained after
// gc() (the objects arrive as JSON text, as from the API server; the text stays reachable as
// a constant baseline, so only what is built from it counts):
//   - slim: the compiler's Cluster objects from clusterFromObjects;
//   - store: the agent's watch caches (controller/kube: SlimStore per kind, the parsers with
//     their Interner), what the Kubernetes source keeps.
import { clusterFromObjects } from '../compiler/index.js';
import { slimParsers } from '../controller/kube/resources.js';
import { SlimStore } from '../controller/kube/store.js';
import { generate, SIZES, type SizeName } from './generate.js';

export interface MemoryResult {
  size: SizeName;
  pods: number; policies: number;
  slim: { podBytes: number; policyBytes: number; bytesPerPod: number; bytesPerPolicy: number };
  store: { podBytes: number; policyBytes: number; bytesPerPod: number; bytesPerPolicy: number };
}

const gc = () => {
  const f = (globalThis as { gc?: () => void }).gc;
  if (!f) throw new Error('run with --expose-gc');
  f();
  f();
};

const heap = () => { gc(); return process.memoryUsage().heapUsed; };

// Each builder runs in its own frame, so that no temporary (the decoded objects) outlives the
// call in a stale interpreter register and gets counted as retained.
function slim(texts: readonly string[]): object {
  return clusterFromObjects(texts.map((s) => JSON.parse(s))).cluster;
}

type Parsers = ReturnType<typeof slimParsers>;
function store(texts: readonly string[], parsers: Parsers): object {
  const pods = new SlimStore<unknown>(), namespaces = new SlimStore<unknown>(), policies = new SlimStore<unknown>();
  for (const t of texts) {
    const o = JSON.parse(t) as { kind: string; metadata: { name: string; namespace?: string } };
    const ns = o.metadata.namespace ?? '', name = o.metadata.name;
    if (o.kind === 'Pod') pods.put(ns, name, parsers.pod(o));
    else if (o.kind === 'Namespace') namespaces.put('', name, parsers.namespace(o));
    else policies.put(ns, name, parsers.networkpolicy(o));
  }
  return { pods, namespaces, policies };
}

export function measureMemory(size: SizeName): MemoryResult {
  const gen = generate(SIZES[size], { wirePair: true });
  const kindOf = (o: unknown) => (o as { kind: string }).kind;
  const podText = gen.objects.filter((o) => kindOf(o) !== 'NetworkPolicy').map((o) => JSON.stringify(o));
  const polText = gen.objects.filter((o) => kindOf(o) === 'NetworkPolicy').map((o) => JSON.stringify(o));
  const pods = gen.objects.filter((o) => kindOf(o) === 'Pod').length, policies = polText.length;
  (gen.objects as unknown[]).length = 0;
  // Warm up: the first parse compiles the parsers' code, which lives on the heap too.
  slim([...podText.slice(0, 300), ...polText.slice(0, 100)]);
  store([...podText.slice(0, 300), ...polText.slice(0, 100)], slimParsers());

  const h0 = heap();
  const a = slim(podText);
  const h1 = heap();
  const b = slim(polText);
  const h2 = heap();
  const parsers = slimParsers();
  const c = store(podText, parsers);
  const h3 = heap();
  const d = store(polText, parsers);
  const h4 = heap();
  // Everything measured stays reachable up to here.
  if (![a, b, c, d].every(Boolean) || podText.length + polText.length === 0) throw new Error('nothing measured');
  const per = (podBytes: number, policyBytes: number) => ({ podBytes, policyBytes, bytesPerPod: podBytes / pods, bytesPerPolicy: policyBytes / policies });
  return { size, pods, policies, slim: per(h1 - h0, h2 - h1), store: per(h3 - h2, h4 - h3) };
}
