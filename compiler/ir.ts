// The intermediate representation: for one pod and one direction, is it isolated, and what
// does it allow, rule by rule, with the policy and rule index each allowance came from.
// `explain` and `matrix` read this; the ruleset comes from the policy engine (graph/), built
// from the same normalised policies (policy.ts) and selectors (selectors.ts). The property
// tests hold the three to one answer: explain == a reference evaluator == the compiled
// ruleset decided packet by packet.
import { ipToBigint, rangeContains, type AddrRange } from './cidr.js';
import { ipFamily, podIsActive, resolveAddressClaims, type Cluster, type NamedPort, type NamespaceInfo, type PodInfo, type PolicyInfo, type Problem, type Protocol } from './model.js';
import { normalizePolicy, type Direction, type NormalizedPolicy, type Peer, type PortMatch } from './policy.js';
import { matches } from './selectors.js';

export type ResolvedPeer =
  | {
      readonly kind: 'pods';
      /** The matching pods, one array per namespace the peer reads (kept as they are so that
       *  an unchanged namespace stays the same object from one compile to the next). */
      readonly parts: readonly (readonly PodInfo[])[];
      /** All of them in one array (made on first use). */
      readonly pods: readonly PodInfo[];
    }
  | { readonly kind: 'cidr'; readonly ranges: readonly AddrRange[]; readonly text: string };

export interface Allowance {
  readonly policy: string;
  readonly rule: number;
  /** null: every peer (the rule's from/to is absent or empty). */
  readonly peers: readonly ResolvedPeer[] | null;
  /** null: every port and protocol. */
  readonly ports: readonly PortMatch[] | null;
}

export interface DirectionView {
  readonly isolated: boolean;
  /** Policies that select the pod and isolate it in this direction, sorted. */
  readonly policies: readonly string[];
  /** The subset of `policies` that are invalid (they isolate but allow nothing). */
  readonly invalidPolicies: readonly string[];
  readonly allowances: readonly Allowance[];
}

export interface ClusterIndex {
  readonly cluster: Cluster;
  readonly problems: readonly Problem[];
  readonly policies: readonly NormalizedPolicy[];
  /** Pods that take part in policy (an IP, not finished, not host-network). */
  readonly activePods: readonly PodInfo[];
  nsLabels(ns: string): Readonly<Record<string, string>>;
  policiesIn(ns: string): readonly NormalizedPolicy[];
  /** Allowances of one policy in one direction, peers resolved (memoised per index). */
  allowancesOf(p: NormalizedPolicy, dir: Direction): readonly Allowance[];
  podByIp(ip: string): PodInfo | undefined;
  /** Changes identity whenever any active pod changed (for work that reads every pod). */
  readonly podsEpoch: object;
}

/** Memo tables of one index build (per call: nothing is carried from one build to the next;
 *  the policy engine, not this module, is what updates incrementally). */
class IndexCache {
  readonly policies = new WeakMap<PolicyInfo, ReturnType<typeof normalizePolicy>>();
  podsByNs = new Map<string, readonly PodInfo[]>();
  namespaces = new Map<string, NamespaceInfo | undefined>();
  /** A fresh object whenever the set of namespaces or any namespace's labels changed. */
  nsEpoch: object = {};
  /** A fresh object whenever any active pod changed. */
  podsEpoch: object = {};
  readonly nsNames = new WeakMap<object, { epoch: object; names: readonly string[] }>();
  readonly peerNs = new WeakMap<object, Map<string, { src: readonly PodInfo[]; out: readonly PodInfo[] }>>();
  readonly resolved = new WeakMap<object, ResolvedPeer>();
  readonly allowances = new WeakMap<NormalizedPolicy, Partial<Record<Direction, { parts: readonly ResolvedPeer[]; value: readonly Allowance[] }>>>();
}

const NO_PODS: readonly PodInfo[] = [];

function podsPeer(parts: readonly (readonly PodInfo[])[]): ResolvedPeer {
  let flat: readonly PodInfo[] | undefined;
  return {
    kind: 'pods',
    parts,
    get pods() {
      return (flat ??= parts.length === 1 ? parts[0]! : parts.flat());
    },
  };
}
const sameItems = <T>(a: readonly T[], b: readonly T[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export function indexCluster(cluster: Cluster): ClusterIndex {
  const cache = new IndexCache();
  const labels = new Map<string, Readonly<Record<string, string>>>();
  for (const ns of cluster.namespaces) labels.set(ns.name, ns.labels);
  const nsLabels = (ns: string) => labels.get(ns) ?? { 'kubernetes.io/metadata.name': ns };

  const problems: Problem[] = [];
  const policies: NormalizedPolicy[] = [];
  const byNs = new Map<string, NormalizedPolicy[]>();
  for (const raw of cluster.policies) {
    let r = cache.policies.get(raw);
    if (!r) cache.policies.set(raw, (r = normalizePolicy(raw)));
    problems.push(...r.problems);
    if (!r.policy) continue;
    policies.push(r.policy);
    const l = byNs.get(r.policy.namespace) ?? [];
    l.push(r.policy);
    byNs.set(r.policy.namespace, l);
  }

  // One owner per address, cluster-wide (the newest claimant; the ruleset of a node settles
  // claims from that node's point of view: graph/engine.ts, owner()).
  const activePods = resolveAddressClaims(cluster.pods).filter(podIsActive);
  const fresh = new Map<string, PodInfo[]>();
  for (const p of activePods) {
    const l = fresh.get(p.namespace);
    if (l) l.push(p);
    else fresh.set(p.namespace, [p]);
  }
  // Keep last time's array for every namespace whose pods are the same objects.
  const podsByNs = new Map<string, readonly PodInfo[]>();
  let podsChanged = fresh.size !== cache.podsByNs.size;
  for (const [ns, l] of fresh) {
    const prev = cache.podsByNs.get(ns);
    if (prev && sameItems(prev, l)) podsByNs.set(ns, prev);
    else {
      podsByNs.set(ns, l);
      podsChanged = true;
    }
  }
  const nsObjects = new Map<string, NamespaceInfo | undefined>(cluster.namespaces.map((n) => [n.name, n]));
  for (const ns of podsByNs.keys()) if (!nsObjects.has(ns)) nsObjects.set(ns, undefined);
  let nsChanged = nsObjects.size !== cache.namespaces.size;
  for (const [n, o] of nsObjects) if (!nsChanged && (!cache.namespaces.has(n) || cache.namespaces.get(n) !== o)) nsChanged = true;
  if (nsChanged) cache.nsEpoch = {};
  if (podsChanged) cache.podsEpoch = {};
  cache.podsByNs = podsByNs;
  cache.namespaces = nsObjects;
  const allNamespaces = [...nsObjects.keys()].sort();

  const namespacesOf = (peer: object, sel: NonNullable<Extract<Peer, { kind: 'pods' }>['namespaceSelector']>) => {
    const hit = cache.nsNames.get(peer);
    if (hit && hit.epoch === cache.nsEpoch) return hit.names;
    const names = allNamespaces.filter((n) => matches(sel, nsLabels(n)));
    cache.nsNames.set(peer, { epoch: cache.nsEpoch, names });
    return names;
  };
  const podsOf = (peer: Extract<Peer, { kind: 'pods' }>, ns: string): readonly PodInfo[] => {
    let m = cache.peerNs.get(peer);
    if (!m) cache.peerNs.set(peer, (m = new Map()));
    const src = podsByNs.get(ns) ?? NO_PODS;
    const hit = m.get(ns);
    if (hit && hit.src === src) return hit.out;
    const out = src.filter((pod) => matches(peer.podSelector, pod.labels));
    m.set(ns, { src, out });
    return out;
  };
  const resolve = (p: NormalizedPolicy, peer: Peer): ResolvedPeer => {
    const prev = cache.resolved.get(peer);
    if (peer.kind === 'ipBlock') {
      if (prev) return prev;
      const text = peer.cidr.text + (peer.except.length ? ` except ${peer.except.map((e) => e.text).join(', ')}` : '');
      const r: ResolvedPeer = { kind: 'cidr', ranges: peer.ranges, text };
      cache.resolved.set(peer, r);
      return r;
    }
    const nss = peer.namespaceSelector ? namespacesOf(peer, peer.namespaceSelector) : [p.namespace];
    const parts = nss.map((n) => podsOf(peer, n)).filter((l) => l.length > 0);
    if (prev && prev.kind === 'pods' && sameItems(prev.parts, parts)) return prev;
    const r = podsPeer(parts);
    cache.resolved.set(peer, r);
    return r;
  };

  const memo = new Map<NormalizedPolicy, Partial<Record<Direction, readonly Allowance[]>>>();
  const allowancesOf = (p: NormalizedPolicy, dir: Direction): readonly Allowance[] => {
    let mine = memo.get(p);
    if (!mine) memo.set(p, (mine = {}));
    return (mine[dir] ??= allowancesAcross(p, dir));
  };
  /** Resolves afresh, but hands back last compile's array when every peer resolved to the
   *  same objects as then. */
  const allowancesAcross = (p: NormalizedPolicy, dir: Direction): readonly Allowance[] => {
    const parts = p.rules[dir].flatMap((r) => (r.peers ?? []).map((peer) => resolve(p, peer)));
    let entry = cache.allowances.get(p);
    if (!entry) cache.allowances.set(p, (entry = {}));
    const hit = entry[dir];
    if (hit && sameItems(hit.parts, parts)) return hit.value;
    let k = 0;
    const value = p.rules[dir].map((r, i): Allowance => ({
      policy: p.id,
      rule: i,
      ports: r.ports,
      peers: r.peers === null ? null : r.peers.map(() => parts[k++]!),
    }));
    entry[dir] = { parts, value };
    return value;
  };

  let byIp: Map<string, PodInfo> | undefined;
  return {
    cluster,
    problems,
    policies,
    activePods,
    podsEpoch: cache.podsEpoch,
    nsLabels,
    policiesIn: (ns) => byNs.get(ns) ?? [],
    allowancesOf,
    podByIp: (ip) => {
      if (!byIp) {
        byIp = new Map();
        for (const p of activePods) for (const a of p.ips) if (!byIp.has(a)) byIp.set(a, p);
      }
      return byIp.get(ip);
    },
  };
}

/** > isolation: a pod is isolated for ingress if there is any NetworkPolicy that both selects
 *  > the pod and has "Ingress" in its policyTypes; likewise for egress. */
export function podView(index: ClusterIndex, pod: PodInfo, dir: Direction): DirectionView {
  const selecting = index.policiesIn(pod.namespace).filter((p) => p.isolates[dir] && matches(p.podSelector, pod.labels));
  return {
    isolated: selecting.length > 0,
    policies: selecting.map((p) => p.id),
    invalidPolicies: selecting.filter((p) => !p.valid).map((p) => p.id),
    allowances: selecting.flatMap((p) => index.allowancesOf(p, dir)),
  };
}

/** A named port resolves on the destination pod: its name and protocol must both match. */
export function resolveNamedPort(pod: PodInfo | undefined, name: string, protocol: Protocol): number | undefined {
  return pod?.namedPorts.find((np: NamedPort) => np.name === name && np.protocol === protocol)?.port;
}

/** One concrete connection, seen from the pod whose view is evaluated. */
export interface Probe {
  /** The other end's address, and its pod when it is one. */
  readonly peerIp: string;
  readonly peerPod: PodInfo | undefined;
  readonly protocol: Protocol;
  readonly port: number;
  /** The pod that owns the destination port (for ingress the local pod, for egress the peer). */
  readonly destinationPod: PodInfo | undefined;
}

export function peerMatches(peers: Allowance['peers'], probe: Probe): boolean {
  if (peers === null) return true;
  const fam = ipFamily(probe.peerIp);
  const n = ipToBigint(probe.peerIp);
  return peers.some((peer) =>
    peer.kind === 'cidr'
      ? peer.ranges.some((r) => rangeContains(r, fam, n))
      : !!probe.peerPod && peer.pods.includes(probe.peerPod) && probe.peerPod.ips.includes(probe.peerIp),
  );
}

export function portMatches(ports: Allowance['ports'], probe: Probe): boolean {
  if (ports === null) return true;
  return ports.some((pm) => {
    if (pm.protocol !== probe.protocol) return false;
    switch (pm.kind) {
      case 'all': return true;
      case 'range': return pm.from <= probe.port && probe.port <= pm.to;
      case 'named': return resolveNamedPort(probe.destinationPod, pm.name, pm.protocol) === probe.port;
      default: {
        const never: never = pm;
        throw new Error(`unknown port kind ${JSON.stringify(never)}`);
      }
    }
  });
}

/** The allowances of a view that admit the probe (empty: denied when isolated). */
export function matchingAllowances(view: DirectionView, probe: Probe): Allowance[] {
  return view.allowances.filter((a) => peerMatches(a.peers, probe) && portMatches(a.ports, probe));
}
