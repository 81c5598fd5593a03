// compile() with a CompileCache carried from one cluster state to the next gives exactly the
// bytes compile() gives from scratch: the cache only saves time.
import { expect } from 'chai';
import fc from 'fast-check';
import { batchJson, compile, CompileCache, fullBatch } from '../../compiler/index.js';
import { identityKeepingCluster } from '../helpers/identity-cluster.js';
import { clusterObjectsArb } from '../helpers/random-cluster.js';

describe('compile cache', () => {
  it('gives the same bytes as a fresh compile along random edit chains', () => {
    const arb = fc.tuple(clusterObjectsArb(12, 6), fc.array(fc.tuple(fc.nat(), clusterObjectsArb(12, 6)), { minLength: 2, maxLength: 8 }));
    fc.assert(
      fc.property(arb, ([start, edits]) => {
        const toCluster = identityKeepingCluster();
        const cache = new CompileCache();
        let cur = start;
        const states = [start];
        for (const [pick, donor] of edits) {
          const next = [...cur];
          const i = pick % Math.max(1, next.length + 1);
          const d = donor[pick % Math.max(1, donor.length)];
          if (i < next.length && d) next[i] = d;
          else if (i < next.length) next.splice(i, 1);
          else if (d) next.push(d);
          states.push((cur = next));
        }
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
