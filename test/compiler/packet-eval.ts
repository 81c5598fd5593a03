// A tiny nftables interpreter for the compiled Ruleset: given one packet (header fields plus
// conntrack state), it walks the base chain, verdict maps and group chains using the set and
// map contents, and says accept or drop. It is a second path to a verdict, independent of
// ir.ts/explain: it reads only what `compile` emits.
//
// Only the expressions the compiler emits are implemented (match on payload/meta/ct/concat
// against a value, an anonymous set `{ … }` or `@set`, `&` on ct mark, vmap, jump/goto, return, drop, accept,
// counter, mangle of ct mark); anything else throws, so a new kind of rule cannot be silently
// misjudged.
import { isIP } from 'node:net';
import { compile, type Cluster, type Protocol, type Ruleset } from '../../compiler/index.js';

export type L4 = 'tcp' | 'udp' | 'sctp' | 'icmp';

export interface Packet {
  readonly hook: 'forward' | 'input';
  readonly saddr: string;
  readonly daddr: string;
  readonly l4proto: L4;
  readonly sport: number;
  readonly dport: number;
  readonly ct: { readonly state: 'new' | 'established' | 'related' | 'invalid'; readonly direction: 'original' | 'reply'; readonly mark: number };
}

export interface PacketResult {
  readonly verdict: 'accept' | 'drop';
  /** ct mark after the packet (mangle applied). */
  readonly mark: number;
  /** Named counters the packet hit (through counter maps or `counter name`). */
  readonly counters: readonly string[];
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
  readonly counters: string[];
  readonly trace: string[];
}

const fam = (p: Packet) => addr(p.saddr)[0];

function field(e: unknown, ctx: Ctx): Field {
  const o = e as Record<string, any>;
  const p = ctx.pkt;
  if ('payload' in o) {
    const { protocol, field: f } = o.payload as { protocol: string; field: string };
    if (protocol === 'ip' || protocol === 'ip6') {
      // In the inet family `ip saddr` carries a `meta nfproto ipv4` dependency: it does not
      // match an IPv6 packet (and vice versa).
      if ((protocol === 'ip') !== (fam(p) === 4)) return undefined;
      if (f !== 'saddr' && f !== 'daddr') throw new Error(`payload ${protocol} ${f} not modelled`);
      return { type: protocol === 'ip' ? 'ipv4_addr' : 'ipv6_addr', value: addr(f === 'saddr' ? p.saddr : p.daddr)[1] };
    }
    if (protocol === 'th' || protocol === 'tcp' || protocol === 'udp' || protocol === 'sctp') {
      if (p.l4proto === 'icmp') return undefined; // no transport ports to read
      if (protocol !== 'th' && protocol !== p.l4proto) return undefined;
      if (f !== 'sport' && f !== 'dport') throw new Error(`payload ${protocol} ${f} not modelled`);
      return { type: 'inet_service', value: BigInt(f === 'sport' ? p.sport : p.dport) };
    }
    throw new Error(`payload protocol ${protocol} not modelled`);
  }
  if ('meta' in o) {
    const key = o.meta.key as string;
    if (key === 'l4proto') return { type: 'inet_proto', value: BigInt(PROTO_NUM[p.l4proto]!) };
    if (key === 'nfproto') return { type: 'nf_proto', value: BigInt(fam(p) === 4 ? 2 : 10) };
    throw new Error(`meta ${key} not modelled`);
  }
  if ('ct' in o) {
    const key = o.ct.key as string;
    if (key === 'mark') return { type: 'mark', value: BigInt(ctx.mark >>> 0) };
    throw new Error(`ct ${key} as a value not modelled`);
  }
  if ('&' in o) {
    const [l, r] = o['&'] as [unknown, number];
    const v = field(l, ctx);
    return v && { type: v.type, value: v.value & BigInt(r >>> 0) };
  }
  throw new Error(`expression ${JSON.stringify(e)} not modelled`);
}

/** An element component as an inclusive interval, read according to the set's type. */
function interval(part: unknown, type: string): [bigint, bigint] {
  if (typeof part === 'object' && part !== null) {
    const o = part as Record<string, any>;
    if ('prefix' in o) {
      const [f, n] = addr(o.prefix.addr as string);
      const host = BigInt((f === 4 ? 32 : 128) - (o.prefix.len as number));
      const lo = (n >> host) << host;
      return [lo, lo + (1n << host) - 1n];
    }
    if ('range' in o) return [interval(o.range[0], type)[0], interval(o.range[1], type)[1]];
    throw new Error(`element part ${JSON.stringify(part)} not modelled`);
  }
  switch (type) {
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const [f, n] = addr(String(part));
      if ((f === 4) !== (type === 'ipv4_addr')) throw new Error(`element ${String(part)} in a set of ${type}`);
      return [n, n];
    }
    case 'inet_proto': {
      const n = typeof part === 'number' ? part : PROTO_NUM[String(part)];
      if (n === undefined) throw new Error(`unknown protocol ${String(part)}`);
      return [BigInt(n), BigInt(n)];
    }
    case 'inet_service':
      if (typeof part !== 'number') throw new Error(`port ${JSON.stringify(part)} is not a number`);
      return [BigInt(part), BigInt(part)];
    default:
      throw new Error(`set type ${type} not modelled`);
  }
}

/** The key's components, or undefined when one cannot be read from this packet. */
function key(e: unknown, ctx: Ctx): Field[] | undefined {
  const o = e as Record<string, any>;
  const parts = 'concat' in o ? (o.concat as unknown[]).map((x) => field(x, ctx)) : [field(e, ctx)];
  return parts.some((x) => x === undefined) ? undefined : parts;
}

function inElems(k: Field[], type: string | readonly string[], elems: readonly unknown[], what: string): number {
  const types = typeof type === 'string' ? [type] : type;
  if (types.length !== k.length) throw new Error(`${what}: key of ${k.length} fields against type ${types.join(' . ')}`);
  k.forEach((f, i) => {
    if (f!.type !== types[i]) throw new Error(`${what}: key field ${i} is ${f!.type}, the set holds ${types[i]}`);
  });
  return elems.findIndex((el) => {
    const parts = types.length === 1 ? [el] : (el as { concat?: unknown[] }).concat;
    if (!parts || parts.length !== types.length) throw new Error(`${what}: element ${JSON.stringify(el)} does not fit ${types.join(' . ')}`);
    return parts.every((part, i) => {
      const [lo, hi] = interval(part, types[i]!);
      return lo <= k[i]!.value && k[i]!.value <= hi;
    });
  });
}

function setByName(ctx: Ctx, ref: string) {
  const name = ref.slice(1);
  const s = ctx.rs.sets.find((x) => x.name === name);
  if (!s) throw new Error(`rule refers to set ${ref}, which the ruleset does not define`);
  return s;
}

function mapByName(ctx: Ctx, ref: unknown) {
  if (typeof ref !== 'string' || !ref.startsWith('@')) throw new Error(`map reference ${JSON.stringify(ref)} not modelled`);
  const m = ctx.rs.maps.find((x) => x.name === ref.slice(1));
  if (!m) throw new Error(`rule refers to map ${ref}, which the ruleset does not define`);
  return m;
}

const CT_STATES = new Set(['new', 'established', 'related', 'invalid', 'untracked']);

function matchExpr(m: { op: string; left: any; right: unknown }, ctx: Ctx): boolean {
  const { op, left, right } = m;
  if (left && typeof left === 'object' && 'ct' in left && (left.ct.key === 'state' || left.ct.key === 'direction')) {
    const wanted = Array.isArray(right) ? right : [right];
    for (const w of wanted) if (left.ct.key === 'state' && !CT_STATES.has(String(w))) throw new Error(`ct state ${String(w)}`);
    const have = left.ct.key === 'state' ? ctx.pkt.ct.state : ctx.pkt.ct.direction;
    const hit = wanted.includes(have);
    if (op === '==' || op === 'in') return hit;
    if (op === '!=') return !hit;
    throw new Error(`op ${op} on ct ${left.ct.key} not modelled`);
  }
  if (typeof right === 'string' && right.startsWith('@')) {
    const s = setByName(ctx, right);
    const k = key(left, ctx);
    if (!k) return false; // a field this packet lacks (other family, no ports): no match
    const hit = inElems(k, s.type, s.elems, `set ${s.name}`) >= 0;
    if (op === '==' || op === 'in') return hit;
    if (op === '!=') return !hit;
    throw new Error(`op ${op} against a set not modelled`);
  }
  if (right && typeof right === 'object' && 'set' in right) {
    // An anonymous set inside the rule: its element type is the key's.
    const elems = (right as { set: unknown }).set;
    if (!Array.isArray(elems)) throw new Error(`anonymous set ${JSON.stringify(right)} not modelled`);
    const k = key(left, ctx);
    if (!k) return false;
    const hit = inElems(k, k.map((f) => f!.type), elems, 'anonymous set') >= 0;
    if (op === '==' || op === 'in') return hit;
    if (op === '!=') return !hit;
    throw new Error(`op ${op} against an anonymous set not modelled`);
  }
  if (typeof right === 'string' || (right && typeof right === 'object' && ('concat' in right || 'prefix' in right || 'range' in right))) {
    // A plain value (a protocol, an address, a prefix, a concatenation): a one-element set.
    return matchExpr({ op, left, right: { set: [right] } }, ctx);
  }
  const k = key(left, ctx);
  if (!k) return false;
  if (k.length !== 1 || typeof right !== 'number') throw new Error(`match ${JSON.stringify(m)} not modelled`);
  const v = k[0]!.value, r = BigInt(right >>> 0);
  switch (op) {
    case '==': return v === r;
    case '!=': return v !== r;
    default: throw new Error(`op ${op} not modelled`);
  }
}

type Verdict = { kind: 'accept' | 'drop' | 'return' } | { kind: 'jump' | 'goto'; target: string };

function verdictOf(v: unknown): Verdict {
  const o = v as Record<string, any>;
  if ('accept' in o) return { kind: 'accept' };
  if ('drop' in o) return { kind: 'drop' };
  if ('return' in o) return { kind: 'return' };
  if ('jump' in o) return { kind: 'jump', target: o.jump.target };
  if ('goto' in o) return { kind: 'goto', target: o.goto.target };
  throw new Error(`verdict ${JSON.stringify(v)} not modelled`);
}

/** Runs one rule: undefined when it falls through (no match or no verdict). */
function runRule(rule: readonly Record<string, any>[], ctx: Ctx): Verdict | undefined {
  for (const stmt of rule) {
    const [k, v] = Object.entries(stmt)[0]!;
    switch (k) {
      case 'match':
        if (!matchExpr(v, ctx)) return undefined;
        break;
      case 'vmap': {
        const m = mapByName(ctx, v.data);
        if (m.map !== 'verdict') throw new Error(`vmap on ${m.name}, a ${m.map} map`);
        const kk = key(v.key, ctx);
        if (!kk) return undefined;
        const i = inElems(kk, m.type, m.elems.map((e) => e[0]), `map ${m.name}`);
        if (i < 0) return undefined;
        ctx.trace.push(`  ${m.name}[${kk.map((x) => x!.value).join(' . ')}] -> ${JSON.stringify(m.elems[i]![1])}`);
        return verdictOf(m.elems[i]![1]);
      }
      case 'counter': {
        if (v === null) break;
        if (typeof v === 'string') { ctx.counters.push(v); break; }
        if (v && typeof v === 'object' && 'map' in v) {
          const m = mapByName(ctx, v.map.data);
          if (m.map !== 'counter') throw new Error(`counter map ${m.name} is a ${m.map} map`);
          const kk = key(v.map.key, ctx);
          const i = kk ? inElems(kk, m.type, m.elems.map((e) => e[0]), `map ${m.name}`) : -1;
          if (i < 0) return undefined; // objref lookup miss ends the rule
          const name = String(m.elems[i]![1]);
          if (!ctx.rs.counters.includes(name)) throw new Error(`counter map ${m.name} names ${name}, which the ruleset does not define`);
          ctx.counters.push(name);
          break;
        }
        throw new Error(`counter ${JSON.stringify(v)} not modelled`);
      }
      case 'mangle': {
        if (!(v.key && 'ct' in v.key && v.key.ct.key === 'mark')) throw new Error(`mangle ${JSON.stringify(v)} not modelled`);
        ctx.mark = Number(value(v.value, ctx)) >>> 0;
        ctx.trace.push(`  ct mark set 0x${ctx.mark.toString(16)}`);
        break;
      }
      case 'accept': case 'drop': case 'return':
        return { kind: k };
      case 'jump': case 'goto':
        return { kind: k, target: v.target };
      default:
        throw new Error(`statement ${k} not modelled: ${JSON.stringify(stmt)}`);
    }
  }
  return undefined;
}

function value(e: unknown, ctx: Ctx): bigint {
  if (typeof e === 'number') return BigInt(e >>> 0);
  const o = e as Record<string, any>;
  if ('|' in o) return value(o['|'][0], ctx) | value(o['|'][1], ctx);
  if ('&' in o) return value(o['&'][0], ctx) & value(o['&'][1], ctx);
  if ('ct' in o && o.ct.key === 'mark') return BigInt(ctx.mark >>> 0);
  throw new Error(`value ${JSON.stringify(e)} not modelled`);
}

/** Walks a chain; 'return' means "fell off the end or returned" (the caller continues). */
function runChain(name: string, ctx: Ctx, depth: number): 'accept' | 'drop' | 'return' {
  if (depth > 16) throw new Error('jump depth exceeded');
  const chain = ctx.rs.chains.find((c) => c.name === name);
  if (!chain) throw new Error(`jump to chain ${name}, which the ruleset does not define`);
  ctx.trace.push(`chain ${name}`);
  for (const [i, rule] of chain.rules.entries()) {
    let v = runRule(rule as Record<string, any>[], ctx);
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
  if (!base) return { verdict: 'accept', mark: pkt.ct.mark, counters: [], trace: [`no base chain on ${pkt.hook}`] };
  const ctx: Ctx = { rs, pkt, mark: pkt.ct.mark, counters: [], trace: [`packet ${JSON.stringify(pkt)}`] };
  const r = runChain(base.name, ctx, 0);
  const verdict = r === 'drop' ? 'drop' : r === 'accept' ? 'accept' : base.base!.policy;
  ctx.trace.push(`=> ${verdict}`);
  return { verdict, mark: ctx.mark, counters: ctx.counters, trace: ctx.trace };
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

const L4_OF: Record<Protocol, L4> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** Node addresses as the cluster state shows them: those of host-network pods and of the
 *  Node object. */
function nodeAddresses(c: Cluster, node: string): string[] {
  return [...(c.nodes?.find((n) => n.name === node)?.addresses ?? []), ...c.pods.filter((p) => p.hostNetwork && p.nodeName === node).flatMap((p) => p.ips)];
}

const ACCEPTED_UNHOOKED = (why: string): PacketResult => ({ verdict: 'accept', mark: 0, counters: [], trace: [why] });

/** One connection src:40000 -> dst:port through every node that hosts an end: its first
 *  packet (ct new, no mark) and its first reply (ct established, no mark: as right after a
 *  generation bump) must both be accepted everywhere; a reply carrying the stamped mark must
 *  be accepted too. Pod-to-pod and pod-to-outside packets cross the forward hook; a packet to
 *  the node's own address enters through input, and what the node itself sends leaves
 *  through output, which the ruleset does not hook. */
export function connectionVerdict(c: Cluster, src: string, dst: string, protocol: Protocol, port: number, opts: { establishedFastPath?: boolean } = {}): ConnectionVerdict {
  const l4 = L4_OF[protocol];
  const nodes = enforcingNodes(c, [src, dst]);
  const trace: string[] = [];
  const out: ConnectionVerdict['nodes'][number][] = [];
  let allowed = true;
  for (const node of nodes) {
    const { ruleset } = compile(c, { node, establishedFastPath: opts.establishedFastPath });
    const own = nodeAddresses(c, node);
    const hookOf = (from: string, to: string): 'forward' | 'input' | 'output' => (own.includes(from) ? 'output' : own.includes(to) ? 'input' : 'forward');
    const send = (saddr: string, daddr: string, sport: number, dport: number, ct: Packet['ct']): PacketResult => {
      const hook = hookOf(saddr, daddr);
      return hook === 'output' ? ACCEPTED_UNHOOKED(`${saddr} -> ${daddr}: sent by node ${node} itself (output, not hooked)`) : evalPacket(ruleset, { hook, saddr, daddr, l4proto: l4, sport, dport, ct });
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
