// The base chains: the hooks, the verdict cache in the conntrack mark, and the dispatch into
// the group chains by verdict maps keyed by local pod address. Everything a packet meets
// before (and after) the policy decision lives here, apart from the group chains.
import type { Family } from './cidr.js';
import { roles } from './groups.js';
import type { ChainDef, Rule } from './nft.js';
import { ACCEPT, and, anonSet, ct, ctMarkSet, DROP, elem, fib, ipProto, jump, match, meta, or, payload, vmap } from './nft/build.js';
import type { Direction } from './policy.js';

/** Bits 0-7 of the connection mark: clear of kube-proxy (0x4000 masquerade, 0x8000 drop),
 *  Cilium (0x0f00), Calico (0xffff0000) and Flannel (0x4000/0x8000); wg-quick's copy of the
 *  whole connection mark into the packet mark can never make its fwmark (0xca6c by default)
 *  out of these bits alone. README, "The conntrack mark is shared". */
export const DEFAULT_CT_MARK_MASK = 0x000000ff;
/** The narrowest mask an operator may choose. A mask of w bits holds 2^w - 1 stamps, and the
 *  agent clears every connection's stamp once every 2^w - 2 transactions (controller/
 *  generation.ts); at 8 bits that is every 254 transactions, and narrower masks would make
 *  the clearing (a walk of the conntrack table) frequent. It is no longer a question of
 *  collision odds: stamps are a counter, never derived from content. */
export const MIN_CT_MARK_BITS = 8;
/** The narrowest mask the compiler builds at all (tests drive a wrap-around with it). */
export const MIN_CT_MARK_BITS_ANY = 2;

/** Why a conntrack mark mask cannot be used, or undefined when it can. `minBits` is
 *  MIN_CT_MARK_BITS unless a caller asks for less explicitly (never below MIN_CT_MARK_BITS_ANY). */
export function ctMarkMaskError(mask: number, minBits: number = MIN_CT_MARK_BITS): string | undefined {
  if (!Number.isInteger(mask) || mask < 0 || mask > 0xffffffff) return 'not a 32-bit number';
  if (mask === 0) return undefined;
  const shifted = mask >>> (31 - Math.clz32(mask & -mask));
  if ((shifted & (shifted + 1)) !== 0) return 'the bits must be contiguous';
  const width = 32 - Math.clz32(shifted);
  const min = Math.max(MIN_CT_MARK_BITS_ANY, minBits);
  if (width < min) return `${width} bits would clear every connection's stamp too often: use at least ${min} (or 0 to turn the verdict cache off)`;
  return undefined;
}

/** The number of stamps a mask holds (1 .. 2^width - 1; 0 = unstamped), 0 for mask 0. */
export function stampCount(mask: number): number {
  if (mask === 0) return 0;
  const width = 32 - Math.clz32(mask >>> (31 - Math.clz32(mask & -mask)));
  return width >= 32 ? 0xffffffff : 2 ** width - 1;
}

/** Stamp number `n` (0 .. stampCount) as it sits in the mark (shifted into the mask). */
export function stampValue(mask: number, n: number): number {
  if (mask === 0 || n === 0) return 0;
  return (n * 2 ** (31 - Math.clz32(mask & -mask))) >>> 0;
}

/** The stamp number a mark value carries in `mask`'s bits. */
export function stampNumber(mask: number, value: number): number {
  if (mask === 0) return 0;
  return ((value & mask) >>> 0) / 2 ** (31 - Math.clz32(mask & -mask));
}

const SHORT: Record<Direction, 'in' | 'eg'> = { ingress: 'in', egress: 'eg' };
const FAMILIES: readonly Family[] = [4, 6];

export const dispatchMap = (dir: Direction, f: Family, pd: 'o' | 'r') => `${SHORT[dir]}${f}_${pd === 'o' ? 'orig' : 'reply'}`;

/** What the guard chains check before any policy decision (docs/design.md, "The guard"). */
export interface GuardOptions {
  /** Reverse-path check on packets entering through forward and input, and link-local
   *  sources towards the node (default on; `--no-anti-spoofing` turns it off). */
  readonly antiSpoofing: boolean;
}

export const GUARD_FORWARD = 'guard_fwd';
export const GUARD_INPUT = 'guard_in';
/** This node's pod CIDRs (`--pod-cidr`, the Node's spec.podCIDRs): an address in them that
 *  is not an active local pod (`local4/6`) is nobody's yet, and held to deny. */
export const podCidrSet = (f: Family) => `podcidr${f}`;
const localSetName = (f: Family) => `local${f}`;

/** A packet whose source the kernel would not route back through the interface it came in
 *  on: with a route per pod (a veth each, as Calico, Cilium and the ptp CNI set up), a pod
 *  sending with any address but its own. */
const reversePathMissing = () => match(fib(['saddr', 'iif'], 'oif'), false);
const notLo = () => match(meta('iif'), 'lo', '!=');
const LINK_LOCAL6 = { prefix: { addr: 'fe80::', len: 10 } };

/** What a pod needs to get an address and keep its neighbours, towards the node: neighbour
 *  discovery and MLD (link scope), DHCPv4 from 0.0.0.0, DHCPv6 from a link-local address. */
export const ND_TYPES = ['nd-router-solicit', 'nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert', 'mld-listener-query', 'mld-listener-report', 'mld-listener-done', 'mld2-listener-report'];

/** The guard chains: who may send at all, before any policy is consulted. A packet they let
 *  through returns to the base chain.
 *   guard_fwd: ip saddr @podcidr4 ip saddr != @local4 drop (a pod the agent does not know yet)
 *              ip daddr @podcidr4 ip daddr != @local4 drop
 *              (forward's reverse-path check sits in forward itself, before the verdict cache:
 *              see baseChains)
 *   guard_in:  ND, MLD, DHCP accept; the reverse-path check (not on lo); a link-local source
 *              opening a connection to the node drop; an unknown pod opening one drop (it may
 *              answer the node: kubelet probes reach a pod before the agent knows it). */
export function guardChains(o: GuardOptions): ChainDef[] {
  const unknown = (fld: 'saddr' | 'daddr', pre: () => Rule = () => []): Rule[] =>
    FAMILIES.map((f) => [...pre(), match(payload(ipProto(f), fld), `@${podCidrSet(f)}`), match(payload(ipProto(f), fld), `@${localSetName(f)}`, '!='), DROP]);
  const original = () => [notLo(), match(ct('direction'), 'original')];
  const fwd: Rule[] = [
    ...unknown('saddr'),
    ...unknown('daddr'),
  ];
  const inp: Rule[] = [
    ...(o.antiSpoofing ? [
      [match(payload('icmpv6', 'type'), anonSet(ND_TYPES)), ACCEPT],
      [match(payload('ip', 'saddr'), '0.0.0.0'), match(payload('udp', 'sport'), 68), match(payload('udp', 'dport'), 67), ACCEPT],
      [match(payload('ip6', 'saddr'), elem(LINK_LOCAL6)), match(payload('udp', 'sport'), 546), match(payload('udp', 'dport'), 547), ACCEPT],
      [notLo(), reversePathMissing(), DROP],
      [...original(), match(payload('ip6', 'saddr'), elem(LINK_LOCAL6)), DROP],
    ] : []),
    ...unknown('saddr', original),
  ];
  return [{ name: GUARD_FORWARD, rules: fwd }, { name: GUARD_INPUT, rules: inp }];
}

/** `gen` is the stamp (already shifted into the mask); 0 leaves the verdict cache out of this
 *  ruleset (mask 0, or the agent while it cannot clear old stamps). */
export function baseChains(mask: number, gen: number, fastPath: boolean, guard: GuardOptions = { antiSpoofing: true }): ChainDef[] {
  const dispatch = (dir: Direction, pd: 'o' | 'r'): Rule[] =>
    FAMILIES.map((f) => [match(ct('direction'), pd === 'o' ? 'original' : 'reply'), vmap(payload(ipProto(f), roles(dir, pd).local), dispatchMap(dir, f, pd))]);
  const useMark = !fastPath && mask !== 0 && gen !== 0;
  // Order, cheapest safe first. The reverse-path check runs on every packet, before the
  // verdict cache: a forged packet matching another pod's connection would otherwise ride on
  // its stamp. The unknown-pod holds (guard_fwd) run after the cache: a stamp in force was
  // written under this very ruleset, once both ends had passed them (every change of the
  // local or pod CIDR sets is a transaction with a new stamp), so a packet it accepts would
  // pass them too, and established packets skip two to four set look-ups.
  const forward: Rule[] = [
    [match(ct('state'), 'invalid', 'in'), DROP],
    ...(guard.antiSpoofing ? [[reversePathMissing(), DROP]] : []),
    ...(useMark ? [[match(and(ct('mark'), mask), gen), ACCEPT]] : []),
    // Not accepted by the cache: the connection loses its stamp before it is decided, so a
    // packet dropped below leaves stamp 0 (never a valid stamp), and only the last rule, once
    // both directions allowed it, writes the stamp in force.
    ...(useMark ? [[ctMarkSet(and(ct('mark'), ~mask >>> 0))]] : []),
    [jump(GUARD_FORWARD)],
    [match(ct('state'), 'related', 'in'), ACCEPT],
    ...(fastPath ? [[match(ct('state'), 'established', 'in'), ACCEPT]] : []),
    ...dispatch('egress', 'o'),
    ...dispatch('ingress', 'o'),
    ...dispatch('egress', 'r'),
    ...dispatch('ingress', 'r'),
    ...(useMark ? [[ctMarkSet(or(and(ct('mark'), ~mask >>> 0), gen))]] : []),
  ];
  // A pod talking to its own node is still egress; the node's own traffic is never filtered.
  const input: Rule[] = [[jump(GUARD_INPUT)], ...dispatch('egress', 'o')];
  return [
    ...guardChains(guard),
    { name: 'forward', base: { type: 'filter', hook: 'forward', prio: 0, policy: 'accept' }, rules: forward },
    { name: 'input', base: { type: 'filter', hook: 'input', prio: 0, policy: 'accept' }, rules: input },
  ];
}
