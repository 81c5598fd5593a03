// Every name the compiler gives an nft object, in one place, with the limits they live in.
//
// Limits (checked with nft 1.0.6 on Linux 6.x): table, chain, set, map and counter names are
// NFT_NAME_MAXLEN = 256 bytes including the terminating NUL, so at most 255 bytes; a rule
// comment (NFTNL_UDATA_COMMENT_MAXLEN) is at most 127 bytes. Kubernetes names are longer
// (a namespace 63 characters, a pod or policy name 253), so names derived from them are cut by
// bytes, never inside a UTF-8 character, and made unique by a hash of the whole uncut text.
//
// Every derived name below is either fixed, or `<prefix>_<hash>` where the hash covers every
// input that tells two objects apart, or a readable part followed by such a hash: two
// different inputs never share a name (up to the hash; 64 bits for objects keyed by
// Kubernetes names). `isOwnObject` recognises all of them.
import { createHash } from 'node:crypto';
import type { Family } from '../cidr.js';
import type { Direction } from '../policy.js';

export { dispatchMap } from '../base.js';

/** Bytes in an nft object name (NFT_NAME_MAXLEN 256, minus the NUL). */
export const NFT_NAME_MAX_BYTES = 255;
/** Bytes in a rule comment (nft refuses 128 and more). */
export const NFT_COMMENT_MAX_BYTES = 127;

export const SHORT: Record<Direction, 'in' | 'eg'> = { ingress: 'in', egress: 'eg' };

export function shortHash(s: string, len = 10): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

/** `s` cut to at most `max` bytes of UTF-8, never inside a character. */
export function cutBytes(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--; // back off continuation bytes
  return b.subarray(0, end).toString('utf8');
}

const DNS = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/** Drop counter of one local pod in one direction: `drop_in_<ns>_<pod>` when both are valid
 *  Kubernetes names (which hold no `_`, so the split is unambiguous and fits: 8 + 63 + 1 +
 *  253 bytes); otherwise the same with other characters replaced, cut, and `__<hash>` of the
 *  exact names added (no plain name holds `__`, so the two forms never meet). */
export function counterName(dir: Direction, ns: string, pod: string): string {
  const plain = `drop_${SHORT[dir]}_${ns}_${pod}`;
  if (DNS.test(ns) && DNS.test(pod) && Buffer.byteLength(plain) <= NFT_NAME_MAX_BYTES) return plain;
  const clean = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-');
  const h = shortHash(`${dir}\0${ns}\0${pod}`, 16);
  return `${cutBytes(`drop_${SHORT[dir]}_${clean(ns)}_${clean(pod)}`, 120)}__${h}`;
}
/** The counter of one allow rule (`--policy-rule-counters`): `rule_<in|eg>_<ns>_<policy>_<i>`
 *  for rule i of NetworkPolicy ns/policy, `crule_<in|eg>_<name>_<i>` for an Accept rule of
 *  ClusterNetworkPolicy name (Kubernetes names hold no `_`, so each split is unambiguous and
 *  the two prefixes never meet); a name that would not fit or holds other characters is cut
 *  and gets `__<hash>` of the exact origin, as counterName does. */
export function ruleCounterName(policy: { readonly namespace: string; readonly name: string } | { readonly cluster: string }, dir: Direction, rule: number): string {
  const parts = 'cluster' in policy ? ['crule', SHORT[dir], policy.cluster] : ['rule', SHORT[dir], policy.namespace, policy.name];
  const plain = `${parts.join('_')}_${rule}`;
  if (parts.slice(2).every((p) => DNS.test(p)) && Buffer.byteLength(plain) <= NFT_NAME_MAX_BYTES) return plain;
  const clean = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-');
  const h = shortHash(`${parts.join('\0')}\0${rule}`, 16);
  return `${cutBytes([...parts.slice(0, 2), ...parts.slice(2).map(clean), rule].join('_'), 120)}__${h}`;
}
/** Counter map (local address -> that pod's drop counter). */
export const counterMap = (dir: Direction, f: Family) => `cnt_${SHORT[dir]}${f}`;
/** One group's chain for a family and packet direction (o: original, r: reply). */
export const groupChain = (dir: Direction, f: Family, pd: 'o' | 'r', hash: string) => `${SHORT[dir]}${f}${pd}_${hash}`;
/** The chain of an address that several pods of this node claim, for one direction, family
 *  and packet direction: a jump to each claimant's group chain in turn (each returns when it
 *  allows), so the packet passes only what every claimant's policies allow. The hash covers
 *  the groups' hashes, sorted. */
export const contestedChain = (dir: Direction, f: Family, pd: 'o' | 'r', groupsHash: string) => `${SHORT[dir]}${f}${pd}_c_${groupsHash}`;
/** A peer's address set: `peer_<hash of policy namespace + selectors>_<family>`. */
export const peerSet = (peerHash: string, f: Family) => `peer_${peerHash}_${f}`;
/** Destination pods of a peer exposing a named port: `addr . proto . port`. */
export const namedPortSet = (peerHash: string, name: string, proto: string, f: Family) => `np_${shortHash(`${peerHash}\0${name}\0${proto}`, 12)}_${f}`;
/** Every active pod of the cluster exposing a named port (egress to any peer / an ipBlock). */
export const anyNamedPortSet = (name: string, proto: string, f: Family) => `npany_${shortHash(`${name}\0${proto}`, 12)}_${f}`;
/** An ipBlock's addresses when they are more than one prefix or range (a CIDR with its
 *  `except` holes): one interval set per distinct list of ranges, shared by every rule whose
 *  ipBlock gives that list, named by a hash of the list. */
export const cidrSet = (rangesHash: string, f: Family) => `cidr_${rangesHash}_${f}`;
/** A `nodes` peer of a ClusterNetworkPolicy: the addresses of the nodes its selector selects. */
export const nodePeerSet = (peerHash: string, f: Family) => `node_${peerHash}_${f}`;
/** `addr . addr` of every active pod on this node: a packet from a pod to its own address
 *  (through a Service, hairpin) is not subject to ClusterNetworkPolicy. Defined while a group
 *  has cluster policies. */
export const hairpinSet = (f: Family) => `hairpin${f}`;
/** Addresses of every active pod on this node (the base and guard chains use them). */
export const localSet = (f: Family) => `local${f}`;

/** A rule comment naming its origin, cut to nft's limit (with a hash when cut). */
export function ruleComment(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= NFT_COMMENT_MAX_BYTES) return text;
  const h = shortHash(text, 12);
  return `${cutBytes(text, NFT_COMMENT_MAX_BYTES - h.length - 1)}~${h}`;
}

/** The base chains of a running `netpol-nft trace`: `trace_<expiry, unix seconds>_<pid
 *  namespace inode>_<pid>` on the forward hook and the same with `_in` on the input hook (a
 *  pod talking to its own node). The agent's sync deletes them once expired, or at once when
 *  the tracer ran in the agent's own pid namespace and its pid is gone (a killed trace). */
export const traceChain = (expires: number, pidNs: number, pid: number, hook: 'forward' | 'input' = 'forward') =>
  `trace_${expires}_${pidNs}_${pid}${hook === 'input' ? '_in' : ''}`;
const TRACE = /^trace_([0-9]{1,12})_([0-9]{1,12})_([0-9]{1,10})(_in)?$/;
export function parseTraceChain(name: string): { expires: number; pidNs: number; pid: number; hook: 'forward' | 'input' } | undefined {
  const m = TRACE.exec(name);
  return m ? { expires: Number(m[1]), pidNs: Number(m[2]), pid: Number(m[3]), hook: m[4] ? 'input' : 'forward' } : undefined;
}

/** Names we accept for our table (the agent's `--table` and `compile --table` alike): the
 *  name is printed into text rulesets, so nothing but an identifier may pass. */
export function tableNameError(name: string): string | undefined {
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name) ? undefined : 'letters, digits and _ (at most 64, starting with a letter)';
}

/** Names of the table's writer (`--owner`): they become part of a chain name. */
export function ownerError(owner: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(owner) ? undefined : 'letters, digits, _, . and - (at most 63, starting with a letter or digit)';
}

/** The marker chain: an empty chain whose name says which transaction last wrote the table
 *  (a serial that only goes up), the stamp in force (8 hex digits, already in the mask; 0 =
 *  the verdict cache off) and the writer. Read back from `nft list chains`, whose cost does
 *  not grow with set elements. The owner is last and may hold `_`: the split is by the
 *  first two `_` after the prefix. */
export const generationChain = (serial: number, stamp: number, owner: string) => `gen_${serial}_${(stamp >>> 0).toString(16).padStart(8, '0')}_${owner}`;

export function parseGenerationChain(name: string): { serial: number; stamp: number; owner: string } | undefined {
  const m = /^gen_(\d{1,15})_([0-9a-f]{8})_(.+)$/.exec(name);
  if (!m || ownerError(m[3]!)) return undefined;
  return { serial: Number(m[1]), stamp: parseInt(m[2]!, 16) >>> 0, owner: m[3]! };
}

const OWN = /^(forward|input|guard_fwd|guard_in|podcidr[46]|gen_\d{1,15}_[0-9a-f]{8}_[A-Za-z0-9][A-Za-z0-9_.-]{0,62}|drop_log|trace_[0-9]{1,12}_[0-9]{1,12}_[0-9]{1,10}(_in)?|local[46]|hairpin[46]|cnt_(in|eg)[46]|(in|eg)[46]_(orig|reply)|(in|eg)[46][or]_[0-9a-f]{10}(_[nd])?|(in|eg)[46][or]_c_[0-9a-f]{10}|peer_[0-9a-f]{12}_[46]|node_[0-9a-f]{12}_[46]|cidr_[0-9a-f]{12}_[46]|np_[0-9a-f]{12}_[46]|npany_[0-9a-f]{12}_[46]|drop_(in|eg)_[a-z0-9.-]+_[a-z0-9.-]+|drop_(in|eg)_[A-Za-z0-9._-]*__[0-9a-f]{16}|rule_(in|eg)_[a-z0-9.-]+_[a-z0-9.-]+_[0-9]+|crule_(in|eg)_[a-z0-9.-]+_[0-9]+|c?rule_(in|eg)_[A-Za-z0-9._-]*__[0-9a-f]{16})$/;

/** True for every name this module derives (objects of our table that we manage). */
export function isOwnObject(name: string): boolean {
  return Buffer.byteLength(name, 'utf8') <= NFT_NAME_MAX_BYTES && OWN.test(name);
}
