// The typed nft IR: every statement and expression a rule of ours can hold, as immutable
// data tagged by `kind`. The builders (build.ts) make these values; chains hold them; JSON
// exists only at the edge (`stmtJson`, for the batches handed to `nft -j -f`) and is read
// back into the IR by `stmtFromJson` (a kernel listing, a batch shown as text). Each visitor
// is a `switch` on `kind` whose default is `never`, so a kind added to the union and missed
// by one visitor (JSON, text, the references a transaction must order, the test packet
// interpreter) fails the type check. Shapes are libnftables-json's, checked against nft 1.0.6.

/** A literal: an address, a protocol or ct state name, a port, a mark, a fib presence. */
export type Value = string | number | boolean;

export type PayloadProtocol = 'ip' | 'ip6' | 'th' | 'tcp' | 'udp' | 'sctp' | 'icmpv6';
export type PayloadField = 'saddr' | 'daddr' | 'sport' | 'dport' | 'type';
export type MetaKey = 'l4proto' | 'nfproto' | 'iif' | 'oif' | 'iifname' | 'oifname' | 'mark' | 'nftrace' | 'pkttype';
export type CtKey = 'state' | 'direction' | 'mark' | 'status';
export type FibFlag = 'saddr' | 'daddr' | 'mark' | 'iif' | 'oif';
export type FibResult = 'oif' | 'oifname' | 'type';
export type BinOp = '&' | '|';
export type MatchOp = '==' | '!=' | 'in';
export type LimitUnit = 'second' | 'minute' | 'hour' | 'day';
export type LogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug';

export type Expr =
  | { readonly kind: 'value'; readonly value: Value }
  /** A list of flags (`ct state established,related`: JSON `["established", "related"]`). */
  | { readonly kind: 'flags'; readonly values: readonly string[] }
  | { readonly kind: 'payload'; readonly protocol: PayloadProtocol; readonly field: PayloadField }
  | { readonly kind: 'meta'; readonly key: MetaKey }
  | { readonly kind: 'ct'; readonly key: CtKey }
  /** `fib saddr . iif oif`; compared with `false` ("missing") or `true` ("exists"). */
  | { readonly kind: 'fib'; readonly flags: readonly FibFlag[]; readonly result: FibResult }
  | { readonly kind: 'concat'; readonly items: readonly Expr[] }
  | { readonly kind: 'binop'; readonly op: BinOp; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'prefix'; readonly addr: string; readonly len: number }
  | { readonly kind: 'range'; readonly lo: Value; readonly hi: Value }
  /** An anonymous set inside the rule. */
  | { readonly kind: 'set'; readonly elems: readonly Expr[] }
  /** A named set or map (`@name`). */
  | { readonly kind: 'ref'; readonly name: string };

export type Verdict =
  | { readonly kind: 'verdict'; readonly verdict: 'accept' | 'drop' | 'return' }
  | { readonly kind: 'verdict'; readonly verdict: 'jump' | 'goto'; readonly target: string };

export type Stmt =
  | { readonly kind: 'match'; readonly op: MatchOp; readonly left: Expr; readonly right: Expr }
  | Verdict
  /** `KEY vmap @map`: the verdict of the map's element for KEY (none: the rule falls through). */
  | { readonly kind: 'vmap'; readonly key: Expr; readonly map: string }
  /** An anonymous counter (`counter`) or a named one (`counter name X`). */
  | { readonly kind: 'counter'; readonly name?: string }
  /** `counter name KEY map @map`: the named counter the map gives for KEY (none: the rule ends). */
  | { readonly kind: 'counterMap'; readonly key: Expr; readonly map: string }
  /** `KEY set VALUE`: `ct mark set …`, `meta nftrace set 1`. */
  | { readonly kind: 'mangle'; readonly key: Expr; readonly value: Expr }
  /** `log prefix "…" group N`: `level` warn is nft's default (a listing leaves it out: so do we). */
  | { readonly kind: 'log'; readonly prefix?: string; readonly group?: number; readonly level?: Exclude<LogLevel, 'warn'>; readonly flags?: 'all' }
  /** An inline limit; `over`: matches above the rate. nft lists the burst always: write it. */
  | { readonly kind: 'limit'; readonly rate: number; readonly per: LimitUnit; readonly burst: number; readonly over?: boolean }
  /** A named limit object (`limit name "x"`). */
  | { readonly kind: 'limitRef'; readonly name: string };

export type Rule = readonly Stmt[];
export type ExprOf<K extends Expr['kind']> = Extract<Expr, { kind: K }>;
export type StmtOf<K extends Stmt['kind']> = Extract<Stmt, { kind: K }>;
export type Kind = Stmt['kind'] | Expr['kind'];

const never = (x: never, what: string): never => {
  throw new Error(`nft IR: unknown ${what} ${JSON.stringify(x)}`);
};

// ---------------------------------------------------------------- JSON (the edge)

export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

export function exprJson(e: Expr): Json {
  switch (e.kind) {
    case 'value': return e.value;
    case 'flags': return [...e.values];
    case 'payload': return { payload: { protocol: e.protocol, field: e.field } };
    case 'meta': return { meta: { key: e.key } };
    case 'ct': return { ct: { key: e.key } };
    case 'fib': return { fib: { result: e.result, flags: [...e.flags] } };
    case 'concat': return { concat: e.items.map(exprJson) };
    case 'binop': return { [e.op]: [exprJson(e.left), exprJson(e.right)] };
    case 'prefix': return { prefix: { addr: e.addr, len: e.len } };
    case 'range': return { range: [e.lo, e.hi] };
    case 'set': return { set: e.elems.map(exprJson) };
    case 'ref': return `@${e.name}`;
    default: return never(e, 'expression');
  }
}

export function stmtJson(s: Stmt): Json {
  switch (s.kind) {
    case 'match': return { match: { op: s.op, left: exprJson(s.left), right: exprJson(s.right) } };
    case 'verdict': return s.verdict === 'jump' || s.verdict === 'goto' ? { [s.verdict]: { target: s.target } } : { [s.verdict]: null };
    case 'vmap': return { vmap: { key: exprJson(s.key), data: `@${s.map}` } };
    case 'counter': return { counter: s.name ?? null };
    case 'counterMap': return { counter: { map: { key: exprJson(s.key), data: `@${s.map}` } } };
    case 'mangle': return { mangle: { key: exprJson(s.key), value: exprJson(s.value) } };
    case 'log': {
      const o: Record<string, Json> = {};
      if (s.prefix !== undefined) o.prefix = s.prefix;
      if (s.group !== undefined) o.group = s.group;
      if (s.level !== undefined) o.level = s.level;
      if (s.flags !== undefined) o.flags = s.flags;
      return { log: o };
    }
    case 'limit': return { limit: s.over ? { rate: s.rate, burst: s.burst, per: s.per, inv: true } : { rate: s.rate, burst: s.burst, per: s.per } };
    case 'limitRef': return { limit: s.name };
    default: return never(s, 'statement');
  }
}

export const ruleJson = (r: Rule): Json[] => r.map(stmtJson);

// ---------------------------------------------------------------- JSON back into the IR

/** Thrown for JSON that is not one of our statements or expressions. */
export class IrParseError extends Error {}

type O = { readonly [k: string]: unknown };
const bad = (what: string, j: unknown): never => {
  throw new IrParseError(`not an nft IR ${what}: ${JSON.stringify(j)}`);
};
const oneOf = <T extends string>(xs: readonly T[], v: unknown, what: string): T => (xs.includes(v as T) ? (v as T) : bad(what, v));
const single = (j: unknown): [string, any] | undefined => {
  if (!j || typeof j !== 'object' || Array.isArray(j)) return undefined;
  const es = Object.entries(j as O);
  return es.length === 1 ? (es[0] as [string, any]) : undefined;
};
const isValue = (v: unknown): v is Value => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

const PROTOCOLS: readonly PayloadProtocol[] = ['ip', 'ip6', 'th', 'tcp', 'udp', 'sctp', 'icmpv6'];
const FIELDS: readonly PayloadField[] = ['saddr', 'daddr', 'sport', 'dport', 'type'];
const META: readonly MetaKey[] = ['l4proto', 'nfproto', 'iif', 'oif', 'iifname', 'oifname', 'mark', 'nftrace', 'pkttype'];
const CT: readonly CtKey[] = ['state', 'direction', 'mark', 'status'];
const FIB_FLAGS: readonly FibFlag[] = ['saddr', 'daddr', 'mark', 'iif', 'oif'];
const FIB_RESULTS: readonly FibResult[] = ['oif', 'oifname', 'type'];
const UNITS: readonly LimitUnit[] = ['second', 'minute', 'hour', 'day'];
const LEVELS: readonly Exclude<LogLevel, 'warn'>[] = ['emerg', 'alert', 'crit', 'err', 'notice', 'info', 'debug'];

/** An expression (or a set element) from nft JSON. */
export function exprFromJson(j: unknown): Expr {
  if (typeof j === 'string') return j.startsWith('@') ? { kind: 'ref', name: j.slice(1) } : { kind: 'value', value: j };
  if (typeof j === 'number' || typeof j === 'boolean') return { kind: 'value', value: j };
  if (Array.isArray(j)) return j.every((x) => typeof x === 'string') ? { kind: 'flags', values: [...j] } : bad('expression', j);
  const e = single(j);
  if (!e) return bad('expression', j);
  const [k, v] = e;
  switch (k) {
    case 'payload': return { kind: 'payload', protocol: oneOf(PROTOCOLS, v?.protocol, 'payload protocol'), field: oneOf(FIELDS, v?.field, 'payload field') };
    case 'meta': return { kind: 'meta', key: oneOf(META, v?.key, 'meta key') };
    case 'ct': return { kind: 'ct', key: oneOf(CT, v?.key, 'ct key') };
    case 'fib': {
      const flags = Array.isArray(v?.flags) ? v.flags : [v?.flags];
      return { kind: 'fib', flags: flags.map((f: unknown) => oneOf(FIB_FLAGS, f, 'fib flag')), result: oneOf(FIB_RESULTS, v?.result, 'fib result') };
    }
    case 'concat': return Array.isArray(v) ? { kind: 'concat', items: v.map(exprFromJson) } : bad('concatenation', j);
    case '&': case '|':
      return Array.isArray(v) && v.length === 2 ? { kind: 'binop', op: k, left: exprFromJson(v[0]), right: exprFromJson(v[1]) } : bad('binary operation', j);
    case 'prefix': return typeof v?.addr === 'string' && typeof v?.len === 'number' ? { kind: 'prefix', addr: v.addr, len: v.len } : bad('prefix', j);
    case 'range': return Array.isArray(v) && v.length === 2 && isValue(v[0]) && isValue(v[1]) ? { kind: 'range', lo: v[0], hi: v[1] } : bad('range', j);
    case 'set': return Array.isArray(v) ? { kind: 'set', elems: v.map(exprFromJson) } : { kind: 'set', elems: [exprFromJson(v)] };
    default: return bad('expression', j);
  }
}

/** A statement from nft JSON (what we write, or what `nft -j list` prints for it: counter
 *  values, a `{}` anonymous counter and a one-element anonymous set are read as ours). */
export function stmtFromJson(j: unknown): Stmt {
  const e = single(j);
  if (!e) return bad('statement', j);
  const [k, v] = e;
  switch (k) {
    case 'match': return { kind: 'match', op: oneOf(['==', '!=', 'in'] as const, v?.op, 'match operator'), left: exprFromJson(v?.left), right: exprFromJson(v?.right) };
    case 'accept': case 'drop': case 'return': return { kind: 'verdict', verdict: k };
    case 'jump': case 'goto': return typeof v?.target === 'string' ? { kind: 'verdict', verdict: k, target: v.target } : bad('verdict', j);
    case 'vmap': return typeof v?.data === 'string' && v.data.startsWith('@') ? { kind: 'vmap', key: exprFromJson(v.key), map: v.data.slice(1) } : bad('vmap', j);
    case 'counter':
      if (typeof v === 'string') return { kind: 'counter', name: v };
      if (v === null || (typeof v === 'object' && !('map' in v))) return { kind: 'counter' };
      return typeof v.map?.data === 'string' && v.map.data.startsWith('@') ? { kind: 'counterMap', key: exprFromJson(v.map.key), map: v.map.data.slice(1) } : bad('counter', j);
    case 'mangle': return { kind: 'mangle', key: exprFromJson(v?.key), value: exprFromJson(v?.value) };
    case 'log': {
      if (!v || typeof v !== 'object') return bad('log', j);
      const extra = Object.keys(v).filter((x) => !['prefix', 'group', 'level', 'flags'].includes(x));
      if (extra.length) return bad('log', j);
      return {
        kind: 'log',
        ...(v.prefix !== undefined ? { prefix: typeof v.prefix === 'string' ? v.prefix : bad('log prefix', j) } : {}),
        ...(v.group !== undefined ? { group: typeof v.group === 'number' ? v.group : bad('log group', j) } : {}),
        ...(v.level !== undefined && v.level !== 'warn' ? { level: oneOf(LEVELS, v.level, 'log level') } : {}),
        ...(v.flags !== undefined ? { flags: v.flags === 'all' || (Array.isArray(v.flags) && v.flags.length === 1 && v.flags[0] === 'all') ? 'all' as const : bad('log flags', j) } : {}),
      };
    }
    case 'limit':
      if (typeof v === 'string') return { kind: 'limitRef', name: v };
      if (typeof v?.rate !== 'number' || typeof v?.burst !== 'number' || (v.rate_unit !== undefined && v.rate_unit !== 'packets')) return bad('limit', j);
      return { kind: 'limit', rate: v.rate, per: oneOf(UNITS, v.per, 'limit unit'), burst: v.burst, ...(v.inv === true ? { over: true } : {}) };
    default: return bad('statement', j);
  }
}

// ---------------------------------------------------------------- text (nft syntax)

const hex = (n: number) => '0x' + (n >>> 0).toString(16).padStart(8, '0');
const isNumber = (e: Expr): e is { kind: 'value'; value: number } => e.kind === 'value' && typeof e.value === 'number';

export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'value': return typeof e.value === 'boolean' ? (e.value ? 'exists' : 'missing') : String(e.value);
    case 'flags': return e.values.join(',');
    case 'payload': return `${e.protocol} ${e.field}`;
    case 'meta': return `meta ${e.key}`;
    case 'ct': return `ct ${e.key}`;
    case 'fib': return `fib ${e.flags.join(' . ')} ${e.result}`;
    case 'concat': return e.items.map(exprText).join(' . ');
    // A mask or a mark reads best in hex.
    case 'binop': return `${exprText(e.left)} ${e.op} ${isNumber(e.right) ? hex(e.right.value) : exprText(e.right)}`;
    case 'prefix': return `${e.addr}/${e.len}`;
    case 'range': return `${e.lo}-${e.hi}`;
    case 'set': return `{ ${e.elems.map(exprText).join(', ')} }`;
    case 'ref': return `@${e.name}`;
    default: return never(e, 'expression');
  }
}

export function stmtText(s: Stmt): string {
  switch (s.kind) {
    case 'match': {
      const masked = s.left.kind === 'binop' && s.left.op === '&';
      const right = masked && isNumber(s.right) ? hex(s.right.value) : exprText(s.right);
      // nft's implicit operator: `ip saddr @set`, `ct state invalid`, `meta l4proto { tcp, udp }`.
      const implicit = s.op === 'in' || (s.op === '==' && ((s.right.kind === 'value' && typeof s.right.value !== 'number') || s.right.kind === 'ref' || s.right.kind === 'set'));
      return `${exprText(s.left)} ${implicit ? '' : `${s.op} `}${right}`;
    }
    case 'verdict': return s.verdict === 'jump' || s.verdict === 'goto' ? `${s.verdict} ${s.target}` : s.verdict;
    case 'vmap': return `${exprText(s.key)} vmap @${s.map}`;
    case 'counter': return s.name === undefined ? 'counter' : `counter name ${s.name}`;
    case 'counterMap': return `counter name ${exprText(s.key)} map @${s.map}`;
    case 'mangle': return `${exprText(s.key)} set ${exprText(s.value)}`;
    case 'log': {
      const parts = ['log'];
      if (s.prefix !== undefined) parts.push(`prefix ${JSON.stringify(s.prefix)}`);
      if (s.group !== undefined) parts.push(`group ${s.group}`);
      if (s.level !== undefined) parts.push(`level ${s.level}`);
      if (s.flags !== undefined) parts.push(`flags ${s.flags}`);
      return parts.join(' ');
    }
    case 'limit': return `limit rate ${s.over ? 'over ' : ''}${s.rate}/${s.per} burst ${s.burst} packets`;
    case 'limitRef': return `limit name ${JSON.stringify(s.name)}`;
    default: return never(s, 'statement');
  }
}

// ---------------------------------------------------------------- what a rule refers to

/** The named objects a statement needs to exist (a transaction adds them before the rule and
 *  deletes them only after the rules that use them are gone). */
export interface Refs {
  /** Sets and maps (`@name`). */
  readonly sets: Set<string>;
  readonly chains: Set<string>;
  readonly counters: Set<string>;
  readonly limits: Set<string>;
}

export const emptyRefs = (): Refs => ({ sets: new Set(), chains: new Set(), counters: new Set(), limits: new Set() });

function exprRefs(e: Expr, into: Refs): void {
  switch (e.kind) {
    case 'value': case 'flags': case 'payload': case 'meta': case 'ct': case 'fib': case 'prefix': case 'range': return;
    case 'concat': for (const x of e.items) exprRefs(x, into); return;
    case 'binop': exprRefs(e.left, into); exprRefs(e.right, into); return;
    case 'set': for (const x of e.elems) exprRefs(x, into); return;
    case 'ref': into.sets.add(e.name); return;
    default: never(e, 'expression');
  }
}

export function stmtRefs(s: Stmt, into: Refs = emptyRefs()): Refs {
  switch (s.kind) {
    case 'match': exprRefs(s.left, into); exprRefs(s.right, into); break;
    case 'verdict': if (s.verdict === 'jump' || s.verdict === 'goto') into.chains.add(s.target); break;
    case 'vmap': case 'counterMap': exprRefs(s.key, into); into.sets.add(s.map); break;
    case 'counter': if (s.name !== undefined) into.counters.add(s.name); break;
    case 'mangle': exprRefs(s.key, into); exprRefs(s.value, into); break;
    case 'log': case 'limit': break;
    case 'limitRef': into.limits.add(s.name); break;
    default: never(s, 'statement');
  }
  return into;
}

export function ruleRefs(r: Rule, into: Refs = emptyRefs()): Refs {
  for (const s of r) stmtRefs(s, into);
  return into;
}
