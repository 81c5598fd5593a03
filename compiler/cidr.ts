// Address ranges: ipBlock CIDRs minus their exceptions, merged, and turned into nft interval
// elements. Parsing and subtraction come from cidr-tools; this file only adapts them.
import { excludeCidr, parseCidr } from 'cidr-tools';
import { isIP } from 'node:net';
import { canonicalIp } from './model.js';

export type Family = 4 | 6;

/** An inclusive address range of one family. */
export interface AddrRange {
  readonly family: Family;
  readonly lo: bigint;
  readonly hi: bigint;
}

export interface ParsedCidr extends AddrRange {
  /** The network in canonical form (host bits cleared), e.g. `192.0.2.0/24`. */
  readonly text: string;
  readonly prefix: number;
}

/** Parses `addr/len` as the API server does (host bits may be set; they are ignored; an
 *  IPv4 octet may carry leading zeros and is read as decimal, as the API server's legacy
 *  "sloppy" parsing reads ipBlock fields, so `010.0.0.0/8` is 10.0.0.0/8). */
export function parseCidrText(s: unknown): ParsedCidr | string {
  if (typeof s !== 'string') return 'must be a string';
  const slash = s.indexOf('/');
  if (slash < 0) return `${JSON.stringify(s)} is not a CIDR (address/prefix-length)`;
  const len = s.slice(slash + 1);
  let addr = s.slice(0, slash);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) addr = addr.split('.').map((o) => String(Number(o))).join('.');
  const fam = isIP(addr);
  if (!fam || addr.includes('%') || !/^\d{1,3}$/.test(len) || Number(len) > (fam === 4 ? 32 : 128)) {
    return `${JSON.stringify(s)} is not a valid CIDR`;
  }
  const p = parseCidr(`${addr}/${len}`);
  const family = fam as Family;
  return { family, lo: p.start, hi: p.end, prefix: Number(len), text: `${bigintToIp(p.start, family)}/${len}` };
}

export function ipToBigint(ip: string): bigint {
  return parseCidr(ip).start;
}

export function bigintToIp(n: bigint, family: Family): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let i = 7n; i >= 0n; i--) groups.push(((n >> (i * 16n)) & 0xffffn).toString(16));
  return canonicalIp(groups.join(':'))!;
}

/** `cidr` minus every `except`, as merged ranges. */
export function cidrMinus(cidr: ParsedCidr, excepts: readonly ParsedCidr[]): AddrRange[] {
  if (!excepts.length) return [{ family: cidr.family, lo: cidr.lo, hi: cidr.hi }];
  const rest = excludeCidr([cidr.text], excepts.map((e) => e.text)) as string[];
  return mergeRanges(rest.map((c) => {
    const p = parseCidr(c.includes('/') ? c : `${c}/${cidr.family === 4 ? 32 : 128}`);
    return { family: cidr.family, lo: p.start, hi: p.end };
  }));
}

/** Sorted union; touching ranges are joined. */
export function mergeRanges(ranges: readonly AddrRange[]): AddrRange[] {
  const sorted = [...ranges].sort((a, b) => a.family - b.family || (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: AddrRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.family === r.family && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) out[out.length - 1] = { ...last, hi: r.hi };
    } else out.push(r);
  }
  return out;
}

export function rangeContains(r: AddrRange, family: Family, n: bigint): boolean {
  return r.family === family && r.lo <= n && n <= r.hi;
}

/** The nft form of a range: a plain address, a prefix when the range is one, or a range. */
export function rangeElem(r: AddrRange): unknown {
  if (r.lo === r.hi) return bigintToIp(r.lo, r.family);
  const size = r.hi - r.lo + 1n;
  const bits = size.toString(2).length - 1;
  if (size === 1n << BigInt(bits) && (r.lo & (size - 1n)) === 0n) {
    return { prefix: { addr: bigintToIp(r.lo, r.family), len: (r.family === 4 ? 32 : 128) - bits } };
  }
  return { range: [bigintToIp(r.lo, r.family), bigintToIp(r.hi, r.family)] };
}

export function rangeText(r: AddrRange): string {
  const e = rangeElem(r);
  if (typeof e === 'string') return e;
  const o = e as { prefix?: { addr: string; len: number }; range?: [string, string] };
  return o.prefix ? `${o.prefix.addr}/${o.prefix.len}` : `${o.range![0]}-${o.range![1]}`;
}
