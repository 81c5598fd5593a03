// Random mutations of real manifests fed to `compile` and to the folder source (see
// test/helpers/manifest-fuzz.ts for what is mutated and what must hold). A bounded number of
// cases here (NPN_FUZZ_CASES, default 60; NPN_FUZZ_SEED to replay); `npm run bench -- --fuzz N`
// runs the long mode. On the kernel, nft must accept a sample of the mutated rulesets.
import { expect } from 'chai';
import { Netns, requireKernel } from '../helpers/kernel.js';
import { fuzz, type FuzzStats } from '../helpers/manifest-fuzz.js';
import { removeLeftovers, RUN } from './harness.js';

const CASES = Number(process.env.NPN_FUZZ_CASES ?? 60);
const SEED = Number(process.env.NPN_FUZZ_SEED ?? 20261201);

describe('fuzz: mutated manifests never crash, never give a ruleset nft rejects, never open an isolated pod', function () {
  this.timeout(600_000);
  let stats: FuzzStats;

  before(async () => {
    stats = await fuzz({ seed: SEED, cases: CASES, maxBatches: 12 });
  });

  it(`${CASES} cases from seed ${SEED}: no crash, no opened connection, nothing lost by the folder source`, () => {
    expect(stats.failures, stats.failures.join('\n\n')).to.deep.equal([]);
    expect(stats.cases).to.equal(CASES);
    // The property must have been exercised, not skipped.
    expect(stats.compileChecked, 'cases where compile reported the mutation and was checked').to.be.greaterThan(CASES / 4);
    expect(stats.compileIncomplete, 'cases where a document could not be read').to.be.greaterThan(0);
    expect(stats.sourceChecked).to.equal(CASES);
  });

  describe('on the kernel', () => {
    let ns: Netns | undefined;
    before(function () {
      requireKernel(this);
      removeLeftovers();
      ns = Netns.create(`${RUN}fuzz`);
    });
    after(() => ns?.delete());

    it('nft accepts every sampled ruleset compiled from a mutated folder (a full replace each)', () => {
      expect(stats.batches.length).to.be.greaterThan(3);
      for (const b of stats.batches) ns!.nftApply(b);
    });
  });
});
