// One group's sets and chains, kept up to date element by element.
//
// A group (pods selected by the same policies in one direction) allows the union of what its
// contributors allow; a contributor is one peer of one rule (or the rule's "every peer").
// Each contributor's items are remembered (per pod, for pod peers), and every hash-set
// element carries a reference count: when a peer gains or loses pods, only those pods' items
// are added or subtracted, so a change costs what it touches, not what the group holds.
// Interval sets (CIDRs, port ranges) are small and are rebuilt whole when any of their items
// change, since their elements must be cut into disjoint pieces.
//
// Every set produced is an immutable value (a LiveSet): its sorted keys and elements are new
// arrays merged from the previous ones, and it records the delta from the value it came
// from, so that diff() need not compare elements. Its digest is an order-independent sum of
// element hashes, so the ruleset generation is a function of content alone, however the
// content was reached.
import { ipToBigint, mergeRanges, rangeContains, rangeElem, type AddrRange, type Family } from './cidr.js';
import { resolveNamedPort, type Allowance, type ResolvedPeer } from './ir.js';
import { ipFamily, type PodInfo, type Protocol } from './model.js';
import type { ChainDef, Expr, MapDef, Rule, SetDef } from './nft.js';
import type { Direction, PortMatch } from './policy.js';

export interface LiveSet extends SetDef {
  /** elemKey of each element, sorted; `elems` is in the same order. */
  readonly keys: readonly string[];
  readonly digest: readonly [number, number];
  /** What changed since `from`, the value this one was made from. */
  readonly delta?: { readonly from: SetDef; readonly added: readonly unknown[]; readonly removed: readonly unknown[] };
}

export function isLiveSet(s: SetDef): s is LiveSet {
  return Array.isArray((s as LiveSet).keys);
}

const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const SHORT: Record<Direction, 'in' | 'eg'> = { ingress: 'in', egress: 'eg' };
const addrType = (f: Family) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

type HashSet = 'x' | 'a4' | 'a6' | 'p4' | 'p6';
interface Box { readonly lo: bigint; readonly hi: bigint; readonly plo: number; readonly phi: number }
interface Items {
  readonly hash: [HashSet, unknown][];
  readonly xr: [string, number, number][];
  readonly c: AddrRange[];
  readonly r: [Family, string, Box][];
  any: boolean;
}
const noItems = (): Items => ({ hash: [], xr: [], c: [], r: [], any: false });
const hasIntervals = (i: Items) => i.xr.length > 0 || i.c.length > 0 || i.r.length > 0;

interface Contributor {
  readonly ports: Allowance['ports'];
  peer: ResolvedPeer | null;
  epoch: object | null;
  /** For pod peers: each pod's items. Otherwise `flat`. */
  readonly perPod?: Map<PodInfo, Items>;
  readonly flat?: Items;
}

/** What a contributor needs to know about its group. */
export interface GroupContext {
  readonly dir: Direction;
  /** A pod of the group: ingress named ports resolve on it (the group key holds its ports). */
  readonly groupPod: PodInfo;
  readonly activePods: readonly PodInfo[];
  readonly podsEpoch: object;
}

function podItems(ctx: GroupContext, ports: Allowance['ports'], pod: PodInfo): Items {
  const out = noItems();
  for (const ip of pod.ips) {
    const f = ipFamily(ip);
    if (ports === null) {
      out.hash.push([`a${f}`, ip]);
      continue;
    }
    for (const pm of ports) {
      const proto = PROTO[pm.protocol];
      if (pm.kind === 'all') out.r.push([f, proto, box(ip, 0, 65535)]);
      else if (pm.kind === 'range') {
        if (pm.from === pm.to) out.hash.push([`p${f}`, { concat: [ip, proto, pm.from] }]);
        else out.r.push([f, proto, box(ip, pm.from, pm.to)]);
      } else {
        const port = resolveNamedPort(ctx.dir === 'ingress' ? ctx.groupPod : pod, pm.name, pm.protocol);
        if (port !== undefined) out.hash.push([`p${f}`, { concat: [ip, proto, port] }]);
      }
    }
  }
  return out;
}

const box = (ip: string, plo: number, phi: number): Box => {
  const n = ipToBigint(ip);
  return { lo: n, hi: n, plo, phi };
};

/** Egress to a named port: only pods that expose it, on their own number (and, for an
 *  ipBlock, only pods whose address lies in the block). Reads every pod. */
function namedEgressItems(ctx: GroupContext, pm: Extract<PortMatch, { kind: 'named' }>, within: readonly AddrRange[] | null, out: Items) {
  const proto = PROTO[pm.protocol];
  for (const pod of ctx.activePods) {
    const port = resolveNamedPort(pod, pm.name, pm.protocol);
    if (port === undefined) continue;
    for (const ip of pod.ips) {
      const f = ipFamily(ip);
      if (within && !within.some((r) => rangeContains(r, f, ipToBigint(ip)))) continue;
      out.hash.push([`p${f}`, { concat: [ip, proto, port] }]);
    }
  }
}

function flatItems(ctx: GroupContext, ports: Allowance['ports'], peer: Extract<ResolvedPeer, { kind: 'cidr' }> | null): Items {
  const out = noItems();
  if (peer === null) {
    if (ports === null) {
      out.any = true;
      return out;
    }
    for (const pm of ports) {
      const proto = PROTO[pm.protocol];
      if (pm.kind === 'all') out.xr.push([proto, 0, 65535]);
      else if (pm.kind === 'range') {
        if (pm.from === pm.to) out.hash.push(['x', { concat: [proto, pm.from] }]);
        else out.xr.push([proto, pm.from, pm.to]);
      } else if (ctx.dir === 'ingress') {
        const port = resolveNamedPort(ctx.groupPod, pm.name, pm.protocol);
        if (port !== undefined) out.hash.push(['x', { concat: [proto, port] }]);
      } else namedEgressItems(ctx, pm, null, out);
    }
    return out;
  }
  for (const r of peer.ranges) {
    if (ports === null) {
      out.c.push(r);
      continue;
    }
    for (const pm of ports) {
      const proto = PROTO[pm.protocol];
      if (pm.kind === 'all') out.r.push([r.family, proto, { lo: r.lo, hi: r.hi, plo: 0, phi: 65535 }]);
      else if (pm.kind === 'range') out.r.push([r.family, proto, { lo: r.lo, hi: r.hi, plo: pm.from, phi: pm.to }]);
      else if (ctx.dir === 'ingress') {
        const port = resolveNamedPort(ctx.groupPod, pm.name, pm.protocol);
        if (port !== undefined) out.r.push([r.family, proto, { lo: r.lo, hi: r.hi, plo: port, phi: port }]);
      } else namedEgressItems(ctx, pm, [r], out);
    }
  }
  return out;
}

const readsEveryPod = (dir: Direction, ports: Allowance['ports'], peer: ResolvedPeer | null) =>
  dir === 'egress' && !!ports?.some((p) => p.kind === 'named') && (peer === null || peer.kind === 'cidr');

// ------------------------------------------------------------------ set values

const elemKey = (e: unknown) => JSON.stringify(e);

function h32(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}
const addDigest = (d: [number, number], key: string, sign: 1 | -1) => {
  d[0] = (d[0] + sign * h32(key, 2166136261)) >>> 0;
  d[1] = (d[1] + sign * h32(key, 0x9747b28c)) >>> 0;
};

interface SetShape { readonly name: string; readonly type: SetDef['type']; readonly flags: readonly string[] }

/** `old` plus `added` minus `removed` (maps from key to element), as a new value. */
function mergeSet(shape: SetShape, old: LiveSet | undefined, added: Map<string, unknown>, removed: Map<string, unknown>): LiveSet {
  const oldKeys = old?.keys ?? [], oldElems = old?.elems ?? [];
  const addKeys = [...added.keys()].sort();
  const keys: string[] = [], elems: unknown[] = [];
  let i = 0, j = 0;
  while (i < oldKeys.length || j < addKeys.length) {
    if (j >= addKeys.length || (i < oldKeys.length && oldKeys[i]! < addKeys[j]!)) {
      const k = oldKeys[i]!;
      if (!removed.has(k)) { keys.push(k); elems.push(oldElems[i]); }
      i++;
    } else {
      const k = addKeys[j++]!;
      keys.push(k);
      elems.push(added.get(k));
    }
  }
  const digest: [number, number] = old ? [old.digest[0], old.digest[1]] : [0, 0];
  for (const k of addKeys) addDigest(digest, k, 1);
  for (const k of removed.keys()) addDigest(digest, k, -1);
  return { ...shape, keys, elems, digest, ...(old ? { delta: { from: old, added: [...added.values()], removed: [...removed.values()] } } : {}) };
}

/** A set rebuilt whole (interval sets): the old value when nothing changed. */
function replaceSet(shape: SetShape, old: LiveSet | undefined, elems: readonly unknown[]): LiveSet | undefined {
  const fresh = new Map(elems.map((e) => [elemKey(e), e]));
  const removed = new Map<string, unknown>();
  for (const [i, k] of (old?.keys ?? []).entries()) if (!fresh.has(k)) removed.set(k, old!.elems[i]);
  const added = new Map<string, unknown>();
  const had = new Set(old?.keys ?? []);
  for (const [k, e] of fresh) if (!had.has(k)) added.set(k, e);
  if (old && !added.size && !removed.size) return old;
  if (!old && !fresh.size) return undefined;
  return mergeSet(shape, old, added, removed);
}

// ------------------------------------------------------------------ interval pieces

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

// ------------------------------------------------------------------ rules

const payload = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const meta = (key: string): Expr => ({ meta: { key } });
const RETURN: Expr = { return: null };
const DROP: Expr = { drop: null };

/** Which header fields name the local pod, the peer and the server port. */
export function roles(dir: Direction, pd: 'o' | 'r'): { local: string; peer: string; port: string } {
  if (dir === 'ingress') return pd === 'o' ? { local: 'daddr', peer: 'saddr', port: 'dport' } : { local: 'saddr', peer: 'daddr', port: 'sport' };
  return pd === 'o' ? { local: 'saddr', peer: 'daddr', port: 'dport' } : { local: 'daddr', peer: 'saddr', port: 'sport' };
}

export const counterMap = (dir: Direction, f: Family) => `cnt_${SHORT[dir]}${f}`;
export const groupChain = (dir: Direction, f: Family, pd: 'o' | 'r', hash: string) => `${SHORT[dir]}${f}${pd}_${hash}`;

// ------------------------------------------------------------------ the group

export class GroupState {
  private readonly contributors = new Map<string, Contributor>();
  private readonly counts = new Map<string, number>();
  private any = 0;
  private readonly live = new Map<string, LiveSet>();
  private chainSig = '';
  private chains: readonly ChainDef[] = [];
  private outSets: readonly SetDef[] = [];

  constructor(readonly dir: Direction, readonly hash: string) {}

  private setName(s: string) {
    return `${SHORT[this.dir]}_${this.hash}_${s}`;
  }

  /** Brings the group up to date with its allowances; returns its sets and chains (the
   *  same objects as last time for whatever did not change). */
  update(ctx: GroupContext, allowances: readonly Allowance[], fams: readonly Family[]): { sets: readonly SetDef[]; chains: readonly ChainDef[] } {
    const added = new Map<HashSet, Map<string, unknown>>(), removed = new Map<HashSet, Map<string, unknown>>();
    let intervalsDirty = false;
    const apply = (items: Items, sign: 1 | -1) => {
      for (const [set, elem] of items.hash) {
        const key = elemKey(elem);
        const ck = `${set}\0${key}`;
        const n = (this.counts.get(ck) ?? 0) + sign;
        if (n === 0) this.counts.delete(ck);
        else this.counts.set(ck, n);
        const add = added.get(set) ?? new Map(), rem = removed.get(set) ?? new Map();
        added.set(set, add);
        removed.set(set, rem);
        if (sign > 0 && n === 1) {
          if (rem.has(key)) rem.delete(key);
          else add.set(key, elem);
        } else if (sign < 0 && n === 0) {
          if (add.has(key)) add.delete(key);
          else rem.set(key, elem);
        }
      }
      if (hasIntervals(items)) intervalsDirty = true;
      if (items.any) this.any += sign;
    };
    const dropContributor = (c: Contributor) => {
      if (c.flat) apply(c.flat, -1);
      for (const items of c.perPod?.values() ?? []) apply(items, -1);
    };

    const seen = new Set<string>();
    for (const a of allowances) {
      const peers: (ResolvedPeer | null)[] = a.peers === null ? [null] : [...a.peers];
      peers.forEach((peer, j) => {
        const id = `${a.policy}\0${a.rule}\0${j}`;
        seen.add(id);
        const old = this.contributors.get(id);
        const epoch = readsEveryPod(ctx.dir, a.ports, peer) ? ctx.podsEpoch : null;
        if (old && old.ports === a.ports && old.peer === peer && old.epoch === epoch) return;
        if (old && old.ports === a.ports && old.perPod && peer?.kind === 'pods' && old.peer?.kind === 'pods') {
          this.movePods(ctx, old, peer, apply);
          return;
        }
        if (old) dropContributor(old);
        let c: Contributor;
        if (peer?.kind === 'pods') {
          c = { ports: a.ports, peer, epoch, perPod: new Map() };
          for (const part of peer.parts) for (const pod of part) {
            const items = podItems(ctx, a.ports, pod);
            c.perPod!.set(pod, items);
            apply(items, 1);
          }
        } else {
          c = { ports: a.ports, peer, epoch, flat: flatItems(ctx, a.ports, peer) };
          apply(c.flat!, 1);
        }
        this.contributors.set(id, c);
      });
    }
    for (const [id, c] of this.contributors) if (!seen.has(id)) { dropContributor(c); this.contributors.delete(id); }

    for (const [set, add] of added) {
      const rem = removed.get(set)!;
      if (!add.size && !rem.size) continue;
      const f = set === 'x' ? 4 : (Number(set[1]) as Family);
      const shape: SetShape = set === 'x'
        ? { name: this.setName('x'), type: ['inet_proto', 'inet_service'], flags: [] }
        : set[0] === 'a' ? { name: this.setName(set), type: addrType(f), flags: [] }
        : { name: this.setName(set), type: [addrType(f), 'inet_proto', 'inet_service'], flags: [] };
      const next = mergeSet(shape, this.live.get(set), add, rem);
      if (next.keys.length) this.live.set(set, next);
      else this.live.delete(set);
    }
    if (intervalsDirty) this.rebuildIntervals();
    return this.output(fams);
  }

  private movePods(ctx: GroupContext, c: Contributor, peer: Extract<ResolvedPeer, { kind: 'pods' }>, apply: (i: Items, s: 1 | -1) => void) {
    const oldPeer = c.peer as Extract<ResolvedPeer, { kind: 'pods' }>;
    const oldParts = new Set(oldPeer.parts), newParts = new Set(peer.parts);
    const incoming = new Set<PodInfo>();
    for (const part of peer.parts) if (!oldParts.has(part)) for (const pod of part) incoming.add(pod);
    for (const part of oldPeer.parts) {
      if (newParts.has(part)) continue;
      for (const pod of part) {
        if (incoming.has(pod)) continue;
        const items = c.perPod!.get(pod);
        if (items) { apply(items, -1); c.perPod!.delete(pod); }
      }
    }
    for (const pod of incoming) {
      if (c.perPod!.has(pod)) continue;
      const items = podItems(ctx, c.ports, pod);
      c.perPod!.set(pod, items);
      apply(items, 1);
    }
    c.peer = peer;
  }

  private rebuildIntervals() {
    const xr: Record<string, [number, number][]> = {};
    const cr: Record<Family, AddrRange[]> = { 4: [], 6: [] };
    const boxes: Record<Family, Record<string, Box[]>> = { 4: {}, 6: {} };
    const collect = (i: Items) => {
      for (const [proto, lo, hi] of i.xr) (xr[proto] ??= []).push([lo, hi]);
      for (const r of i.c) cr[r.family].push(r);
      for (const [f, proto, b] of i.r) (boxes[f][proto] ??= []).push(b);
    };
    for (const c of this.contributors.values()) {
      if (c.flat) collect(c.flat);
      for (const items of c.perPod?.values() ?? []) if (hasIntervals(items)) collect(items);
    }
    const put = (key: string, shape: SetShape, elems: unknown[]) => {
      const next = replaceSet(shape, this.live.get(key), elems);
      if (next && next.keys.length) this.live.set(key, next);
      else this.live.delete(key);
    };
    put('xr', { name: this.setName('xr'), type: ['inet_proto', 'inet_service'], flags: ['interval'] },
      Object.entries(xr).flatMap(([proto, rs]) => mergePortRanges(rs).map((r) => ({ concat: [proto, portElem(r)] }))));
    for (const f of [4, 6] as const) {
      put(`c${f}`, { name: this.setName(`c${f}`), type: addrType(f), flags: ['interval'] }, mergeRanges(cr[f]).map(rangeElem));
      put(`r${f}`, { name: this.setName(`r${f}`), type: [addrType(f), 'inet_proto', 'inet_service'], flags: ['interval'] },
        Object.entries(boxes[f]).flatMap(([proto, bs]) => disjointBoxes(f, bs).flatMap(({ range, ports }) => ports.map((pr) => ({ concat: [rangeElem(range), proto, portElem(pr)] })))));
    }
  }

  private output(fams: readonly Family[]): { sets: readonly SetDef[]; chains: readonly ChainDef[] } {
    const famOk = (k: string) => k === 'x' || k === 'xr' || fams.includes(Number(k[1]) as Family);
    const sets = this.any > 0 ? [] : [...this.live.entries()].filter(([k]) => famOk(k)).sort((a, b) => (a[1].name < b[1].name ? -1 : 1)).map(([, s]) => s);
    const present = new Set(sets.map((s) => s.name));
    const sig = JSON.stringify([this.any > 0, fams, [...present]]);
    if (sig !== this.chainSig) {
      this.chainSig = sig;
      this.chains = this.buildChains(fams, present);
    }
    if (sets.length !== this.outSets.length || sets.some((s, i) => s !== this.outSets[i])) this.outSets = sets;
    return { sets: this.outSets, chains: this.chains };
  }

  private buildChains(fams: readonly Family[], present: ReadonlySet<string>): ChainDef[] {
    const chains: ChainDef[] = [];
    for (const f of fams) {
      for (const pd of ['o', 'r'] as const) {
        const { local, peer, port } = roles(this.dir, pd);
        const ipp = f === 4 ? 'ip' : 'ip6';
        const lookup = (set: string, left: unknown): Rule | undefined =>
          present.has(this.setName(set)) ? [{ match: { op: '==', left, right: `@${this.setName(set)}` } }, RETURN] : undefined;
        const l4port = { concat: [meta('l4proto'), payload('th', port)] };
        const rules: Rule[] = this.any > 0
          ? [[RETURN]]
          : [
              lookup('x', l4port),
              lookup('xr', l4port),
              lookup(`a${f}`, payload(ipp, peer)),
              lookup(`c${f}`, payload(ipp, peer)),
              lookup(`p${f}`, { concat: [payload(ipp, peer), meta('l4proto'), payload('th', port)] }),
              lookup(`r${f}`, { concat: [payload(ipp, peer), meta('l4proto'), payload('th', port)] }),
              [{ counter: { map: { key: payload(ipp, local), data: `@${counterMap(this.dir, f)}` } } }],
              [DROP],
            ].filter((r): r is Rule => r !== undefined);
        chains.push({ name: groupChain(this.dir, f, pd, this.hash), rules });
      }
    }
    return chains;
  }
}

/** The digest of a set: incremental for live sets, computed for others. */
export function setDigest(s: SetDef): string {
  const d: [number, number] = isLiveSet(s) ? [s.digest[0], s.digest[1]] : [0, 0];
  if (!isLiveSet(s)) for (const e of s.elems) addDigest(d, elemKey(e), 1);
  return `${s.name}|${JSON.stringify(s.type)}|${s.flags.join(',')}|${d[0]}|${d[1]}`;
}

/** The digest of a map: keys and values, order-independent. */
export function mapDigest(m: MapDef, valueKey: (v: unknown) => string): string {
  const d: [number, number] = [0, 0];
  for (const [k, v] of m.elems) addDigest(d, `${typeof k === 'string' ? k : elemKey(k)}\0${valueKey(v)}`, 1);
  return `${m.name}|${JSON.stringify(m.type)}|${m.map}|${d[0]}|${d[1]}`;
}
