// Lowering: one group of local pods (selected by the same policies in one direction) into
// its chains, one per family and packet direction. Stateless: the same group gives the same
// chains. The rules refer to shared named sets (a peer's addresses, a peer's named ports)
// by name; what those sets hold is the engine's business, so a pod joining a peer never
// changes a chain.
//
// Each chain: for every rule of every selecting policy (policies sorted by id, rules in
// written order) and every peer of that rule, one or a few nft rules that `return` on a match
// (accept for this direction), each with a comment naming its origin (`x/web ingress[0]
// from[1]`); then the per-pod drop counter (a counter map keyed by the local address) and
// `drop`. An ipBlock of more than one range (a CIDR with holes) is a shared named interval
// set (`cidr_…`, see cidrMatch). A rule's ports become anonymous sets inside the rule: exact ports in a hash set,
// port ranges in an interval set, whole protocols as `meta l4proto { … }`.
//
// With rule counters (`ruleCounters`, the agent's --policy-rule-counters), every nft rule
// lowered from policy rule i also counts on that rule's named counter (`counter name
// rule_in_x_web_0`), in the original-direction chains only: the verdict cache of the base
// chain sends a connection through them once, at its first packet (and once more after a
// ruleset change), so the counter counts connections. The counter is one per policy rule and
// direction, shared by every group whose policies include it, and listed in the refs for
// every rule of the group's policies, even one that matches nothing here (it stays at 0).
import { isIP } from 'node:net';
import { ipToBigint, rangeElem, type AddrRange, type Family } from '../cidr.js';
import { roles } from '../groups.js';
import type { NamedPort, Protocol } from '../model.js';
import { anonSet, concat, dropTail, elem, match, meta, namedCounter, payload, RETURN, type ElemJson, type Expr, type Rule, type Stmt } from '../nft/build.js';
import { anyNamedPortSet, cidrSet, groupChain, namedPortSet, peerSet, ruleComment, ruleCounterName, shortHash } from '../nft/names.js';
import type { Direction, NormalizedPolicy, Peer } from '../policy.js';

const PROTO: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
/** An anonymous set inside the rule. One element is written as the plain value: nft lists a
 *  one-element set as that value, so what we write and what a listing shows stay alike. */
export const anon = (elems: ElemJson[]): Expr => {
  const set = sortByValue(elems);
  return set.length === 1 && !(set[0] && typeof set[0] === 'object' && 'concat' in set[0]) ? elem(set[0]) : anonSet(set);
};
/** `meta l4proto . th PORT` against protocol-port elements. nft refuses a concatenation
 *  against a single value, so one element becomes two plain matches. */
export const l4portMatch = (l4port: Expr, port: Expr, elems: ElemJson[]): Stmt[] => {
  const set = sortByValue(elems);
  if (set.length !== 1) return [match(l4port, anon(set))];
  const [proto, p] = (set[0] as { concat: [string, unknown] }).concat;
  return [match(meta('l4proto'), proto), match(port, elem(p))];
};

/** Unique elements in the order nft lists a set: by value, field by field (a protocol by its
 *  number, an address range or a prefix by its first address), so a listing reads back as
 *  written. */
const PROTO_NUMBER: Record<string, bigint> = { tcp: 6n, udp: 17n, sctp: 132n };
function sortByValue(xs: unknown[]): unknown[] {
  const low = (e: unknown): bigint | undefined => {
    const o = e as { range?: [unknown, unknown]; prefix?: { addr: string } } | null;
    const v = o && typeof o === 'object' ? (o.range ? o.range[0] : o.prefix ? o.prefix.addr : undefined) : e;
    if (typeof v === 'number') return BigInt(v);
    if (typeof v === 'string') return isIP(v) ? ipToBigint(v) : PROTO_NUMBER[v];
    return undefined;
  };
  const fields = (e: unknown) => (e && typeof e === 'object' && Array.isArray((e as { concat?: unknown }).concat) ? (e as { concat: unknown[] }).concat : [e]).map(low);
  const uniq = sortByJson(xs);
  if (uniq.some((e) => fields(e).some((f) => f === undefined))) return uniq;
  const cmp = (a: unknown, b: unknown) => {
    const fa = fields(a), fb = fields(b);
    for (let i = 0; i < Math.min(fa.length, fb.length); i++) if (fa[i] !== fb[i]) return fa[i]! < fb[i]! ? -1 : 1;
    return fa.length - fb.length;
  };
  return uniq.sort(cmp);
}

function sortByJson(xs: unknown[]): unknown[] {
  const m = new Map(xs.map((x) => [JSON.stringify(x), x]));
  return [...m.keys()].sort().map((k) => m.get(k));
}

/** Where a rule came from: the policy, direction, rule index, and peer index (null: no peers). */
export interface RuleOrigin {
  readonly policy: string;
  readonly direction: Direction;
  readonly rule: number;
  readonly peer: number | null;
}

/** What a policy rule's counter stands for (the labels of its metric). */
export interface RuleCounterLabels {
  /** The policy's namespace; "" for a ClusterNetworkPolicy. */
  readonly namespace: string;
  /** The policy's name; `cnp/NAME` for a ClusterNetworkPolicy. */
  readonly policy: string;
  readonly direction: Direction;
  /** The rule's index in the policy's rules of that direction. */
  readonly rule: number;
}

/** What a group's rules read from the shared sets (so the engine keeps exactly those). */
export interface GroupRefs {
  /** Peer ids used as peers, each with the named ports (`name/PROTO`) looked up on them. */
  readonly peers: Map<string, Set<string>>;
  /** Named ports (`name/PROTO`) looked up on every pod of the cluster. */
  readonly anyNamed: Set<string>;
  /** Rule counters (counter name -> its policy rule); empty without rule counters. */
  readonly ruleCounters: Map<string, RuleCounterLabels>;
  /** Shared ipBlock sets (set name -> its family and elements, sorted as nft lists them). */
  readonly cidrs: Map<string, CidrSetDef>;
}

export interface CidrSetDef {
  readonly family: Family;
  readonly elems: readonly ElemJson[];
}

export const emptyRefs = (): GroupRefs => ({ peers: new Map(), anyNamed: new Set(), ruleCounters: new Map(), cidrs: new Map() });

/** An ipBlock peer's match on `addr` in family `f` (its ranges merged, of that family), or
 *  undefined when it holds no address of the family. One range is a plain value in the rule.
 *  More (a CIDR with `except` holes) go in a shared named interval set, one per distinct list
 *  (`cidr_<hash of the list>_<family>`), recorded in `refs` for the engine to keep: an
 *  anonymous set per rule would put hundreds of interval sets in a large table, and nft
 *  fetches the elements of every one of them before each batch that adds or deletes an
 *  element (README, Performance). */
export function cidrMatch(refs: GroupRefs, f: Family, addr: Expr, ranges: readonly AddrRange[]): Stmt[] | undefined {
  if (!ranges.length) return undefined;
  const elems = sortByValue(ranges.map(rangeElem)) as ElemJson[];
  if (elems.length === 1) return [match(addr, elem(elems[0]))];
  const name = cidrSetName(f, elems);
  refs.cidrs.set(name, { family: f, elems });
  return [match(addr, `@${name}`)];
}

/** The shared set cidrMatch makes for these ranges (of family `f`), if it makes one. */
export function cidrSetOf(f: Family, ranges: readonly AddrRange[]): string | undefined {
  const elems = sortByValue(ranges.map(rangeElem));
  return elems.length > 1 ? cidrSetName(f, elems) : undefined;
}

/** The name of the shared set of these elements (sorted as nft lists them). */
const cidrSetName = (f: Family, elems: readonly unknown[]) => cidrSet(shortHash(JSON.stringify(elems), 12), f);

export interface LoweredChain {
  readonly name: string;
  readonly rules: Rule[];
  readonly comments: (string | undefined)[];
  readonly origins: (RuleOrigin | undefined)[];
}

export interface GroupInput {
  readonly dir: Direction;
  readonly hash: string;
  /** The selecting policies, sorted by id. */
  readonly policies: readonly NormalizedPolicy[];
  /** Ingress: the group's pods' named ports (equal for all of them when a policy reads them). */
  readonly namedPorts: readonly NamedPort[];
  readonly families: readonly Family[];
  /** Count the connections each policy rule allows on a named counter (see the top). */
  readonly ruleCounters?: boolean;
  /** Mark dropped packets for the drop log (build.ts dropTail). */
  readonly dropLog?: boolean;
  /** The shared id (and set hash) of a pod peer of policy `p`. */
  peerOf(p: NormalizedPolicy, peer: Extract<Peer, { kind: 'pods' }>): { id: string; hash: string };
}

export function mergePortRanges(rs: readonly [number, number][]): [number, number][] {
  const s = [...rs].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of s) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** A rule's ports as match lists, one nft rule each: whole protocols, exact protocol-port
 *  pairs (hashed), and port ranges (an interval set, each protocol's ranges merged first,
 *  since interval sets refuse overlapping elements). `port` is `dport` or `sport`. */
export function portMatches(port: 'sport' | 'dport', whole: readonly string[], exact: readonly unknown[], ranged: Readonly<Record<string, [number, number][]>>): Stmt[][] {
  const l4port = concat(meta('l4proto'), payload('th', port));
  const out: Stmt[][] = [];
  if (whole.length) out.push([match(meta('l4proto'), anon([...whole]))]);
  if (exact.length) out.push(l4portMatch(l4port, payload('th', port), [...exact]));
  const intervals = Object.entries(ranged).flatMap(([proto, rs]) => mergePortRanges(rs).map(([lo, hi]) => ({ concat: [proto, lo === hi ? lo : { range: [lo, hi] }] })));
  if (intervals.length) out.push(l4portMatch(l4port, payload('th', port), intervals));
  return out;
}

/** The comment of a group's drop rule: the policies that isolate its pods, which a reader of
 *  `nft list table` or of a trace needs (a group is shared by the pods the same policies
 *  select, so the policies, not a pod, say why). Cut to nft's comment limit (with a hash);
 *  the engine's chainInfo has the whole list. */
export const isolatedBy = (dir: Direction, policies: readonly string[]) => ruleComment(`${dir}: isolated by ${policies.join(', ')}`);

export const namedKey = (name: string, proto: Protocol) => `${name}/${proto}`;

export function lowerGroup(g: GroupInput): { chains: LoweredChain[]; refs: GroupRefs } {
  const refs = emptyRefs();
  const chains: LoweredChain[] = [];
  const peerField = g.dir === 'ingress' ? 'from' : 'to';
  const counterOf = (p: NormalizedPolicy, i: number): string | undefined => {
    if (!g.ruleCounters) return undefined;
    const name = ruleCounterName({ namespace: p.namespace, name: p.name }, g.dir, i);
    refs.ruleCounters.set(name, { namespace: p.namespace, policy: p.name, direction: g.dir, rule: i });
    return name;
  };
  for (const f of g.families) {
    const ipp = f === 4 ? 'ip' : 'ip6';
    for (const pd of ['o', 'r'] as const) {
      const { local, peer: peerAddr, port } = roles(g.dir, pd);
      const ch: LoweredChain = { name: groupChain(g.dir, f, pd, g.hash), rules: [], comments: [], origins: [] };
      // A rule whose match an earlier rule of this chain has (two policies allowing DNS, the
      // same monitoring port, the same CIDR) is left out: every policy rule only returns, so a
      // packet the first copy did not match cannot match the copy, and the first packet of a
      // connection walks each distinct match once. The first keeps its comment and counter
      // (first match decides what a trace or a rule counter reports, with or without the copy).
      const matches = new Set<string>();
      const addrPortKey = concat(payload(ipp, peerAddr), meta('l4proto'), payload('th', port));
      for (const p of g.policies) {
        p.rules[g.dir].forEach((rule, i) => {
          const counter = counterOf(p, i);
          const count = counter !== undefined && pd === 'o' ? [namedCounter(counter)] : [];
          const peers: (Peer | null)[] = rule.peers === null ? [null] : [...rule.peers];
          peers.forEach((peer, j) => {
            const origin: RuleOrigin = { policy: p.id, direction: g.dir, rule: i, peer: rule.peers === null ? null : j };
            const comment = ruleComment(`${p.id} ${g.dir}[${i}]${rule.peers === null ? '' : ` ${peerField}[${j}]`}`);
            const emit = (r: Stmt[]) => {
              const key = JSON.stringify(r);
              if (matches.has(key)) return;
              matches.add(key);
              ch.rules.push([...r, ...count, RETURN]);
              ch.comments.push(comment);
              ch.origins.push(origin);
            };
            // The peer's part of the match; undefined: this peer matches nothing in this family.
            let peerMatch: Stmt[] | undefined;
            let shared: { id: string; hash: string } | undefined;
            if (peer === null) peerMatch = [];
            else if (peer.kind === 'pods') {
              shared = g.peerOf(p, peer);
              if (!refs.peers.has(shared.id)) refs.peers.set(shared.id, new Set());
              peerMatch = [match(payload(ipp, peerAddr), `@${peerSet(shared.hash, f)}`)];
            } else {
              peerMatch = cidrMatch(refs, f, payload(ipp, peerAddr), peer.ranges.filter((r) => r.family === f));
            }
            if (rule.ports === null) {
              if (peerMatch) emit(peerMatch);
              return;
            }
            const whole: string[] = [], exact: unknown[] = [], ranged: Record<string, [number, number][]> = {};
            for (const pm of rule.ports) {
              const proto = PROTO[pm.protocol];
              if (pm.kind === 'all') whole.push(proto);
              else if (pm.kind === 'range' && pm.from === pm.to) exact.push({ concat: [proto, pm.from] });
              else if (pm.kind === 'range') (ranged[proto] ??= []).push([pm.from, pm.to]);
              else if (g.dir === 'ingress') {
                // > named port: resolved on the destination pod, here the selected local pod.
                const np = g.namedPorts.find((x) => x.name === pm.name && x.protocol === pm.protocol);
                if (np) exact.push({ concat: [proto, np.port] });
              } else {
                // Egress: resolved on each destination pod, through a shared `addr . proto . port` set.
                const key = namedKey(pm.name, pm.protocol);
                if (peer?.kind === 'pods') {
                  refs.peers.get(shared!.id)!.add(key);
                  emit([match(addrPortKey, `@${namedPortSet(shared!.hash, pm.name, proto, f)}`)]);
                } else if (peerMatch) {
                  refs.anyNamed.add(key);
                  emit([...peerMatch, match(addrPortKey, `@${anyNamedPortSet(pm.name, proto, f)}`)]);
                }
              }
            }
            if (!peerMatch) return;
            for (const m of portMatches(port, whole, exact, ranged)) emit([...peerMatch, ...m]);
          });
        });
      }
      for (const r of dropTail(g.dir, f, local, isolatedBy(g.dir, g.policies.map((p) => p.id)), g.dropLog)) {
        ch.rules.push(r.rule);
        ch.comments.push(r.comment);
        ch.origins.push(undefined);
      }
      chains.push(ch);
    }
  }
  return { chains, refs };
}
