// Samples of every kind of the nft IR (compiler/nft/ir.ts), typed by kind: a kind added to
// the IR without a sample here fails the type check. test/compiler/nft-ir.test.ts walks them
// through every visitor; test/ruleset/nft-ir-kernel.test.ts loads them into the real nft.
import type { Ruleset } from '../../compiler/index.js';
import * as b from '../../compiler/nft/build.js';
import type { Expr, Stmt } from '../../compiler/nft/ir.js';

export type Samples<U extends { kind: string }, V> = { readonly [K in U['kind']]: readonly (readonly [Extract<U, { kind: K }>, V])[] };

/** Each expression kind: samples with their nft text. */
export const EXPRS: Samples<Expr, string> = {
  value: [[{ kind: 'value', value: '192.0.2.1' }, '192.0.2.1'], [{ kind: 'value', value: 80 }, '80'], [{ kind: 'value', value: false }, 'missing']],
  flags: [[{ kind: 'flags', values: ['established', 'related'] }, 'established,related']],
  payload: [[b.payload('ip6', 'daddr'), 'ip6 daddr'], [b.payload('th', 'sport'), 'th sport']],
  meta: [[b.meta('l4proto'), 'meta l4proto']],
  ct: [[b.ct('mark'), 'ct mark']],
  fib: [[b.fib(['saddr', 'iif'], 'oif'), 'fib saddr . iif oif']],
  concat: [[b.concat(b.meta('l4proto'), b.payload('th', 'dport')), 'meta l4proto . th dport']],
  binop: [[b.and(b.ct('mark'), 0x00ffff00), 'ct mark & 0x00ffff00'], [b.or(b.and(b.ct('mark'), 0xff0000ff), 5), 'ct mark & 0xff0000ff | 0x00000005']],
  prefix: [[{ kind: 'prefix', addr: '2001:db8::', len: 32 }, '2001:db8::/32']],
  range: [[{ kind: 'range', lo: 80, hi: 90 }, '80-90']],
  set: [[b.anonSet(['tcp', 'udp']), '{ tcp, udp }']],
  ref: [[b.ref('peer_x_4'), '@peer_x_4']],
};

export interface StmtCase {
  readonly text: string;
  /** Named objects the statement refers to, as `kind:name`. */
  readonly refs: readonly string[];
  /** What the packet interpreter does with the rule [stmt] for a TCP packet 192.0.2.1:40000
   *  -> 192.0.2.2:80, new, in the test table: its verdict, a counter hit, or "not modelled". */
  readonly packet: 'accept' | 'drop' | 'falls through' | 'not modelled' | `counter ${string}` | `mark ${number}` | `trace ${string}`;
}

/** Each statement kind: samples with their text, references and meaning to the interpreter. */
export const STMTS: Samples<Stmt, StmtCase> = {
  match: [
    [b.match(b.payload('ip', 'saddr'), '@src'), { text: 'ip saddr @src', refs: ['set:src'], packet: 'falls through' }],
    [b.match(b.payload('th', 'dport'), 80, '!='), { text: 'th dport != 80', refs: [], packet: 'falls through' }],
    [b.match(b.ct('state'), 'invalid', 'in'), { text: 'ct state invalid', refs: [], packet: 'falls through' }],
    [b.match(b.meta('iifname'), 'eth0'), { text: 'meta iifname eth0', refs: [], packet: 'not modelled' }],
    // The guard's reverse-path check: the sample packet carries its own address (rpf holds).
    [b.match(b.fib(['saddr', 'iif'], 'oif'), false), { text: 'fib saddr . iif oif missing', refs: [], packet: 'falls through' }],
  ],
  verdict: [
    [b.ACCEPT, { text: 'accept', refs: [], packet: 'accept' }],
    [b.DROP, { text: 'drop', refs: [], packet: 'drop' }],
    [b.RETURN, { text: 'return', refs: [], packet: 'accept' }],
    [b.jump('deny'), { text: 'jump deny', refs: ['chain:deny'], packet: 'drop' }],
    [b.goto('deny'), { text: 'goto deny', refs: ['chain:deny'], packet: 'drop' }],
  ],
  vmap: [[b.vmap(b.payload('ip', 'daddr'), 'dispatch'), { text: 'ip daddr vmap @dispatch', refs: ['set:dispatch'], packet: 'drop' }]],
  counter: [
    [b.counter(), { text: 'counter', refs: [], packet: 'falls through' }],
    [b.namedCounter('hits'), { text: 'counter name hits', refs: ['counter:hits'], packet: 'counter hits' }],
  ],
  counterMap: [[b.counterByMap(b.payload('ip', 'saddr'), 'cnt'), { text: 'counter name ip saddr map @cnt', refs: ['set:cnt'], packet: 'counter hits' }]],
  mangle: [
    [b.mangle(b.ct('mark'), b.or(b.and(b.ct('mark'), 0xff0000ff), 0x100)), { text: 'ct mark set ct mark & 0xff0000ff | 0x00000100', refs: [], packet: 'mark 256' }],
    [b.ctMarkSet(b.and(b.ct('mark'), 0xffffff00)), { text: 'ct mark set ct mark & 0xffffff00', refs: [], packet: 'falls through' }],
    [b.NFTRACE, { text: 'meta nftrace set 1', refs: [], packet: 'trace meta nftrace set 1' }],
  ],
  log: [[b.log({ prefix: 'np drop ', group: 2 }), { text: 'log prefix "np drop " group 2', refs: [], packet: 'trace log prefix "np drop " group 2' }]],
  limit: [
    [b.limit(10, 'second', 5), { text: 'limit rate 10/second burst 5 packets', refs: [], packet: 'falls through' }],
    [b.limit(100, 'minute', 5, true), { text: 'limit rate over 100/minute burst 5 packets', refs: [], packet: 'falls through' }],
  ],
  limitRef: [[b.limitRef('lim'), { text: 'limit name "lim"', refs: ['limit:lim'], packet: 'falls through' }]],
};

export const allStmts = Object.values(STMTS).flat() as (readonly [Stmt, StmtCase])[];
export const allExprs = Object.values(EXPRS).flat() as (readonly [Expr, string])[];

/** A table for the interpreter: the rule under test in `forward`, then `accept`. */
export function table(rule: Stmt): Ruleset {
  return {
    family: 'inet', table: 't', counters: ['hits'],
    chains: [
      { name: 'forward', base: { type: 'filter', hook: 'forward', prio: 0, policy: 'accept' }, rules: [[rule], [b.ACCEPT]] },
      { name: 'deny', rules: [[b.DROP]] },
    ],
    sets: [{ name: 'src', type: 'ipv4_addr', flags: [], elems: ['198.51.100.1'] }],
    maps: [
      { name: 'dispatch', type: 'ipv4_addr', map: 'verdict', elems: [['192.0.2.2', { jump: { target: 'deny' } }]] },
      { name: 'cnt', type: 'ipv4_addr', map: 'counter', elems: [['192.0.2.1', 'hits']] },
    ],
  };
}
