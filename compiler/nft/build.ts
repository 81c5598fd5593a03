// The builders of nft expressions and statements: typed IR values (ir.ts), in one place.
// Every chain the compiler emits (base.ts, graph/lower.ts, graph/tiers.ts) is written with
// these, so that a new statement (a counter, a log, a trace mark) has one definition for
// the whole ruleset; JSON is made from the IR only at the edge (nft.ts, store.ts).
import type { Family } from '../cidr.js';
import type { Direction } from '../policy.js';
import { exprFromJson, type CtKey, type Expr, type ExprOf, type StmtOf, type FibFlag, type FibResult, type LimitUnit, type MatchOp, type MetaKey, type PayloadField, type PayloadProtocol, type Rule, type Stmt, type Value } from './ir.js';
import { counterMap } from './names.js';

export type { Expr, Rule, Stmt } from './ir.js';

/** Set or map elements as the sets hold them (nft JSON: an address, a protocol, a port,
 *  `{prefix}`, `{range}`, `{concat}`). */
export type ElemJson = unknown;

export const payload = (protocol: PayloadProtocol, field: PayloadField): ExprOf<'payload'> => ({ kind: 'payload', protocol, field });
export const meta = (key: MetaKey): ExprOf<'meta'> => ({ kind: 'meta', key });
export const ct = (key: CtKey): ExprOf<'ct'> => ({ kind: 'ct', key });
export const concat = (...items: Expr[]): ExprOf<'concat'> => ({ kind: 'concat', items });
export const and = (left: Expr, right: Expr | number): ExprOf<'binop'> => ({ kind: 'binop', op: '&', left, right: operand(right) });
export const or = (left: Expr, right: Expr | number): ExprOf<'binop'> => ({ kind: 'binop', op: '|', left, right: operand(right) });
/** `fib FLAGS RESULT` (e.g. `fib saddr . iif oif`), to compare with `false` (missing). */
export const fib = (flags: readonly FibFlag[], result: FibResult): ExprOf<'fib'> => ({ kind: 'fib', flags, result });
/** A named set or map. */
export const ref = (name: string): ExprOf<'ref'> => ({ kind: 'ref', name });
/** A literal or an element from a set's JSON (see ElemJson) as an expression. */
export const elem = (e: ElemJson): Expr => exprFromJson(e);
/** An anonymous set of elements. */
export const anonSet = (elems: readonly ElemJson[]): ExprOf<'set'> => ({ kind: 'set', elems: elems.map(elem) });

const operand = (x: Expr | Value): Expr => (typeof x === 'object' ? x : { kind: 'value', value: x });

/** `left OP right`. A string `right` is a literal, except `@name`, a named set (as in nft JSON). */
export const match = (left: Expr, right: Expr | Value, op: MatchOp = '=='): StmtOf<'match'> => ({
  kind: 'match', op, left, right: typeof right === 'string' && right.startsWith('@') ? ref(right.slice(1)) : operand(right),
});
export const ipProto = (f: Family): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');

export const ACCEPT: StmtOf<'verdict'> = { kind: 'verdict', verdict: 'accept' };
export const DROP: StmtOf<'verdict'> = { kind: 'verdict', verdict: 'drop' };
export const RETURN: StmtOf<'verdict'> = { kind: 'verdict', verdict: 'return' };
export const goto = (target: string): StmtOf<'verdict'> => ({ kind: 'verdict', verdict: 'goto', target });
export const jump = (target: string): StmtOf<'verdict'> => ({ kind: 'verdict', verdict: 'jump', target });
/** `vmap` on `key` into a named verdict map. */
export const vmap = (key: Expr, map: string): StmtOf<'vmap'> => ({ kind: 'vmap', key, map });
/** `counter` (anonymous) or `counter name NAME`. */
export const counter = (name?: string): StmtOf<'counter'> => (name === undefined ? { kind: 'counter' } : { kind: 'counter', name });
/** `counter name NAME` (a counter object of the table). */
export const namedCounter = (name: string): StmtOf<'counter'> => ({ kind: 'counter', name });
/** `counter name KEY map @MAP`: the named counter a counter map gives for `key`. */
export const counterByMap = (key: Expr, map: string): StmtOf<'counterMap'> => ({ kind: 'counterMap', key, map });
/** `KEY set VALUE` (`ct mark set …`). */
export const mangle = (key: Expr, value: Expr | number): StmtOf<'mangle'> => ({ kind: 'mangle', key, value: operand(value) });
/** `ct mark set VALUE` (e.g. `ctMarkSet(and(ct('mark'), ~mask >>> 0))`). */
export const ctMarkSet = (value: Expr | number): StmtOf<'mangle'> => mangle(ct('mark'), value);
/** `meta nftrace set 1`: the packet is traced from here on (`nft monitor trace`). */
export const nftrace = (): StmtOf<'mangle'> => mangle(meta('nftrace'), 1);
export const NFTRACE: StmtOf<'mangle'> = nftrace();
/** `log [prefix "…"] [group N]`. */
export const log = (o: { prefix?: string; group?: number } = {}): StmtOf<'log'> => ({ kind: 'log', ...(o.prefix !== undefined ? { prefix: o.prefix } : {}), ...(o.group !== undefined ? { group: o.group } : {}) });
/** `limit rate [over] RATE/PER burst BURST packets` (nft lists the burst: say it). */
export const limit = (rate: number, per: LimitUnit, burst: number, over = false): StmtOf<'limit'> => ({ kind: 'limit', rate, per, burst, ...(over ? { over: true } : {}) });
/** `limit name "NAME"`: a named limit object. */
export const limitRef = (name: string): StmtOf<'limitRef'> => ({ kind: 'limitRef', name });

/** One rule of a chain with its comment. */
export interface CommentedRule {
  readonly rule: Rule;
  readonly comment?: string;
}

/** The name of the one `limit` object every drop-log rule shares: the rate is per node. */
export const DROP_LOG_LIMIT = 'drop_log';

/** The end of a group's decision when nothing allowed the packet: count it against the
 *  local pod (a counter map keyed by its address), then, with the drop log on, mark the
 *  packet for tracing within the node's shared rate (a rule of its own: above the rate it
 *  stops before its statement and the packet goes on to the drop all the same), then drop.
 *  `local` is the packet's field holding the local pod's address (`saddr` or `daddr`); `why`
 *  becomes the drop rule's comment (`ingress: isolated by x/deny`). */
export function dropTail(dir: Direction, f: Family, local: 'saddr' | 'daddr', why: string, dropLog = false): CommentedRule[] {
  return [
    { rule: [counterByMap(payload(ipProto(f), local), counterMap(dir, f))] },
    ...(dropLog ? [{ rule: [limitRef(DROP_LOG_LIMIT), NFTRACE], comment: 'drop log' }] : []),
    { rule: [DROP], comment: why },
  ];
}
