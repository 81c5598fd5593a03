// The cluster state from the Kubernetes API: pods, namespaces, network policies, nodes and
// cluster network policies (when their CRD is installed), each listed then watched by its own
// reflector (kube/reflector.ts) into a slim store.
//
// Relists keep serving the old data: synced() turns true once all three initial lists are in
// and stays true. A relist (after 410 Gone) builds a new store on the side and swaps it in
// when complete, so a snapshot never mixes half a list with old state, and after the swap the
// store equals the list — objects deleted while we were disconnected are gone. Flipping to
// "not synced" during an outage would only stop the agent from applying what it does know.
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { sortCluster, type Cluster, type ClusterPolicyInfo, type NamespaceInfo, type NodeInfo, type PodInfo, type PolicyInfo, type Problem } from '../compiler/index.js';
import { Backoff, DEFAULT_BACKOFF } from './kube/backoff.js';
import { Reflector, type Logger, type WatchClient } from './kube/reflector.js';
import { kubeResources } from './kube/resources.js';
import type { ClusterSource, ResourceKind, SourceHooks } from './source.js';

export type { Logger } from './kube/reflector.js';

export interface KubeSourceOptions {
  /** Path of a kubeconfig file (--kubeconfig). */
  kubeconfig?: string;
  /** A ready configuration (tests); wins over everything else. */
  kubeConfig?: KubeConfig;
  logger?: Logger;
  /** ms since the epoch; drives event timestamps and the watchdog. */
  clock?: () => number;
  /** Reconnect backoff: doubles from minMs up to maxMs (jittered down by at most half). */
  backoff?: { minMs: number; maxMs: number };
  /** Jitter source, [0, 1). */
  random?: () => number;
  /** How the loops wait between attempts; resolves early when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  watch?: {
    /** Server-side watch timeout; default a random 300..359 s per watch, as client-go does. */
    timeoutSeconds?: number;
    /** A watch silent for longer is restarted (default 420 s: longer than the server timeout). */
    idleMs?: number;
    /** How often the watchdog checks, real ms (default 5000). */
    checkEveryMs?: number;
  };
  /** Items per list page (default 500). */
  pageSize?: number;
  /** How often a missing ClusterNetworkPolicy CRD is looked for again (default 30 s). */
  crdRetryMs?: number;
  /** A list page slower than this is retried (default 60 s). */
  listTimeoutMs?: number;
}

export interface KubeSourceStatus {
  readonly kind: ResourceKind;
  readonly listed: boolean;
  readonly resourceVersion: string;
  readonly objects: number;
  /** False while the kind's API (the ClusterNetworkPolicy CRD) is not installed. */
  readonly installed: boolean;
}

export interface KubeSource extends ClusterSource {
  /** Per kind: listed yet, last resourceVersion, objects held (for logs and health). */
  status(): KubeSourceStatus[];
}

/** Where the configuration comes from: an explicit file wins (the operator asked for it),
 *  then the in-cluster service account when running in a pod, then the usual defaults
 *  ($KUBECONFIG, ~/.kube/config). */
export function loadKubeConfig(opts: { kubeconfig?: string } = {}): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig) {
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (e) {
      throw new Error(`kubeconfig ${opts.kubeconfig}: ${(e as Error).message}`);
    }
  } else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else {
    kc.loadFromDefault();
    // With nothing to load, client-node quietly falls back to http://localhost:8080 (the
    // long-gone insecure port): an agent would retry it forever. Say what is missing instead.
    if (kc.currentContext === 'loaded-context' && kc.getCurrentCluster()?.server === 'http://localhost:8080') kc.clusters = [];
  }
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, provide ~/.kube/config, or run in a pod');
  return kc;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

const defaultLogger: Logger = {
  info: () => {},
  warn: (m) => process.stderr.write(`netpol-nft kube: ${m}\n`),
  error: (m) => process.stderr.write(`netpol-nft kube: ${m}\n`),
};

export function createKubeSource(opts: KubeSourceOptions = {}): KubeSource {
  const kc = opts.kubeConfig ?? loadKubeConfig({ kubeconfig: opts.kubeconfig });
  const clock = opts.clock ?? Date.now;
  const random = opts.random ?? Math.random;
  const logger = opts.logger ?? defaultLogger;
  const base = kubeResources(kc);
  const resources = opts.crdRetryMs === undefined ? base : { ...base, clusternetworkpolicy: { ...base.clusternetworkpolicy, optional: { ...base.clusternetworkpolicy.optional, retryMs: opts.crdRetryMs } } };
  const watchClient: WatchClient = new Watch(kc);
  let hooks: SourceHooks | undefined;
  const common = {
    clock,
    sleep: opts.sleep ?? defaultSleep,
    watchClient,
    logger,
    hooks: () => hooks,
    pageSize: opts.pageSize ?? 500,
    watchTimeoutSeconds: () => opts.watch?.timeoutSeconds ?? 300 + Math.floor(random() * 60),
    idleMs: opts.watch?.idleMs ?? 420_000,
    checkEveryMs: opts.watch?.checkEveryMs ?? 5_000,
    listTimeoutMs: opts.listTimeoutMs ?? 60_000,
  };
  // Each kind backs off on its own: a failing policy watch must not slow down pods.
  const backoff = () => new Backoff({ ...(opts.backoff ?? DEFAULT_BACKOFF), random });
  const pods = new Reflector<PodInfo>(resources.pod, { ...common, backoff: backoff() });
  const namespaces = new Reflector<NamespaceInfo>(resources.namespace, { ...common, backoff: backoff() });
  const policies = new Reflector<PolicyInfo>(resources.networkpolicy, { ...common, backoff: backoff() });
  const cnps = new Reflector<ClusterPolicyInfo>(resources.clusternetworkpolicy, { ...common, backoff: backoff() });
  const nodes = new Reflector<NodeInfo>(resources.node, { ...common, backoff: backoff() });
  const all = [pods, namespaces, policies, cnps, nodes];
  let loops: Promise<void>[] = [];
  let started = false;
  let stopped = false;
  let cached: { versions: string; value: { cluster: Cluster; problems: Problem[] } } | undefined;
  /** The watch caches' objects as they are, in no particular order (a reconcile's input). */
  const unsorted = (): Cluster => {
    const clusterPolicies = [...cnps.store.items()], nodeList = [...nodes.store.items()];
    return {
      namespaces: [...namespaces.store.items()], pods: [...pods.store.items()], policies: [...policies.store.items()],
      ...(clusterPolicies.length ? { clusterPolicies } : {}),
      ...(nodeList.length ? { nodes: nodeList } : {}),
    };
  };
  const problems = () => all.flatMap((r) => r.problems()).sort((a, b) => (a.kind + a.object < b.kind + b.object ? -1 : 1));

  return {
    start(h) {
      if (started) return Promise.reject(new Error('kube source: already started'));
      started = true;
      hooks = h;
      return new Promise<void>((resolve, reject) => {
        let pending = all.length;
        const onListed = () => {
          if (--pending === 0) resolve();
        };
        loops = all.map((r) =>
          r.run(onListed).catch((e) => {
            // The loop only ends by stop(); anything else is a bug worth a loud line.
            logger.error(`${r.kind} reflector crashed: ${(e as Error).stack ?? e}`);
            h.onError?.(`${r.kind} reflector crashed: ${(e as Error).message}`);
          }),
        );
        void Promise.all(loops).then(() => {
          if (pending > 0) reject(new Error(stopped ? 'kube source stopped before the initial lists completed' : 'kube source ended before the initial lists completed'));
        });
      });
    },
    synced: () => all.every((r) => r.listed),
    snapshot() {
      const versions = all.map((r) => r.store.version).join(',');
      if (cached?.versions !== versions) cached = { versions, value: { cluster: sortCluster(unsorted()), problems: problems() } };
      return { cluster: cached.value.cluster, problems: [...cached.value.problems] };
    },
    unsortedSnapshot: () => ({ cluster: unsorted(), problems: problems() }),
    problems,
    async stop() {
      stopped = true;
      for (const r of all) r.stop();
      await Promise.all(loops);
    },
    status: () => all.map((r) => ({ kind: r.kind, listed: r.listed, resourceVersion: r.resourceVersion, objects: r.store.size, installed: r.installed })),
  };
}
