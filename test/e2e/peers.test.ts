// docs/design.md 1.5, 1.6: peers (pod selector, namespace selector, both in one peer or in two)
// and every label-selector operator, including keys that are absent.
import { runStep, useTopology } from './harness.js';
import { PEERS_CASES } from './cases/peers.js';

describe('e2e: peers and selectors', function () {
  this.timeout(120_000);
  const topo = useTopology();

  for (const c of PEERS_CASES) {
    it(c.title, async () => {
      await runStep(topo(), c);
    });
  }
});
