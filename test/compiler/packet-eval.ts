// A tiny nftables interpreter for the compiled Ruleset: given one packet (header fields plus
// conntrack state), it walks the base chain, verdict maps and group chains using the set and
// map contents, and says accept or drop. It is a second path to a verdict, independent of
// ir.ts/explain: it reads only what `compile` emits.
//
// It walks the typed nft IR (compiler/nft/ir.ts): every statement kind has a case (a `never`
// default makes a new kind a type error here), and what is not modelled (a match on
// `meta iifname`, a `fib` lookup, …) throws, so a new kind of rule cannot be silently
// misjudged. Log, nftrace and limits do not decide: a single packet passes any limit, unless
// `Packet.overLimit` says every limit is above its rate (then a limit ends its rule).
// Modelled for the guard chains: `meta iif` against "lo", `icmpv6 type`, and the reverse-path
// `fib saddr . iif oif`, whose answer the packet states (`rpf`: does the route back to its
// source leave through the interface it came in on), since there is no routing table here.
import { isIP } from 'node:net';
import { compile, type Cluster, type Protocol, type Ruleset } from '../../compiler/index.js';
import { exprFromJson, stmtFromJson, type Expr, type MatchOp, type Rule, type Stmt } from '../../compiler/nft/ir.js';

export type L4 = 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6';

export interface Packet {
  readonly hook: 'forward' | 'input';
  readonly saddr: string;
  readonly daddr: string;
  readonly l4proto: L4;
  readonly sport: number;
  readonly dport: number;
  readonly ct: { readonly state: 'new' | 'established' | 'related' | 'invalid'; readonly direction: 'original' | 'reply'; readonly mark: number };
  /** Every limit is above its rate (default: a packet is within any rate). */
  readonly overLimit?: boolean;
  /** The input interface: 'lo' (the node to itself) or another (default 'eth'). */
  readonly iif?: 'lo' | 'eth';
  /** `fib saddr . iif oif`: does the route back to saddr leave through iif (default true:
   *  a pod with its own address, a node with symmetric routes). */
  readonly rpf?: boolean;
  /** The icmpv6 type name when l4proto is icmpv6 (e.g. nd-neighbor-solicit). */
  readonly icmpType?: string;
}

export interface PacketResult {
  readonly verdict: 'accept' | 'drop';
  /** ct mark after the packet (mangle applied). */
  readonly mark: number;
  /** Named counters the packet hit (through counter maps or `counter name`). */
  readonly counters: readonly string[];
  /** The packet was marked for the kernel's trace (`meta nftrace set 1`). */
  readonly nftrace: boolean;
  readonly trace: readonly string[];
}

const PROTO_NUM: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132, 'ipv6-icmp': 58, icmpv6: 58 };

/** Address text -> [family, number]; written here rather than imported so this path shares
 *  nothing with the compiler. */
export function addr(ip: string): [4 | 6, bigint] {
  const fam = isIP(ip);
  if (fam === 4) return [4, ip.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n)];
  if (fam !== 6) throw new Error(`not an address: ${ip}`);
  let [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':') : []);
  let h = parse(head), t = parse(tail);
  // An embedded IPv4 tail (::ffff:192.0.2.1) is two groups.
  const fix = (g: string[]) => g.flatMap((x) => (x.includes('.') ? (([, n]) => [(n >> 16n).toString(16), (n & 0xffffn).toString(16)])(addr(x)) : [x]));
  h = fix(h); t = fix(t);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return [6, groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n)];
}

type Field = { type: string; value: bigint } | undefined;

interface Ctx {
  readonly rs: Ruleset;
  readonly pkt: Packet;
  mark: number;
  nftrace: boolean;
  readonly counters: string[];
  readonly trace: string[];
}

const fam = (p: Packet) => addr(p.saddr)[0];
const never = (x: never, what: string): never => {
  throw new Error(`${what} ${JSON.stringify(x)} not modelled`);
};

/** What a packet field (or an expression over fields) holds for this packet; undefined when
 *  the packet has no such field (another family, no ports). */
function field(e: Expr, ctx: Ctx): Field {
  const p = ctx.pkt;
  switch (e.kind) {
    case 'payload': {
      const { protocol, field: f } = e;
      if (protocol === 'ip' || protocol === 'ip6') {
        // In the inet family `ip saddr` carries a `meta nfproto ipv4` dependency: it does not
        // match an IPv6 packet (and vice versa).
        if ((protocol === 'ip') !== (fam(p) === 4)) return undefined;
        if (f !== 'saddr' && f !== 'daddr') throw new Error(`payload ${protocol} ${f} not modelled`);
        return { type: protocol === 'ip' ? 'ipv4_addr' : 'ipv6_addr', value: addr(f === 'saddr' ? p.saddr : p.daddr)[1] };
      }
      if (p.l4proto === 'icmp' || p.l4proto === 'icmpv6') return undefined; // no transport ports to read
      if (protocol !== 'th' && protocol !== p.l4proto) return undefined;
      if (f !== 'sport' && f !== 'dport') throw new Error(`payload ${protocol} ${f} not modelled`);
      return { type: 'inet_service', value: BigInt(f === 'sport' ? p.sport : p.dport) };
    }
    case 'meta':
      if (e.key === 'l4proto') return { type: 'inet_proto', value: BigInt(PROTO_NUM[p.l4proto]!) };
      if (e.key === 'nfproto') return { type: 'nf_proto', value: BigInt(fam(p) === 4 ? 2 : 10) };
      throw new Error(`meta ${e.key} not modelled`);
    case 'ct':
      if (e.key === 'mark') return { type: 'mark', value: BigInt(ctx.mark >>> 0) };
      throw new Error(`ct ${e.key} as a value not modelled`);
    case 'binop': {
      const v = field(e.left, ctx);
      return v && { type: v.type, value: e.op === '&' ? v.value & value(e.right, ctx) : v.value | value(e.right, ctx) };
    }
    case 'fib': case 'concat': case 'value': case 'flags': case 'prefix': case 'range': case 'set': case 'ref':
      throw new Error(`expression ${e.kind} as a packet field not modelled: ${JSON.stringify(e)}`);
    default: return never(e, 'expression');
  }
}

/** An element component as an inclusive interval, read according to the set's type. */
function interval(part: Expr, type: string): [bigint, bigint] {
  switch (part.kind) {
    case 'prefix': {
      const [f, n] = addr(part.addr);
      const host = BigInt((f === 4 ? 32 : 128) - part.len);
      const lo = (n >> host) << host;
      return [lo, lo + (1n << host) - 1n];
    }
    case 'range': return [interval({ kind: 'value', value: part.lo }, type)[0], interval({ kind: 'value', value: part.hi }, type)[1]];
    case 'value': break;
    default: throw new Error(`element part ${JSON.stringify(part)} not modelled`);
  }
  const v = part.value;
  switch (type) {
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const [f, n] = addr(String(v));
      if ((f === 4) !== (type === 'ipv4_addr')) throw new Error(`element ${String(v)} in a set of ${type}`);
      return [n, n];
    }
    case 'inet_proto': {
      const n = typeof v === 'number' ? v : PROTO_NUM[String(v)];
      if (n === undefined) throw new Error(`unknown protocol ${String(v)}`);
      return [BigInt(n), BigInt(n)];
    }
    case 'inet_service':
      if (typeof v !== 'number') throw new Error(`port ${JSON.stringify(v)} is not a number`);
      return [BigInt(v), BigInt(v)];
    default:
      throw new Error(`set type ${type} not modelled`);
  }
}

/** The key's components, or undefined when one cannot be read from this packet. */
function key(e: Expr, ctx: Ctx): Field[] | undefined {
  const parts = e.kind === 'concat' ? e.items.map((x) => field(x, ctx)) : [field(e, ctx)];
  return parts.some((x) => x === undefined) ? undefined : parts;
}

/** The index of the first element holding the key (elements as IR expressions). */
function inElems(k: Field[], type: string | readonly string[], elems: readonly Expr[], what: string): number {
  const types = typeof type === 'string' ? [type] : type;
  if (types.length !== k.length) throw new Error(`${what}: key of ${k.length} fields against type ${types.join(' . ')}`);
  k.forEach((f, i) => {
    if (f!.type !== types[i]) throw new Error(`${what}: key field ${i} is ${f!.type}, the set holds ${types[i]}`);
  });
  return elems.findIndex((el) => {
    const parts = types.length === 1 ? [el] : el.kind === 'concat' ? el.items : undefined;
    if (!parts || parts.length !== types.length) throw new Error(`${what}: element ${JSON.stringify(el)} does not fit ${types.join(' . ')}`);
    return parts.every((part, i) => {
      const [lo, hi] = interval(part, types[i]!);
      return lo <= k[i]!.value && k[i]!.value <= hi;
    });
  });
}

/** A named set's elements (nft JSON in the Ruleset) read as IR expressions, once per set. */
const setElems = new WeakMap<object, Expr[]>();
function elemsOf(s: { elems: readonly unknown[] }, keys = false): Expr[] {
  let v = setElems.get(s);
  if (!v) setElems.set(s, (v = s.elems.map((e) => exprFromJson(keys ? (e as [unknown, unknown])[0] : e))));
  return v;
}

function setByName(ctx: Ctx, name: string) {
  const s = ctx.rs.sets.find((x) => x.name === name);
  if (!s) throw new Error(`rule refers to set @${name}, which the ruleset does not define`);
  return s;
}

function mapByName(ctx: Ctx, name: string) {
  const m = ctx.rs.maps.find((x) => x.name === name);
  if (!m) throw new Error(`rule refers to map @${name}, which the ruleset does not define`);
  return m;
}

const CT_STATES = new Set(['new', 'established', 'related', 'invalid', 'untracked']);
const hits = (op: MatchOp, hit: boolean, what: string): boolean => {
  if (op === '==' || op === 'in') return hit;
  if (op === '!=') return !hit;
  return never(op, `op on ${what}`);
};

function matchExpr(m: Extract<Stmt, { kind: 'match' }>, ctx: Ctx): boolean {
  const { op, left, right } = m;
  if (left.kind === 'meta' && left.key === 'iif') {
    if (right.kind !== 'value' || right.value !== 'lo') throw new Error(`meta iif against ${JSON.stringify(right)} not modelled`);
    return hits(op, (ctx.pkt.iif ?? 'eth') === 'lo', 'meta iif');
  }
  if (left.kind === 'fib') {
    if (left.result !== 'oif' || left.flags.join(',') !== 'saddr,iif' || right.kind !== 'value' || typeof right.value !== 'boolean') throw new Error(`fib ${JSON.stringify(m)} not modelled`);
    // oif exists when the route back goes through iif; the node's lo always routes.
    const exists = (ctx.pkt.iif ?? 'eth') === 'lo' || (ctx.pkt.rpf ?? true);
    return hits(op, exists === right.value, 'fib');
  }
  if (left.kind === 'payload' && left.protocol === 'icmpv6') {
    if (left.field !== 'type') throw new Error(`icmpv6 ${left.field} not modelled`);
    if (ctx.pkt.l4proto !== 'icmpv6') return false;
    const wanted = right.kind === 'set' ? right.elems.map((x) => (x.kind === 'value' ? String(x.value) : '')) : right.kind === 'value' ? [String(right.value)] : [];
    return hits(op, wanted.includes(ctx.pkt.icmpType ?? ''), 'icmpv6 type');
  }
  if (left.kind === 'ct' && (left.key === 'state' || left.key === 'direction')) {
    const wanted = right.kind === 'flags' ? right.values : right.kind === 'value' ? [String(right.value)] : right.kind === 'set' ? right.elems.map((x) => (x.kind === 'value' ? String(x.value) : never(x as never, 'ct value'))) : never(right as never, `ct ${left.key} against`);
    for (const w of wanted) if (left.key === 'state' && !CT_STATES.has(w)) throw new Error(`ct state ${w}`);
    const have = left.key === 'state' ? ctx.pkt.ct.state : ctx.pkt.ct.direction;
    return hits(op, wanted.includes(have), `ct ${left.key}`);
  }
  switch (right.kind) {
    case 'ref': {
      const s = setByName(ctx, right.name);
      const k = key(left, ctx);
      if (!k) return false; // a field this packet lacks (other family, no ports): no match
      return hits(op, inElems(k, s.type, elemsOf(s), `set ${s.name}`) >= 0, 'a set');
    }
    case 'set': {
      // An anonymous set inside the rule: its element type is the key's.
      const k = key(left, ctx);
      if (!k) return false;
      return hits(op, inElems(k, k.map((f) => f!.type), right.elems, 'anonymous set') >= 0, 'an anonymous set');
    }
    case 'concat': case 'prefix': case 'range':
      // A plain value (an address, a prefix, a concatenation): a one-element set.
      return matchExpr({ ...m, right: { kind: 'set', elems: [right] } }, ctx);
    case 'value': {
      if (typeof right.value === 'string') return matchExpr({ ...m, right: { kind: 'set', elems: [right] } }, ctx);
      const k = key(left, ctx);
      if (!k) return false;
      if (k.length !== 1 || typeof right.value !== 'number') throw new Error(`match ${JSON.stringify(m)} not modelled`);
      return hits(op, k[0]!.value === BigInt(right.value >>> 0), 'a value');
    }
    case 'flags': case 'payload': case 'meta': case 'ct': case 'fib': case 'binop':
      throw new Error(`match against ${right.kind} not modelled: ${JSON.stringify(m)}`);
    default: return never(right, 'expression');
  }
}

type Verdict = { kind: 'accept' | 'drop' | 'return' } | { kind: 'jump' | 'goto'; target: string };

function verdictOf(v: unknown): Verdict {
  const s = stmtFromJson(v);
  if (s.kind !== 'verdict') throw new Error(`verdict ${JSON.stringify(v)} not modelled`);
  return s.verdict === 'jump' || s.verdict === 'goto' ? { kind: s.verdict, target: s.target } : { kind: s.verdict };
}

/** Runs one rule: undefined when it falls through (no match or no verdict). Every statement
 *  kind of the IR has a case (the `never` default fails the type check otherwise): the
 *  statements that do not change the decision (log, nftrace, limits) still say what they do. */
function runRule(rule: Rule, ctx: Ctx): Verdict | undefined {
  for (const s of rule) {
    switch (s.kind) {
      case 'match':
        if (!matchExpr(s, ctx)) return undefined;
        break;
      case 'vmap': {
        const m = mapByName(ctx, s.map);
        if (m.map !== 'verdict') throw new Error(`vmap on ${m.name}, a ${m.map} map`);
        const kk = key(s.key, ctx);
        if (!kk) return undefined;
        const i = inElems(kk, m.type, elemsOf(m, true), `map ${m.name}`);
        if (i < 0) return undefined;
        ctx.trace.push(`  ${m.name}[${kk.map((x) => x!.value).join(' . ')}] -> ${JSON.stringify(m.elems[i]![1])}`);
        return verdictOf(m.elems[i]![1]);
      }
      case 'counter':
        if (s.name !== undefined) {
          if (!ctx.rs.counters.includes(s.name)) throw new Error(`counter ${s.name}, which the ruleset does not define`);
          ctx.counters.push(s.name);
        }
        break;
      case 'counterMap': {
        const m = mapByName(ctx, s.map);
        if (m.map !== 'counter') throw new Error(`counter map ${m.name} is a ${m.map} map`);
        const kk = key(s.key, ctx);
        const i = kk ? inElems(kk, m.type, elemsOf(m, true), `map ${m.name}`) : -1;
        if (i < 0) return undefined; // objref lookup miss ends the rule
        const name = String(m.elems[i]![1]);
        if (!ctx.rs.counters.includes(name)) throw new Error(`counter map ${m.name} names ${name}, which the ruleset does not define`);
        ctx.counters.push(name);
        break;
      }
      case 'mangle':
        if (s.key.kind === 'ct' && s.key.key === 'mark') {
          ctx.mark = Number(value(s.value, ctx)) >>> 0;
          ctx.trace.push(`  ct mark set 0x${ctx.mark.toString(16)}`);
        } else if (s.key.kind === 'meta' && s.key.key === 'nftrace') {
          ctx.nftrace = value(s.value, ctx) !== 0n;
          ctx.trace.push(`  meta nftrace set ${Number(value(s.value, ctx))}`);
        }
        else throw new Error(`mangle ${JSON.stringify(s)} not modelled`);
        break;
      case 'log':
        ctx.trace.push(`  log${s.prefix !== undefined ? ` prefix ${JSON.stringify(s.prefix)}` : ''}${s.group !== undefined ? ` group ${s.group}` : ''}`);
        break;
      case 'limit': case 'limitRef': {
        // A rate limit depends on the packets before this one: one packet is within any rate,
        // unless the caller says every limit is spent (overLimit).
        // (A hand-made table without limits, as the IR samples are, names one it leaves to nft.)
        if (s.kind === 'limitRef' && ctx.rs.limits && !ctx.rs.limits.some((l) => l.name === s.name)) throw new Error(`limit name ${s.name}, which the ruleset does not define`);
        const over = !!ctx.pkt.overLimit;
        ctx.trace.push(`  ${s.kind === 'limit' ? `limit ${s.rate}/${s.per}` : `limit ${s.name}`}: ${over ? 'above' : 'within'} the rate`);
        // `limit rate over R` matches above the rate; a plain limit (and a named one) below it.
        if (s.kind === 'limit' && s.over ? !over : over) return undefined;
        break;
      }
      case 'verdict':
        return s.verdict === 'jump' || s.verdict === 'goto' ? { kind: s.verdict, target: s.target } : { kind: s.verdict };
      default:
        return never(s, 'statement');
    }
  }
  return undefined;
}

function value(e: Expr, ctx: Ctx): bigint {
  switch (e.kind) {
    case 'value':
      if (typeof e.value !== 'number') throw new Error(`value ${JSON.stringify(e)} not modelled`);
      return BigInt(e.value >>> 0);
    case 'binop': return e.op === '|' ? value(e.left, ctx) | value(e.right, ctx) : value(e.left, ctx) & value(e.right, ctx);
    case 'ct':
      if (e.key === 'mark') return BigInt(ctx.mark >>> 0);
      throw new Error(`value ${JSON.stringify(e)} not modelled`);
    case 'flags': case 'payload': case 'meta': case 'fib': case 'concat': case 'prefix': case 'range': case 'set': case 'ref':
      throw new Error(`value ${JSON.stringify(e)} not modelled`);
    default: return never(e, 'expression');
  }
}

/** Walks a chain; 'return' means "fell off the end or returned" (the caller continues). */
function runChain(name: string, ctx: Ctx, depth: number): 'accept' | 'drop' | 'return' {
  if (depth > 16) throw new Error('jump depth exceeded');
  const chain = ctx.rs.chains.find((c) => c.name === name);
  if (!chain) throw new Error(`jump to chain ${name}, which the ruleset does not define`);
  ctx.trace.push(`chain ${name}`);
  for (const [i, rule] of chain.rules.entries()) {
    let v = runRule(rule, ctx);
    while (v && (v.kind === 'jump' || v.kind === 'goto')) {
      const r = runChain(v.target, ctx, depth + 1);
      if (r !== 'return') return r;
      // A goto does not come back here: the calling chain's caller continues.
      v = v.kind === 'goto' ? { kind: 'return' } : undefined;
    }
    if (!v) continue;
    ctx.trace.push(`  rule ${i}: ${v.kind}`);
    if (v.kind === 'accept' || v.kind === 'drop') return v.kind;
    return 'return';
  }
  return 'return';
}

/** Decides one packet with the ruleset's base chain for the packet's hook. */
export function evalPacket(rs: Ruleset, pkt: Packet): PacketResult {
  const base = rs.chains.find((c) => c.base?.hook === pkt.hook);
  if (!base) return { verdict: 'accept', mark: pkt.ct.mark, counters: [], nftrace: false, trace: [`no base chain on ${pkt.hook}`] };
  const ctx: Ctx = { rs, pkt, mark: pkt.ct.mark, nftrace: false, counters: [], trace: [`packet ${JSON.stringify(pkt)}`] };
  const r = runChain(base.name, ctx, 0);
  const verdict = r === 'drop' ? 'drop' : r === 'accept' ? 'accept' : base.base!.policy;
  ctx.trace.push(`=> ${verdict}`);
  return { verdict, mark: ctx.mark, counters: ctx.counters, nftrace: ctx.nftrace, trace: ctx.trace };
}

export interface ConnectionVerdict {
  readonly allowed: boolean;
  /** Per enforcing node: the first packet's and the first reply's verdicts. */
  readonly nodes: readonly { readonly node: string; readonly original: PacketResult; readonly reply: PacketResult; readonly replyMarked: PacketResult }[];
  readonly trace: readonly string[];
}

/** The nodes whose rulesets see a connection: those hosting an active pod at either end.
 *  (Active as docs/design.md 1.12 says: an IP, not finished, not on the host network.) */
function enforcingNodes(c: Cluster, ips: readonly string[]): string[] {
  const nodes = new Set<string>();
  for (const p of c.pods) {
    if (!p.ips.length || p.phase === 'Succeeded' || p.phase === 'Failed' || p.hostNetwork) continue;
    if (p.ips.some((ip) => ips.includes(ip))) nodes.add(p.nodeName);
  }
  return [...nodes].sort();
}

/** compile() is pure: one ruleset per cluster object, node and flag, however many
 *  connections a test asks about (the matrix's test asks about every cell). */
const COMPILED = new WeakMap<Cluster, Map<string, Ruleset>>();
function compiled(c: Cluster, node: string, establishedFastPath: boolean, dropLog: boolean): Ruleset {
  let m = COMPILED.get(c);
  if (!m) COMPILED.set(c, (m = new Map()));
  const k = `${node}\u0000${establishedFastPath}\u0000${dropLog}`;
  let r = m.get(k);
  if (!r) m.set(k, (r = compile(c, { node, establishedFastPath, ...(dropLog ? { dropLog: { rate: 10, per: 'second' as const } } : {}) }).ruleset));
  return r;
}

const L4_OF: Record<Protocol, L4> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** Node addresses as the cluster state shows them: those of host-network pods and of the
 *  Node object. */
function nodeAddresses(c: Cluster, node: string): string[] {
  return [...(c.nodes?.find((n) => n.name === node)?.addresses ?? []), ...c.pods.filter((p) => p.hostNetwork && p.nodeName === node).flatMap((p) => p.ips)];
}

const ACCEPTED_UNHOOKED = (why: string): PacketResult => ({ verdict: 'accept', mark: 0, counters: [], nftrace: false, trace: [why] });

/** One connection src:40000 -> dst:port through every node that hosts an end: its first
 *  packet (ct new, no mark) and its first reply (ct established, no mark: as right after a
 *  generation bump) must both be accepted everywhere; a reply carrying the stamped mark must
 *  be accepted too. Pod-to-pod and pod-to-outside packets cross the forward hook; a packet to
 *  the node's own address enters through input, and what the node itself sends leaves
 *  through output, which the ruleset does not hook. */
export function connectionVerdict(c: Cluster, src: string, dst: string, protocol: Protocol, port: number, opts: { establishedFastPath?: boolean; dropLog?: boolean; overLimit?: boolean } = {}): ConnectionVerdict {
  const l4 = L4_OF[protocol];
  const nodes = enforcingNodes(c, [src, dst]);
  const trace: string[] = [];
  const out: ConnectionVerdict['nodes'][number][] = [];
  let allowed = true;
  for (const node of nodes) {
    const ruleset = compiled(c, node, !!opts.establishedFastPath, !!opts.dropLog);
    const own = nodeAddresses(c, node);
    const hookOf = (from: string, to: string): 'forward' | 'input' | 'output' => (own.includes(from) ? 'output' : own.includes(to) ? 'input' : 'forward');
    const send = (saddr: string, daddr: string, sport: number, dport: number, ct: Packet['ct']): PacketResult => {
      const hook = hookOf(saddr, daddr);
      return hook === 'output' ? ACCEPTED_UNHOOKED(`${saddr} -> ${daddr}: sent by node ${node} itself (output, not hooked)`) : evalPacket(ruleset, { hook, saddr, daddr, l4proto: l4, sport, dport, ct, overLimit: opts.overLimit });
    };
    const original = send(src, dst, 40000, port, { state: 'new', direction: 'original', mark: 0 });
    const reply = send(dst, src, port, 40000, { state: 'established', direction: 'reply', mark: 0 });
    const replyMarked = send(dst, src, port, 40000, { state: 'established', direction: 'reply', mark: original.mark });
    trace.push(`--- node ${node}`, ...original.trace, ...reply.trace);
    if (original.verdict === 'accept' && (reply.verdict !== 'accept' || replyMarked.verdict !== 'accept')) {
      trace.push(`!!! node ${node}: the first packet passes but its reply is dropped`);
    }
    allowed &&= original.verdict === 'accept' && reply.verdict === 'accept' && replyMarked.verdict === 'accept';
    out.push({ node, original, reply, replyMarked });
  }
  return { allowed, nodes: out, trace };
}
