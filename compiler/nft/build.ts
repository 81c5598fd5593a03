// The builders of nft expressions and statements (libnftables-json shapes), in one place.
// Every chain the compiler emits (base.ts, graph/lower.ts, graph/tiers.ts) is written with
// these, so that a new statement (a counter, a log, a trace mark) has one definition for
// the whole ruleset, and the typed IR can replace the shapes here without touching callers.
import type { Family } from '../cidr.js';
import type { Expr } from '../nft.js';
import type { Direction } from '../policy.js';
import { counterMap } from './names.js';

export const payload = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
export const meta = (key: string): Expr => ({ meta: { key } });
export const ct = (key: string): Expr => ({ ct: { key } });
export const match = (left: unknown, right: unknown, op: '==' | '!=' | 'in' = '=='): Expr => ({ match: { op, left, right } });
export const ipProto = (f: Family): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');

export const ACCEPT: Expr = { accept: null };
export const DROP: Expr = { drop: null };
export const RETURN: Expr = { return: null };
export const goto = (target: string): Expr => ({ goto: { target } });
export const jump = (target: string): Expr => ({ jump: { target } });
/** `vmap` on `key` into a named verdict map. */
export const vmap = (key: Expr, map: string): Expr => ({ vmap: { key, data: `@${map}` } });

/** The end of a group's decision when nothing allowed the packet: count it against the
 *  local pod (a counter map keyed by its address), then drop. `local` is the packet's field
 *  holding the local pod's address (`saddr` or `daddr`). */
export function dropTail(dir: Direction, f: Family, local: string): Expr[][] {
  return [[{ counter: { map: { key: payload(ipProto(f), local), data: `@${counterMap(dir, f)}` } } }], [DROP]];
}
