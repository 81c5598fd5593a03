// The intermediate representation: for one pod and one direction, is it isolated, and what
// does it allow, rule by rule, with the policy and rule index each allowance came from.
// Both the nftables builder and `explain` read this, so they cannot disagree.
import { ipToBigint, rangeContains, type AddrRange } from './cidr.js';
import { ipFamily, podIsActive, type Cluster, type NamedPort, type PodInfo, type Problem, type Protocol } from './model.js';
import { normalizePolicy, type Direction, type NormalizedPolicy, type PortMatch } from './policy.js';
import { matches } from './selectors.js';

export type ResolvedPeer =
  | { readonly kind: 'pods'; readonly pods: readonly PodInfo[] }
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
}

export function indexCluster(cluster: Cluster): ClusterIndex {
  const labels = new Map<string, Readonly<Record<string, string>>>();
  for (const ns of cluster.namespaces) labels.set(ns.name, ns.labels);
  const nsLabels = (ns: string) => labels.get(ns) ?? { 'kubernetes.io/metadata.name': ns };

  const problems: Problem[] = [];
  const policies: NormalizedPolicy[] = [];
  const byNs = new Map<string, NormalizedPolicy[]>();
  for (const raw of cluster.policies) {
    const r = normalizePolicy(raw);
    problems.push(...r.problems);
    if (!r.policy) continue;
    policies.push(r.policy);
    const l = byNs.get(r.policy.namespace) ?? [];
    l.push(r.policy);
    byNs.set(r.policy.namespace, l);
  }

  const activePods = cluster.pods.filter(podIsActive);
  const podsByNs = new Map<string, PodInfo[]>();
  const byIp = new Map<string, PodInfo>();
  for (const p of activePods) {
    const l = podsByNs.get(p.namespace) ?? [];
    l.push(p);
    podsByNs.set(p.namespace, l);
    for (const ip of p.ips) if (!byIp.has(ip)) byIp.set(ip, p);
  }
  const allNamespaces = [...new Set([...labels.keys(), ...podsByNs.keys()])].sort();

  const memo = new Map<string, readonly Allowance[]>();
  const allowancesOf = (p: NormalizedPolicy, dir: Direction): readonly Allowance[] => {
    const key = `${dir}\0${p.id}`;
    let got = memo.get(key);
    if (got) return got;
    got = p.rules[dir].map((r, i): Allowance => ({
      policy: p.id,
      rule: i,
      ports: r.ports,
      peers: r.peers === null ? null : r.peers.map((peer): ResolvedPeer => {
        if (peer.kind === 'ipBlock') {
          const text = peer.cidr.text + (peer.except.length ? ` except ${peer.except.map((e) => e.text).join(', ')}` : '');
          return { kind: 'cidr', ranges: peer.ranges, text };
        }
        const nss = peer.namespaceSelector ? allNamespaces.filter((n) => matches(peer.namespaceSelector!, nsLabels(n))) : [p.namespace];
        const pods: PodInfo[] = [];
        for (const n of nss) for (const pod of podsByNs.get(n) ?? []) if (matches(peer.podSelector, pod.labels)) pods.push(pod);
        return { kind: 'pods', pods };
      }),
    }));
    memo.set(key, got);
    return got;
  };

  return {
    cluster,
    problems,
    policies,
    activePods,
    nsLabels,
    policiesIn: (ns) => byNs.get(ns) ?? [],
    allowancesOf,
    podByIp: (ip) => byIp.get(ip),
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
