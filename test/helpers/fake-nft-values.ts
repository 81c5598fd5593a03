// The values of the in-memory nft (fake-nft.ts): its objects, how an element of each set type
// is read (and refused), and how nft lists elements and rules back, so that a listing of the
// fake normalises to the same text as the kernel's.
import { isIP } from 'node:net';
import { bigintToIp, ipToBigint } from '../../compiler/cidr.js';

export type Obj = Record<string, any>;
export type Field = 'ipv4_addr' | 'ipv6_addr' | 'inet_proto' | 'inet_service' | 'mark' | 'ifname';
export const FIELDS: readonly Field[] = ['ipv4_addr', 'ipv6_addr', 'inet_proto', 'inet_service', 'mark', 'ifname'];
export const PROTOS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };
export const PROTO_NAMES = new Map(Object.entries(PROTOS).map(([k, v]) => [v, k]));

/** One element, parsed: an inclusive [lo, hi] per field; `value` for maps. */
export interface Elem {
  readonly key: string;
  readonly fields: readonly (readonly [bigint, bigint])[];
  readonly value?: unknown;
}

export interface SetObj {
  readonly kind: 'set' | 'map';
  readonly name: string;
  readonly type: string | readonly string[];
  readonly fields: readonly Field[];
  readonly flags: readonly string[];
  readonly map?: 'verdict' | 'counter';
  readonly handle: number;
  elems: Map<string, Elem>;
}
export interface ChainObj {
  readonly name: string;
  readonly base?: Obj;
  readonly handle: number;
  rules: { readonly expr: readonly Obj[]; readonly comment?: string; readonly handle: number; readonly refs: readonly string[] }[];
}
export interface CounterObj {
  readonly name: string;
  readonly handle: number;
  packets: number;
  bytes: number;
}
export interface Table {
  readonly family: string;
  readonly name: string;
  readonly handle: number;
  chains: Map<string, ChainObj>;
  sets: Map<string, SetObj>; // sets and maps share one namespace, as in nft
  counters: Map<string, CounterObj>;
  /** Named limits (`limit name "x"` in a rule). */
  limits: Map<string, { name: string; handle: number; rate: number; per: string; burst: number }>;
  /** How many rules and elements use each object: `chain:NAME`, `set:NAME`, `counter:NAME`. */
  refs: Map<string, number>;
}

/** The first line nft prints for each errno the kernel returns. */
export const ERRNO = {
  ENOENT: 'Error: Could not process rule: No such file or directory',
  EEXIST: 'Error: Could not process rule: File exists',
  EBUSY: 'Error: Could not process rule: Device or resource busy',
  EOPNOTSUPP: 'Error: Could not process rule: Operation not supported',
  EINVAL: 'Error: Could not process rule: Invalid argument',
} as const;

export class Refused extends Error {}
export const refuse = (nftLine: string, why: string): never => {
  throw new Refused(`${nftLine}\n(fake nft: ${why})`);
};

// ------------------------------------------------------------------ elements

export const overlaps = (a: readonly [bigint, bigint], b: readonly [bigint, bigint]) => a[0] <= b[1] && b[0] <= a[1];
export const inside = (point: readonly bigint[], e: Elem) => e.fields.every(([lo, hi], i) => lo <= point[i]! && point[i]! <= hi);

export const BITS: Record<Field, number> = { ipv4_addr: 32, ipv6_addr: 128, inet_proto: 8, inet_service: 16, mark: 32, ifname: 0 };

/** One field of an element: a plain value, or (interval sets only) a prefix or range. */
export function parseField(s: SetObj, f: Field, raw: unknown): [bigint, bigint] {
  const interval = s.flags.includes('interval');
  const r = raw as Obj;
  if (r && typeof r === 'object' && ('prefix' in r || 'range' in r)) {
    if (!interval) refuse(`Error: You must add 'flags interval' to your set declaration if you want to add ${'prefix' in r ? 'prefix' : 'range'} elements`, `${s.name} is not an interval set`);
    if ('prefix' in r) {
      if (f !== 'ipv4_addr' && f !== 'ipv6_addr') refuse('Error: datatype mismatch', `a prefix in a ${f} field`);
      const [lo] = parseField(s, f, r.prefix.addr);
      const len = Number(r.prefix.len), bits = BITS[f];
      if (!Number.isInteger(len) || len < 0 || len > bits) refuse('Error: syntax error', `prefix length ${r.prefix.len}`);
      const host = (1n << BigInt(bits - len)) - 1n;
      return [lo & ~host, (lo & ~host) | host];
    }
    if (!Array.isArray(r.range) || r.range.length !== 2) refuse('Error: syntax error', 'a range has two ends');
    const a = parseField(s, f, r.range[0])[0], b = parseField(s, f, r.range[1])[0];
    if (b < a) refuse('Error: Range has zero or negative size', `${JSON.stringify(r.range)}`);
    return [a, b];
  }
  switch (f) {
    case 'ipv4_addr': case 'ipv6_addr': {
      const fam = typeof raw === 'string' ? isIP(raw) : 0;
      if (fam === 0) refuse('Error: Could not resolve hostname: Name or service not known', `${JSON.stringify(raw)} is not an address`);
      if (fam !== (f === 'ipv4_addr' ? 4 : 6)) refuse('Error: Could not resolve hostname: Address family for hostname not supported', `${JSON.stringify(raw)} in a ${f} field`);
      const n = ipToBigint(raw as string);
      return [n, n];
    }
    case 'inet_proto': {
      const n = typeof raw === 'string' ? PROTOS[raw] : typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 255 ? raw : undefined;
      if (n === undefined) refuse('Error: Could not resolve protocol name', `${JSON.stringify(raw)} is not a protocol`);
      return [BigInt(n!), BigInt(n!)];
    }
    case 'inet_service': case 'mark': {
      const max = f === 'mark' ? 0xffffffff : 65535;
      if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > max) refuse(f === 'mark' ? 'Error: Value out of range' : 'Error: Service out of range', `${JSON.stringify(raw)} in a ${f} field`);
      return [BigInt(raw as number), BigInt(raw as number)];
    }
    case 'ifname': {
      if (typeof raw !== 'string') refuse('Error: datatype mismatch', `${JSON.stringify(raw)} is not an interface name`);
      const n = BigInt('0x' + (Buffer.from(raw as string).toString('hex') || '0'));
      return [n, n];
    }
  }
}

export function parseElem(s: SetObj, raw: unknown, deleting = false): Elem {
  let keyRaw = raw, value: unknown;
  if (s.kind === 'map') {
    if (!Array.isArray(raw) || raw.length !== 2) refuse(ERRNO.EINVAL, `${s.name} is a map: an element is [key, value]`);
    keyRaw = (raw as unknown[])[0];
    value = (raw as unknown[])[1];
    if (!deleting) checkMapValue(s, value);
  } else if (Array.isArray(raw)) {
    refuse('netlink: Error: set is not a map', `${s.name} is a set, the element ${JSON.stringify(raw)} has a value`);
  }
  const concat = (keyRaw as Obj | null)?.concat as unknown[] | undefined;
  let parts: unknown[];
  if (s.fields.length > 1) {
    const want = `concatenation of (${s.fields.join(', ')})`;
    if (!Array.isArray(concat)) refuse(`Error: invalid data type, expected ${want}`, `${JSON.stringify(keyRaw)} in ${s.name}`);
    if (concat!.length !== s.fields.length) refuse(`Error: datatype mismatch, expected ${want}`, `${JSON.stringify(keyRaw)} has ${concat!.length} fields`);
    parts = concat!;
  } else {
    if (Array.isArray(concat)) refuse("Error: Can't parse symbolic invalid expressions", `a concatenation in ${s.name}, whose type is ${s.fields[0]}`);
    parts = [keyRaw];
  }
  const fields = parts.map((p, i) => parseField(s, s.fields[i]!, p));
  return { key: fields.map(([lo, hi]) => `${lo}-${hi}`).join('|'), fields, ...(s.kind === 'map' ? { value } : {}) };
}

export function checkMapValue(s: SetObj, v: unknown): void {
  if (s.map === 'counter') {
    if (typeof v !== 'string') refuse(ERRNO.EINVAL, `${s.name} maps to counters: ${JSON.stringify(v)} is not a counter name`);
    return;
  }
  const o = v as Obj;
  const ok = o && typeof o === 'object' && Object.keys(o).length === 1 &&
    (((o.jump || o.goto) && typeof (o.jump ?? o.goto).target === 'string') || ['accept', 'drop', 'return', 'continue'].some((k) => k in o && o[k] === null));
  if (!ok) refuse(ERRNO.EINVAL, `${JSON.stringify(v)} is not a verdict`);
}

/** A field as nft lists it: addresses as an address, a prefix or a range; ports as a number
 *  or a range; protocols by name. */
export function listedField(f: Field, [lo, hi]: readonly [bigint, bigint]): unknown {
  if (f === 'ipv4_addr' || f === 'ipv6_addr') {
    const fam = f === 'ipv4_addr' ? 4 : 6;
    if (lo === hi) return bigintToIp(lo, fam);
    const size = hi - lo + 1n, bits = size.toString(2).length - 1;
    if (size === 1n << BigInt(bits) && (lo & (size - 1n)) === 0n) return { prefix: { addr: bigintToIp(lo, fam), len: BITS[f] - bits } };
    return { range: [bigintToIp(lo, fam), bigintToIp(hi, fam)] };
  }
  const one = (n: bigint): unknown => (f === 'inet_proto' ? PROTO_NAMES.get(Number(n)) ?? Number(n) : f === 'ifname' ? Buffer.from(n.toString(16), 'hex').toString() : Number(n));
  return lo === hi ? one(lo) : { range: [one(lo), one(hi)] };
}

export function listedElem(s: SetObj, e: Elem): unknown {
  const parts = e.fields.map((x, i) => listedField(s.fields[i]!, x));
  const key = parts.length > 1 ? { concat: parts } : parts[0];
  return s.kind === 'map' ? [key, e.value] : key;
}
export const elemText = (s: SetObj, e: Elem) => JSON.stringify(listedElem(s, e));

// ------------------------------------------------------------------ listing

export function setListing(t: Table, s: SetObj): Obj {
  const o: Obj = { family: t.family, name: s.name, table: t.name, type: s.type, handle: s.handle };
  if (s.kind === 'map') o.map = s.map;
  if (s.flags.length) o.flags = s.flags;
  if (s.elems.size) o.elem = [...s.elems.values()].map((e) => listedElem(s, e));
  return o;
}

export function chainListing(t: Table, c: ChainObj): Obj {
  return { family: t.family, table: t.name, name: c.name, handle: c.handle, ...(c.base ?? {}) };
}

/** The statements of a rule as nft lists them back: `meta l4proto tcp` followed by a match on
 *  `th dport` lists as one match on `tcp dport` (nft folds the protocol dependency). */
export function listedStatements(expr: readonly Obj[]): Obj[] {
  const out: Obj[] = [];
  for (let i = 0; i < expr.length; i++) {
    const a = expr[i]!.match as Obj | undefined, b = expr[i + 1]?.match as Obj | undefined;
    if (a && b && a.op === '==' && a.left?.meta?.key === 'l4proto' && typeof a.right === 'string' && b.left?.payload?.protocol === 'th') {
      out.push(listedStatement({ match: { ...b, left: { payload: { ...b.left.payload, protocol: a.right } } } }));
      i++;
    } else out.push(listedStatement(expr[i]!));
  }
  return out;
}

/** An anonymous set as nft lists it: a one-field set sorted by value (a concatenation keeps
 *  its order), and a set of one value as that value. */
export function listedAnonymousSet(right: unknown): unknown {
  const set = (right as Obj | null)?.set as unknown[] | undefined;
  if (!Array.isArray(set)) return right;
  const concat = set.some((e) => (e as Obj | null)?.concat !== undefined);
  const low = (e: unknown): bigint => {
    const v = (e as Obj | null)?.range ? (e as Obj).range[0] : (e as Obj | null)?.prefix ? (e as Obj).prefix.addr : e;
    return typeof v === 'number' ? BigInt(v) : typeof v === 'string' && isIP(v) ? ipToBigint(v) : 0n;
  };
  const sorted = concat ? set : [...set].sort((x, y) => (low(x) < low(y) ? -1 : low(x) > low(y) ? 1 : 0));
  return sorted.length === 1 ? sorted[0] : { set: sorted };
}

/** A statement as nft lists it back. nft folds `x & a | b` into `x & (a | b) | b` (the bits
 *  set by `| b` need not be kept by the mask), so the mask it lists carries b's bits. */
export function listedStatement(s: Obj): Obj {
  if (s.match && (s.match as Obj).right?.set) return { match: { ...s.match, right: listedAnonymousSet((s.match as Obj).right) } };
  const m = s.mangle as Obj | undefined;
  const or = m?.value?.['|'] as [Obj, unknown] | undefined;
  const and = or?.[0]?.['&'] as [unknown, unknown] | undefined;
  if (or && and && typeof and[1] === 'number' && typeof or[1] === 'number') {
    return { mangle: { ...m, value: { '|': [{ '&': [and[0], (and[1] | or[1]) >>> 0] }, or[1]] } } };
  }
  if ('counter' in s && s.counter === null) return { counter: { packets: 0, bytes: 0 } };
  return s;
}
