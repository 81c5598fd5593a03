// `matrix`: who can reach whom, for every pair of pods (or workloads, or namespaces) and every
// port asked. It reads the same IR as the ruleset and `explain` (ir.ts: indexCluster, podView,
// the allowances with their peers resolved, portMatches / peerMatches), so the three cannot
// disagree; a test checks every cell against `explain`.
//
// Workloads: pods that the policies cannot tell apart share a row. Two pods are alike when
// they are in the same namespace, carry the same values for every label key that some
// selector in the cluster reads, have the same named ports, the same address families, and
// the same membership in every ipBlock of every policy. Then every selector, peer, named port
// and ipBlock treats them the same, so one representative decides for all (a test expands the
// grouped matrix back to pods and compares it with `--by pod`).
//
// ClusterNetworkPolicy tiers: each side of a cell is the walk of compiler/tiers.ts (walkSide:
// Admin → NetworkPolicy → Baseline → allow), the very function `explain` calls, with the
// NetworkPolicy step read from the bit sets below. For the grouping, the tiers add what their
// selectors read: the label keys of subject and peer pod selectors, each address's membership
// in every `networks` peer, and which nodes own it (for `nodes` peers). Namespace labels need
// nothing: a workload lives in one namespace.
import { indexCluster, podView, portMatches, peerMatches, type Allowance, type ClusterIndex, type ResolvedPeer } from './ir.js';
import { ipFamily, type Cluster, type PodInfo, type Protocol } from './model.js';
import { DIRECTIONS, type Direction } from './policy.js';
import { rangeContains, ipToBigint } from './cidr.js';
import type { CnpPeer, NormalizedCnp } from './cnp.js';
import type { NodeInfo } from './nodes.js';
import { subjectSelects, tierIndex, walkSide, type TierIndex } from './tiers.js';

export type GroupBy = 'workload' | 'pod' | 'namespace';
export type Family = 4 | 6;

export interface PortColumn {
  readonly protocol: Protocol;
  /** The port probed (for a range, its first port; for "other", one no policy names). */
  readonly port: number;
  /** `TCP/80`, `TCP/30000-30009`, `TCP/8080 (http)`, `TCP/other`. */
  readonly label: string;
  /** A port no policy names: the answer for every such port. */
  readonly other?: true;
}

export interface MatrixEntity {
  /** `ns/pod`, `ns/workload`, or `ns`. */
  readonly id: string;
  readonly namespace: string;
  readonly pods: readonly PodInfo[];
  /** The labels some selector reads, common to all its pods. */
  readonly labels: Readonly<Record<string, string>>;
}

/** true / false; 'some' (namespace view: some pairs allowed, not all); 'self' (a pod and
 *  itself: never filtered); 'none' (no address family in common). */
export type Verdict = boolean | 'some' | 'self' | 'none';

export interface MatrixOptions {
  readonly by?: GroupBy;
  /** Only these namespaces, as sources and as destinations. */
  readonly namespaces?: readonly string[];
  /** Columns; default: every port the policies name, plus "other" per protocol. */
  readonly ports?: readonly { readonly protocol: Protocol; readonly port: number }[];
  /** Family of every pair; default IPv4 when both ends have it, else IPv6 (as explain). */
  readonly family?: Family;
  /** Refuse more entities than this with `--by pod` (default 2,000: 4 million pairs). */
  readonly maxPods?: number;
}

export class MatrixError extends Error {}

/** The step that decided one side of a cell (compiler/tiers.ts): a tier's Accept or Deny, the
 *  NetworkPolicy step, or the default allow. */
export type Step = 'Admin' | 'NetworkPolicy' | 'Baseline' | 'default';

export interface CellSteps {
  readonly egress: Step;
  readonly ingress: Step;
}

/** The one step a cell is credited to: for a denied cell the side that denied (egress first,
 *  as a packet meets them); for an allowed one the first step in tier order that accepted on
 *  either side (an Admin Accept, else a NetworkPolicy, else a Baseline Accept, else default). */
export function cellStep(allowed: boolean, steps: CellSteps, egressAllowed: boolean): Step {
  if (!allowed) return egressAllowed ? steps.ingress : steps.egress;
  for (const s of ['Admin', 'NetworkPolicy', 'Baseline'] as const) if (steps.egress === s || steps.ingress === s) return s;
  return 'default';
}

export interface Matrix {
  readonly by: GroupBy;
  readonly family?: Family;
  readonly columns: readonly PortColumn[];
  readonly entities: readonly MatrixEntity[];
  readonly index: ClusterIndex;
  verdict(from: number, to: number, column: number): Verdict;
  /** The destinations a source reaches on a column, in entity order (a sparse walk: what
   *  large clusters need, where most pairs are denied). */
  reachable(from: number, column: number): number[];
  /** With ClusterNetworkPolicies in the cluster (`--by pod` and `--by workload`): which step
   *  decided each side of a cell, and the step the cell is credited to (cellStep). Undefined
   *  for cells without a verdict ('self', 'none'), and on clusters without tiers. */
  readonly tiered: boolean;
  steps(from: number, to: number, column: number): (CellSteps & { readonly cell: Step }) | undefined;
}

export const DEFAULT_MAX_PODS = 2000;

/** A set of unit indexes. */
class Bits {
  readonly w: Uint32Array;
  constructor(n: number, all = false) {
    this.w = new Uint32Array((n + 31) >>> 5);
    if (all) {
      this.w.fill(0xffffffff);
      if (n & 31) this.w[this.w.length - 1] = (1 << (n & 31)) - 1;
    }
  }
  set(i: number): void { this.w[i >>> 5]! |= 1 << (i & 31); }
  /** The members, in order. */
  *[Symbol.iterator](): Iterator<number> {
    for (let k = 0; k < this.w.length; k++) {
      let x = this.w[k]!;
      while (x) {
        const low = x & -x;
        yield k * 32 + 31 - Math.clz32(low);
        x ^= low;
      }
    }
  }
  has(i: number): boolean { return (this.w[i >>> 5]! & (1 << (i & 31))) !== 0; }
  or(b: Bits): void { for (let i = 0; i < this.w.length; i++) this.w[i]! |= b.w[i]!; }
}

interface Unit {
  readonly rep: PodInfo;
  readonly pods: PodInfo[];
  readonly key: string;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const podId = (p: PodInfo) => `${p.namespace}/${p.name}`;

/** Label keys that some pod selector of a (normalised) policy reads. */
function selectedKeys(index: ClusterIndex): string[] {
  const keys = new Set<string>();
  for (const p of index.policies) {
    for (const r of p.podSelector.requirements) keys.add(r.key);
    for (const dir of DIRECTIONS) for (const rule of p.rules[dir]) for (const peer of rule.peers ?? []) {
      if (peer.kind === 'pods') for (const r of peer.podSelector.requirements) keys.add(r.key);
    }
  }
  return [...keys].sort(cmp);
}

/** Label keys that the pod selectors of ClusterNetworkPolicies read (subjects and peers). */
function tierKeys(t: TierIndex | undefined): string[] {
  const keys = new Set<string>();
  for (const p of t?.all ?? []) {
    if (p.subject.kind === 'pods') for (const r of p.subject.podSelector.requirements) keys.add(r.key);
    for (const dir of DIRECTIONS) for (const rule of p.rules[dir]) for (const peer of rule.peers ?? []) {
      if (peer.kind === 'pods') for (const r of peer.podSelector.requirements) keys.add(r.key);
    }
  }
  return [...keys];
}

/** Every distinct `networks` peer of the cluster policies (by its text). */
function networkPeers(t: TierIndex | undefined): Extract<CnpPeer, { kind: 'networks' }>[] {
  const seen = new Map<string, Extract<CnpPeer, { kind: 'networks' }>>();
  for (const p of t?.all ?? []) for (const dir of DIRECTIONS) for (const rule of p.rules[dir]) for (const peer of rule.peers ?? []) {
    if (peer.kind === 'networks' && !seen.has(peer.text.join())) seen.set(peer.text.join(), peer);
  }
  return [...seen.values()];
}

/** What cluster policies can see of a pod beyond its namespace and labels: per address, the
 *  `networks` peers that hold it and the nodes that own it. */
function tierAddressKey(p: PodInfo, networks: readonly Extract<CnpPeer, { kind: 'networks' }>[], nodes: readonly NodeInfo[] | undefined): string {
  if (!nodes) return '';
  return p.ips.map((ip) => {
    const f = ipFamily(ip), n = ipToBigint(ip);
    return networks.map((w) => (w.ranges.some((r) => rangeContains(r, f, n)) ? '1' : '0')).join('')
      + ':' + nodes.filter((node) => node.addresses.includes(ip)).map((node) => node.name).join(',');
  }).join('|');
}

function allAllowances(index: ClusterIndex): Allowance[] {
  return index.policies.flatMap((p) => DIRECTIONS.flatMap((d) => index.allowancesOf(p, d)));
}

/** Every distinct ipBlock peer of the cluster (by its text). */
function cidrPeers(allowances: readonly Allowance[]): Extract<ResolvedPeer, { kind: 'cidr' }>[] {
  const seen = new Map<string, Extract<ResolvedPeer, { kind: 'cidr' }>>();
  for (const a of allowances) for (const peer of a.peers ?? []) if (peer.kind === 'cidr' && !seen.has(peer.text)) seen.set(peer.text, peer);
  return [...seen.values()];
}

/** What policies can see of a pod: equal keys, equal treatment (see the top of the file). */
function podKey(p: PodInfo, keys: readonly string[], cidrs: readonly Extract<ResolvedPeer, { kind: 'cidr' }>[], tierPart: string): string {
  const labels = keys.map((k) => (Object.prototype.hasOwnProperty.call(p.labels, k) ? `${k}=${p.labels[k]}` : '')).join('\u0001');
  const ports = p.namedPorts.map((n) => `${n.name}/${n.protocol}/${n.port}`).sort(cmp).join(',');
  const fams = [4, 6].filter((f) => p.ips.some((i) => ipFamily(i) === f)).join('');
  const inCidr = cidrs.map((c) => (peerMatches([c], { peerIp: p.ips[0]!, peerPod: p, protocol: 'TCP', port: 1, destinationPod: p })
    ? '1' : '0') + (p.ips[1] && peerMatches([c], { peerIp: p.ips[1], peerPod: p, protocol: 'TCP', port: 1, destinationPod: p }) ? '1' : '0')).join('');
  return `${p.namespace}\u0000${labels}\u0000${ports}\u0000${fams}\u0000${inCidr}\u0000${tierPart}`;
}

/** Default columns: every port a policy names (numbers, the first port of ranges, named ports
 *  as the pods resolve them), plus one port per protocol that no policy names. */
function defaultColumns(allowances: readonly Allowance[], pods: readonly PodInfo[]): PortColumn[] {
  const cols = new Map<string, PortColumn>();
  const protos = new Set<Protocol>(['TCP']);
  const named = new Set<string>();
  const taken = new Map<Protocol, { from: number; to: number }[]>();
  const take = (proto: Protocol, from: number, to: number) => {
    const l = taken.get(proto) ?? [];
    l.push({ from, to });
    taken.set(proto, l);
  };
  for (const a of allowances) for (const pm of a.ports ?? []) {
    protos.add(pm.protocol);
    if (pm.kind === 'range') {
      const label = `${pm.protocol}/${pm.from}${pm.to > pm.from ? `-${pm.to}` : ''}`;
      if (!cols.has(label)) cols.set(label, { protocol: pm.protocol, port: pm.from, label });
      take(pm.protocol, pm.from, pm.to);
    } else if (pm.kind === 'named') named.add(`${pm.name}/${pm.protocol}`);
  }
  for (const p of pods) for (const np of p.namedPorts) {
    if (!named.has(`${np.name}/${np.protocol}`)) continue;
    take(np.protocol, np.port, np.port);
    const plain = `${np.protocol}/${np.port}`;
    if (cols.has(plain)) continue;
    const label = `${plain} (${np.name})`;
    if (!cols.has(label)) cols.set(label, { protocol: np.protocol, port: np.port, label });
  }
  // A named column whose number a policy also names plainly is that plain column.
  for (const [label, c] of cols) if (label.endsWith(')') && cols.has(`${c.protocol}/${c.port}`)) cols.delete(label);
  const order = (c: PortColumn) => ['TCP', 'UDP', 'SCTP'].indexOf(c.protocol) * 100_000 + c.port;
  const out = [...cols.values()].sort((a, b) => order(a) - order(b) || cmp(a.label, b.label));
  for (const proto of ['TCP', 'UDP', 'SCTP'] as const) {
    if (!protos.has(proto)) continue;
    const ranges = taken.get(proto) ?? [];
    let port = 1;
    while (ranges.some((r) => r.from <= port && port <= r.to)) port++;
    if (port <= 65535) out.push({ protocol: proto, port, label: `${proto}/other`, other: true });
  }
  return out;
}

/** A readable, unique name for each workload: the pods' common name stem (a Deployment's pods
 *  are NAME-<hash>-<id>, a StatefulSet's NAME-<n>), else the labels the policies read. */
function workloadNames(units: readonly Unit[], keys: readonly string[], podsIn: (ns: string) => number): string[] {
  const stem = (name: string) => name.replace(/-[a-z0-9]{5}$/, '').replace(/-[a-f0-9]{5,10}$/, '').replace(/-\d+$/, '');
  const names = units.map((u) => {
    if (u.pods.length === 1) return podId(u.rep);
    const stems = new Set(u.pods.map((p) => stem(p.name)));
    if (stems.size === 1) return `${u.rep.namespace}/${[...stems][0]}`;
    if (u.pods.length === podsIn(u.rep.namespace)) return `${u.rep.namespace}/*`;
    const labels = keys.filter((k) => k in u.rep.labels).map((k) => `${k}=${u.rep.labels[k]}`);
    if (labels.length) return `${u.rep.namespace}/{${labels.join(',')}}`;
    // No label a selector reads: the pods' names while they are few.
    return u.pods.length <= 3 ? `${u.rep.namespace}/{${u.pods.map((p) => p.name).join(',')}}` : `${u.rep.namespace}/{${u.pods.length} pods, no selected label}`;
  });
  const seen = new Map<string, number>();
  for (const n of names) seen.set(n, (seen.get(n) ?? 0) + 1);
  const k = new Map<string, number>();
  return names.map((n) => {
    if (seen.get(n) === 1) return n;
    const i = (k.get(n) ?? 0) + 1;
    k.set(n, i);
    return `${n}#${i}`;
  });
}

/** The matrix of a cluster. Pure: same cluster and options, same matrix. */
export function buildMatrix(cluster: Cluster, opts: MatrixOptions = {}): Matrix {
  return matrixOfIndex(indexCluster(cluster), opts);
}

export function matrixOfIndex(index: ClusterIndex, opts: MatrixOptions = {}, extraKeysFrom: readonly ClusterIndex[] = []): Matrix {
  const tierOf = (i: ClusterIndex) => tierIndex(i.cluster, i.nsLabels, i.cluster.nodes ?? []);
  // A state without cluster policies compared with one that has some (the what-if) walks
  // empty tiers, so that both matrices say which step decided.
  const tiers = tierOf(index) ?? (extraKeysFrom.some((i) => tierOf(i))
    ? { admin: [], baseline: [], all: [], problems: [], world: { nsLabels: index.nsLabels, nodes: index.cluster.nodes ?? [] } }
    : undefined);
  const by = opts.by ?? 'workload';
  const nsFilter = opts.namespaces?.length ? new Set(opts.namespaces) : undefined;
  const pods = index.activePods.filter((p) => !nsFilter || nsFilter.has(p.namespace));
  const maxPods = opts.maxPods ?? DEFAULT_MAX_PODS;
  if (by === 'pod' && pods.length > maxPods) {
    throw new MatrixError(`--by pod: ${pods.length} pods make ${(pods.length ** 2).toLocaleString('en-US')} pairs, more than a person can read (limit ${maxPods} pods); use --by workload, or --namespace to narrow it`);
  }
  const allowances = allAllowances(index);
  // Keys and ipBlocks of other states too (the what-if compares two matrices row by row, so
  // both must group alike).
  const others = extraKeysFrom.map((i) => ({ keys: [...selectedKeys(i), ...tierKeys(tierOf(i))], allowances: allAllowances(i), tiers: tierOf(i) }));
  const keys = [...new Set([...selectedKeys(index), ...tierKeys(tiers), ...others.flatMap((o) => o.keys)])].sort(cmp);
  const cidrs = cidrPeers([...allowances, ...others.flatMap((o) => o.allowances)]);
  // The address part of the key, when this state or the other (the what-if) has tiers.
  const keyNodes = tiers || others.some((o) => o.tiers) ? index.cluster.nodes ?? [] : undefined;
  const networks = [tiers, ...others.map((o) => o.tiers)].flatMap((t) => networkPeers(t));
  const columns: PortColumn[] = opts.ports
    ? opts.ports.map((p) => ({ protocol: p.protocol, port: p.port, label: `${p.protocol}/${p.port}` }))
    : defaultColumns([...allowances, ...others.flatMap((o) => o.allowances)], index.activePods);

  // Units: the workloads (or each pod with --by pod).
  const byKey = new Map<string, Unit>();
  const units: Unit[] = [];
  for (const p of pods) {
    const key = by === 'pod' ? `pod\u0000${podId(p)}` : podKey(p, keys, cidrs, tierAddressKey(p, networks, keyNodes));
    let u = byKey.get(key);
    if (!u) {
      byKey.set(key, (u = { rep: p, pods: [], key }));
      units.push(u);
    }
    u.pods.push(p);
  }
  const unitOf = new Map<PodInfo, number>();
  units.forEach((u, i) => u.pods.forEach((p) => unitOf.set(p, i)));
  const n = units.length;
  const hasFam = units.map((u) => [u.rep.ips.some((i) => ipFamily(i) === 4), u.rep.ips.some((i) => ipFamily(i) === 6)] as const);
  const ipOf = (u: number, f: Family) => units[u]!.rep.ips.find((i) => ipFamily(i) === f);
  const pairFamily = (s: number, d: number): Family | undefined => {
    const [s4, s6] = hasFam[s]!, [d4, d6] = hasFam[d]!;
    if (opts.family) return (opts.family === 4 ? s4 && d4 : s6 && d6) ? opts.family : undefined;
    return s4 && d4 ? 4 : s6 && d6 ? 6 : undefined;
  };

  // The units each peer holds, per family (pods peers hold the same units in both).
  const ALL = new Bits(n, true);
  const peerCache = new Map<ResolvedPeer | string, [Bits, Bits]>();
  const peerUnits = (peer: ResolvedPeer, f: Family): Bits => {
    // Equal ipBlocks of many policies are one piece of work.
    const ck = peer.kind === 'cidr' ? peer.text : peer;
    let c = peerCache.get(ck);
    if (!c) {
      const mk = (fam: Family) => {
        const b = new Bits(n);
        if (peer.kind === 'pods') {
          for (const part of peer.parts) for (const p of part) {
            const u = unitOf.get(p);
            if (u !== undefined) b.set(u);
          }
        } else {
          for (let u = 0; u < n; u++) {
            const ip = ipOf(u, fam);
            if (ip && peerMatches([peer], { peerIp: ip, peerPod: units[u]!.rep, protocol: 'TCP', port: 1, destinationPod: units[u]!.rep })) b.set(u);
          }
        }
        return b;
      };
      peerCache.set(ck, (c = [mk(4), mk(6)]));
    }
    return c[f === 4 ? 0 : 1];
  };

  /** For one view: per column, the units on the other end that some allowance admits.
   *  Egress: the destination's named ports decide; ingress: the local pod's. */
  const EMPTY = new Bits(n);
  const admitted = (list: readonly Allowance[], dir: Direction, local: PodInfo, f: Family): Bits[] => {
    // Columns nothing admits share one empty set (most, in a default-deny cluster).
    const out: Bits[] = columns.map(() => EMPTY);
    const own = (ci: number) => (out[ci] === EMPTY ? (out[ci] = new Bits(n)) : out[ci]!);
    for (const a of list) {
      let peers: Bits;
      if (a.peers === null) peers = ALL;
      else if (a.peers.length === 1) peers = peerUnits(a.peers[0]!, f);
      else {
        peers = new Bits(n);
        for (const peer of a.peers) peers.or(peerUnits(peer, f));
      }
      const named = dir === 'egress' && (a.ports ?? []).some((pm) => pm.kind === 'named');
      columns.forEach((c, ci) => {
        const probe = { peerIp: '', peerPod: undefined, protocol: c.protocol, port: c.port, destinationPod: local };
        if (!named) {
          if (portMatches(a.ports, probe)) own(ci).or(peers);
          return;
        }
        for (const u of peers) if (portMatches(a.ports, { ...probe, destinationPod: units[u]!.rep })) own(ci).set(u);
      });
    }
    return out;
  };

  // Per unit, direction and family: null when no policy isolates it, else per column the
  // units admitted. Views with the same policies (and, for ingress, the same named ports)
  // share the work.
  const views = new Map<string, Bits[] | null>();
  const sideOf = (u: number, dir: Direction, f: Family): Bits[] | null => {
    const rep = units[u]!.rep;
    const view = podView(index, rep, dir);
    if (!view.isolated) return null;
    const key = `${dir}|${f}|${view.policies.join(',')}|${dir === 'ingress' ? rep.namedPorts.map((p) => `${p.name}/${p.protocol}/${p.port}`).join(',') : ''}`;
    let v = views.get(key);
    if (v === undefined) views.set(key, (v = admitted(view.allowances, dir, rep, f)));
    return v;
  };
  const fams: Family[] = opts.family ? [opts.family] : [4, 6];
  const eg: (Bits[] | null)[][] = [], ing: (Bits[] | null)[][] = [];
  for (const f of fams) {
    eg[f] = units.map((_, u) => (hasFam[u]![f === 4 ? 0 : 1] ? sideOf(u, 'egress', f) : null));
    ing[f] = units.map((_, u) => (hasFam[u]![f === 4 ? 0 : 1] ? sideOf(u, 'ingress', f) : null));
  }
  const unitVerdict = (s: number, d: number, c: number): Verdict => {
    if (s === d && units[s]!.pods.length === 1) return 'self';
    const f = pairFamily(s, d);
    if (!f) return 'none';
    if (tiered) return tierCell(s, d, c, f).allowed;
    const e = eg[f]![s], i = ing[f]![d];
    return (!e || e[c]!.has(d)) && (!i || i[c]!.has(s));
  };

  // Tiers: each side is walkSide (the walk explain takes), over the policies whose subject
  // selects the unit and that have rules in that direction; the NetworkPolicy step is the
  // bit sets' answer. A workload's own cell is about two distinct pods of it (a pod and its
  // own address would be the hairpin, which the tiers let through).
  const tiered = !!tiers;
  const subjects = (dir: Direction, list: readonly NormalizedCnp[]) => units.map((u) => list.filter((p) => p.rules[dir].length && subjectSelects(p.subject, u.rep, tiers!.world)));
  const own = tiers && {
    egress: { admin: subjects('egress', tiers.admin), baseline: subjects('egress', tiers.baseline) },
    ingress: { admin: subjects('ingress', tiers.admin), baseline: subjects('ingress', tiers.baseline) },
  };
  interface TierCell { readonly allowed: boolean; readonly steps: CellSteps & { readonly cell: Step } }
  const cells = new Map<number, TierCell>();
  const tierCell = (s: number, d: number, c: number, f: Family): TierCell => {
    const k = ((s * n + d) * columns.length + c) * 2 + (f === 4 ? 0 : 1);
    let hit = cells.get(k);
    if (hit) return hit;
    const src = units[s]!.rep, dst = s === d ? units[d]!.pods.find((p) => p !== src)! : units[d]!.rep;
    const col = columns[c]!;
    const ip = (p: PodInfo) => p.ips.find((i) => ipFamily(i) === f)!;
    const e = eg[f]![s], i = ing[f]![d];
    const egress = walkSide(own!.egress.admin[s]!, own!.egress.baseline[s]!, 'egress', src,
      { peerIp: ip(dst), peerPod: dst, protocol: col.protocol, port: col.port, destinationPod: dst },
      e ? { isolated: true, allowed: e[c]!.has(d) } : { isolated: false }, tiers!.world).decision;
    const ingress = walkSide(own!.ingress.admin[d]!, own!.ingress.baseline[d]!, 'ingress', dst,
      { peerIp: ip(src), peerPod: src, protocol: col.protocol, port: col.port, destinationPod: dst },
      i ? { isolated: true, allowed: i[c]!.has(s) } : { isolated: false }, tiers!.world).decision;
    const allowed = egress.allowed && ingress.allowed;
    const steps = { egress: egress.by, ingress: ingress.by };
    cells.set(k, (hit = { allowed, steps: { ...steps, cell: cellStep(allowed, steps, egress.allowed) } }));
    return hit;
  };
  const unitSteps = (s: number, d: number, c: number) => {
    if (!tiered || (s === d && units[s]!.pods.length === 1)) return undefined;
    const f = pairFamily(s, d);
    return f ? tierCell(s, d, c, f).steps : undefined;
  };

  const unitTargets = (s: number, c: number): number[] => {
    const out: number[] = [];
    if (tiered) {
      for (let d = 0; d < n; d++) if (unitVerdict(s, d, c) === true) out.push(d);
      return out;
    }
    for (const f of fams) {
      if (!hasFam[s]![f === 4 ? 0 : 1]) continue;
      const e = eg[f]![s];
      for (const d of e ? e[c]! : ALL) {
        if (d >= n) break;
        if (pairFamily(s, d) !== f || (s === d && units[s]!.pods.length === 1)) continue;
        const i = ing[f]![d];
        if (!i || i[c]!.has(s)) out.push(d);
      }
    }
    return out;
  };

  if (by !== 'namespace') {
    const perNs = new Map<string, number>();
    for (const p of pods) perNs.set(p.namespace, (perNs.get(p.namespace) ?? 0) + 1);
    const names = by === 'pod' ? units.map((u) => podId(u.rep)) : workloadNames(units, keys, (ns) => perNs.get(ns) ?? 0);
    const entities = units.map((u, i): MatrixEntity => ({ id: names[i]!, namespace: u.rep.namespace, pods: u.pods, labels: commonLabels(u.pods, keys) }));
    const order = entities.map((_, i) => i).sort((a, b) => cmp(entities[a]!.id, entities[b]!.id));
    const position = new Int32Array(n);
    order.forEach((u, i) => { position[u] = i; });
    return {
      by, ...(opts.family ? { family: opts.family } : {}), columns, index,
      entities: order.map((i) => entities[i]!),
      verdict: (s, d, c) => unitVerdict(order[s]!, order[d]!, c),
      reachable: (s, c) => unitTargets(order[s]!, c).map((u) => position[u]!).sort((a, b) => a - b),
      tiered,
      steps: (s, d, c) => unitSteps(order[s]!, order[d]!, c),
    };
  }

  // Namespaces: every pair of their workloads (pairs of distinct pods only).
  const nsNames = [...new Set(units.map((u) => u.rep.namespace))].sort(cmp);
  const nsUnits = nsNames.map((ns) => units.map((u, i) => (u.rep.namespace === ns ? i : -1)).filter((i) => i >= 0));
  const entities = nsNames.map((ns, i): MatrixEntity => {
    const ps = nsUnits[i]!.flatMap((u) => units[u]!.pods);
    return { id: ns, namespace: ns, pods: ps, labels: index.nsLabels(ns) };
  });
  const nsVerdict = (s: number, d: number, c: number): Verdict => {
    let yes = 0, no = 0;
    for (const a of nsUnits[s]!) for (const b of nsUnits[d]!) {
      const v = unitVerdict(a, b, c);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    return yes && no ? 'some' : yes ? true : no ? false : s === d ? 'self' : 'none';
  };
  return {
    by, ...(opts.family ? { family: opts.family } : {}), columns, index, entities,
    verdict: nsVerdict,
    reachable: (s, c) => entities.map((_, d) => d).filter((d) => { const v = nsVerdict(s, d, c); return v === true || v === 'some'; }),
    // A namespace cell sums many pairs: the steps are per pair (--by workload).
    tiered,
    steps: () => undefined,
  };
}

function commonLabels(pods: readonly PodInfo[], keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = pods[0]!.labels[k];
    if (v !== undefined && pods.every((p) => p.labels[k] === v)) out[k] = v;
  }
  return out;
}
