// docs/design.md 1.1-1.4 and 1.14 on the wire: isolation per direction, default policy types,
// additive allow lists, empty rule lists, and a policy only selecting in its own namespace.
import { runStep, useTopology } from './harness.js';
import { ISOLATION_CASES } from './cases/isolation.js';
import { allowAll, kinds } from './truth.js';

const BOTH = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

describe('e2e: isolation and defaults', function () {
  this.timeout(120_000);
  const topo = useTopology();

  it('with no policy every pod reaches every pod (IPv4 and IPv6, TCP and UDP)', async () => {
    await runStep(topo(), { state: {}, expect: allowAll(), kinds: BOTH });
  });

  for (const c of ISOLATION_CASES) {
    it(c.title, async () => {
      await runStep(topo(), c);
    });
  }
});
