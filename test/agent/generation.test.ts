// The verdict cache's safety property (controller/generation.ts), without root: a model of the
// conntrack table (connections with their marks), the compiled forward chain run by the packet
// interpreter, and the agent's generation schedule driving transactions, clearing passes
// (with packets arriving in the middle of a pass), agent restarts, failed passes and a table
// taken over from another writer, over long
// random chains that wrap a 2- or 3-bit mask many times. Asserted at every packet:
//
//   a packet passes by the cache only when its stamp was written under the ruleset in force,
//
// and, as its consequence on the wire, a connection the ruleset in force denies is never
// accepted. The same chains with the clearing one transaction later than the schedule allows
// (GenerationSchedule's test-only `passEvery`) must break it: that is the schedule's bound
// being tight, and this test being able to see it.
import { expect } from 'chai';
import fc from 'fast-check';
import { compile, type Cluster, type Ruleset } from '../../compiler/index.js';
import { stampCount, stampValue } from '../../compiler/base.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConntrackCli, GenerationSchedule, type ConntrackPort, type GenerationStep } from '../../controller/generation.js';
import { cluster, policy, world } from '../compiler/builders.js';
import { evalPacket } from '../compiler/packet-eval.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });
// x/b (192.0.2.12) -> x/a (192.0.2.11) port 80: allowed by OPEN, denied by CLOSED.
const OPEN = cluster(...world(policy('x/p', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }] }] })));
const CLOSED = cluster(...world(policy('x/p', { podSelector: podSel('a'), ingress: [] })));

type Action =
  | { readonly t: 'tx'; readonly open: boolean; readonly during: readonly number[] }
  | { readonly t: 'packet'; readonly conn: number; readonly reply: boolean }
  | { readonly t: 'connect' }
  | { readonly t: 'restart' }
  | { readonly t: 'foreign'; readonly open: boolean; readonly during: readonly number[] }
  | { readonly t: 'failNextPass' };

interface Conn {
  readonly sport: number;
  mark: number;
  /** The epoch (transaction count) in which our bits were last written non-zero. */
  stampedIn: number | undefined;
  readonly other: number;
}

interface Violation { readonly step: number; readonly what: string }

/** Runs one chain of actions; returns the first violation, if any. */
async function run(mask: number, actions: readonly Action[], passEvery?: number): Promise<Violation | undefined> {
  const rulesets = new Map<string, Ruleset>();
  const rulesetOf = (open: boolean, stamp: number) => {
    const key = `${open}/${stamp}`;
    let rs = rulesets.get(key);
    if (!rs) rulesets.set(key, (rs = compile(open ? OPEN : CLOSED, { node: 'n1', ctMarkMask: mask, ctMarkMinBits: 2, generation: stamp }).ruleset));
    return rs;
  };
  const conns: Conn[] = [];
  let epoch = 0, open = true, stamp = 0, violation: Violation | undefined, step = 0;
  let failNext = false, passPackets: readonly number[] = [];

  const packet = (i: number, reply: boolean) => {
    const c = conns[i % conns.length]!;
    const hit = stamp !== 0 && (c.mark & mask) >>> 0 === stampValue(mask, stamp);
    if (hit && c.stampedIn !== epoch) violation ??= { step, what: `cache hit on stamp ${stamp} written in epoch ${c.stampedIn}, ruleset in force since epoch ${epoch}` };
    const [saddr, daddr, sport, dport] = reply ? ['192.0.2.11', '192.0.2.12', 80, c.sport] : ['192.0.2.12', '192.0.2.11', c.sport, 80];
    const r = evalPacket(rulesetOf(open, stamp), { hook: 'forward', saddr, daddr, l4proto: 'tcp', sport, dport, ct: { state: 'established', direction: reply ? 'reply' : 'original', mark: c.mark } });
    if (r.verdict === 'accept' && !open) violation ??= { step, what: `a packet of a denied connection was accepted (stamp ${c.mark & mask}, in force ${stamp})` };
    if (hit && r.verdict !== 'accept') violation ??= { step, what: 'a cache hit was not accepted' };
    if (((r.mark & ~mask) >>> 0) !== c.other) violation ??= { step, what: 'bits outside the mask changed' };
    if (!hit) c.stampedIn = (r.mark & mask) === 0 ? undefined : epoch;
    c.mark = r.mark;
  };

  // conntrack -U --mark 0/MASK over the model, with packets arriving between entries.
  const conntrack: ConntrackPort = {
    clearMarks: async (m) => {
      if (failNext) {
        failNext = false;
        throw new Error('injected failure');
      }
      let k = 0;
      for (const c of conns) {
        c.mark = (c.mark & ~m) >>> 0;
        c.stampedIn = undefined;
        const p = passPackets[k++];
        if (p !== undefined && conns.length) packet(p, p % 2 === 1);
      }
    },
  };
  const owner = 'agent';
  let sched = new GenerationSchedule(mask, conntrack, {}, passEvery);
  let serial = 0;
  sched.adopt(undefined, false, owner); // no table at start

  for (const a of actions) {
    step++;
    switch (a.t) {
      case 'connect':
        conns.push({ sport: 40000 + conns.length, mark: ((conns.length * 0x9e3779b1) & ~mask) >>> 0, stampedIn: undefined, other: ((conns.length * 0x9e3779b1) & ~mask) >>> 0 });
        break;
      case 'packet':
        if (conns.length) packet(a.conn, a.reply);
        break;
      case 'failNextPass':
        failNext = true;
        break;
      case 'restart':
        // A new process reads the marker chain back (serial and stamp in force) and adopts it.
        sched = new GenerationSchedule(mask, conntrack, {}, passEvery);
        sched.adopt({ serial, stamp: stampValue(mask, stamp), owner }, true, owner);
        break;
      case 'foreign': {
        // Another agent (a correct one: same schedule, its own owner) takes the table, then
        // this one takes it back (--take-over), reading the other's marker at its next full sync.
        const other = new GenerationSchedule(mask, conntrack, {}, passEvery);
        other.adopt({ serial, stamp: stampValue(mask, stamp), owner }, true, 'other');
        passPackets = a.during;
        const s = await other.next();
        passPackets = [];
        open = a.open;
        stamp = s.stamp;
        serial = s.serial;
        epoch++;
        sched.adopt({ serial, stamp: stampValue(mask, stamp), owner: 'other' }, true, owner);
        break;
      }
      case 'tx': {
        passPackets = a.during;
        const s: GenerationStep = await sched.next();
        passPackets = [];
        expect(s.stamp).to.be.within(0, stampCount(mask));
        // The transaction: the new ruleset is in force from here.
        open = a.open;
        stamp = s.stamp;
        serial = s.serial;
        epoch++;
        sched.commit(s);
        break;
      }
    }
    if (violation) return violation;
  }
  return undefined;
}

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('packet' as const), conn: fc.nat(50), reply: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('tx' as const), open: fc.boolean(), during: fc.array(fc.nat(50), { maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'connect' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'failNextPass' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('foreign' as const), open: fc.boolean(), during: fc.array(fc.nat(50), { maxLength: 4 }) }) },
);
const chainArb = fc.tuple(fc.array(fc.constant({ t: 'connect' as const }), { minLength: 1, maxLength: 3 }), fc.array(actionArb, { minLength: 50, maxLength: 300 })).map(([c, rest]) => [...c, ...rest]);

describe('verdict cache: generation schedule (model of conntrack + the compiled forward chain)', function () {
  this.timeout(120_000);

  for (const mask of [0b11, 0b111 << 4]) {
    it(`mask 0x${mask.toString(16)}: over long random chains with wraps, a cache hit always carries a stamp of the ruleset in force`, async () => {
      await fc.assert(fc.asyncProperty(chainArb, async (actions) => {
        const v = await run(mask, actions);
        expect(v, v && `step ${v.step}: ${v.what}`).to.equal(undefined);
      }), { numRuns: 150 });
    });
  }

  it('a wrap-around really happens in these chains (2 bits: 3 stamps, a pass every 2 transactions)', async () => {
    const stamps: number[] = [];
    let passes = 0;
    const s = new GenerationSchedule(0b11, { clearMarks: async () => { passes++; } });
    s.adopt(undefined, false, 'a');
    for (let i = 0; i < 9; i++) {
      const step = await s.next();
      stamps.push(step.stamp);
      s.commit(step);
    }
    // Nothing in force at start: all 3 values after the first pass, then 2 per pass.
    expect(stamps).to.deep.equal([1, 2, 3, 1, 2, 3, 1, 2, 3]);
    expect(passes).to.equal(1 + 3);
  });

  it('a failed pass turns the cache off for that transaction (stamp 0), and the next one clears again', async () => {
    let fail = true, passes = 0;
    const s = new GenerationSchedule(0xff, { clearMarks: async () => { if (fail) throw new Error('no conntrack'); passes++; } });
    s.adopt({ serial: 7, stamp: 0x05, owner: 'a' }, true, 'a');
    const off = await s.next();
    expect(off).to.include({ serial: 8, stamp: 0 });
    expect(off.cacheOff).to.match(/no conntrack/);
    s.commit(off);
    fail = false;
    const on = await s.next();
    expect(on).to.deep.equal({ serial: 9, stamp: 6 });
    expect(passes).to.equal(1);
  });

  it('a table without a marker chain (an older agent): its stamp is unknown, so the first transaction leaves the cache out', async () => {
    const s = new GenerationSchedule(0xff, { clearMarks: async () => {} });
    s.adopt(undefined, true, 'a');
    const first = await s.next();
    expect(first.stamp).to.equal(0);
    s.commit(first);
    expect((await s.next()).stamp).to.equal(1);
  });

  it('the clearing one transaction later than the schedule allows is caught by the same model', async () => {
    const out = await fc.check(fc.asyncProperty(chainArb, async (actions) => (await run(0b11, actions, 3)) === undefined), { numRuns: 300, seed: 42 });
    expect(out.failed, 'a schedule with 3 stamps per pass for a 2-bit mask must break the property').to.equal(true);
  });
});

describe('verdict cache: the conntrack clearing pass (ConntrackCli)', () => {
  // A stand-in for conntrack that fails its first attempts with `errors`, then succeeds.
  const fake = (errors: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'npn-conntrack-'));
    const count = join(dir, 'count');
    writeFileSync(count, '0');
    const script = join(dir, 'conntrack');
    const lines = errors.map((e, i) => `[ "$n" = ${i + 1} ] && { echo "conntrack v1.4.7 (conntrack-tools): Operation failed: ${e}" >&2; exit 1; }`);
    writeFileSync(script, `#!/bin/sh\nn=$(($(cat ${count}) + 1)); echo $n > ${count}\n${lines.join('\n')}\nexit 0\n`, { mode: 0o755 });
    return { cli: new ConntrackCli([script], 10), calls: () => Number(readFileSync(count, 'utf8')), done: () => rmSync(dir, { recursive: true, force: true }) };
  };

  it('repeats a pass whose dump ended part way (ENOBUFS, EPROTO, EINTR) until one goes through', async () => {
    const f = fake(['No buffer space available', 'Protocol error', 'Interrupted system call']);
    try {
      await f.cli.clearMarks(0xff);
      expect(f.calls(), 'three failed attempts on IPv4, then one each for IPv4 and IPv6').to.equal(5);
    } finally {
      f.done();
    }
  });

  it('fails the pass at once on anything else (the transaction then runs without the cache)', async () => {
    const f = fake(['Operation not permitted']);
    try {
      let err: Error | undefined;
      await f.cli.clearMarks(0xff).catch((e: Error) => { err = e; });
      expect(err?.message).to.match(/conntrack -U -f ipv4 failed \(exit 1, attempt 1\).*Operation not permitted/);
      expect(f.calls()).to.equal(1);
    } finally {
      f.done();
    }
  });
});
