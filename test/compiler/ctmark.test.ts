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
