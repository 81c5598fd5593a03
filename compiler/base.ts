// The base chains: the hooks, the verdict cache in the conntrack mark, and the dispatch into
// the group chains by verdict maps keyed by local pod address. Everything a packet meets
// before (and after) the policy decision lives here, apart from the group chains.
import type { Family } from './cidr.js';
import { roles } from './groups.js';
import type { ChainDef, Rule } from './nft.js';
import { ACCEPT, and, ct, DROP, ipProto, mangle, match, or, payload, vmap } from './nft/build.js';
import type { Direction } from './policy.js';

export const DEFAULT_CT_MARK_MASK = 0x00ffff00;
/** Two different rulesets share a generation with probability 1/(2^bits - 1); a connection
 *  stamped under one and idle until the other is in force would not be decided again. With
 *  16 bits that is 1 in 65,535 per such meeting; below 8 bits it is too likely to allow. */
export const MIN_CT_MARK_BITS = 8;

/** Why a conntrack mark mask cannot be used, or undefined when it can. */
export function ctMarkMaskError(mask: number): string | undefined {
  if (!Number.isInteger(mask) || mask < 0 || mask > 0xffffffff) return 'not a 32-bit number';
  if (mask === 0) return undefined;
  const shifted = mask >>> (31 - Math.clz32(mask & -mask));
  if ((shifted & (shifted + 1)) !== 0) return 'the bits must be contiguous';
  const width = 32 - Math.clz32(shifted);
  if (width < MIN_CT_MARK_BITS) return `${width} bits cannot tell enough rulesets apart: use at least ${MIN_CT_MARK_BITS} (or 0 to turn the verdict cache off)`;
  return undefined;
}

const SHORT: Record<Direction, 'in' | 'eg'> = { ingress: 'in', egress: 'eg' };
const FAMILIES: readonly Family[] = [4, 6];

export const dispatchMap = (dir: Direction, f: Family, pd: 'o' | 'r') => `${SHORT[dir]}${f}_${pd === 'o' ? 'orig' : 'reply'}`;

export function baseChains(mask: number, gen: number, fastPath: boolean): ChainDef[] {
  const dispatch = (dir: Direction, pd: 'o' | 'r'): Rule[] =>
    FAMILIES.map((f) => [match(ct('direction'), pd === 'o' ? 'original' : 'reply'), vmap(payload(ipProto(f), roles(dir, pd).local), dispatchMap(dir, f, pd))]);
  const useMark = !fastPath && mask !== 0;
  const forward: Rule[] = [
    [match(ct('state'), 'invalid', 'in'), DROP],
    [match(ct('state'), 'related', 'in'), ACCEPT],
    ...(fastPath ? [[match(ct('state'), 'established', 'in'), ACCEPT]] : []),
    ...(useMark ? [[match(and(ct('mark'), mask), gen), ACCEPT]] : []),
    ...dispatch('egress', 'o'),
    ...dispatch('ingress', 'o'),
    ...dispatch('egress', 'r'),
    ...dispatch('ingress', 'r'),
    ...(useMark ? [[mangle(ct('mark'), or(and(ct('mark'), ~mask >>> 0), gen))]] : []),
  ];
  // A pod talking to its own node is still egress; the node's own traffic is never filtered.
  const input: Rule[] = dispatch('egress', 'o');
  return [
    { name: 'forward', base: { type: 'filter', hook: 'forward', prio: 0, policy: 'accept' }, rules: forward },
    { name: 'input', base: { type: 'filter', hook: 'input', prio: 0, policy: 'accept' }, rules: input },
  ];
}
