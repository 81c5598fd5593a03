// docs/design.md 1.1-1.4: isolation per direction, default policy types, additive allow lists,
// and what an absent or empty from/ports/ingress means.
import { expect } from 'chai';
import { compile, indexCluster, podView } from '../../compiler/index.js';
import { evalPacket } from './packet-eval.js';
import { allowedBoth, cluster, decide, policy, world } from './builders.js';

const sel = (pod: string) => ({ matchLabels: { pod } });

describe('compiler semantics: isolation (docs/design.md 1.1-1.4)', () => {
  it('a pod no policy selects allows everything both ways', () => {
    const c = cluster(...world());
    expect(allowedBoth(c, 'x/a', 'y/b', 80)).to.equal(true);
    expect(allowedBoth(c, 'y/b', 'x/a', 9999, 'UDP')).to.equal(true);
    const e = decide(c, 'x/a', 'y/b', 80).explanation;
    expect(e.egress.isolated).to.equal(false);
    expect(e.ingress.isolated).to.equal(false);
  });

  it('isolation is per direction: an ingress-only policy leaves egress open', () => {
    const c = cluster(...world(policy('x/deny-in', { podSelector: sel('a'), policyTypes: ['Ingress'] })));
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(true);
    // the other pod of x is not selected
    expect(allowedBoth(c, 'y/a', 'x/b', 80)).to.equal(true);
  });

  it('an egress-only policy leaves ingress open', () => {
    const c = cluster(...world(policy('x/deny-out', { podSelector: sel('a'), policyTypes: ['Egress'] })));
    expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(false);
    expect(allowedBoth(c, 'y/a', 'x/a', 80)).to.equal(true);
    const e = decide(c, 'x/a', 'y/a', 80).explanation;
    expect(e.egress.isolated).to.equal(true);
    expect(e.egress.policies).to.deep.equal(['x/deny-out']);
    expect(e.egress.reason).to.contain('x/deny-out');
  });

  describe('default policyTypes (1.2)', () => {
    const types = (p: Record<string, unknown>) => {
      const c = cluster(...world(p));
      const idx = indexCluster(c);
      const a = c.pods.find((x) => x.namespace === 'x' && x.name === 'a')!;
      return { ingress: podView(idx, a, 'ingress').isolated, egress: podView(idx, a, 'egress').isolated };
    };
    it('absent policyTypes and no ingress/egress: Ingress only', () => {
      expect(types(policy('x/p', {}))).to.deep.equal({ ingress: true, egress: false });
    });
    it('absent policyTypes with a non-empty egress: Ingress and Egress', () => {
      expect(types(policy('x/p', { egress: [{}] }))).to.deep.equal({ ingress: true, egress: true });
    });
    it('absent policyTypes with `egress: []` does NOT make it Egress', () => {
      expect(types(policy('x/p', { egress: [] }))).to.deep.equal({ ingress: true, egress: false });
    });
    it('absent policyTypes with only an ingress section: still Ingress only', () => {
      expect(types(policy('x/p', { ingress: [{}] }))).to.deep.equal({ ingress: true, egress: false });
    });
    it('`policyTypes: []` defaults like an absent field', () => {
      expect(types(policy('x/p', { policyTypes: [], egress: [{}] }))).to.deep.equal({ ingress: true, egress: true });
    });
    it('explicit `[Egress]` with an ingress section does not isolate ingress', () => {
      expect(types(policy('x/p', { policyTypes: ['Egress'], ingress: [] }))).to.deep.equal({ ingress: false, egress: true });
    });
    it('an egress-isolating default policy with `egress: [{}]` allows all egress', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), egress: [{}] })));
      expect(allowedBoth(c, 'x/a', 'y/b', 1234, 'UDP')).to.equal(true);
      expect(allowedBoth(c, 'y/b', 'x/a', 80)).to.equal(false); // ingress isolated with no rule
    });
  });

  describe('absent vs empty (1.4)', () => {
    it('`ingress: []` denies all ingress', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), ingress: [] })));
      expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(false);
      expect(allowedBoth(c, 'x/b', 'x/a', 53, 'UDP')).to.equal(false);
    });
    it('ingress absent (policyTypes Ingress) denies all ingress', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), policyTypes: ['Ingress'] })));
      expect(allowedBoth(c, 'z/b', 'x/a', 80)).to.equal(false);
    });
    it('`ingress: [{}]` allows all ingress', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), ingress: [{}] })));
      expect(allowedBoth(c, 'z/b', 'x/a', 80)).to.equal(true);
      expect(allowedBoth(c, 'y/a', 'x/a', 7, 'SCTP')).to.equal(true);
    });
    it('`from: []` means every peer, `ports: []` every port', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), ingress: [{ from: [], ports: [] }] })));
      expect(allowedBoth(c, 'z/b', 'x/a', 81)).to.equal(true);
      expect(allowedBoth(c, 'y/b', 'x/a', 5353, 'UDP')).to.equal(true);
      expect(decide(c, '203.0.113.9', 'x/a', 22).allowed).to.equal(true);
    });
    it('`from: []` with ports: every peer, those ports only', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), ingress: [{ from: [], ports: [{ port: 80 }] }] })));
      expect(allowedBoth(c, 'z/b', 'x/a', 80)).to.equal(true);
      expect(allowedBoth(c, 'z/b', 'x/a', 81)).to.equal(false);
      expect(allowedBoth(c, 'z/b', 'x/a', 80, 'UDP')).to.equal(false);
      expect(decide(c, '198.51.100.7', 'x/a', 80).allowed).to.equal(true);
    });
    it('`egress: [{to: [], ports: []}]` allows all egress, to addresses outside the cluster too', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), policyTypes: ['Egress'], egress: [{ to: [], ports: [] }] })));
      expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(true);
      expect(decide(c, 'x/a', '203.0.113.1', 443).allowed).to.equal(true);
      expect(decide(c, 'x/a', '2001:db8:ffff::1', 443).allowed).to.equal(true);
    });
    it('`egress: []` with policyTypes Egress denies all egress, to outside addresses too', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), policyTypes: ['Egress'], egress: [] })));
      expect(allowedBoth(c, 'x/a', 'x/b', 80)).to.equal(false);
      expect(decide(c, 'x/a', '203.0.113.1', 443).allowed).to.equal(false);
    });
  });

  describe('additive allow lists (1.3)', () => {
    const p1 = policy('x/p1', { podSelector: sel('a'), ingress: [{ from: [{ podSelector: sel('b') }], ports: [{ port: 80 }] }] });
    const p2 = policy('x/p2', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] });
    const deny = policy('x/deny', { podSelector: {}, ingress: [] });
    it('any rule of any selecting policy allows; a deny-all policy takes nothing away', () => {
      for (const objs of [[p1, p2, deny], [deny, p2, p1]]) {
        const c = cluster(...world(...objs));
        expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(true);
        expect(allowedBoth(c, 'x/b', 'x/a', 81)).to.equal(false);
        expect(allowedBoth(c, 'y/a', 'x/a', 81)).to.equal(true);
        expect(allowedBoth(c, 'z/a', 'x/a', 80)).to.equal(false);
        expect(allowedBoth(c, 'y/b', 'x/b', 80)).to.equal(true);
      }
    });
    it('explain names every selecting policy and the rules that matched', () => {
      const c = cluster(...world(p1, p2, deny));
      const e = decide(c, 'x/b', 'x/a', 80).explanation;
      expect(e.ingress.policies).to.deep.equal(['x/deny', 'x/p1', 'x/p2']);
      expect(e.ingress.matched).to.deep.equal([{ policy: 'x/p1', rule: 0 }]);
      expect(e.ingress.reason).to.equal('allowed by x/p1 ingress[0]');
      const d = decide(c, 'z/a', 'x/a', 80).explanation;
      expect(d.allowed).to.equal(false);
      expect(d.ingress.reason).to.match(/^isolated by x\/deny, x\/p1, x\/p2; no rule allows it/);
    });
    it('the second rule of a policy is reported by its index', () => {
      const c = cluster(...world(policy('x/two', { podSelector: sel('a'), ingress: [{ ports: [{ port: 81 }] }, { ports: [{ port: 80 }] }] })));
      expect(decide(c, 'y/a', 'x/a', 80).explanation.ingress.matched).to.deep.equal([{ policy: 'x/two', rule: 1 }]);
    });
    it('peers AND ports within one rule: a peer on the wrong port does not pass', () => {
      const c = cluster(...world(policy('x/p', { podSelector: sel('a'), ingress: [{ from: [{ podSelector: sel('b') }], ports: [{ port: 80 }] }] })));
      expect(allowedBoth(c, 'x/b', 'x/a', 80)).to.equal(true);
      expect(allowedBoth(c, 'x/b', 'x/a', 81)).to.equal(false);
      expect(allowedBoth(c, 'y/b', 'x/a', 80)).to.equal(false);
    });
  });

  describe('both ends must allow (1.9)', () => {
    it('egress allowed but ingress denied, and the reverse', () => {
      const eg = policy('x/eg', { podSelector: sel('a'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] });
      const inY = policy('y/in', { podSelector: sel('b'), ingress: [] });
      const c = cluster(...world(eg, inY));
      expect(allowedBoth(c, 'x/a', 'y/a', 80)).to.equal(true);
      const e = decide(c, 'x/a', 'y/b', 80).explanation;
      expect(e.allowed).to.equal(false);
      expect(e.egress.allowed).to.equal(true);
      expect(e.ingress.allowed).to.equal(false);
      expect(allowedBoth(c, 'x/a', 'z/a', 80)).to.equal(false);
      const f = decide(c, 'x/a', 'z/a', 80).explanation;
      expect(f.egress.allowed).to.equal(false);
      expect(f.ingress.allowed).to.equal(true);
    });
    it('a node enforces only its own pods: traffic between two other nodes\' pods passes it untouched', () => {
      const c = cluster(...world(policy('y/deny', { podSelector: {}, ingress: [], egress: [], policyTypes: ['Ingress', 'Egress'] })));
      expect(allowedBoth(c, 'y/a', 'y/b', 80)).to.equal(false); // decided on n2
      const n1 = compile(c, { node: 'n1' }).ruleset;
      for (const [s, d] of [['192.0.2.21', '192.0.2.22'], ['2001:db8::21', '2001:db8::22']]) {
        expect(evalPacket(n1, { hook: 'forward', saddr: s!, daddr: d!, l4proto: 'tcp', sport: 40000, dport: 80, ct: { state: 'new', direction: 'original', mark: 0 } }).verdict).to.equal('accept');
      }
      expect(JSON.stringify(n1.maps)).to.not.contain('192.0.2.21');
    });
    it('same-node pods: one ruleset enforces both ends', () => {
      const c = cluster(...world(policy('x/in', { podSelector: sel('a'), ingress: [{ from: [{ podSelector: sel('b') }] }] }), policy('x/eg', { podSelector: sel('b'), policyTypes: ['Egress'], egress: [] })));
      const v = decide(c, 'x/b', 'x/a', 80);
      expect(v.allowed).to.equal(false);
      expect(v.packets.nodes.map((n) => n.node)).to.deep.equal(['n1']);
      expect(v.explanation.ingress.allowed).to.equal(true);
      expect(v.explanation.egress.allowed).to.equal(false);
    });
  });
});
