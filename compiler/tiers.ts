// The tier walk of one direction of one connection (policy.networking.k8s.io/v1alpha2):
//
//   Admin tier  →  NetworkPolicy  →  Baseline tier  →  allow
//
// > If Admin tier has made a final decision (Accept or Deny) on a connection, then no further
// > evaluation is done. v1.NetworkPolicy always makes a final decision for selected pods.
// > Further evaluation only happens for Pods not selected by a v1.NetworkPolicy. If a given
// > connection wasn't allowed or denied by any of the tiers, ... all pods can communicate.
//
// Within a tier the policies whose subject selects the pod are taken by priority (then name),
// their rules in written order, and the first rule that matches decides; Pass leaves the tier.
// Pure: the caller says who the pods, namespaces and nodes are.
import { ipToBigint, rangeContains } from './cidr.js';
import { ipFamily, type Cluster, type PodInfo, type Problem, type Protocol } from './model.js';
import type { NodeInfo } from './nodes.js';
import { normalizeCnp, orderTier, type CnpPeer, type CnpPort, type CnpRule, type CnpSubject, type NormalizedCnp, type Tier } from './cnp.js';
import { matches } from './selectors.js';

export type { NodeInfo };

export interface TierWorld {
  nsLabels(ns: string): Readonly<Record<string, string>>;
  readonly nodes: readonly NodeInfo[];
}

/** The other end of the connection, seen from the subject pod. */
export interface TierProbe {
  readonly peerIp: string;
  /** The pod that owns peerIp, when it is one (host-network pods are not pods here). */
  readonly peerPod: PodInfo | undefined;
  readonly protocol: Protocol;
  readonly port: number;
  /** The pod that owns the destination port (ingress: the subject; egress: the peer). */
  readonly destinationPod: PodInfo | undefined;
}

export type TierOutcome =
  | { readonly decision: 'Accept' | 'Deny' | 'Pass'; readonly policy: string; readonly rule: CnpRule }
  | { readonly decision: 'NoMatch' };

/** > Note that host-networked pods are not included in subject selection. */
export function subjectSelects(s: CnpSubject, pod: PodInfo, world: TierWorld): boolean {
  if (pod.hostNetwork) return false;
  if (!matches(s.namespaceSelector, world.nsLabels(pod.namespace))) return false;
  return s.kind === 'namespaces' || matches(s.podSelector, pod.labels);
}

/** Per world (one cluster state): each `nodes` peer's addresses, and addresses as numbers.
 *  Caches only: what they hold is a function of the world and the key. */
interface WorldMemo {
  readonly nodeAddrs: WeakMap<CnpPeer, ReadonlySet<string>>;
  readonly ipNum: Map<string, bigint>;
}
const MEMO = new WeakMap<TierWorld, WorldMemo>();
const memoOf = (world: TierWorld): WorldMemo => {
  let m = MEMO.get(world);
  if (!m) MEMO.set(world, (m = { nodeAddrs: new WeakMap(), ipNum: new Map() }));
  return m;
};

function peerMatches(peer: CnpPeer, probe: TierProbe, world: TierWorld): boolean {
  switch (peer.kind) {
    case 'namespaces':
    case 'pods': {
      // > Note that host-networked pods are not included in this type of peer.
      const pod = probe.peerPod;
      if (!pod || pod.hostNetwork || !pod.ips.includes(probe.peerIp)) return false;
      if (!matches(peer.namespaceSelector, world.nsLabels(pod.namespace))) return false;
      return peer.kind === 'namespaces' || matches(peer.podSelector, pod.labels);
    }
    case 'networks': {
      // > cluster-internal traffic will be checked against the rule as well.
      const memo = memoOf(world);
      let n = memo.ipNum.get(probe.peerIp);
      if (n === undefined) memo.ipNum.set(probe.peerIp, (n = ipToBigint(probe.peerIp)));
      const f = ipFamily(probe.peerIp);
      return peer.ranges.some((r) => rangeContains(r, f, n));
    }
    case 'nodes': {
      // The addresses of the nodes the selector picks.
      const memo = memoOf(world);
      let addrs = memo.nodeAddrs.get(peer);
      if (!addrs) memo.nodeAddrs.set(peer, (addrs = new Set(world.nodes.filter((node) => matches(peer.nodeSelector, node.labels)).flatMap((node) => node.addresses))));
      return addrs.has(probe.peerIp);
    }
    default: {
      const never: never = peer;
      throw new Error(`unknown peer kind ${JSON.stringify(never)}`);
    }
  }
}

function portMatches(ports: readonly CnpPort[] | null, probe: TierProbe): boolean {
  if (ports === null) return true;
  return ports.some((pm) => {
    switch (pm.kind) {
      case 'all': return pm.protocol === probe.protocol;
      case 'range': return pm.protocol === probe.protocol && pm.from <= probe.port && probe.port <= pm.to;
      case 'named': // the destination pod's container port of that name, its number and protocol
        return !!probe.destinationPod?.namedPorts.some((np) => np.name === pm.name && np.protocol === probe.protocol && np.port === probe.port);
      default: {
        const never: never = pm;
        throw new Error(`unknown port kind ${JSON.stringify(never)}`);
      }
    }
  });
}

export function ruleMatches(rule: CnpRule, probe: TierProbe, world: TierWorld): boolean {
  // Ports first: the cheaper test (both must hold).
  return portMatches(rule.ports, probe) && (rule.peers === null || rule.peers.some((p) => peerMatches(p, probe, world)));
}

/** The first rule of the tier that matches, for `pod` in direction `dir`. `ordered` must be
 *  the tier's policies in evaluation order (orderTier). */
export function walkTier(ordered: readonly NormalizedCnp[], tier: Tier, dir: 'ingress' | 'egress', pod: PodInfo, probe: TierProbe, world: TierWorld): TierOutcome {
  // > A Pod connecting to its own Pod IP is not subject to CNP.
  if (probe.peerPod === pod && pod.ips.includes(probe.peerIp)) return { decision: 'NoMatch' };
  for (const p of ordered) {
    if (p.tier !== tier || !subjectSelects(p.subject, pod, world)) continue;
    for (const rule of p.rules[dir]) {
      if (ruleMatches(rule, probe, world)) return { decision: rule.action, policy: p.name, rule };
    }
  }
  return { decision: 'NoMatch' };
}

/** What the NetworkPolicy step says for this direction: not isolated, or its verdict. */
export type NetworkPolicyStep = { readonly isolated: false } | { readonly isolated: true; readonly allowed: boolean };

export interface DirectionDecision {
  readonly allowed: boolean;
  /** Which step decided: a tier's rule, the NetworkPolicy step, or the default allow. */
  readonly by: 'Admin' | 'NetworkPolicy' | 'Baseline' | 'default';
  readonly admin: TierOutcome;
  readonly baseline?: TierOutcome;
}

/** One direction's verdict: Admin, then NetworkPolicy, then Baseline, then allow. */
export function decideDirection(admin: TierOutcome, np: NetworkPolicyStep, baseline: () => TierOutcome): DirectionDecision {
  if (admin.decision === 'Accept' || admin.decision === 'Deny') return { allowed: admin.decision === 'Accept', by: 'Admin', admin };
  if (np.isolated) return { allowed: np.allowed, by: 'NetworkPolicy', admin };
  const b = baseline();
  if (b.decision === 'Accept' || b.decision === 'Deny') return { allowed: b.decision === 'Accept', by: 'Baseline', admin, baseline: b };
  // Baseline Pass, or no match: the default, which allows.
  return { allowed: true, by: 'default', admin, baseline: b };
}

/** The cluster's ClusterNetworkPolicies, normalised and ordered once: what `explain` and
 *  `matrix` walk. */
export interface TierIndex {
  readonly admin: readonly NormalizedCnp[];
  readonly baseline: readonly NormalizedCnp[];
  readonly all: readonly NormalizedCnp[];
  readonly problems: readonly Problem[];
  readonly world: TierWorld;
}

/** One per cluster state (the matrix explains many pairs of one state). */
const TIER_INDEX = new WeakMap<Cluster, TierIndex | undefined>();

/** Undefined when the cluster has no ClusterNetworkPolicy: then NetworkPolicy alone decides. */
export function tierIndex(cluster: Cluster, nsLabels: TierWorld['nsLabels'], nodes: readonly NodeInfo[]): TierIndex | undefined {
  if (TIER_INDEX.has(cluster)) return TIER_INDEX.get(cluster);
  let t: TierIndex | undefined;
  if (cluster.clusterPolicies?.length) {
    const results = cluster.clusterPolicies.map((p) => normalizeCnp(p));
    const all = results.flatMap((r) => (r.policy ? [r.policy] : []));
    t = {
      admin: orderTier(all, 'Admin').ordered,
      baseline: orderTier(all, 'Baseline').ordered,
      all,
      problems: results.flatMap((r) => r.problems),
      world: { nsLabels, nodes },
    };
  }
  TIER_INDEX.set(cluster, t);
  return t;
}

export interface SideWalk {
  readonly decision: DirectionDecision;
  readonly admin: TierOutcome;
  /** Undefined when the walk stopped before the Baseline tier. */
  readonly baseline?: TierOutcome;
}

/** One direction of one connection at `pod`, the whole walk: Admin, the NetworkPolicy step
 *  (given: the caller knows its own NetworkPolicy view), Baseline, allow. `admin` and
 *  `baseline` may be any subsequence of the tier's order that keeps every policy whose
 *  subject selects `pod` (the matrix passes each pod's own short list). */
export function walkSide(admin: readonly NormalizedCnp[], baseline: readonly NormalizedCnp[], dir: 'ingress' | 'egress', pod: PodInfo, probe: TierProbe, np: NetworkPolicyStep, world: TierWorld): SideWalk {
  const a = walkTier(admin, 'Admin', dir, pod, probe, world);
  let b: TierOutcome | undefined;
  const decision = decideDirection(a, np, () => (b = walkTier(baseline, 'Baseline', dir, pod, probe, world)));
  return { decision, admin: a, ...(b ? { baseline: b } : {}) };
}
