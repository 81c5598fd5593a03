// compile() with a CompileCache carried from one cluster state to the next gives exactly the
// bytes compile() gives from scratch: the cache only saves time.
import { expect } from 'chai';
import fc from 'fast-check';
import { batchJson, compile, CompileCache, fullBatch } from '../../compiler/index.js';
import { identityKeepingCluster } from '../helpers/identity-cluster.js';
import { editChainArb } from '../helpers/random-cluster.js';

describe('compile cache', () => {
  it('gives the same bytes as a fresh compile along random edit chains', () => {
    fc.assert(
      fc.property(editChainArb(2, 8), (states) => {
        const toCluster = identityKeepingCluster();
        const cache = new CompileCache();
        for (const s of states) {
          const c = toCluster(s);
          for (const node of ['n1', 'n2']) {
            // one cache per node, as each agent has its own
            const cached = node === 'n1' ? compile(c, { node }, cache) : compile(c, { node });
            expect(batchJson(fullBatch(cached.ruleset))).to.equal(batchJson(fullBatch(compile(c, { node }).ruleset)));
            expect(cached.generation).to.equal(compile(c, { node }).generation);
          }
        }
      }),
      { numRuns: 150, seed: 42 },
    );
  });
});
