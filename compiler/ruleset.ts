// IR -> nftables ruleset for one node.
//
// Shape (DESIGN.md section 2):
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
import { ipToBigint as ipToBigintSafe, mergeRanges, rangeContains, rangeElem, type AddrRange, type Family } from './cidr.js';
import { IndexCache, indexCluster, podView, resolveNamedPort, type Allowance, type DirectionView } from './ir.js';
import { ipFamily, podIsActive, type Cluster, type PodInfo, type Problem, type Protocol } from './model.js';
import type { Direction } from './policy.js';
import { sortUniqueElems, type ChainDef, type Expr, type MapDef, type Rule, type Ruleset, type SetDef } from './nft.js';

export interface CompileOptions {
  /** The node whose pods this ruleset enforces (spec.nodeName). */
  readonly node: string;
  /** Table name in family inet (default netpol_nft). */
  readonly table?: string;
  /** Conntrack mark bits that hold the ruleset generation (contiguous; default 0x00fff000). */
  readonly ctMarkMask?: number;
  /** Accept every `ct state established` packet up front (the usual fast path): policy
   *  changes then apply to new connections only. Default false. */
  readonly establishedFastPath?: boolean;
}

export const DEFAULT_TABLE = 'netpol_nft';
export const DEFAULT_CT_MARK_MASK = 0x00fff000;

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
  groups = new Map<string, GroupOutput>();
  readonly hashes = new WeakMap<object, string>();
}

interface GroupOutput {
  readonly inputs: readonly unknown[];
  readonly sets: readonly SetDef[];
  readonly chains: readonly ChainDef[];
}

const SHORT: Record<Direction, 'in' | 'eg'> = { ingress: 'in', egress: 'eg' };
const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const FAMILIES: readonly Family[] = [4, 6];
const ipProto = (f: Family) => (f === 4 ? 'ip' : 'ip6');
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

// ------------------------------------------------------------------ group contents

interface Box { lo: bigint; hi: bigint; plo: number; phi: number }

/** What a group allows, flattened into the sets its chains look up. */
class Allowed {
  any = false;
  readonly x = new Set<string>(); // proto . port (exact), any address
  readonly xr: Record<string, [number, number][]> = {}; // proto -> port ranges, any address
  readonly a: Record<Family, Set<string>> = { 4: new Set(), 6: new Set() }; // address, any port
  readonly c: Record<Family, AddrRange[]> = { 4: [], 6: [] }; // CIDR, any port
  readonly p: Record<Family, Map<string, [string, string, number]>> = { 4: new Map(), 6: new Map() }; // addr . proto . port
  readonly r: Record<Family, Record<string, Box[]>> = { 4: {}, 6: {} }; // CIDR or range boxes

  portExact(proto: string, port: number) { this.x.add(`${proto}\0${port}`); }
  portRange(proto: string, lo: number, hi: number) {
    if (lo === hi) this.portExact(proto, lo);
    else (this.xr[proto] ??= []).push([lo, hi]);
  }
  addr(ip: string) { this.a[ipFamily(ip)].add(ip); }
  addrPort(ip: string, proto: string, port: number) { this.p[ipFamily(ip)].set(`${ip}\0${proto}\0${port}`, [ip, proto, port]); }
  box(f: Family, lo: bigint, hi: bigint, proto: string, plo: number, phi: number) {
    (this.r[f][proto] ??= []).push({ lo, hi, plo, phi });
  }
}

function fillAllowed(view: DirectionView, dir: Direction, groupPod: PodInfo, activePods: readonly PodInfo[]): Allowed {
  const out = new Allowed();
  for (const a of view.allowances) {
    const ports = a.ports;
    if (a.peers === null) {
      if (ports === null) { out.any = true; continue; }
      for (const pm of ports) {
        const proto = PROTO[pm.protocol];
        if (pm.kind === 'all') out.portRange(proto, 0, 65535);
        else if (pm.kind === 'range') out.portRange(proto, pm.from, pm.to);
        else if (dir === 'ingress') {
          const port = resolveNamedPort(groupPod, pm.name, pm.protocol);
          if (port !== undefined) out.portExact(proto, port);
        } else {
          // Egress to a named port: only pods that expose it, on their own number.
          for (const pod of activePods) {
            const port = resolveNamedPort(pod, pm.name, pm.protocol);
            if (port !== undefined) for (const ip of pod.ips) out.addrPort(ip, proto, port);
          }
        }
      }
      continue;
    }
    for (const peer of a.peers) {
      if (peer.kind === 'pods') {
        for (const pod of peer.pods) {
          for (const ip of pod.ips) {
            if (ports === null) { out.addr(ip); continue; }
            const f = ipFamily(ip), n = ipToBigintSafe(ip);
            for (const pm of ports) {
              const proto = PROTO[pm.protocol];
              if (pm.kind === 'all') out.box(f, n, n, proto, 0, 65535);
              else if (pm.kind === 'range') {
                if (pm.from === pm.to) out.addrPort(ip, proto, pm.from);
                else out.box(f, n, n, proto, pm.from, pm.to);
              } else {
                const port = resolveNamedPort(dir === 'ingress' ? groupPod : pod, pm.name, pm.protocol);
                if (port !== undefined) out.addrPort(ip, proto, port);
              }
            }
          }
        }
        continue;
      }
      for (const r of peer.ranges) {
        if (ports === null) { out.c[r.family].push(r); continue; }
        for (const pm of ports) {
          const proto = PROTO[pm.protocol];
          if (pm.kind === 'all') out.box(r.family, r.lo, r.hi, proto, 0, 65535);
          else if (pm.kind === 'range') out.box(r.family, r.lo, r.hi, proto, pm.from, pm.to);
          else if (dir === 'ingress') {
            const port = resolveNamedPort(groupPod, pm.name, pm.protocol);
            if (port !== undefined) out.box(r.family, r.lo, r.hi, proto, port, port);
          } else {
            // A named port is a pod's: only pods whose address lies in the block match.
            for (const pod of activePods) {
              const port = resolveNamedPort(pod, pm.name, pm.protocol);
              if (port === undefined) continue;
              for (const ip of pod.ips) if (rangeContains(r, ipFamily(ip), ipToBigintSafe(ip))) out.addrPort(ip, proto, port);
            }
          }
        }
      }
    }
  }
  return out;
}

function mergePortRanges(rs: readonly [number, number][]): [number, number][] {
  const s = [...rs].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of s) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

const portElem = ([lo, hi]: [number, number]): unknown => (lo === hi ? lo : { range: [lo, hi] });

/** Interval sets refuse overlapping elements, so address×port boxes are cut into disjoint
 *  ones: a sweep over address boundaries, the union of port ranges on each stretch, and
 *  neighbouring stretches with equal port unions joined again. */
export function disjointBoxes(f: Family, boxes: readonly Box[]): { range: AddrRange; ports: [number, number][] }[] {
  const events: { at: bigint; box: Box; open: boolean }[] = [];
  for (const b of boxes) events.push({ at: b.lo, box: b, open: true }, { at: b.hi + 1n, box: b, open: false });
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const active = new Set<Box>();
  const out: { range: AddrRange; ports: [number, number][]; key: string }[] = [];
  for (let i = 0; i < events.length; ) {
    const at = events[i]!.at;
    while (i < events.length && events[i]!.at === at) {
      const e = events[i++]!;
      if (e.open) active.add(e.box);
      else active.delete(e.box);
    }
    if (!active.size || i >= events.length) continue;
    const next = events[i]!.at;
    const ports = mergePortRanges([...active].map((b) => [b.plo, b.phi] as [number, number]));
    const key = JSON.stringify(ports);
    const last = out[out.length - 1];
    if (last && last.key === key && last.range.hi + 1n === at) last.range = { ...last.range, hi: next - 1n };
    else out.push({ range: { family: f, lo: at, hi: next - 1n }, ports, key });
  }
  return out.map(({ range, ports }) => ({ range, ports }));
}

// ------------------------------------------------------------------ expressions

const payload = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const meta = (key: string): Expr => ({ meta: { key } });
const ct = (key: string): Expr => ({ ct: { key } });
const match = (left: unknown, right: unknown, op = '=='): Expr => ({ match: { op, left, right } });
const RETURN: Expr = { return: null };
const DROP: Expr = { drop: null };
const ACCEPT: Expr = { accept: null };

interface Roles { local: string; peer: string; port: string }
/** Which header fields name the local pod, the peer and the server port. */
function roles(dir: Direction, pd: 'o' | 'r'): Roles {
  if (dir === 'ingress') return pd === 'o' ? { local: 'daddr', peer: 'saddr', port: 'dport' } : { local: 'saddr', peer: 'daddr', port: 'sport' };
  return pd === 'o' ? { local: 'saddr', peer: 'daddr', port: 'dport' } : { local: 'daddr', peer: 'saddr', port: 'sport' };
}

const dispatchMap = (dir: Direction, f: Family, pd: 'o' | 'r') => `${SHORT[dir]}${f}_${pd === 'o' ? 'orig' : 'reply'}`;
const counterMap = (dir: Direction, f: Family) => `cnt_${SHORT[dir]}${f}`;

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
      const key = JSON.stringify([dir, view.policies, named ? [...pod.namedPorts].sort((a, b) => (a.name < b.name ? -1 : 1)) : []]);
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

  const nextGroups = new Map<string, GroupOutput>();
  for (const g of [...groups.values()].sort((a, b) => (a.hash < b.hash ? -1 : 1))) {
    const fams = FAMILIES.filter((f) => g.pods.some((p) => p.ips.some((ip) => ipFamily(ip) === f)));
    const readsEveryPod = g.dir === 'egress' && g.view.allowances.some((a) => a.ports?.some((p) => p.kind === 'named') && (a.peers === null || a.peers.some((x) => x.kind === 'cidr')));
    const inputs: unknown[] = [fams.join(), readsEveryPod ? index.podsEpoch : null, ...g.sources];
    const prev = cache.groups.get(g.key);
    const out = prev && prev.inputs.length === inputs.length && prev.inputs.every((x, i) => x === inputs[i]) ? prev : { inputs, ...groupRules(g, fams, index.activePods) };
    nextGroups.set(g.key, out);
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
    elems: sortUniqueElems(elems, (e) => JSON.stringify(e[0])),
  }));

  // The generation: a hash of everything that decides, folded into the mask, never zero.
  const hashOf = (o: object) => {
    let h = cache.hashes.get(o);
    if (!h) cache.hashes.set(o, (h = shortHash(JSON.stringify(o), 16)));
    return h;
  };
  const content = [opts.establishedFastPath ? 'fast' : 'slow', ...chains.map(hashOf), ...sets.map(hashOf), ...mapDefs.map(hashOf)].join();
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

/** The sets and chains of one group: what its policies allow, flattened into set look-ups. */
function groupRules(g: Group, fams: readonly Family[], activePods: readonly PodInfo[]): { sets: SetDef[]; chains: ChainDef[] } {
  const d = SHORT[g.dir];
  const allowed = fillAllowed(g.view, g.dir, g.pods[0]!, activePods);
  const sets: SetDef[] = [];
  const chains: ChainDef[] = [];
  const setName = (s: string) => `${d}_${g.hash}_${s}`;
  const present = new Set<string>();
  const addSet = (s: SetDef) => {
    if (!s.elems.length || allowed.any) return;
    sets.push(s);
    present.add(s.name);
  };
  addSet({ name: setName('x'), type: ['inet_proto', 'inet_service'], flags: [], elems: sortUniqueElems([...allowed.x].map((k) => { const [p, n] = k.split('\0'); return { concat: [p, Number(n)] }; })) });
  addSet({ name: setName('xr'), type: ['inet_proto', 'inet_service'], flags: ['interval'], elems: sortUniqueElems(Object.entries(allowed.xr).flatMap(([proto, rs]) => mergePortRanges(rs).map((r) => ({ concat: [proto, portElem(r)] })))) });
  for (const f of fams) {
    addSet({ name: setName(`a${f}`), type: addrType(f), flags: [], elems: sortUniqueElems([...allowed.a[f]]) });
    addSet({ name: setName(`c${f}`), type: addrType(f), flags: ['interval'], elems: sortUniqueElems(mergeRanges(allowed.c[f]).map(rangeElem)) });
    addSet({ name: setName(`p${f}`), type: [addrType(f), 'inet_proto', 'inet_service'], flags: [], elems: sortUniqueElems([...allowed.p[f].values()].map((e) => ({ concat: e }))) });
    addSet({
      name: setName(`r${f}`), type: [addrType(f), 'inet_proto', 'inet_service'], flags: ['interval'],
      elems: sortUniqueElems(Object.entries(allowed.r[f]).flatMap(([proto, boxes]) => disjointBoxes(f, boxes).flatMap(({ range, ports }) => ports.map((pr) => ({ concat: [rangeElem(range), proto, portElem(pr)] }))))),
    });
    for (const pd of ['o', 'r'] as const) {
      const { local, peer, port } = roles(g.dir, pd);
      const ipp = ipProto(f);
      const lookup = (set: string, left: unknown): Rule | undefined => (present.has(setName(set)) ? [match(left, `@${setName(set)}`), RETURN] : undefined);
      const l4port = { concat: [meta('l4proto'), payload('th', port)] };
      const rules: Rule[] = allowed.any
        ? [[RETURN]]
        : [
            lookup('x', l4port),
            lookup('xr', l4port),
            lookup(`a${f}`, payload(ipp, peer)),
            lookup(`c${f}`, payload(ipp, peer)),
            lookup(`p${f}`, { concat: [payload(ipp, peer), meta('l4proto'), payload('th', port)] }),
            lookup(`r${f}`, { concat: [payload(ipp, peer), meta('l4proto'), payload('th', port)] }),
            [{ counter: { map: { key: payload(ipp, local), data: `@${counterMap(g.dir, f)}` } } }],
            [DROP],
          ].filter((r): r is Rule => r !== undefined);
      chains.push({ name: `${d}${f}${pd}_${g.hash}`, rules });
    }
  }
  return { sets, chains };
}

function baseChains(mask: number, gen: number, fastPath: boolean): ChainDef[] {
  const dispatch = (dir: Direction, pd: 'o' | 'r'): Rule[] =>
    FAMILIES.map((f) => [match(ct('direction'), pd === 'o' ? 'original' : 'reply'), { vmap: { key: payload(ipProto(f), roles(dir, pd).local), data: `@${dispatchMap(dir, f, pd)}` } }]);
  const useMark = !fastPath && mask !== 0;
  const forward: Rule[] = [
    [match(ct('state'), 'invalid', 'in'), DROP],
    [match(ct('state'), 'related', 'in'), ACCEPT],
    ...(fastPath ? [[match(ct('state'), 'established', 'in'), ACCEPT]] : []),
    ...(useMark ? [[match({ '&': [ct('mark'), mask] }, gen), ACCEPT]] : []),
    ...dispatch('egress', 'o'),
    ...dispatch('ingress', 'o'),
    ...dispatch('egress', 'r'),
    ...dispatch('ingress', 'r'),
    ...(useMark ? [[{ mangle: { key: ct('mark'), value: { '|': [{ '&': [ct('mark'), ~mask >>> 0] }, gen] } } }]] : []),
  ];
  // A pod talking to its own node is still egress; the node's own traffic is never filtered.
  const input: Rule[] = dispatch('egress', 'o');
  return [
    { name: 'forward', base: { type: 'filter', hook: 'forward', prio: 0, policy: 'accept' }, rules: forward },
    { name: 'input', base: { type: 'filter', hook: 'input', prio: 0, policy: 'accept' }, rules: input },
  ];
}
