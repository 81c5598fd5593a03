// The conntrack-mark generation (docs/design.md section 2, "the verdict cache") seen
// from the semantics: whatever the mask, a connection is decided under the ruleset in force,
// and a policy change revokes it at its next packet.
import { expect } from 'chai';
import { compile, DEFAULT_CT_MARK_MASK, type Cluster } from '../../compiler/index.js';
import { cluster, policy, world } from './builders.js';
import { evalPacket, type Packet } from './packet-eval.js';

const podSel = (pod: string) => ({ matchLabels: { pod } });
const open = cluster(...world(policy('x/p', { podSelector: podSel('a'), ingress: [{ from: [{ podSelector: podSel('b') }] }] })));
const closed = cluster(...world(policy('x/p', { podSelector: podSel('a'), ingress: [] })));
const pkt = (mark: number, state: Packet['ct']['state'] = 'new'): Packet => ({ hook: 'forward', saddr: '192.0.2.12', daddr: '192.0.2.11', l4proto: 'tcp', sport: 40000, dport: 80, ct: { state, direction: 'original', mark } });

/** Stamp a connection under `before`, then send its next packet under `after`. */
function revoked(before: Cluster, after: Cluster, ctMarkMask: number): { stamped: number; next: 'accept' | 'drop'; genBefore: number; genAfter: number } {
  // The caller (the agent) hands every transaction that changes anything a new generation.
  const a = compile(before, { node: 'n1', ctMarkMask, generation: 7 }), b = compile(after, { node: 'n1', ctMarkMask, generation: 8 });
  const first = evalPacket(a.ruleset, pkt(0));
  expect(first.verdict).to.equal('accept');
  return { stamped: first.mark, next: evalPacket(b.ruleset, pkt(first.mark, 'established')).verdict, genBefore: a.generation, genAfter: b.generation };
}

describe('compiler: conntrack-mark generations', () => {
  it('mask 0 turns the stamping off; every packet is decided', () => {
    const r = compile(open, { node: 'n1', ctMarkMask: 0 });
    expect(r.generation).to.equal(0);
    expect(JSON.stringify(r.ruleset.chains)).to.not.contain('"mark"');
    expect(evalPacket(r.ruleset, pkt(0)).verdict).to.equal('accept');
    expect(revoked(open, closed, 0).next).to.equal('drop');
  });
  for (const mask of [DEFAULT_CT_MARK_MASK, 0x00fff000, 0x0000ff00, 0x000000ff, 0xffff0000, 0xffffffff]) {
    it(`mask 0x${mask.toString(16)}: the generation lives in the mask, other bits are kept, a change revokes`, () => {
      const r = compile(open, { node: 'n1', ctMarkMask: mask });
      expect(r.generation).to.not.equal(0);
      expect((r.generation & ~mask) >>> 0).to.equal(0);
      const outside = (~mask >>> 0) & 0xa5a5a5a5;
      const first = evalPacket(r.ruleset, pkt(outside));
      expect(first.mark).to.equal((outside | r.generation) >>> 0);
      const v = revoked(open, closed, mask);
      expect(v.genAfter).to.not.equal(v.genBefore);
      expect(v.next).to.equal('drop');
    });
  }
  it('generation 0 leaves the cache out (the agent while it cannot clear old stamps): every packet decided, nothing stamped', () => {
    const r = compile(open, { node: 'n1', generation: 0 });
    expect(r.generation).to.equal(0);
    expect(JSON.stringify(r.ruleset.chains)).to.not.contain('"mark"');
    const v = evalPacket(r.ruleset, pkt(0x55, 'established'));
    expect(v.verdict).to.equal('accept');
    expect(v.mark, 'the mark untouched').to.equal(0x55);
  });

  it('a packet the cache does not accept loses its stamp: dropped, it leaves stamp 0 and the other bits as they were', () => {
    const mask = DEFAULT_CT_MARK_MASK;
    const a = compile(open, { node: 'n1', generation: 7 }), b = compile(closed, { node: 'n1', generation: 8 });
    const other = 0x1234c000; // kube-proxy's and Calico's bits, untouched
    const first = evalPacket(a.ruleset, pkt(other));
    expect(first.mark).to.equal((other | a.generation) >>> 0);
    const dropped = evalPacket(b.ruleset, pkt(first.mark, 'established'));
    expect(dropped.verdict).to.equal('drop');
    expect(dropped.mark & mask, 'stamp cleared').to.equal(0);
    expect((dropped.mark & ~mask) >>> 0).to.equal(other);
    // Allowed again under a third ruleset: decided (not by the cache) and stamped anew.
    const c = compile(open, { node: 'n1', generation: 9 });
    const again = evalPacket(c.ruleset, pkt(dropped.mark, 'established'));
    expect(again.verdict).to.equal('accept');
    expect(again.mark & mask).to.equal(c.generation);
  });

  it('the default mask owns bits 0-7 only: clear of kube-proxy (0x4000, 0x8000), Cilium (0x0f00) and Calico (0xffff0000)', () => {
    expect(DEFAULT_CT_MARK_MASK).to.equal(0xff);
    for (const theirs of [0x4000, 0x8000, 0x0f00, 0xffff0000]) expect((DEFAULT_CT_MARK_MASK & theirs) >>> 0).to.equal(0);
  });

  it('masks narrower than 8 bits are refused unless asked for explicitly (tests), and never below 2', () => {
    expect(() => compile(open, { node: 'n1', ctMarkMask: 0x3 })).to.throw(RangeError, /at least 8/);
    expect(compile(open, { node: 'n1', ctMarkMask: 0x3, ctMarkMinBits: 2, generation: 3 }).generation).to.equal(3);
    expect(() => compile(open, { node: 'n1', ctMarkMask: 0x1, ctMarkMinBits: 1 })).to.throw(RangeError, /at least 2/);
  });

  for (const mask of [0x80000000, 0x0000000f]) {
    it(`a mask of ${mask.toString(2).replace(/0/g, '').length} bit(s) (0x${mask.toString(16)}) is refused, or a change still revokes`, () => {
      // With a 1-bit mask every ruleset would get the same generation: a connection stamped
      // before a change would keep being accepted although the new ruleset denies it.
      let v: ReturnType<typeof revoked>;
      try {
        v = revoked(open, closed, mask);
      } catch (e) {
        expect(e).to.be.instanceOf(RangeError);
        expect(String(e)).to.contain(`0x${mask.toString(16)}`);
        return;
      }
      expect(v.genAfter, 'generation after a change that denies').to.not.equal(v.genBefore);
      expect(v.next).to.equal('drop');
    });
  }
});
