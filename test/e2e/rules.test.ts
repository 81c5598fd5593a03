// docs/design.md 1.2, 1.4, 1.5, 1.10: the corners of a rule people trip over: empty lists that
// mean "all", policyTypes that ignore rules, replies of allowed connections under a
// default deny of the other direction, and selectors that match everything.
import { netpol, runStep, useTopology } from './harness.js';
import { RULES_CASES } from './cases/rules.js';
import { allowAll, kinds } from './truth.js';

const DUAL = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

describe('e2e: rule corners', function () {
  this.timeout(120_000);
  const topo = useTopology();

  for (const c of RULES_CASES) {
    it(c.title, async () => {
      await runStep(topo(), c);
    });
  }




  it('namespaceSelector {} + podSelector {} is every pod, but not the node or other addresses', async () => {
    await runStep(topo(), {
      state: { policies: [netpol('z/from-all-pods', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: {} }] }] })] },
      expect: allowAll(),
      kinds: DUAL,
    });
    const fromNode = await topo().prober('n1').probe([{ host: topo().addr('z/b', 4), port: 80, proto: 'tcp' }]);
    if (fromNode[0] !== false) throw new Error('node n1 reached z/b (on n2): a node address is not a pod and must not match');
  });



});
