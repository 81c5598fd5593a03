// IR -> nftables ruleset for one node.
//
// Shape (docs/design.md section 2):
//   forward (base):  ct state invalid drop; ct state related accept;
//                    ct mark & MASK == GEN accept            <- connection decided under this ruleset
//                    ct direction original ip saddr vmap @eg4_orig   (egress of a local pod)
//                    ct direction original ip daddr vmap @in4_orig   (ingress of a local pod)
//                    ct direction reply    ip daddr vmap @eg4_reply  (roles swapped on replies)
//                    ct direction reply    ip saddr vmap @in4_reply
//                    ... the same for ip6 ...
//                    ct mark set ct mark & ~MASK | GEN       <- both directions allowed
//   input (base):    egress of local pods towards the node's own addresses.
//   <dir><fam><o|r>_<hash>: one chain per group of pods selected by the same policies, per
//                    family and packet direction: a handful of set look-ups that `return` on
//                    allow, then a per-pod counter (object map keyed by pod IP) and `drop`.
// A packet meets at most one group chain per direction, each with at most 8 rules, whatever
// the number of pods, policies or peers: those only grow sets and maps (hash sets for pods
// and exact ports; interval sets only for CIDRs and port ranges).
//
// Names: groups are named by a hash of what defines them (direction, selecting policies,
// and for ingress the named ports the group resolves), never by element content or a
// counter, so a pod joining a group is one map element and a peer joining is one set element.
import { createHash } from 'node:crypto';
import type { Family } from './cidr.js';
import { mapValueKey } from './diff.js';
import { baseChains, ctMarkMaskError, DEFAULT_CT_MARK_MASK, dispatchMap } from './base.js';
import { counterMap, GroupState, mapDigest, setDigest } from './groups.js';
import { IndexCache, indexCluster, podView, type Allowance, type DirectionView } from './ir.js';
import { ipFamily, podIsActive, type Cluster, type PodInfo, type Problem } from './model.js';
import type { Direction } from './policy.js';
import { sortUniqueElems, type ChainDef, type MapDef, type Ruleset, type SetDef } from './nft.js';

export { ctMarkMaskError, DEFAULT_CT_MARK_MASK, MIN_CT_MARK_BITS } from './base.js';

export interface CompileOptions {
  /** The node whose pods this ruleset enforces (spec.nodeName). */
  readonly node: string;
  /** Table name in family inet (default netpol_nft). */
  readonly table?: string;
  /** Conntrack mark bits that hold the ruleset generation: contiguous, at least
   *  MIN_CT_MARK_BITS wide, or 0 to decide every packet without the cache (default 0x00ffff00). */
  readonly ctMarkMask?: number;
  /** Accept every `ct state established` packet up front (the usual fast path): policy
   *  changes then apply to new connections only. Default false. */
  readonly establishedFastPath?: boolean;
}

export const DEFAULT_TABLE = 'netpol_nft';
export interface LocalPod {
  readonly namespace: string;
  readonly name: string;
  readonly ips: readonly string[];
  readonly ingress: { readonly isolated: boolean; readonly counter?: string; readonly policies: readonly string[] };
  readonly egress: { readonly isolated: boolean; readonly counter?: string; readonly policies: readonly string[] };
}

export interface CompileResult {
  readonly ruleset: Ruleset;
  readonly problems: readonly Problem[];
  readonly localPods: readonly LocalPod[];
  /** The generation stamped into conntrack marks (already shifted into the mask). */
  readonly generation: number;
  readonly policyCount: { readonly valid: number; readonly invalid: number };
}

/** Work one compile can hand to the next (owned by the caller, e.g. the agent): a group
 *  whose selecting policies resolve to the same allowance objects keeps its sets and chains,
 *  and content hashes are remembered per object. The output is byte for byte the same with
 *  or without it; only the time differs. */
export class CompileCache {
  readonly index = new IndexCache();
  groups = new Map<string, GroupCacheEntry>();
  readonly hashes = new WeakMap<object, string>();
}

interface GroupCacheEntry {
  readonly state: GroupState;
  inputs: readonly unknown[];
  out: { readonly sets: readonly SetDef[]; readonly chains: readonly ChainDef[] };
}

const SHORT: Record<Direction, 'in' | 'eg'> = { ingress: 'in', egress: 'eg' };
const FAMILIES: readonly Family[] = [4, 6];
const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

export function shortHash(s: string, len = 10): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

/** Counter names keep namespace and pod readable (`_` cannot occur in either, so the name is
 *  unambiguous); very long names are cut and made unique with a hash. */
export function counterName(dir: Direction, ns: string, pod: string): string {
  const n = `drop_${SHORT[dir]}_${ns}_${pod}`;
  return n.length <= 120 ? n : `${n.slice(0, 108)}_${shortHash(n)}`;
}

// ------------------------------------------------------------------ expressions



// ------------------------------------------------------------------ compile

interface Group {
  readonly dir: Direction;
  readonly key: string;
  readonly hash: string;
  readonly view: DirectionView;
  /** The selecting policies' allowance arrays: the group's output depends on nothing else
   *  (but the pods' families, and every pod when an egress named port has no pod peer). */
  readonly sources: readonly (readonly Allowance[])[];
  readonly pods: PodInfo[];
}

/** Compiles the cluster into the ruleset for one node. Pure: same input, same bytes. */
export function compile(cluster: Cluster, opts: CompileOptions, cache: CompileCache = new CompileCache()): CompileResult {
  const table = opts.table ?? DEFAULT_TABLE;
  const mask = (opts.ctMarkMask ?? DEFAULT_CT_MARK_MASK) >>> 0;
  const maskError = ctMarkMaskError(mask);
  if (maskError) throw new RangeError(`ct mark mask 0x${mask.toString(16)}: ${maskError}`);
  const index = indexCluster(cluster, cache.index);
  const groups = new Map<string, Group>();
  const localPods: LocalPod[] = [];

  for (const pod of cluster.pods) {
    if (pod.nodeName !== opts.node || !podIsActive(pod)) continue;
    const lp: Record<Direction, LocalPod['ingress']> = { ingress: { isolated: false, policies: [] }, egress: { isolated: false, policies: [] } };
    for (const dir of ['ingress', 'egress'] as const) {
      const view = podView(index, pod, dir);
      if (!view.isolated) continue;
      // Ingress named ports resolve on the selected pod itself, so they are part of the group.
      const named = dir === 'ingress' && view.allowances.some((a) => a.ports?.some((p) => p.kind === 'named'));
      const key = `${dir}\0${view.policies.join('\0')}\0${named ? JSON.stringify([...pod.namedPorts].sort((a, b) => (a.name < b.name ? -1 : 1))) : ''}`;
      let g = groups.get(key);
      if (!g) {
        const sources = index.policiesIn(pod.namespace).filter((p) => view.policies.includes(p.id)).map((p) => index.allowancesOf(p, dir));
        groups.set(key, (g = { dir, key, hash: shortHash(key), view, sources, pods: [] }));
      }
      g.pods.push(pod);
      lp[dir] = { isolated: true, counter: counterName(dir, pod.namespace, pod.name), policies: view.policies };
    }
    localPods.push({ namespace: pod.namespace, name: pod.name, ips: pod.ips, ingress: lp.ingress, egress: lp.egress });
  }

  const chains: ChainDef[] = [];
  const sets: SetDef[] = [];
  const maps = new Map<string, [unknown, unknown][]>();
  for (const dir of ['ingress', 'egress'] as const) for (const f of FAMILIES) {
    for (const pd of ['o', 'r'] as const) maps.set(dispatchMap(dir, f, pd), []);
    maps.set(counterMap(dir, f), []);
  }

  const nextGroups = new Map<string, GroupCacheEntry>();
  for (const g of [...groups.values()].sort((a, b) => (a.hash < b.hash ? -1 : 1))) {
    const fams = FAMILIES.filter((f) => g.pods.some((p) => p.ips.some((ip) => ipFamily(ip) === f)));
    const readsEveryPod = g.dir === 'egress' && g.view.allowances.some((a) => a.ports?.some((p) => p.kind === 'named') && (a.peers === null || a.peers.some((x) => x.kind === 'cidr')));
    const inputs: unknown[] = [fams.join(), readsEveryPod ? index.podsEpoch : null, ...g.sources];
    let entry = cache.groups.get(g.key);
    if (!entry || entry.inputs.length !== inputs.length || entry.inputs.some((x, i) => x !== inputs[i])) {
      const state = entry?.state ?? new GroupState(g.dir, g.hash);
      const out = state.update({ dir: g.dir, groupPod: g.pods[0]!, activePods: index.activePods, podsEpoch: index.podsEpoch }, g.view.allowances, fams);
      entry = { state, inputs, out };
    }
    nextGroups.set(g.key, entry);
    const out = entry.out;
    sets.push(...out.sets);
    chains.push(...out.chains);
    for (const f of fams) {
      for (const pd of ['o', 'r'] as const) {
        const target = { jump: { target: `${SHORT[g.dir]}${f}${pd}_${g.hash}` } };
        const m = maps.get(dispatchMap(g.dir, f, pd))!;
        for (const pod of g.pods) for (const ip of pod.ips) if (ipFamily(ip) === f) m.push([ip, target]);
      }
    }
    for (const pod of g.pods) for (const ip of pod.ips) maps.get(counterMap(g.dir, ipFamily(ip)))!.push([ip, counterName(g.dir, pod.namespace, pod.name)]);
  }
  cache.groups = nextGroups;

  const counters = localPods.flatMap((p) => [p.ingress.counter, p.egress.counter]).filter((c): c is string => !!c).sort();
  const mapDefs: MapDef[] = [...maps.entries()].map(([name, elems]) => ({
    name,
    type: addrType(name.includes('6') ? 6 : 4),
    map: name.startsWith('cnt_') ? 'counter' : 'verdict',
    elems: sortUniqueElems(elems, (e) => e[0] as string),
  }));

  // The generation: a hash of everything that decides, folded into the mask, never zero.
  const hashOf = (o: object) => {
    let h = cache.hashes.get(o);
    if (!h) cache.hashes.set(o, (h = shortHash(JSON.stringify(o), 16)));
    return h;
  };
  const content = [opts.establishedFastPath ? 'fast' : 'slow', ...chains.map(hashOf), ...sets.map(setDigest), ...mapDefs.map((m) => mapDigest(m, mapValueKey))].join();
  const shift = mask === 0 ? 0 : 31 - Math.clz32(mask & -mask);
  const width = mask === 0 ? 0 : 32 - Math.clz32(mask >>> shift);
  const span = width >= 31 ? 0x7fffffff : 2 ** width - 1;
  const generation = mask === 0 ? 0 : (((parseInt(shortHash(content, 8), 16) % span) + 1) * 2 ** shift) >>> 0;

  chains.push(...baseChains(mask, generation, !!opts.establishedFastPath));
  chains.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  sets.sort((a, b) => (a.name < b.name ? -1 : 1));
  mapDefs.sort((a, b) => (a.name < b.name ? -1 : 1));

  const valid = index.policies.filter((p) => p.valid).length;
  return {
    ruleset: { family: 'inet', table, chains, counters, sets, maps: mapDefs },
    problems: index.problems,
    localPods,
    generation,
    policyCount: { valid, invalid: cluster.policies.length - valid },
  };
}
