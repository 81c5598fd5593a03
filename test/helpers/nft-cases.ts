// Batches with what nft 1.0.6 (kernel 6.x) does with each, applied on top of one small
// table. The outcomes were recorded from the real nft; test/ruleset/fake-nft-kernel.test.ts
// checks that the kernel still gives them and that the fake agrees, and
// test/compiler/fake-nft.test.ts checks the fake against them without root.
import type { Batch, Command } from '../../compiler/nft.js';
import type { NftErrorKind } from '../../controller/nft.js';

const T = { family: 'inet', table: 'fk' } as const;
const saddr = { payload: { protocol: 'ip', field: 'saddr' } };
const addr6 = { payload: { protocol: 'ip6', field: 'saddr' } };
const dport = { payload: { protocol: 'th', field: 'dport' } };
const l4 = { concat: [{ meta: { key: 'l4proto' } }, dport] };
const box = (a: unknown, proto: string, port: unknown) => ({ concat: [a, proto, port] });
const range = (a: unknown, b: unknown) => ({ range: [a, b] });
const prefix = (addr: string, len: number) => ({ prefix: { addr, len } });

const el = (verb: 'add' | 'create' | 'delete', name: string, ...elem: unknown[]): Command => ({ [verb]: { element: { ...T, name, elem } } });
const obj = (verb: string, what: string, o: Record<string, unknown>): Command => ({ [verb]: { [what]: { ...T, ...o } } });
const rule = (chain: string, ...expr: unknown[]): Command => ({ add: { rule: { ...T, chain, expr } } });

/** The table every case starts from: chains `c` (jumped to by map `m`) and `d` (a rule using
 *  set `h` and counter `k`), a hash set, an interval set, a concatenated interval set, a port
 *  interval set, a verdict map and a counter map used by rules of `e`. */
export const BASE: Batch = {
  nftables: [
    { add: { table: { family: 'inet', name: 'fk' } } },
    { delete: { table: { family: 'inet', name: 'fk' } } },
    { add: { table: { family: 'inet', name: 'fk' } } },
    obj('add', 'chain', { name: 'c' }),
    obj('add', 'chain', { name: 'd' }),
    obj('add', 'chain', { name: 'e' }),
    obj('add', 'chain', { name: 'fwd', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' }),
    obj('add', 'counter', { name: 'k' }),
    obj('add', 'counter', { name: 'k2' }),
    obj('add', 'set', { name: 'h', type: 'ipv4_addr', elem: ['192.0.2.1'] }),
    obj('add', 'set', { name: 'h6', type: 'ipv6_addr', elem: ['2001:db8::1'] }),
    obj('add', 'set', { name: 'iv', type: 'ipv4_addr', flags: ['interval'], elem: [prefix('192.0.2.0', 28)] }),
    obj('add', 'set', { name: 'cc', type: ['ipv4_addr', 'inet_proto', 'inet_service'], flags: ['interval'], elem: [box(range('192.0.2.4', '192.0.2.7'), 'tcp', range(80, 90))] }),
    obj('add', 'set', { name: 'pr', type: ['inet_proto', 'inet_service'], flags: ['interval'], elem: [{ concat: ['tcp', range(80, 90)] }] }),
    obj('add', 'set', { name: 'hp', type: ['ipv4_addr', 'inet_proto', 'inet_service'], elem: [box('192.0.2.1', 'tcp', 80)] }),
    obj('add', 'map', { name: 'm', type: 'ipv4_addr', map: 'verdict', elem: [['192.0.2.1', { jump: { target: 'c' } }]] }),
    obj('add', 'map', { name: 'cm', type: 'ipv4_addr', map: 'counter', elem: [['192.0.2.1', 'k2']] }),
    rule('d', { match: { op: '==', left: saddr, right: '@h' } }, { counter: 'k' }, { accept: null }),
    rule('e', { vmap: { key: saddr, data: '@m' } }),
    rule('e', { counter: { map: { key: saddr, data: '@cm' } } }),
    rule('e', { match: { op: '==', left: l4, right: '@pr' } }, { return: null }),
    rule('fwd', { mangle: { key: { ct: { key: 'mark' } }, value: { '|': [{ '&': [{ ct: { key: 'mark' } }, 0xff0000ff] }, 0x00393b00] } } }),
  ],
};

export interface NftCase {
  readonly name: string;
  readonly batch: Batch;
  /** What nft 1.0.6 did: 'ok', or the kind NftCli classifies its error as. */
  readonly nft: 'ok' | NftErrorKind;
}

const c = (name: string, nft: NftCase['nft'], ...cmds: Command[]): NftCase => ({ name, nft, batch: { nftables: cmds } });

export const CASES: readonly NftCase[] = [
  // elements: add, create, delete
  c('add an element already there (nft accepts it)', 'ok', el('add', 'h', '192.0.2.1')),
  c('create an element already there', 'exists', el('create', 'h', '192.0.2.1')),
  c('the same element twice in one add', 'ok', el('add', 'h', '192.0.2.5', '192.0.2.5')),
  c('delete an element that is not there', 'not-found', el('delete', 'h', '192.0.2.9')),
  c('delete one element twice in one batch', 'not-found', el('delete', 'h', '192.0.2.1'), el('delete', 'h', '192.0.2.1')),
  c('delete then add the same element', 'ok', el('delete', 'h', '192.0.2.1'), el('add', 'h', '192.0.2.1')),
  c('add then delete an element', 'ok', el('add', 'h', '192.0.2.7'), el('delete', 'h', '192.0.2.7')),
  c('a good command then a bad one: nothing applied', 'not-found', el('add', 'h', '192.0.2.8'), el('delete', 'h', '192.0.2.99')),
  c('an element of a missing set', 'not-found', el('add', 'zz', '192.0.2.1')),
  c('an IPv6 address in an IPv4 set', 'failed', el('add', 'h', '2001:db8::1')),
  c('an IPv6 element in an IPv6 set, written uncompressed', 'ok', el('add', 'h6', '2001:0db8:0:0::2')),
  c('a concatenation in a plain set', 'syntax', el('add', 'h', box('192.0.2.1', 'tcp', 80))),
  c('a plain value in a concatenated set', 'syntax', el('add', 'cc', '192.0.2.1')),
  c('a concatenation one field short', 'failed', el('add', 'cc', { concat: ['192.0.2.1', 'tcp'] })),
  c('a prefix in a hash set', 'failed', el('add', 'h', prefix('192.0.2.0', 30))),
  c('a range in a hash set', 'failed', el('add', 'h', range('192.0.2.3', '192.0.2.4'))),
  c('a port range in a hash concatenation', 'failed', el('add', 'hp', box('192.0.2.2', 'tcp', range(80, 81)))),
  c('a reversed port range', 'failed', el('add', 'cc', box('192.0.2.100', 'tcp', range(90, 80)))),
  c('a port above 65535', 'failed', el('add', 'pr', { concat: ['tcp', 65536] })),
  // interval sets of one field
  c('the same interval again', 'ok', el('add', 'iv', prefix('192.0.2.0', 28))),
  c('the same interval written as a range', 'ok', el('add', 'iv', range('192.0.2.0', '192.0.2.15'))),
  c('an interval overlapping one in the set', 'failed', el('add', 'iv', prefix('192.0.2.0', 29))),
  c('two overlapping intervals in one add', 'failed', el('add', 'iv', prefix('198.51.100.0', 24), prefix('198.51.100.0', 25))),
  c('a touching interval', 'ok', el('add', 'iv', prefix('192.0.2.16', 28))),
  c('single addresses, prefixes and ranges as nft lists them', 'ok', el('add', 'iv', range('198.51.100.0', '198.51.100.127'), range('198.51.100.200', '198.51.100.200'), prefix('203.0.113.9', 32), range('203.0.113.20', '203.0.113.30'))),
  c('a prefix with host bits set', 'ok', el('add', 'iv', prefix('198.51.100.1', 24))),
  c('delete an interval by its range form', 'ok', el('delete', 'iv', range('192.0.2.0', '192.0.2.15'))),
  c('delete part of an interval', 'not-found', el('delete', 'iv', prefix('192.0.2.0', 29))),
  c('delete a single address inside an interval', 'not-found', el('delete', 'iv', '192.0.2.1')),
  c('port interval overlapping one in the set', 'exists', el('add', 'pr', { concat: ['tcp', range(85, 95)] })),
  c('port range of one port', 'ok', el('add', 'pr', { concat: ['udp', range(53, 53)] }, { concat: ['udp', range(60, 70)] })),
  c('delete part of a port interval (the kernel deletes the element holding its first point)', 'ok', el('delete', 'pr', { concat: ['tcp', range(82, 85)] })),
  c('delete a port interval that is not there', 'not-found', el('delete', 'pr', { concat: ['udp', range(80, 90)] })),
  c('delete a box by a point inside it', 'ok', el('delete', 'cc', box('192.0.2.5', 'tcp', 85))),
  c('delete a box that is not there', 'not-found', el('delete', 'cc', box('192.0.2.5', 'tcp', 95))),
  // concatenated interval sets: the kernel refuses an element whose first or last point is inside another
  c('the same box again', 'ok', el('add', 'cc', box(range('192.0.2.4', '192.0.2.7'), 'tcp', range(80, 90)))),
  c('a box whose first point is inside another', 'exists', el('add', 'cc', box('192.0.2.5', 'tcp', 85))),
  c('a box whose last point is inside another', 'exists', el('add', 'cc', box(range('192.0.2.0', '192.0.2.5'), 'tcp', range(85, 86)))),
  c('a box straddling another with both corners outside', 'ok', el('add', 'cc', box(range('192.0.2.0', '192.0.2.15'), 'tcp', range(85, 86)))),
  c('a box containing another', 'ok', el('add', 'cc', box(range('192.0.2.0', '192.0.2.15'), 'tcp', range(70, 100)))),
  c('a box beside another (other ports)', 'ok', el('add', 'cc', box(range('192.0.2.0', '192.0.2.15'), 'tcp', range(91, 95)))),
  c('the same box for another protocol', 'ok', el('add', 'cc', box(range('192.0.2.4', '192.0.2.7'), 'udp', range(80, 90)))),
  c('two overlapping boxes in one add', 'exists', el('add', 'cc', box('198.51.100.1', 'tcp', range(1, 10)), box('198.51.100.1', 'tcp', range(5, 20)))),
  // maps
  c('a map element already there, same verdict', 'ok', el('add', 'm', ['192.0.2.1', { jump: { target: 'c' } }])),
  c('a map element already there, another verdict', 'exists', el('add', 'm', ['192.0.2.1', { jump: { target: 'd' } }])),
  c('a map element jumping to a missing chain', 'not-found', el('add', 'm', ['192.0.2.9', { jump: { target: 'zz' } }])),
  c('a map element jumping to a chain added later in the batch', 'not-found', el('add', 'm', ['192.0.2.9', { jump: { target: 'n' } }]), obj('add', 'chain', { name: 'n' })),
  c('a map element jumping to a chain added earlier in the batch', 'ok', obj('add', 'chain', { name: 'n' }), el('add', 'm', ['192.0.2.9', { jump: { target: 'n' } }])),
  c('a map element in a set', 'failed', el('add', 'h', ['192.0.2.3', { jump: { target: 'c' } }])),
  c('a set element in a map', 'syntax', el('add', 'm', '192.0.2.3')),
  c('delete a map element by its key', 'ok', el('delete', 'm', '192.0.2.1')),
  c('delete a map element with its value', 'ok', el('delete', 'm', ['192.0.2.1', { jump: { target: 'c' } }])),
  c('a counter-map element naming a missing counter', 'not-found', el('add', 'cm', ['192.0.2.2', 'zz'])),
  c('a counter-map element already there, another counter', 'exists', el('add', 'cm', ['192.0.2.1', 'k'])),
  // deleting what is missing or still used
  c('delete a missing set', 'not-found', obj('delete', 'set', { name: 'zz' })),
  c('delete a set a rule uses', 'failed', obj('delete', 'set', { name: 'h' })),
  c('flush the rule, then delete the set', 'ok', obj('flush', 'chain', { name: 'd' }), obj('delete', 'set', { name: 'h' })),
  c('delete a set twice', 'not-found', obj('delete', 'set', { name: 'hp' }), obj('delete', 'set', { name: 'hp' })),
  c('delete a verdict map a rule uses', 'failed', obj('delete', 'map', { name: 'm' })),
  c('delete a counter map a rule uses', 'failed', obj('delete', 'map', { name: 'cm' })),
  c('delete a chain with rules, then the maps they used', 'ok', obj('delete', 'chain', { name: 'e' }), obj('delete', 'map', { name: 'm' }), obj('delete', 'map', { name: 'cm' })),
  c('delete a missing chain', 'not-found', obj('delete', 'chain', { name: 'zz' })),
  c('delete a chain holding rules', 'ok', obj('delete', 'chain', { name: 'd' })),
  c('delete a chain a map element jumps to', 'failed', obj('delete', 'chain', { name: 'c' })),
  c('delete the map element, then the chain', 'ok', el('delete', 'm', '192.0.2.1'), obj('delete', 'chain', { name: 'c' })),
  c('flush a missing chain', 'not-found', obj('flush', 'chain', { name: 'zz' })),
  c('flush a chain twice', 'ok', obj('flush', 'chain', { name: 'd' }), obj('flush', 'chain', { name: 'd' })),
  c('delete a counter a rule uses', 'failed', obj('delete', 'counter', { name: 'k' })),
  c('delete a counter a counter map uses', 'failed', obj('delete', 'counter', { name: 'k2' })),
  c('delete a missing counter', 'not-found', obj('delete', 'counter', { name: 'zz' })),
  c('delete a missing table', 'not-found', { delete: { table: { family: 'inet', name: 'zz' } } }),
  c('delete the table, then add an element to it', 'not-found', { delete: { table: { family: 'inet', name: 'fk' } } }, el('add', 'iv', '192.0.2.100')),
  c('replace the table, then add an element to a set it had', 'not-found', { add: { table: { family: 'inet', name: 'fk' } } }, { delete: { table: { family: 'inet', name: 'fk' } } }, { add: { table: { family: 'inet', name: 'fk' } } }, el('add', 'iv', '192.0.2.100')),
  // rules naming what is missing or of another type
  c('a rule naming a missing set', 'not-found', rule('c', { match: { op: '==', left: saddr, right: '@zz' } }, { accept: null })),
  c('a rule naming a missing counter', 'not-found', rule('c', { counter: 'zz' }, { accept: null })),
  c('a rule naming a missing verdict map', 'not-found', rule('c', { vmap: { key: saddr, data: '@zz' } })),
  c('a rule naming a missing counter map', 'not-found', rule('c', { counter: { map: { key: saddr, data: '@zz' } } })),
  c('a rule jumping to a missing chain', 'not-found', rule('c', { jump: { target: 'zz' } })),
  c('a rule naming a missing limit', 'not-found', rule('c', { limit: 'zz' }, { drop: null })),
  c('a rule with a log, a rate limit and a trace mark', 'ok', rule('c', { mangle: { key: { meta: { key: 'nftrace' } }, value: 1 } }, { limit: { rate: 10, burst: 5, per: 'second' } }, { log: { prefix: 'np drop ', group: 2 } }, { drop: null })),
  c('a rule in a missing chain', 'not-found', rule('zz', { accept: null })),
  c('a set used as a verdict map', 'failed', rule('c', { vmap: { key: saddr, data: '@iv' } })),
  c('an IPv6 address matched against an IPv4 set', 'failed', rule('c', { match: { op: '==', left: addr6, right: '@iv' } }, { accept: null })),
  c('a rule that matches and jumps', 'ok', rule('c', { match: { op: '==', left: saddr, right: '@iv' } }, { jump: { target: 'd' } })),
  // rules in the shape the graph compiler writes (listed back as nft lists them)
  c('rules with comments, anonymous port sets, a protocol and a port', 'ok',
    { add: { rule: { ...T, chain: 'c', comment: 'x/web ingress[0]', expr: [{ match: { op: '==', left: saddr, right: '@iv' } }, { match: { op: '==', left: dport, right: { set: [443, 80] } } }, { return: null }] } } },
    rule('c', { match: { op: '==', left: dport, right: { set: [8080, range(80, 90), 443] } } }, { return: null }),
    rule('c', { match: { op: '==', left: l4, right: { set: [{ concat: ['udp', 53] }, { concat: ['tcp', 80] }] } } }, { return: null }),
    rule('c', { match: { op: '==', left: l4, right: { set: [{ concat: ['tcp', range(80, 90)] }, { concat: ['udp', 53] }] } } }, { return: null }),
    rule('c', { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } }, { match: { op: '==', left: dport, right: 80 } }, { return: null }),
    rule('c', { match: { op: '==', left: dport, right: { set: [80] } } }, { return: null }),
    rule('c', { match: { op: '!=', left: saddr, right: '@iv' } }, { counter: null }, { drop: null })),
  // the drop log and trace: a named limit, `meta nftrace set 1`, a trace base chain before ours
  c('a named limit and a drop-log rule before a drop', 'ok',
    obj('add', 'limit', { name: 'drop_log', rate: 10, per: 'second', burst: 5 }),
    { add: { rule: { ...T, chain: 'c', comment: 'drop log', expr: [{ limit: 'drop_log' }, { mangle: { key: { meta: { key: 'nftrace' } }, value: 1 } }] } } },
    { add: { rule: { ...T, chain: 'c', comment: 'ingress: isolated by x/deny', expr: [{ drop: null }] } } }),
  c('delete a limit a rule uses', 'failed', obj('add', 'limit', { name: 'l', rate: 1, per: 'second', burst: 5 }), rule('c', { limit: 'l' }), obj('delete', 'limit', { name: 'l' })),
  c('a trace chain before ours: nftrace for one address pair', 'ok',
    obj('add', 'chain', { name: 'trace_1764558000_4026531836_4242', type: 'filter', hook: 'forward', prio: -1, policy: 'accept' }),
    rule('trace_1764558000_4026531836_4242', { match: { op: '==', left: saddr, right: '192.0.2.1' } }, { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '192.0.2.2' } }, { mangle: { key: { meta: { key: 'nftrace' } }, value: 1 } })),
  // adding what is there
  c('add a chain that is there', 'ok', obj('add', 'chain', { name: 'c' })),
  c('add a chain that is there as a base chain', 'failed', obj('add', 'chain', { name: 'c', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' })),
  c('add a set that is there, same type, with an element it holds', 'ok', obj('add', 'set', { name: 'h', type: 'ipv4_addr', elem: ['192.0.2.1'] })),
  c('add a set that is there with another type', 'exists', obj('add', 'set', { name: 'h', type: 'ipv6_addr' })),
  c('add a set that is there with other flags', 'exists', obj('add', 'set', { name: 'h', type: 'ipv4_addr', flags: ['interval'] })),
  c('add a map that is there as a counter map', 'exists', obj('add', 'map', { name: 'm', type: 'ipv4_addr', map: 'counter' })),
  c('add a set named like a map', 'exists', obj('add', 'set', { name: 'm', type: 'ipv4_addr' })),
  c('add a counter that is there', 'ok', obj('add', 'counter', { name: 'k' })),
];
