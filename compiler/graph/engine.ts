// The policy engine: a keyed graph of the cluster, updated one event at a time, that keeps the
// wanted nftables table of one node in an element store (what changed since the last commit
// is the next transaction).
//
//   source event ─▶ apply(event) ─▶ graph (pods, namespaces, policies, peers, groups)
//                                      │  dependency index marks what the event dirties
//                                      ▼
//                               element store (wanted vs written) ─▶ deltaBatch(gen) / fullBatch(gen)
//
// Objects, all keyed (no correctness rests on object identity):
//  - pod `ns/name`: held once, with the peers it belongs to and, for a pod of this node, its
//    group in each direction;
//  - namespace: its labels and the namespace-selector peers that match it;
//  - policy `ns/name`: raw and normalised, indexed by its pod selector in its namespace;
//  - peer: (namespace selector, pod selector) resolved in the policy's namespace (a peer
//    without a namespace selector depends on that namespace; one with it does not), id = a
//    hash of those; one shared set per family (`peer_<hash>_4/_6`) holding its active pods'
//    addresses, plus one `addr . proto . port` set per named port looked up on it (egress).
//    A peer lives while a local group's chain refers to it; it is found from a pod's labels
//    through SelectorIndex (per namespace, and for namespace-selector peers by the namespaces
//    they match), never by testing every selector of the cluster;
//  - group: local pods selected by the same policies in one direction (plus, for ingress, the
//    named ports those policies resolve on the pod); its chains come from lower.ts;
//  - cluster policy `name` (ClusterNetworkPolicy, cluster-scoped): a local pod's group also
//    holds the Admin and Baseline policies whose subject selects it in that direction, and
//    then its chains come from tiers.ts (the tiers as steps around the NetworkPolicy step).
//    Their `pods`/`namespaces` peers are shared pod peers like any other; a `nodes` peer is a
//    shared set of the selected nodes' addresses (node `name`: labels and addresses).
//
// Cost of an event: a pod event touches the peers that pod is (or was) in and, for a pod of
// this node, its groups: one element per family per peer, one map element per address. A
// namespace relabel touches the namespace-selector peers (and that namespace's pods). A policy
// event touches this node's pods in its namespace and the groups that include it.
import { createHash } from 'node:crypto';
import type { Family } from '../cidr.js';
import { normalizeCnp, orderTier, type NormalizedCnp, type Tier } from '../cnp.js';
import { baseChains, ctMarkMaskError, DEFAULT_CT_MARK_MASK, dispatchMap, podCidrSet, type GuardOptions } from '../base.js';
import { mergeRanges, parseCidrText, rangeElem, rangeText, type AddrRange } from '../cidr.js';
import { ipFamily, podIsActive, type Cluster, type ClusterPolicyInfo, type NamedPort, type NamespaceInfo, type NodeInfo, type PodInfo, type PolicyInfo, type Problem } from '../model.js';
import { elemKey, type Batch, type ChainDef, type Ruleset } from '../nft.js';
import { anyNamedPortSet, contestedChain, counterMap, counterName, generationChain, groupChain, hairpinSet, localSet, namedPortSet, nodePeerSet, ownerError, peerSet, tableNameError } from '../nft/names.js';
import { ElementStore } from '../nft/store.js';
import { DROP_LOG_LIMIT, jump } from '../nft/build.js';
import { normalizePolicy, type Direction, type NormalizedPolicy, type Peer } from '../policy.js';
import { matches, type Selector } from '../selectors.js';
import { SelectorIndex } from './labels.js';
import { cidrSetOf, lowerGroup, namedKey, type CidrSetDef, type GroupRefs, type LoweredChain, type RuleCounterLabels, type RuleOrigin } from './lower.js';
import { lowerTierGroup, type TierRefs } from './tiers.js';

export const DEFAULT_TABLE = 'netpol_nft';
/** Packets the drop log lets through at once above its rate (nft's own default is 5). */
export const DEFAULT_DROP_LOG_BURST = 5;
/** The generation the `compile` command stamps (it has no earlier ruleset to tell apart). */
export const COMPILE_GENERATION = 1;

/** The marker chain of a transaction: its serial (one more than the table's last) and the
 *  marker the kernel held when the writer last looked (full batch only). */
export interface Marker {
  readonly serial: number;
  readonly guard?: string;
}

/** One change from a source: an object as it now is, or gone. */
export type ClusterEvent =
  | { readonly kind: 'pod'; readonly op: 'upsert'; readonly pod: PodInfo }
  | { readonly kind: 'pod'; readonly op: 'delete'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'namespace'; readonly op: 'upsert'; readonly namespace: NamespaceInfo }
  | { readonly kind: 'namespace'; readonly op: 'delete'; readonly name: string }
  | { readonly kind: 'networkpolicy'; readonly op: 'upsert'; readonly policy: PolicyInfo }
  | { readonly kind: 'networkpolicy'; readonly op: 'delete'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'clusternetworkpolicy'; readonly op: 'upsert'; readonly policy: ClusterPolicyInfo }
  | { readonly kind: 'clusternetworkpolicy'; readonly op: 'delete'; readonly name: string }
  | { readonly kind: 'node'; readonly op: 'upsert'; readonly node: NodeInfo }
  | { readonly kind: 'node'; readonly op: 'delete'; readonly name: string };

export interface EngineOptions {
  /** The node whose pods this ruleset enforces (spec.nodeName). */
  readonly node: string;
  /** Table name in family inet (default netpol_nft). */
  readonly table?: string;
  /** Conntrack mark bits that hold the generation: contiguous, at least MIN_CT_MARK_BITS
   *  wide, or 0 to decide every packet without the cache (default 0x000000ff). */
  readonly ctMarkMask?: number;
  /** Accept masks down to this many bits (tests drive a wrap-around with 2; default
   *  MIN_CT_MARK_BITS). */
  readonly ctMarkMinBits?: number;
  /** The writer of the table (the agent's --owner): the table then carries the marker chain
   *  `gen_<serial>_<stamp>_<owner>` (compiler/nft/names.ts), replaced in every transaction.
   *  Without it (compile) there is no marker. */
  readonly owner?: string;
  /** Accept every `ct state established` packet up front (policy changes then apply to new
   *  connections only). Default false. */
  readonly establishedFastPath?: boolean;
  /** One named counter per policy rule and direction, counting the connections the rule
   *  allowed (graph/lower.ts). Default false: the table is then exactly as without it. */
  readonly policyRuleCounters?: boolean;
  /** The drop log: every drop path marks its packets for the kernel's trace (`meta nftrace
   *  set 1`) within this rate, one `limit` object for the whole node (absent: off). */
  readonly dropLog?: { readonly rate: number; readonly per: 'second' | 'minute' | 'hour' | 'day'; readonly burst?: number };
  /** Reverse-path check and link-local sources towards the node (default true). */
  readonly antiSpoofing?: boolean;
  /** This node's pod CIDRs besides its Node object's spec.podCIDRs (`--pod-cidr`): addresses
   *  in them that are not active local pods are dropped both ways. */
  readonly podCidrs?: readonly string[];
}

/** What an nft chain of the table stands for, in policy terms (for trace and the drop log). */
export interface ChainOrigin {
  readonly chain: string;
  readonly direction: Direction;
  readonly family: Family;
  /** The packets the chain decides: the connection's original direction or its replies. */
  readonly packet: 'original' | 'reply';
  /** policies: a group without cluster policies (NetworkPolicy allows, then the drop);
   *  admin: the Admin tier (and the way on); next: the NetworkPolicy step, or the Baseline
   *  tier; deny: where Deny rules lead. */
  readonly step: 'policies' | 'admin' | 'next' | 'deny';
  /** The NetworkPolicies that isolate the chain's pods (`ns/name`), sorted. */
  readonly isolatedBy: readonly string[];
  /** The cluster policies whose subject selects them (`cnp/name`), sorted. */
  readonly clusterPolicies: readonly string[];
  /** The local pods dispatched to the chain (`ns/name`), sorted. */
  readonly pods: readonly string[];
}

/** What a named set of the table holds, in policy terms. */
export interface SetOrigin {
  readonly set: string;
  /** peer: pods a selector pair picks; cidr: an ipBlock's ranges (a CIDR with holes);
   *  local: this node's pods; other: a set of the base. */
  readonly kind: 'peer' | 'nodes' | 'cidr' | 'local' | 'other';
  /** For a peer: the namespace it is scoped to (its policy's) or `*` with a namespace selector. */
  readonly scope?: string;
  /** The policies of this node whose rules read it (`ns/name`, `cnp/name`), sorted. */
  readonly policies: readonly string[];
}

/** A policy rule's counter in the table, with what it stands for. */
export interface RuleCounter extends RuleCounterLabels {
  readonly counter: string;
}

export interface LocalPod {
  readonly namespace: string;
  readonly name: string;
  readonly ips: readonly string[];
  readonly ingress: { readonly isolated: boolean; readonly counter?: string; readonly policies: readonly string[] };
  readonly egress: { readonly isolated: boolean; readonly counter?: string; readonly policies: readonly string[] };
}

/** What one apply() dirtied (for logs and tests). */
export interface Dirtied {
  readonly peers: number;
  readonly groups: number;
  readonly pods: number;
}

// ------------------------------------------------------------------ records

interface PodRec {
  readonly key: string;
  info: PodInfo;
  /** Addresses this pod owns as a peer (claims settled, owner()), when active. */
  ips: readonly string[];
  /** For a pod of this node: every address it claims, when active. A pod of this node holds its
   *  addresses in the dispatch maps and local4/6 whatever others claim; two of this node's pods
   *  claiming one address both hold it (its dispatch is the union of their isolation:
   *  dispatch()). Empty for pods of other nodes. */
  held: readonly string[];
  active: boolean;
  readonly peers: Set<PeerRec>;
  groups: Partial<Record<Direction, GroupRec>>;
}

interface NsRec {
  readonly name: string;
  labels: Readonly<Record<string, string>>;
  hasObject: boolean;
  /** Active pods of the namespace. */
  readonly pods: Set<PodRec>;
  /** Local (this node's) active pods of the namespace. */
  readonly local: Set<PodRec>;
  /** Live namespace-selector peers that match this namespace. */
  readonly nsPeers: Set<PeerRec>;
  /** Policies of the namespace by their pod selector. */
  readonly subjects: SelectorIndex<PolRec>;
  /** Live peers without a namespace selector, scoped to this namespace, by pod selector. */
  readonly scoped: SelectorIndex<PeerRec>;
}

interface PolRec {
  readonly key: string;
  info: PolicyInfo;
  norm: NormalizedPolicy | undefined;
  problems: readonly Problem[];
  readonly groups: Set<GroupRec>;
}

interface PeerRec {
  readonly id: string;
  readonly hash: string;
  /** The policy's namespace for a peer without a namespace selector; undefined otherwise. */
  readonly scope: string | undefined;
  readonly podSelector: Selector;
  readonly nsSelector: Selector | undefined;
  readonly members: Set<PodRec>;
  /** Group chains referring to it. */
  refs: number;
  /** Named ports looked up on it (`name/PROTO` -> group count). */
  readonly named: Map<string, number>;
}

interface CnpRec {
  readonly name: string;
  info: ClusterPolicyInfo;
  norm: NormalizedCnp | undefined;
  problems: readonly Problem[];
  readonly groups: Set<GroupRec>;
}

interface NodePeerRec {
  readonly id: string;
  readonly hash: string;
  readonly selector: Selector;
  refs: number;
  /** Addresses its sets hold. */
  readonly members: Set<string>;
}

interface GroupRec {
  readonly key: string;
  readonly hash: string;
  readonly dir: Direction;
  readonly policies: readonly PolRec[];
  /** Cluster policies whose subject selects the group's pods (by name; empty: no tiers). */
  readonly cnps: readonly CnpRec[];
  readonly namedPorts: readonly NamedPort[];
  readonly pods: Set<PodRec>;
  readonly famCount: Record<Family, number>;
  refs: GroupRefs | TierRefs | undefined;
  chains: LoweredChain[];
}

const FAMILIES: readonly Family[] = [4, 6];
const DIRS: readonly Direction[] = ['ingress', 'egress'];
const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
const hash = (s: string, len: number) => createHash('sha256').update(s).digest('hex').slice(0, len);
const selectorKey = (s: Selector | undefined) => (s ? JSON.stringify(s.requirements.map((r) => [r.key, r.operator, [...new Set(r.values)].sort()]).sort()) : '-');
const PROTO_LC = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;

/** The stamp of generation `gen` inside `mask`: 1 .. 2^width-1 for gen >= 1 (gen 1 .. 2^width-1
 *  is stamp number gen itself; larger ones wrap), 0 for gen 0 (the cache off). */
export function generationStamp(mask: number, gen: number): number {
  if (mask === 0 || gen === 0) return 0;
  const shift = 31 - Math.clz32(mask & -mask);
  const width = 32 - Math.clz32(mask >>> shift);
  const span = width >= 31 ? 0x7fffffff : 2 ** width - 1;
  const g = ((Math.floor(Math.abs(gen)) - 1) % span + span) % span + 1;
  return (g * 2 ** shift) >>> 0;
}

// ------------------------------------------------------------------ the engine

/** What localPods() says of one pod of this node. */
function localPodOf(r: PodRec): LocalPod {
  const side = (dir: Direction) => {
    const g = r.groups[dir];
    // A group of cluster policies alone does not isolate (it has a counter, for its Deny rules).
    return g ? { isolated: g.policies.length > 0, counter: counterName(dir, r.info.namespace, r.info.name), policies: g.policies.map((p) => p.key) } : { isolated: false, policies: [] };
  };
  return { namespace: r.info.namespace, name: r.info.name, ips: r.held, ingress: side('ingress'), egress: side('egress') };
}

export class PolicyEngine {
  readonly table: string;
  private readonly mask: number;
  private readonly store = new ElementStore();
  private readonly pods = new Map<string, PodRec>();
  private readonly namespaces = new Map<string, NsRec>();
  private readonly policies = new Map<string, PolRec>();
  private readonly peers = new Map<string, PeerRec>();
  /** Live namespace-selector peers, by pod selector. */
  private readonly nsPeerIndex = new SelectorIndex<PeerRec>();
  private readonly nsPeerAll = new Set<PeerRec>();
  private readonly groups = new Map<string, GroupRec>();
  /** Active pods by named port (`name/PROTO`), for the cluster-wide named-port sets. */
  private readonly byNamedPort = new Map<string, Set<PodRec>>();
  /** Cluster-wide named-port sets in use (`name/PROTO` -> group count). */
  private readonly anyNamed = new Map<string, number>();
  /** Active pods claiming each address (the newest owns it). */
  private readonly claims = new Map<string, Set<PodRec>>();
  /** What the dispatch maps hold for each local address and direction (`dir\0ip`): the groups
   *  whose chains decide it, the drop counter, and the contested chains' hash when several. */
  private readonly dispatched = new Map<string, { readonly groups: readonly GroupRec[]; readonly counter: string; readonly contested?: string }>();
  /** Contested chains (`dir\0family\0hash`) -> addresses dispatched to them. */
  private readonly contestedRefs = new Map<string, number>();
  private readonly dirtyGroups = new Set<GroupRec>();
  private readonly cnps = new Map<string, CnpRec>();
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly nodePeers = new Map<string, NodePeerRec>();
  /** Rule counters in the table: name -> what it counts, and how many groups refer to it.
   *  A counter stays while any group does (a change that rebuilds chains keeps its counts)
   *  and goes with the last one (the rule, its policy or the policy's last local pod gone). */
  private readonly ruleCounterRefs = new Map<string, { labels: RuleCounterLabels; refs: number }>();
  /** Shared ipBlock sets in the table (lower.ts cidrMatch): name -> groups referring to it. */
  private readonly cidrRefs = new Map<string, number>();
  /** Groups with cluster policies (the hairpin sets live while there is one). */
  private tiered = 0;
  private readonly guard: GuardOptions;
  private readonly flagCidrs: readonly AddrRange[];
  /** Elements of podcidr4/6 as written in the store (key -> element). */
  private podCidrKeys = new Set<string>();
  private dirt = { peers: 0, groups: 0, pods: 0 };
  /** localPods(), kept per event: each local pod's entry (rebuilt only for the pods an event
   *  touched: `localDirty`), and the sorted list, the same array until one of them changes.
   *  Rebuilding the list at every sync held the agent's event loop for 24-75 ms at L. */
  private readonly localCache = new Map<PodRec, LocalPod>();
  private readonly localDirty = new Set<PodRec>();
  private localList: readonly LocalPod[] | undefined;
  /** Group chains by name (the origin lookups). */
  private readonly chainIndex = new Map<string, GroupRec>();

  constructor(readonly opts: EngineOptions) {
    this.table = opts.table ?? DEFAULT_TABLE;
    this.mask = (opts.ctMarkMask ?? DEFAULT_CT_MARK_MASK) >>> 0;
    const err = ctMarkMaskError(this.mask, opts.ctMarkMinBits);
    if (err) throw new RangeError(`ct mark mask 0x${this.mask.toString(16)}: ${err}`);
    if (opts.dropLog) {
      const { rate, per, burst } = opts.dropLog;
      if (!Number.isSafeInteger(rate) || rate < 1) throw new RangeError(`drop log rate ${rate}: a positive integer`);
      this.store.defineLimit({ name: DROP_LOG_LIMIT, rate, per, burst: burst ?? DEFAULT_DROP_LOG_BURST });
    }
    const badTable = tableNameError(this.table);
    if (badTable) throw new RangeError(`table ${JSON.stringify(this.table)}: ${badTable}`);
    const badOwner = opts.owner === undefined ? undefined : ownerError(opts.owner);
    if (badOwner) throw new RangeError(`owner ${JSON.stringify(opts.owner)}: ${badOwner}`);
    this.guard = { antiSpoofing: opts.antiSpoofing ?? true };
    this.flagCidrs = (opts.podCidrs ?? []).map((c) => {
      const r = parseCidrText(c);
      if (typeof r === 'string') throw new RangeError(`pod CIDR ${r}`);
      return r;
    });
    for (const f of FAMILIES) {
      this.store.define(localSet(f), { kind: 'set', type: addrType(f), flags: [] });
      this.store.define(podCidrSet(f), { kind: 'set', type: addrType(f), flags: ['interval'] });
      for (const dir of DIRS) {
        for (const pd of ['o', 'r'] as const) this.store.define(dispatchMap(dir, f, pd), { kind: 'map', type: addrType(f), map: 'verdict' });
        this.store.define(counterMap(dir, f), { kind: 'map', type: addrType(f), map: 'counter' });
      }
    }
    this.setPodCidrs();
  }

  // ---------------------------------------------------------------- events

  /** Applies one event; returns what it dirtied. */
  apply(ev: ClusterEvent): Dirtied {
    this.dirt = { peers: 0, groups: 0, pods: 0 };
    switch (ev.kind) {
      case 'pod':
        if (ev.op === 'upsert') this.setPod(`${ev.pod.namespace}/${ev.pod.name}`, ev.pod);
        else this.setPod(`${ev.namespace}/${ev.name}`, undefined);
        break;
      case 'namespace':
        if (ev.op === 'upsert') this.setNamespace(ev.namespace.name, ev.namespace);
        else this.setNamespace(ev.name, undefined);
        break;
      case 'networkpolicy':
        if (ev.op === 'upsert') this.setPolicy(`${ev.policy.namespace}/${ev.policy.name}`, ev.policy);
        else this.setPolicy(`${ev.namespace}/${ev.name}`, undefined);
        break;
      case 'clusternetworkpolicy':
        this.setCnp(ev.op === 'upsert' ? ev.policy.name : ev.name, ev.op === 'upsert' ? ev.policy : undefined);
        break;
      case 'node':
        this.setNode(ev.op === 'upsert' ? ev.node.name : ev.name, ev.op === 'upsert' ? ev.node : undefined);
        break;
      default: {
        const never: never = ev;
        throw new Error(`unknown event ${JSON.stringify(never)}`);
      }
    }
    this.flushGroups();
    return this.dirt;
  }

  // ---------------------------------------------------------------- output

  /** The whole table as one transaction (add + delete + add the table, then everything).
   *  With `marker`, the table carries the marker chain of that serial, and `marker.guard` (the
   *  marker chain the kernel held when we last looked) is deleted first in the same
   *  transaction: if another writer replaced it, the whole transaction fails. */
  fullBatch(gen: number, marker?: Marker): Batch {
    this.setBase(gen, marker);
    return this.store.fullBatch(this.table, marker?.guard);
  }

  /** fullBatch in slices: `pause` (the caller's, e.g. a setImmediate) is awaited between them. */
  async fullBatchSliced(gen: number, pause: () => Promise<void>, marker?: Marker): Promise<Batch> {
    this.setBase(gen, marker);
    // 1,000 objects (an element, a rule, a chain) per slice: at 4,000 a slice at L held the
    // caller's loop for 20-45 ms.
    return this.store.fullBatchSliced(this.table, pause, 1000, marker?.guard);
  }

  /** Only what changed since the last commit, with the forward chain re-stamped with `gen`;
   *  undefined when nothing changed. With `marker`, the previous marker chain is deleted and
   *  the new one added in the same transaction (it fails if another writer replaced ours).
   *  `restamp`: a transaction even when nothing else changed (the base chains and marker). */
  deltaBatch(gen: number, marker?: Marker, restamp = false): Batch | undefined {
    if (!restamp && !this.store.changed()) return undefined;
    this.setBase(gen, marker);
    return this.store.deltaBatch(this.table);
  }

  /** True when the wanted table differs from the last committed one (a delta is due). */
  changed(): boolean {
    return this.store.changed();
  }

  /** nft accepted the last batch. */
  commit(): void {
    this.store.commit();
  }

  /** The wanted table as a value, its base chains stamped with `gen`. */
  ruleset(gen: number = COMPILE_GENERATION): Ruleset {
    const rs = this.store.ruleset(this.table);
    const base = this.baseChains(gen);
    const own = new Set(base.map((c) => c.name));
    const chains = [...rs.chains.filter((c) => !own.has(c.name)), ...base].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { ...rs, chains };
  }

  /** The stamp `gen` becomes inside the ct mark mask. */
  stamp(gen: number): number {
    return generationStamp(this.mask, gen);
  }

  private baseChains(gen: number): ChainDef[] {
    return baseChains(this.mask, this.stamp(gen), !!this.opts.establishedFastPath, this.guard);
  }

  private markerChain: string | undefined;

  private setBase(gen: number, marker?: Marker): void {
    for (const c of this.baseChains(gen)) this.store.setChain(c);
    if (marker && this.opts.owner !== undefined) {
      const name = generationChain(marker.serial, this.stamp(gen), this.opts.owner);
      if (this.markerChain !== undefined && this.markerChain !== name) this.store.dropChain(this.markerChain);
      this.store.setChain({ name, rules: [] });
      this.markerChain = name;
    }
  }

  /** This node's active pods, with isolation and drop counters, sorted by namespace/name:
   *  the same array (and the same entries for the pods no event touched) until one changes. */
  localPods(): readonly LocalPod[] {
    if (this.localList && !this.localDirty.size) return this.localList;
    for (const _ of this.localPodsSteps(Infinity));
    this.localList = [...this.localCache].sort((a, b) => cmp(a[0].key, b[0].key)).map(([, p]) => p);
    return this.localList;
  }

  /** The entries localPods() has to rebuild, rebuilt with a `null` after every `every` (for a
   *  caller that lets other work run between slices: at the first sync at L that is 2,500
   *  pods at once); localPods() then only sorts. */
  *localPodsSteps(every = 500): Generator<null> {
    let n = 0;
    for (const r of this.localDirty) {
      if (this.namespaces.get(r.info.namespace)?.local.has(r)) this.localCache.set(r, localPodOf(r));
      else this.localCache.delete(r);
      this.localDirty.delete(r);
      this.localList = undefined;
      if (++n % every === 0) yield null;
    }
  }

  /** An event changed what localPods() says of `r` (its addresses, groups, or presence). */
  private localChanged(r: PodRec): void {
    this.localDirty.add(r);
  }

  /** problems() and policyCount(), until a policy changes (the agent reads them at every
   *  sync: sorting 10,000 policy keys took 14 ms at L). */
  private policyReport: { problems: readonly Problem[]; count: { valid: number; invalid: number } } | undefined;

  private report(): NonNullable<PolicyEngine['policyReport']> {
    if (this.policyReport) return this.policyReport;
    const problems = [
      ...[...this.policies.keys()].sort(cmp).flatMap((k) => this.policies.get(k)!.problems),
      ...[...this.cnps.keys()].sort(cmp).flatMap((k) => this.cnps.get(k)!.problems),
    ];
    let valid = 0;
    for (const p of this.policies.values()) if (p.norm?.valid) valid++;
    return (this.policyReport = { problems, count: { valid, invalid: this.policies.size - valid } });
  }

  /** Problems of the policies (pods and namespaces are validated by the sources). */
  problems(): Problem[] {
    return [...this.report().problems];
  }

  /** Cluster policies by tier and state, the unsupported parts (domainNames peers, unknown
   *  peer kinds) by policy, and the ties (equal priorities in one tier, ordered by name). */
  tierReport(): { policies: Record<Tier, { valid: number; invalid: number; unsupported: number }>; unusable: number; unsupported: { policy: string; what: string }[]; ties: Record<Tier, string[][]> } {
    const norms = [...this.cnps.values()].flatMap((c) => (c.norm ? [c.norm] : []));
    const policies = { Admin: { valid: 0, invalid: 0, unsupported: 0 }, Baseline: { valid: 0, invalid: 0, unsupported: 0 } };
    for (const n of norms) {
      const t = policies[n.tier];
      if (!n.valid) t.invalid++;
      else if (n.unsupported.length) t.unsupported++;
      else t.valid++;
    }
    const unsupported = norms.sort((a, b) => cmp(a.name, b.name)).flatMap((n) => n.unsupported.map((what) => ({ policy: n.name, what })));
    return { policies, unusable: this.cnps.size - norms.length, unsupported, ties: { Admin: orderTier(norms, 'Admin').ties, Baseline: orderTier(norms, 'Baseline').ties } };
  }

  policyCount(): { valid: number; invalid: number } {
    return { ...this.report().count };
  }

  /** The policy rules' counters of the wanted table (empty without policyRuleCounters), by name. */
  ruleCounters(): RuleCounter[] {
    return [...this.ruleCounterRefs].sort((a, b) => cmp(a[0], b[0])).map(([counter, r]) => ({ counter, ...r.labels }));
  }

  /** Where rule `index` of group chain `chain` came from (undefined: not a policy rule). */
  ruleOrigin(chain: string, index: number): RuleOrigin | undefined {
    return this.loweredChain(chain)?.origins[index];
  }

  /** The rule of `chain` that carries `comment` (as `nft monitor trace` shows it): its index
   *  and origin (origin undefined for a drop or another rule of our own). */
  ruleByComment(chain: string, comment: string): { index: number; origin: RuleOrigin | undefined } | undefined {
    const c = this.loweredChain(chain);
    const index = c ? c.comments.indexOf(comment) : -1;
    return index < 0 ? undefined : { index, origin: c!.origins[index] };
  }

  /** What a group chain stands for: direction, step, the policies and the pods (undefined:
   *  not a group chain of this table). */
  chainInfo(chain: string): ChainOrigin | undefined {
    const g = this.chainIndex.get(chain);
    const m = /^(in|eg)([46])([or])_[0-9a-f]{10}(_[nd])?$/.exec(chain);
    if (!g || !m) return undefined;
    const tiered = g.cnps.length > 0;
    return {
      chain, direction: g.dir, family: Number(m[2]) as Family, packet: m[3] === 'o' ? 'original' : 'reply',
      step: !tiered ? 'policies' : m[4] === '_n' ? 'next' : m[4] === '_d' ? 'deny' : 'admin',
      isolatedBy: g.policies.map((p) => p.key), clusterPolicies: g.cnps.map((c) => `cnp/${c.name}`),
      pods: [...g.pods].map((r) => r.key).sort(cmp),
    };
  }

  /** The active pod (`ns/name`) that owns an address, anywhere in the cluster. */
  podAt(ip: string): string | undefined {
    const r = this.owner(ip);
    return r?.active && r.ips.includes(ip) ? r.key : undefined;
  }

  /** What a named set holds and which of this node's policies read it. */
  setOrigin(set: string): SetOrigin | undefined {
    if (/^local[46]$/.test(set)) return { set, kind: 'local', policies: [] };
    for (const p of this.peers.values()) {
      if (set !== peerSet(p.hash, 4) && set !== peerSet(p.hash, 6) && !set.startsWith('np_')) continue;
      if (set.startsWith('np_') && ![...p.named.keys()].some((k) => { const [n, pr] = splitNamed(k); return set === namedPortSet(p.hash, n, PROTO_LC[pr], 4) || set === namedPortSet(p.hash, n, PROTO_LC[pr], 6); })) continue;
      const uses = (pol: PolRec) => !!pol.norm && DIRS.some((d) => pol.norm!.rules[d].some((rule) => rule.peers?.some((x) => x.kind === 'pods' && this.peerOf(pol.norm!, x).id === p.id)));
      return { set, kind: 'peer', scope: p.scope ?? '*', policies: this.policiesReading((r) => r.peers.has(p.id), uses) };
    }
    for (const p of this.nodePeers.values()) {
      if (set === nodePeerSet(p.hash, 4) || set === nodePeerSet(p.hash, 6)) return { set, kind: 'nodes', policies: this.policiesReading((r) => !!(r as TierRefs).nodes?.has(p.id)) };
    }
    if (this.cidrRefs.has(set)) {
      const uses = (pol: PolRec) => !!pol.norm && DIRS.some((d) => pol.norm!.rules[d].some((rule) => rule.peers?.some((x) => x.kind === 'ipBlock' && FAMILIES.some((f) => cidrSetOf(f, x.ranges.filter((r) => r.family === f)) === set))));
      return { set, kind: 'cidr', policies: this.policiesReading((r) => r.cidrs.has(set), uses) };
    }
    return this.store.has(set) ? { set, kind: 'other', policies: [] } : undefined;
  }

  /** Policies of the groups whose rules read something (`reads`), NetworkPolicies narrowed to
   *  those that do (`polReads`); cluster policies of such groups all count. */
  private policiesReading(reads: (refs: GroupRefs) => boolean, polReads: (p: PolRec) => boolean = () => true): string[] {
    const out = new Set<string>();
    for (const g of this.groups.values()) if (g.refs && reads(g.refs)) {
      for (const p of g.policies) if (polReads(p)) out.add(p.key);
      for (const c of g.cnps) out.add(`cnp/${c.name}`);
    }
    return [...out].sort(cmp);
  }

  private loweredChain(chain: string): LoweredChain | undefined {
    return this.chainIndex.get(chain)?.chains.find((c) => c.name === chain);
  }

  /** The chains of the wanted table (base chains as last stamped). */
  chains(): readonly ChainDef[] {
    return this.store.chains();
  }

  /** Counts of the wanted table's objects (for metrics). */
  objectCounts(): { chain: number; rule: number; set: number; element: number } {
    return this.store.counts();
  }

  /** The events that turn what the engine holds into `cluster`, compared key by key (for a
   *  source that cannot say which objects changed: a relist, a start). Lazy. */
  *reconcileEvents(cluster: Cluster): Generator<ClusterEvent> {
    for (const ev of this.reconcileSteps(cluster)) if (ev) yield ev;
  }

  /** reconcileEvents with a `null` after every `every` units of work (an object compared
   *  with what the engine holds, or an object the engine holds looked up among the cluster's
   *  to find the deleted ones), so that a caller can let other work run between slices even
   *  when nothing differs. The deletions are found by walking the engine's objects: at 50,000
   *  pods that walk alone held the event loop for 60 ms when it did not yield. */
  *reconcileSteps(cluster: Cluster, every = 2000): Generator<ClusterEvent | null> {
    const same = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);
    let n = 0;
    const tick = () => ++n % every === 0;
    const nsSeen = new Set<string>();
    for (const ns of cluster.namespaces) {
      nsSeen.add(ns.name);
      const rec = this.namespaces.get(ns.name);
      if (!rec || !rec.hasObject || !same(rec.labels, ns.labels)) yield { kind: 'namespace', op: 'upsert', namespace: ns };
      if (tick()) yield null;
    }
    for (const rec of [...this.namespaces.values()]) {
      if (rec.hasObject && !nsSeen.has(rec.name)) yield { kind: 'namespace', op: 'delete', name: rec.name };
      if (tick()) yield null;
    }
    const polSeen = new Set<string>();
    for (const p of cluster.policies) {
      const k = `${p.namespace}/${p.name}`;
      polSeen.add(k);
      const rec = this.policies.get(k);
      if (!rec || !same(rec.info, p)) yield { kind: 'networkpolicy', op: 'upsert', policy: p };
      if (tick()) yield null;
    }
    for (const rec of [...this.policies.values()]) {
      if (!polSeen.has(rec.key)) yield { kind: 'networkpolicy', op: 'delete', namespace: rec.info.namespace, name: rec.info.name };
      if (tick()) yield null;
    }
    const nodeSeen = new Set<string>();
    for (const n of cluster.nodes ?? []) {
      nodeSeen.add(n.name);
      if (!same(this.nodes.get(n.name), n)) yield { kind: 'node', op: 'upsert', node: n };
      if (tick()) yield null;
    }
    for (const name of [...this.nodes.keys()]) {
      if (!nodeSeen.has(name)) yield { kind: 'node', op: 'delete', name };
      if (tick()) yield null;
    }
    const cnpSeen = new Set<string>();
    for (const p of cluster.clusterPolicies ?? []) {
      cnpSeen.add(p.name);
      const rec = this.cnps.get(p.name);
      if (!rec || !same(rec.info, p)) yield { kind: 'clusternetworkpolicy', op: 'upsert', policy: p };
      if (tick()) yield null;
    }
    for (const name of [...this.cnps.keys()]) {
      if (!cnpSeen.has(name)) yield { kind: 'clusternetworkpolicy', op: 'delete', name };
      if (tick()) yield null;
    }
    const podSeen = new Set<string>();
    for (const p of cluster.pods) {
      const k = `${p.namespace}/${p.name}`;
      podSeen.add(k);
      const rec = this.pods.get(k);
      if (!rec || !same(rec.info, p)) yield { kind: 'pod', op: 'upsert', pod: p };
      if (tick()) yield null;
    }
    for (const rec of [...this.pods.values()]) {
      if (!podSeen.has(rec.key)) yield { kind: 'pod', op: 'delete', namespace: rec.info.namespace, name: rec.info.name };
      if (tick()) yield null;
    }
  }

  /** Sizes of the graph (for tests and the bench). */
  stats(): { pods: number; peers: number; groups: number; policies: number } {
    return { pods: this.pods.size, peers: this.peers.size, groups: this.groups.size, policies: this.policies.size };
  }

  // ---------------------------------------------------------------- namespaces

  private ns(name: string): NsRec {
    let n = this.namespaces.get(name);
    if (!n) {
      n = { name, labels: { 'kubernetes.io/metadata.name': name }, hasObject: false, pods: new Set(), local: new Set(), nsPeers: new Set(), subjects: new SelectorIndex(), scoped: new SelectorIndex() };
      this.namespaces.set(name, n);
      for (const p of this.nsPeerAll) if (matches(p.nsSelector!, n.labels)) n.nsPeers.add(p);
    }
    return n;
  }

  private setNamespace(name: string, info: NamespaceInfo | undefined): void {
    const n = this.ns(name);
    n.hasObject = !!info;
    const labels = info?.labels ?? { 'kubernetes.io/metadata.name': name };
    if (JSON.stringify(labels) === JSON.stringify(n.labels)) return;
    n.labels = labels;
    // Cluster policies select pods by their namespace's labels too.
    if (this.cnps.size) for (const r of n.local) this.regroup(r);
    // > namespace label changes re-evaluate every peer set that a namespace selector touches.
    for (const p of this.nsPeerAll) {
      const was = n.nsPeers.has(p), is = matches(p.nsSelector!, labels);
      if (was === is) continue;
      this.dirt.peers++;
      if (is) n.nsPeers.add(p);
      else n.nsPeers.delete(p);
      for (const r of n.pods) if (matches(p.podSelector, r.info.labels)) (is ? this.joinPeer(p, r) : this.leavePeer(p, r));
    }
  }

  // ---------------------------------------------------------------- pods

  /** Who owns a claimed address on this node (issue: "a claim on another node's pod address
   *  unisolates it"). A pod of this node keeps its address whatever pods of other nodes claim:
   *  the guard's reverse-path check already makes its interface the only place a packet with
   *  that source can come from, and its isolation keeps applying. Between pods of one node,
   *  the newest (that node routes the address to one of them; sortCluster settles the same).
   *  An address that pods of two or more other nodes claim is nobody's here: it leaves every
   *  peer set, so a claim can only take allowances away (a packet from it must be allowed as
   *  from no pod at all), never lend the claimant's. */
  private owner(ip: string): PodRec | undefined {
    const byNode = new Map<string, PodRec>();
    for (const r of this.claims.get(ip) ?? []) {
      const best = byNode.get(r.info.nodeName);
      const a = r.info.created ?? '', b = best?.info.created ?? '';
      if (!best || a > b || (a === b && r.key < best.key)) byNode.set(r.info.nodeName, r);
    }
    const local = byNode.get(this.opts.node);
    if (local) return local;
    return byNode.size === 1 ? [...byNode.values()][0] : undefined;
  }

  private setPod(key: string, info: PodInfo | undefined): void {
    let rec = this.pods.get(key);
    if (!rec && !info) return;
    this.dirt.pods++;
    if (!rec) {
      rec = { key, info: info!, ips: [], held: [], active: false, peers: new Set(), groups: {} };
      this.pods.set(key, rec);
    }
    // Every pod sharing an address with this one, before or after, may gain or lose it.
    const affected = new Set<PodRec>([rec]);
    const oldIps = podIsActive(rec.info) && this.pods.get(key) === rec ? rec.info.ips : [];
    for (const ip of [...oldIps, ...(info && podIsActive(info) ? info.ips : [])]) for (const r of this.claims.get(ip) ?? []) affected.add(r);
    for (const r of affected) this.retract(r);
    for (const ip of oldIps) this.unclaim(ip, rec);
    if (info) {
      rec.info = info;
      if (podIsActive(info)) for (const ip of info.ips) {
        let s = this.claims.get(ip);
        if (!s) this.claims.set(ip, (s = new Set()));
        s.add(rec);
      }
    } else this.pods.delete(key);
    for (const r of affected) if (this.pods.get(r.key) === r) this.assert(r);
  }

  private unclaim(ip: string, rec: PodRec): void {
    const s = this.claims.get(ip);
    s?.delete(rec);
    if (s && !s.size) this.claims.delete(ip);
  }

  /** Takes back everything a pod contributes (its current state). */
  private retract(r: PodRec): void {
    if (!r.active) return;
    const n = this.ns(r.info.namespace);
    for (const p of [...r.peers]) this.leavePeer(p, r);
    for (const np of r.info.namedPorts) {
      const k = namedKey(np.name, np.protocol);
      this.byNamedPort.get(k)?.delete(r);
      if (this.anyNamed.has(k)) for (const ip of r.ips) this.store.remove(anyNamedPortSet(np.name, PROTO_LC[np.protocol], ipFamily(ip)), this.npKey(ip, np));
    }
    n.pods.delete(r);
    if (n.local.delete(r)) {
      this.localChanged(r);
      for (const dir of DIRS) this.setGroup(r, dir, undefined);
      // An address another pod of the node still holds stays.
      for (const ip of r.held) if (!this.holders(ip).some((o) => o !== r)) {
        this.store.remove(localSet(ipFamily(ip)), ip);
        if (this.tiered) this.store.remove(hairpinSet(ipFamily(ip)), `${ip} ${ip}`);
      }
    }
    r.active = false;
    r.ips = [];
    r.held = [];
  }

  /** Adds everything a pod contributes (from r.info and the address claims). */
  private assert(r: PodRec): void {
    const claimed = podIsActive(r.info) ? r.info.ips : [];
    const ips = claimed.filter((ip) => this.owner(ip) === r);
    const held = r.info.nodeName === this.opts.node ? [...new Set(claimed)] : [];
    if (!ips.length && !held.length) return;
    r.ips = ips;
    r.held = held;
    r.active = true;
    const n = this.ns(r.info.namespace);
    n.pods.add(r);
    const seenNamed = new Set<string>();
    for (const np of r.info.namedPorts) {
      const k = namedKey(np.name, np.protocol);
      if (seenNamed.has(k)) continue; // the first container port of a name is the one that counts
      seenNamed.add(k);
      let s = this.byNamedPort.get(k);
      if (!s) this.byNamedPort.set(k, (s = new Set()));
      s.add(r);
      if (this.anyNamed.has(k)) for (const ip of ips) this.store.put(anyNamedPortSet(np.name, PROTO_LC[np.protocol], ipFamily(ip)), this.npKey(ip, np), this.npElem(ip, np));
    }
    // Peers: candidates from the label indexes, each tested.
    for (const p of n.scoped.candidates(r.info.labels)) if (matches(p.podSelector, r.info.labels)) this.joinPeer(p, r);
    // Peers with a namespace selector: those that select this namespace (n.nsPeers, usually a
    // handful), unless the label index's candidates are surely fewer. The index alone files
    // every peer with an empty pod selector in its `rest`, which every pod of the cluster
    // would walk: that grew with the cluster (104 candidates per pod at L, 21 at M).
    const labels = r.info.labels;
    if (n.nsPeers.size <= this.nsPeerIndex.unfiled) {
      for (const p of n.nsPeers) if (matches(p.podSelector, labels)) this.joinPeer(p, r);
    } else for (const p of this.nsPeerIndex.candidates(labels)) if (n.nsPeers.has(p) && matches(p.podSelector, labels)) this.joinPeer(p, r);
    if (held.length) {
      n.local.add(r);
      this.localChanged(r);
      for (const ip of held) this.store.put(localSet(ipFamily(ip)), ip, ip);
      if (this.tiered) for (const ip of held) this.store.put(hairpinSet(ipFamily(ip)), `${ip} ${ip}`, { concat: [ip, ip] });
      this.regroup(r);
    }
  }

  // ---------------------------------------------------------------- named ports

  private npKey(ip: string, np: NamedPort): string {
    return `${ip} ${PROTO_LC[np.protocol]} ${np.port}`;
  }

  private npElem(ip: string, np: NamedPort): unknown {
    return { concat: [ip, PROTO_LC[np.protocol], np.port] };
  }

  private namedPortOf(r: PodRec, key: string): NamedPort | undefined {
    return r.info.namedPorts.find((np) => namedKey(np.name, np.protocol) === key);
  }

  // ---------------------------------------------------------------- peers

  private joinPeer(p: PeerRec, r: PodRec): void {
    if (p.members.has(r)) return;
    p.members.add(r);
    r.peers.add(p);
    for (const ip of r.ips) this.store.put(peerSet(p.hash, ipFamily(ip)), ip, ip);
    for (const k of p.named.keys()) {
      const np = this.namedPortOf(r, k);
      if (np) for (const ip of r.ips) this.store.put(namedPortSet(p.hash, np.name, PROTO_LC[np.protocol], ipFamily(ip)), this.npKey(ip, np), this.npElem(ip, np));
    }
  }

  private leavePeer(p: PeerRec, r: PodRec): void {
    if (!p.members.delete(r)) return;
    r.peers.delete(p);
    for (const ip of r.ips) this.store.remove(peerSet(p.hash, ipFamily(ip)), ip);
    for (const k of p.named.keys()) {
      const np = this.namedPortOf(r, k);
      if (np) for (const ip of r.ips) this.store.remove(namedPortSet(p.hash, np.name, PROTO_LC[np.protocol], ipFamily(ip)), this.npKey(ip, np));
    }
  }

  /** The shared id of a pod peer of policy `pol`. */
  private peerOf = (pol: NormalizedPolicy, peer: Extract<Peer, { kind: 'pods' }>): { id: string; hash: string } => {
    const scope = peer.namespaceSelector ? '*' : pol.namespace;
    const id = `${scope}\0${selectorKey(peer.namespaceSelector)}\0${selectorKey(peer.podSelector)}`;
    return { id, hash: hash(id, 12) };
  };

  private peerSpec = new Map<string, { scope: string | undefined; podSelector: Selector; nsSelector: Selector | undefined }>();

  private acquirePeer(id: string, named: ReadonlySet<string>): void {
    let p = this.peers.get(id);
    if (!p) {
      const spec = this.peerSpec.get(id)!;
      p = { id, hash: hash(id, 12), scope: spec.scope, podSelector: spec.podSelector, nsSelector: spec.nsSelector, members: new Set(), refs: 0, named: new Map() };
      this.peers.set(id, p);
      this.dirt.peers++;
      for (const f of FAMILIES) this.store.define(peerSet(p.hash, f), { kind: 'set', type: addrType(f), flags: [] });
      if (p.nsSelector) {
        this.nsPeerAll.add(p);
        this.nsPeerIndex.add(p, p.podSelector);
        for (const n of this.namespaces.values()) {
          if (!matches(p.nsSelector, n.labels)) continue;
          n.nsPeers.add(p);
          for (const r of n.pods) if (matches(p.podSelector, r.info.labels)) this.joinPeer(p, r);
        }
      } else {
        const n = this.ns(p.scope!);
        n.scoped.add(p, p.podSelector);
        for (const r of n.pods) if (matches(p.podSelector, r.info.labels)) this.joinPeer(p, r);
      }
    }
    p.refs++;
    for (const k of named) {
      const c = p.named.get(k) ?? 0;
      p.named.set(k, c + 1);
      if (c > 0) continue;
      const [name, proto] = splitNamed(k);
      for (const f of FAMILIES) this.store.define(namedPortSet(p.hash, name, PROTO_LC[proto], f), { kind: 'set', type: [addrType(f), 'inet_proto', 'inet_service'], flags: [] });
      for (const r of p.members) {
        const np = this.namedPortOf(r, k);
        if (np) for (const ip of r.ips) this.store.put(namedPortSet(p.hash, np.name, PROTO_LC[np.protocol], ipFamily(ip)), this.npKey(ip, np), this.npElem(ip, np));
      }
    }
  }

  private releasePeer(id: string, named: ReadonlySet<string>): void {
    const p = this.peers.get(id)!;
    for (const k of named) {
      const c = p.named.get(k)! - 1;
      if (c > 0) { p.named.set(k, c); continue; }
      p.named.delete(k);
      const [name, proto] = splitNamed(k);
      for (const f of FAMILIES) this.store.drop(namedPortSet(p.hash, name, PROTO_LC[proto], f));
    }
    if (--p.refs > 0) return;
    this.dirt.peers++;
    for (const r of p.members) r.peers.delete(p);
    p.members.clear();
    for (const f of FAMILIES) this.store.drop(peerSet(p.hash, f));
    if (p.nsSelector) {
      this.nsPeerAll.delete(p);
      this.nsPeerIndex.remove(p);
      for (const n of this.namespaces.values()) n.nsPeers.delete(p);
    } else this.ns(p.scope!).scoped.remove(p);
    this.peers.delete(id);
    this.peerSpec.delete(id);
  }

  private acquireAnyNamed(k: string): void {
    const c = this.anyNamed.get(k) ?? 0;
    this.anyNamed.set(k, c + 1);
    if (c > 0) return;
    const [name, proto] = splitNamed(k);
    for (const f of FAMILIES) this.store.define(anyNamedPortSet(name, PROTO_LC[proto], f), { kind: 'set', type: [addrType(f), 'inet_proto', 'inet_service'], flags: [] });
    for (const r of this.byNamedPort.get(k) ?? []) {
      const np = this.namedPortOf(r, k)!;
      for (const ip of r.ips) this.store.put(anyNamedPortSet(name, PROTO_LC[proto], ipFamily(ip)), this.npKey(ip, np), this.npElem(ip, np));
    }
  }

  private releaseAnyNamed(k: string): void {
    const c = this.anyNamed.get(k)! - 1;
    if (c > 0) return void this.anyNamed.set(k, c);
    this.anyNamed.delete(k);
    const [name, proto] = splitNamed(k);
    for (const f of FAMILIES) this.store.drop(anyNamedPortSet(name, PROTO_LC[proto], f));
  }

  // ---------------------------------------------------------------- policies

  private setPolicy(key: string, info: PolicyInfo | undefined): void {
    let rec = this.policies.get(key);
    if (!rec && !info) return;
    this.policyReport = undefined;
    const ns = this.ns(key.slice(0, key.indexOf('/')));
    const oldSel = rec?.norm?.podSelector;
    if (rec) {
      ns.subjects.remove(rec);
      // Groups that include it change chains (its rules), even if they keep their pods.
      for (const g of rec.groups) this.dirtyGroups.add(g);
    }
    if (info) {
      const r = normalizePolicy(info);
      if (!rec) this.policies.set(key, (rec = { key, info, norm: r.policy, problems: r.problems, groups: new Set() }));
      else Object.assign(rec, { info, norm: r.policy, problems: r.problems });
      if (rec.norm) ns.subjects.add(rec, rec.norm.podSelector);
    } else if (rec) this.policies.delete(key);
    const newSel = info ? rec!.norm?.podSelector : undefined;
    // This node's pods the policy selected or selects now are regrouped.
    for (const r of ns.local) if ((oldSel && matches(oldSel, r.info.labels)) || (newSel && matches(newSel, r.info.labels))) this.regroup(r);
  }

  // ---------------------------------------------------------------- groups

  /** Puts a local pod in the groups its selecting policies define. */
  private regroup(r: PodRec): void {
    const n = this.ns(r.info.namespace);
    const cands = n.subjects.candidates(r.info.labels).filter((p) => p.norm && matches(p.norm.podSelector, r.info.labels)).sort((a, b) => cmp(a.key, b.key));
    // Cluster policies are few (tens to hundreds): each subject is tested.
    const cnps = this.cnps.size ? [...this.cnps.values()].filter((c) => c.norm && this.cnpSelects(c.norm, r, n)).sort((a, b) => cmp(a.name, b.name)) : [];
    for (const dir of DIRS) {
      const sel = cands.filter((p) => p.norm!.isolates[dir]);
      const tiers = cnps.filter((c) => c.norm!.rules[dir].length > 0);
      if (!sel.length && !tiers.length) { this.setGroup(r, dir, undefined); continue; }
      // Ingress named ports resolve on the selected pod: they are part of the group.
      const named = dir === 'ingress' && (sel.some((p) => p.norm!.rules.ingress.some((rule) => rule.ports?.some((pm) => pm.kind === 'named')))
        || tiers.some((c) => c.norm!.rules.ingress.some((rule) => rule.ports?.some((pm) => pm.kind === 'named'))));
      const namedPorts = named ? [...r.info.namedPorts].sort((a, b) => cmp(JSON.stringify(a), JSON.stringify(b))) : [];
      // Without cluster policies the key is what it always was (same groups, same chain names).
      const key = `${dir}\0${sel.map((p) => p.key).join('\0')}\0${named ? JSON.stringify(namedPorts) : ''}${tiers.length ? `\0cnp\0${tiers.map((c) => c.name).join('\0')}` : ''}`;
      let g = this.groups.get(key);
      if (!g) {
        g = { key, hash: hash(key, 10), dir, policies: sel, cnps: tiers, namedPorts, pods: new Set(), famCount: { 4: 0, 6: 0 }, refs: undefined, chains: [] };
        this.groups.set(key, g);
        for (const p of sel) p.groups.add(g);
        for (const c of tiers) c.groups.add(g);
        if (tiers.length && this.tiered++ === 0) this.defineHairpin();
        this.dirtyGroups.add(g);
      }
      this.setGroup(r, dir, g);
    }
  }

  private setGroup(r: PodRec, dir: Direction, g: GroupRec | undefined): void {
    const old = r.groups[dir];
    if (old === g) return;
    this.localChanged(r);
    if (old) {
      old.pods.delete(r);
      delete r.groups[dir];
      this.store.dropCounter(counterName(dir, r.info.namespace, r.info.name));
      if (!old.pods.size) this.dirtyGroups.add(old);
    }
    if (g) {
      g.pods.add(r);
      this.store.addCounter(counterName(dir, r.info.namespace, r.info.name));
      r.groups[dir] = g;
    }
    for (const ip of r.held) this.dispatch(dir, ip);
  }

  /** Active pods of this node holding an address (more than one: a contested address). */
  private holders(ip: string): PodRec[] {
    return [...(this.claims.get(ip) ?? [])].filter((r) => r.active && r.held.includes(ip));
  }

  /** Writes the dispatch and counter maps' elements of one local address in one direction
   *  from the groups of the pods holding it (issue 11, item 4: "a contested address gets the
   *  union of the claimants' isolation"). No holder in a group: no element (not isolated).
   *  One group among them: its chain, whoever else claims the address without isolation. Two
   *  or more: a contested chain that jumps to each group's chain in turn; a group chain
   *  `return`s when it allows and drops otherwise, so the packet passes only what every
   *  isolating claimant's policies allow (their intersection), in the group's own drop rules.
   *  The drop counter is the newest isolating claimant's. */
  private dispatch(dir: Direction, ip: string): void {
    const f = ipFamily(ip), key = `${dir}\0${ip}`;
    const old = this.dispatched.get(key);
    const claimants = this.holders(ip).filter((r) => r.groups[dir]).sort(newestFirst);
    const groups = [...new Set(claimants.map((r) => r.groups[dir]!))].sort((a, b) => cmp(a.hash, b.hash));
    const counter = claimants.length ? counterName(dir, claimants[0]!.info.namespace, claimants[0]!.info.name) : '';
    if (old && old.counter === counter && old.groups.length === groups.length && old.groups.every((g, i) => g === groups[i])) return;
    if (old) {
      for (const g of old.groups) if (--g.famCount[f] === 0) this.dirtyGroups.add(g);
      if (old.contested !== undefined) this.releaseContested(dir, f, old.contested);
      this.dispatched.delete(key);
    }
    if (!groups.length) {
      for (const pd of ['o', 'r'] as const) this.store.remove(dispatchMap(dir, f, pd), ip);
      this.store.remove(counterMap(dir, f), ip);
      return;
    }
    for (const g of groups) if (g.famCount[f]++ === 0) this.dirtyGroups.add(g);
    const contested = groups.length > 1 ? this.acquireContested(dir, f, groups) : undefined;
    for (const pd of ['o', 'r'] as const) {
      this.store.put(dispatchMap(dir, f, pd), ip, contested === undefined ? groupChain(dir, f, pd, groups[0]!.hash) : contestedChain(dir, f, pd, contested));
    }
    this.store.put(counterMap(dir, f), ip, counter);
    this.dispatched.set(key, { groups, counter, ...(contested === undefined ? {} : { contested }) });
  }

  /** The contested chains of a set of groups (sorted by hash), one per packet direction. */
  private acquireContested(dir: Direction, f: Family, groups: readonly GroupRec[]): string {
    const h = hash(groups.map((g) => g.hash).join('\0'), 10);
    const k = `${dir}\0${f}\0${h}`;
    const n = this.contestedRefs.get(k) ?? 0;
    this.contestedRefs.set(k, n + 1);
    if (n === 0) for (const pd of ['o', 'r'] as const) {
      this.store.setChain({ name: contestedChain(dir, f, pd, h), rules: groups.map((g) => [jump(groupChain(dir, f, pd, g.hash))]) });
    }
    return h;
  }

  private releaseContested(dir: Direction, f: Family, h: string): void {
    const k = `${dir}\0${f}\0${h}`;
    const n = this.contestedRefs.get(k)! - 1;
    if (n > 0) return void this.contestedRefs.set(k, n);
    this.contestedRefs.delete(k);
    for (const pd of ['o', 'r'] as const) this.store.dropChain(contestedChain(dir, f, pd, h));
  }

  /** Rebuilds the chains of the groups this event dirtied; drops emptied groups. */
  private flushGroups(): void {
    if (!this.dirtyGroups.size) return;
    const dirty = [...this.dirtyGroups];
    this.dirtyGroups.clear();
    this.dirt.groups += dirty.length;
    const release: GroupRefs[] = [];
    for (const g of dirty) {
      const oldChains = g.chains;
      if (g.refs) release.push(g.refs);
      if (!g.pods.size) {
        this.groups.delete(g.key);
        for (const p of g.policies) p.groups.delete(g);
        for (const c of g.cnps) c.groups.delete(g);
        if (g.cnps.length && --this.tiered === 0) this.dropHairpin();
        g.refs = undefined;
        g.chains = [];
      } else {
        const families = FAMILIES.filter((f) => g.famCount[f] > 0);
        const input = {
          dir: g.dir, hash: g.hash, dropLog: !!this.opts.dropLog, policies: g.policies.flatMap((p) => (p.norm ? [p.norm] : [])), namedPorts: g.namedPorts, families,
          ruleCounters: !!this.opts.policyRuleCounters,
          peerOf: (pol: NormalizedPolicy, peer: Extract<Peer, { kind: 'pods' }>) => {
            const r = this.peerOf(pol, peer);
            if (!this.peerSpec.has(r.id)) this.peerSpec.set(r.id, { scope: peer.namespaceSelector ? undefined : pol.namespace, podSelector: peer.podSelector, nsSelector: peer.namespaceSelector });
            return r;
          },
        };
        const lowered = g.cnps.length ? this.lowerTiers(g, input) : lowerGroup(input);
        // Take the new references before letting go of the old: a peer both use stays.
        for (const [id, named] of lowered.refs.peers) this.acquirePeer(id, named);
        for (const k of lowered.refs.anyNamed) this.acquireAnyNamed(k);
        for (const id of (lowered.refs as Partial<TierRefs>).nodes?.keys() ?? []) this.acquireNodePeer(id);
        for (const [name, labels] of lowered.refs.ruleCounters) this.acquireRuleCounter(name, labels);
        for (const [name, def] of lowered.refs.cidrs) this.acquireCidr(name, def);
        g.refs = lowered.refs;
        g.chains = lowered.chains;
        for (const c of lowered.chains) this.store.setChain({ name: c.name, rules: c.rules, comments: c.comments });
      }
      const now = new Set(g.chains.map((c) => c.name));
      for (const c of oldChains) if (!now.has(c.name)) {
        this.store.dropChain(c.name);
        if (this.chainIndex.get(c.name) === g) this.chainIndex.delete(c.name);
      }
      for (const c of g.chains) this.chainIndex.set(c.name, g);
    }
    for (const refs of release) {
      for (const [id, named] of refs.peers) this.releasePeer(id, named);
      for (const k of refs.anyNamed) this.releaseAnyNamed(k);
      for (const id of (refs as Partial<TierRefs>).nodes?.keys() ?? []) this.releaseNodePeer(id);
      for (const name of refs.ruleCounters.keys()) this.releaseRuleCounter(name);
      for (const name of refs.cidrs.keys()) this.releaseCidr(name);
    }
  }

  /** A shared ipBlock set: made whole with its first group, never changed (its name is the
   *  hash of its elements), dropped with its last group. */
  private acquireCidr(name: string, def: CidrSetDef): void {
    const n = this.cidrRefs.get(name) ?? 0;
    this.cidrRefs.set(name, n + 1);
    if (n > 0) return;
    this.store.define(name, { kind: 'set', type: addrType(def.family), flags: ['interval'] });
    for (const e of def.elems) this.store.put(name, elemKey(e), e);
  }

  private releaseCidr(name: string): void {
    const n = this.cidrRefs.get(name)! - 1;
    if (n > 0) return void this.cidrRefs.set(name, n);
    this.cidrRefs.delete(name);
    this.store.drop(name);
  }

  private acquireRuleCounter(name: string, labels: RuleCounterLabels): void {
    const r = this.ruleCounterRefs.get(name);
    if (r) return void r.refs++;
    this.ruleCounterRefs.set(name, { labels, refs: 1 });
    this.store.addCounter(name);
  }

  private releaseRuleCounter(name: string): void {
    const r = this.ruleCounterRefs.get(name)!;
    if (--r.refs > 0) return;
    this.ruleCounterRefs.delete(name);
    this.store.dropCounter(name);
  }

  // ---------------------------------------------------------------- cluster policies (tiers)

  /** > Subject: namespaces (selector) or pods (namespace selector + pod selector). Host-network
   *  pods are never subjects (they are never active pods here). */
  private cnpSelects(c: NormalizedCnp, r: PodRec, n: NsRec): boolean {
    if (!matches(c.subject.namespaceSelector, n.labels)) return false;
    return c.subject.kind === 'namespaces' || matches(c.subject.podSelector, r.info.labels);
  }

  private setCnp(name: string, info: ClusterPolicyInfo | undefined): void {
    let rec = this.cnps.get(name);
    if (!rec && !info) return;
    this.policyReport = undefined;
    const old = rec?.norm;
    // Groups that include it change chains (a priority change, a rule reordered), even if they
    // keep their pods: chain flush and re-add, in the one transaction of this event.
    if (rec) for (const g of rec.groups) this.dirtyGroups.add(g);
    if (info) {
      const r = normalizeCnp(info);
      if (!rec) this.cnps.set(name, (rec = { name, info, norm: r.policy, problems: r.problems, groups: new Set() }));
      else Object.assign(rec, { info, norm: r.policy, problems: r.problems });
    } else this.cnps.delete(name);
    const now = info ? rec!.norm : undefined;
    // This node's pods it selected or selects now are regrouped (the node's pods only: few).
    for (const n of this.namespaces.values()) for (const r of n.local) {
      if ((old && this.cnpSelects(old, r, n)) || (now && this.cnpSelects(now, r, n))) this.regroup(r);
    }
  }

  private lowerTiers(g: GroupRec, input: Parameters<typeof lowerGroup>[0]): ReturnType<typeof lowerTierGroup> {
    const norms = g.cnps.flatMap((c) => (c.norm ? [c.norm] : []));
    return lowerTierGroup({
      ...input,
      admin: orderTier(norms, 'Admin').ordered,
      baseline: orderTier(norms, 'Baseline').ordered,
      cnpPeerOf: (nsSel, podSel) => {
        const id = `*\0${selectorKey(nsSel)}\0${selectorKey(podSel)}`;
        if (!this.peerSpec.has(id)) this.peerSpec.set(id, { scope: undefined, podSelector: podSel, nsSelector: nsSel });
        return { id, hash: hash(id, 12) };
      },
      nodePeerOf: (sel) => {
        const id = `node\0${selectorKey(sel)}`;
        if (!this.nodePeers.has(id)) this.nodePeers.set(id, { id, hash: hash(id, 12), selector: sel, refs: 0, members: new Set() });
        return { id, hash: hash(id, 12) };
      },
    });
  }

  private defineHairpin(): void {
    for (const f of FAMILIES) this.store.define(hairpinSet(f), { kind: 'set', type: [addrType(f), addrType(f)], flags: [] });
    for (const n of this.namespaces.values()) for (const r of n.local) for (const ip of r.held) this.store.put(hairpinSet(ipFamily(ip)), `${ip} ${ip}`, { concat: [ip, ip] });
  }

  private dropHairpin(): void {
    for (const f of FAMILIES) this.store.drop(hairpinSet(f));
  }

  // ---------------------------------------------------------------- nodes

  /** This node's pod CIDRs: `--pod-cidr` and its Node object's spec.podCIDRs, merged (an
   *  interval set refuses overlapping elements). */
  podCidrs(): string[] {
    return this.podCidrRanges().map(rangeText);
  }

  private podCidrRanges(): AddrRange[] {
    const own = (this.nodes.get(this.opts.node)?.podCidrs ?? []).flatMap((c) => {
      const r = parseCidrText(c);
      return typeof r === 'string' ? [] : [r];
    });
    return mergeRanges([...this.flagCidrs, ...own]);
  }

  private setPodCidrs(): void {
    const want = new Map(this.podCidrRanges().map((r) => [rangeText(r), r] as const));
    for (const k of this.podCidrKeys) if (!want.has(k)) this.store.remove(podCidrSet(k.includes(':') ? 6 : 4), k);
    for (const [k, r] of want) this.store.put(podCidrSet(r.family), k, rangeElem(r));
    this.podCidrKeys = new Set(want.keys());
  }

  private nodeAddrs(p: NodePeerRec): Set<string> {
    const out = new Set<string>();
    for (const n of this.nodes.values()) if (matches(p.selector, n.labels)) for (const a of n.addresses) out.add(a);
    return out;
  }

  private acquireNodePeer(id: string): void {
    const p = this.nodePeers.get(id)!;
    if (p.refs++ > 0) return;
    this.dirt.peers++;
    for (const f of FAMILIES) this.store.define(nodePeerSet(p.hash, f), { kind: 'set', type: addrType(f), flags: [] });
    for (const a of this.nodeAddrs(p)) {
      p.members.add(a);
      this.store.put(nodePeerSet(p.hash, ipFamily(a)), a, a);
    }
  }

  private releaseNodePeer(id: string): void {
    const p = this.nodePeers.get(id)!;
    if (--p.refs > 0) return;
    this.dirt.peers++;
    for (const f of FAMILIES) this.store.drop(nodePeerSet(p.hash, f));
    this.nodePeers.delete(id);
  }

  /** A node event: the node peers' sets are recomputed (nodes change rarely; two nodes may
   *  share an address, so each set is the union over the nodes it selects). */
  private setNode(name: string, info: NodeInfo | undefined): void {
    if (info) this.nodes.set(name, info);
    else if (!this.nodes.delete(name)) return;
    if (name === this.opts.node) this.setPodCidrs();
    for (const p of this.nodePeers.values()) {
      if (p.refs === 0) continue;
      const want = this.nodeAddrs(p);
      for (const a of [...p.members]) if (!want.has(a)) {
        p.members.delete(a);
        this.store.remove(nodePeerSet(p.hash, ipFamily(a)), a);
      }
      for (const a of want) if (!p.members.has(a)) {
        p.members.add(a);
        this.store.put(nodePeerSet(p.hash, ipFamily(a)), a, a);
      }
    }
  }
}

function splitNamed(k: string): [string, 'TCP' | 'UDP' | 'SCTP'] {
  const i = k.lastIndexOf('/');
  return [k.slice(0, i), k.slice(i + 1) as 'TCP' | 'UDP' | 'SCTP'];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The newest pod first (creationTimestamp; unknown counts as oldest), then by key. */
const newestFirst = (a: PodRec, b: PodRec) => {
  const ca = a.info.created ?? '', cb = b.info.created ?? '';
  return ca !== cb ? (ca > cb ? -1 : 1) : cmp(a.key, b.key);
};

