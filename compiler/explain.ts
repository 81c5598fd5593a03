// `explain`: is one connection allowed, and which policies and rules decided, at both ends.
// It reads the same IR as the nftables builder (ir.ts), so the two cannot disagree.
// With ClusterNetworkPolicies, each side is the tier walk of compiler/tiers.ts (Admin →
// NetworkPolicy → Baseline → allow), each step saying which policy and rule decided or that it
// passed.
import type { CnpRule } from './cnp.js';
import { indexCluster, matchingAllowances, podView, type ClusterIndex, type Probe } from './ir.js';
import { canonicalIp, formatProblem, ipFamily, podIsActive, resolveAddressClaims, type Cluster, type PodInfo, type Problem, type Protocol } from './model.js';
import type { NodeInfo } from './nodes.js';
import type { Direction } from './policy.js';
import { subjectSelects, tierIndex, walkSide, type TierIndex, type TierOutcome } from './tiers.js';

export interface Endpoint {
  readonly ip: string;
  /** `namespace/name` when the address is an active pod's. */
  readonly pod?: string;
}

export interface Side {
  readonly direction: Direction;
  /** The pod whose policies decide (the source for egress, the destination for ingress). */
  readonly pod?: string;
  readonly isolated: boolean;
  readonly allowed: boolean;
  /** Policies that select the pod in this direction. */
  readonly policies: readonly string[];
  /** Policies among them that are invalid: they isolate and allow nothing. */
  readonly invalidPolicies: readonly string[];
  /** The rules that allow this connection (`policy` and the rule's index in spec.ingress/egress). */
  readonly matched: readonly { readonly policy: string; readonly rule: number }[];
  readonly reason: string;
  /** With ClusterNetworkPolicies in the cluster: the step that decided, and the walk, one line
   *  per step (`Admin: Pass by cnp/delegate egress[0] "tenants"`). */
  readonly decidedBy?: 'Admin' | 'NetworkPolicy' | 'Baseline' | 'default';
  readonly tiers?: readonly string[];
}

export interface Explanation {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly protocol: Protocol;
  readonly port: number;
  readonly allowed: boolean;
  readonly egress: Side;
  readonly ingress: Side;
  /** What is wrong with the invalid policies among the deciding ones (`kind ns/name: field:
   *  message`), so that a denial by a broken policy says why it is broken. */
  readonly problems: readonly string[];
}

export class ExplainError extends Error {}

/** An endpoint's candidate addresses: an address as given, an active pod's addresses, or a
 *  host-network pod's, which are its node's (then it is no pod as far as policy goes). */
function candidates(index: ClusterIndex, cluster: Cluster, spec: string): { literal: boolean; addrs: readonly string[]; pod?: PodInfo } {
  const ip = canonicalIp(spec);
  if (ip) return { literal: true, addrs: [ip], pod: index.podByIp(ip) };
  const slash = spec.indexOf('/');
  if (slash < 0) throw new ExplainError(`${JSON.stringify(spec)} is neither NAMESPACE/POD nor an IP address`);
  const [ns, name] = [spec.slice(0, slash), spec.slice(slash + 1)];
  const pod = cluster.pods.find((p) => p.namespace === ns && p.name === name);
  if (!pod) throw new ExplainError(`pod ${spec} is not in the cluster state`);
  if (pod.hostNetwork && pod.ips.length && pod.phase !== 'Succeeded' && pod.phase !== 'Failed') return { literal: false, addrs: pod.ips };
  if (!podIsActive(pod)) {
    const why = pod.hostNetwork ? 'it uses the host network and has no address' : !pod.ips.length ? 'it has no IP yet' : `it is ${pod.phase}`;
    throw new ExplainError(`pod ${spec} takes no part in network policy: ${why}`);
  }
  return { literal: false, addrs: pod.ips, pod };
}

/** `cnp/NAME ingress[2] "rule-name"`: the same words as the ruleset's comments. */
export function cnpRuleText(policy: string, dir: Direction, rule: CnpRule): string {
  return `cnp/${policy} ${dir}[${rule.index}]${rule.name ? ` ${JSON.stringify(rule.name)}` : ''}${rule.note ? ` (${rule.note})` : ''}`;
}

function tierLine(tier: 'Admin' | 'Baseline', dir: Direction, o: TierOutcome | undefined): string {
  if (!o) return `${tier}: not reached`;
  if (o.decision === 'NoMatch') return `${tier}: no rule matches (passes)`;
  return `${tier}: ${o.decision} by ${cnpRuleText(o.policy, dir, o.rule)}`;
}

function side(index: ClusterIndex, dir: Direction, local: PodInfo | undefined, probe: Probe, tiers?: TierIndex): Side {
  if (!local) {
    return { direction: dir, isolated: false, allowed: true, policies: [], invalidPolicies: [], matched: [], reason: `not a pod: NetworkPolicy does not restrict ${dir} there` };
  }
  const id = `${local.namespace}/${local.name}`;
  const view = podView(index, local, dir);
  const matched = view.isolated ? matchingAllowances(view, probe).map((a) => ({ policy: a.policy, rule: a.rule })) : [];
  const npAllowed = !view.isolated || matched.length > 0;
  const npReason = !view.isolated
    ? `no policy selects ${id} for ${dir}`
    : npAllowed
      ? `allowed by ${matched.map((m) => `${m.policy} ${dir}[${m.rule}]`).join(', ')}`
      : `isolated by ${view.policies.join(', ')}; no rule allows it${view.invalidPolicies.length ? ` (invalid, allowing nothing: ${view.invalidPolicies.join(', ')})` : ''}`;
  const npSide = { direction: dir, pod: id, isolated: view.isolated, policies: view.policies, invalidPolicies: view.invalidPolicies, matched };
  if (!tiers) return { ...npSide, allowed: npAllowed, reason: npReason };
  const { decision: d, admin, baseline } = walkSide(tiers.admin, tiers.baseline, dir, local, probe, view.isolated ? { isolated: true, allowed: npAllowed } : { isolated: false }, tiers.world);
  const npLine = d.by === 'Admin' ? 'NetworkPolicy: not reached' : `NetworkPolicy: ${view.isolated ? (npAllowed ? 'allows' : 'denies') : 'passes'} (${npReason})`;
  const walk = [tierLine('Admin', dir, admin), npLine, tierLine('Baseline', dir, baseline)];
  const decider = d.by === 'Admin' ? admin : d.by === 'Baseline' ? baseline : undefined;
  const reason = decider && decider.decision !== 'NoMatch'
    ? `${d.allowed ? 'accepted' : 'denied'} by ${cnpRuleText(decider.policy, dir, decider.rule)} (${d.by} tier)`
    : d.by === 'NetworkPolicy'
      ? npReason
      : `no tier decides: allowed by default (${npReason})`;
  return { ...npSide, allowed: d.allowed, reason, decidedBy: d.by, tiers: walk };
}

/** A node's own addresses: its Node object's (status.addresses, see nodes.ts) and those of
 *  its host-network pods. */
export function nodeAddresses(cluster: Cluster, nodes: readonly NodeInfo[], node: string): Set<string> {
  const out = new Set(cluster.pods.filter((p) => p.hostNetwork && p.nodeName === node).flatMap((p) => p.ips));
  for (const n of nodes) if (n.name === node) n.addresses.forEach((a) => out.add(a));
  return out;
}

/** The node an address belongs to, if it is a node's (see nodeAddresses). */
function nodeOf(cluster: Cluster, nodes: readonly NodeInfo[], ip: string): string | undefined {
  return nodes.find((n) => n.addresses.includes(ip))?.name ?? cluster.pods.find((p) => p.hostNetwork && p.ips.includes(ip))?.nodeName;
}

/** docs/design.md 1.11: what a node sends to its own pods (kubelet probes) is never filtered: it
 *  leaves through the output hook, which the ruleset does not hook. */
function fromOwnNode(index: ClusterIndex, pod: PodInfo): Side {
  const id = `${pod.namespace}/${pod.name}`;
  const view = podView(index, pod, 'ingress');
  return {
    direction: 'ingress', pod: id, isolated: view.isolated, allowed: true, policies: view.policies, invalidPolicies: view.invalidPolicies, matched: [],
    reason: `from the address of ${id}'s own node ${pod.nodeName}: a node's traffic to its pods is never filtered`,
  };
}

export interface ExplainOptions {
  /** For two endpoints that share both families: which one (default: IPv4). */
  readonly family?: 4 | 6;
  /** Node objects, for their own addresses (a source that is the destination's node). */
  readonly nodes?: readonly NodeInfo[];
}

/** One endpoint, resolved: an address and, when the address is an active pod's, the pod. */
export interface PairEnd {
  readonly ip: string;
  readonly pod?: PodInfo;
}

/** The answer for two resolved endpoints of one family, on an index built once: what both
 *  `explain` and `matrix` (for its cells' explanations) call. */
export function explainPair(index: ClusterIndex, src: PairEnd, dst: PairEnd, port: number, protocol: Protocol, givenNodes: readonly NodeInfo[] = []): Explanation {
  // Node objects: given by the caller, or read with the cluster.
  const nodes = givenNodes.length ? givenNodes : index.cluster.nodes ?? [];
  const tiers = tierIndex(index.cluster, index.nsLabels, nodes);
  let egress = side(index, 'egress', src.pod, { peerIp: dst.ip, peerPod: dst.pod, protocol, port, destinationPod: dst.pod }, tiers);
  const srcNode = src.pod ? undefined : nodeOf(index.cluster, nodes, src.ip);
  if (srcNode) egress = { ...egress, reason: `node ${srcNode}: not a pod, NetworkPolicy does not restrict its egress` };
  const ingress = !src.pod && dst.pod && nodeAddresses(index.cluster, nodes, dst.pod.nodeName).has(src.ip)
    ? fromOwnNode(index, dst.pod)
    : side(index, 'ingress', dst.pod, { peerIp: src.ip, peerPod: src.pod, protocol, port, destinationPod: dst.pod }, tiers);
  const ep = (e: PairEnd): Endpoint => (e.pod ? { ip: e.ip, pod: `${e.pod.namespace}/${e.pod.name}` } : { ip: e.ip });
  const invalid = new Set([...egress.invalidPolicies, ...ingress.invalidPolicies]);
  const problems = index.problems.filter((p) => p.kind === 'networkpolicy' && invalid.has(p.object)).map(formatProblem);
  if (tiers) {
    // Cluster policies whose subject selects either end: what is wrong with them, and what of
    // them is not enforced (domainNames peers).
    const ends = [src.pod, dst.pod].filter((p): p is PodInfo => !!p);
    const selecting = tiers.all.filter((c) => ends.some((p) => subjectSelects(c.subject, p, tiers.world)));
    const names = new Set(selecting.map((c) => c.name));
    problems.push(...tiers.problems.filter((p) => names.has(p.object)).map(formatProblem));
    for (const c of selecting) for (const u of c.unsupported) problems.push(`clusternetworkpolicy ${c.name}: unsupported, not enforced: ${u}`);
  }
  return { from: ep(src), to: ep(dst), protocol, port, allowed: egress.allowed && ingress.allowed, egress, ingress, problems };
}

export function explain(given: Cluster, from: string, to: string, port: number, protocol: Protocol, opts: ExplainOptions = {}): Explanation {
  // One owner per address, cluster-wide (the newest claimant), as the IR sees it.
  const cluster = { ...given, pods: resolveAddressClaims(given.pods) };
  const index = indexCluster(cluster);
  // Addresses of one family: an address given as such decides it; else --family, else IPv4 first.
  const a = candidates(index, cluster, from), b = candidates(index, cluster, to);
  const shared = ([4, 6] as const).filter((f) => a.addrs.some((i) => ipFamily(i) === f) && b.addrs.some((i) => ipFamily(i) === f));
  const fam = opts.family ?? shared[0];
  if (!fam || !shared.includes(fam)) {
    if (a.literal && b.literal) throw new ExplainError(`${a.addrs[0]} and ${b.addrs[0]} are of different address families`);
    if (opts.family && (a.literal || b.literal) && shared.length) throw new ExplainError(`--family ${opts.family}: ${a.literal ? from : to} is an IPv${shared[0]} address`);
    if (opts.family) {
      const lacking = !a.addrs.some((i) => ipFamily(i) === fam) ? from : to;
      throw new ExplainError(`${lacking.includes('/') ? `pod ${lacking}` : lacking} has no IPv${fam} address`);
    }
    if (a.literal) throw new ExplainError(`pod ${to} has no IPv${ipFamily(a.addrs[0]!)} address`);
    if (b.literal) throw new ExplainError(`pod ${from} has no IPv${ipFamily(b.addrs[0]!)} address`);
    throw new ExplainError(`${from} and ${to} share no address family`);
  }
  const pick = (c: typeof a): PairEnd => ({ ip: c.addrs.find((i) => ipFamily(i) === fam)!, ...(c.pod ? { pod: c.pod } : {}) });
  return explainPair(index, pick(a), pick(b), port, protocol, opts.nodes);
}

export function explanationText(e: Explanation): string {
  const name = (x: Endpoint) => (x.pod ? `${x.pod} (${x.ip})` : x.ip);
  const mark = (s: Side) => (s.allowed ? 'allowed' : 'DENIED ');
  return [
    `${name(e.from)} -> ${name(e.to)} ${e.protocol}/${e.port}: ${e.allowed ? 'ALLOWED' : 'DENIED'}`,
    `  egress  at source:      ${mark(e.egress)}  ${e.egress.reason}`,
    ...(e.egress.tiers ?? []).map((t) => `      ${t}`),
    `  ingress at destination: ${mark(e.ingress)}  ${e.ingress.reason}`,
    ...(e.ingress.tiers ?? []).map((t) => `      ${t}`),
    ...e.problems.map((p) => `  ${p.includes(': unsupported, not enforced: ') ? 'note' : 'invalid'}: ${p}`),
  ].join('\n') + '\n';
}
