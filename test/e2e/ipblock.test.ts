// docs/design.md 1.5, 1.13, 1.15: ipBlock with except on ingress and egress (the pods' real
// addresses: n1 pods are 192.0.2.10-18 / 2001:db8:1::/64, n2 pods 192.0.2.139-145 /
// 2001:db8:2::/64), families kept apart, and invalid policies failing closed.
//
// Pod addresses (topology.ts): x/a .10  x/b .139  x/c .12  y/a .141  y/b .14  y/c .143
//                              z/a .16  z/b .145  z/c .18
import { expect as chaiExpect } from 'chai';
import { netpol, runStep, useTopology } from './harness.js';
import { IPBLOCK_CASES } from './cases/ipblock.js';
import { allowAll, kinds } from './truth.js';

const DUAL = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

describe('e2e: ipBlock and invalid policies', function () {
  this.timeout(120_000);
  const topo = useTopology();

  for (const c of IPBLOCK_CASES) {
    it(c.title, async () => {
      await runStep(topo(), c);
    });
  }





  it('an invalid policy fails closed for the pods it selects; the rest is unaffected', async () => {
    const applied = await runStep(topo(), {
      state: {
        policies: [
          netpol('x/broken-except', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/25', except: ['198.51.100.0/28'] } }] }] }),
          netpol('z/broken-endport', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 81, endPort: 80 }] }] }),
          netpol('y/from-x', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }] }] }),
        ],
      },
      expect: allowAll().deny('*', 'x/a').deny('z/c', '*').deny('*', 'y/b').allow('x/*', 'y/b'),
      kinds: DUAL,
    });
    chaiExpect(applied.stderr.n1).to.include('networkpolicy x/broken-except').and.to.include('networkpolicy z/broken-endport');
  });
});
