// The in-memory nft (test/helpers/fake-nft.ts) against the real one: the same batches, good
// and bad, through both, from the same table. They must agree on accepted or refused (and on
// the kind of refusal), and on the table that results, compared as normalised listings.
// FAKE_NFT_RUNS=N and FAKE_NFT_SEED=S run more (or other) random chains of spoilt diffs.
import { expect } from 'chai';
import fc from 'fast-check';
import { batchJson, batchText, clusterFromObjects, compile, diffBatch, fullBatch, type Batch, type Ruleset } from '../../compiler/index.js';
import { classifyNftError } from '../../controller/nft.js';
import { FakeNft } from '../helpers/fake-nft.js';
import { useScratchNetns } from '../helpers/kernel.js';
import { BASE, CASES } from '../helpers/nft-cases.js';
import { editChainArb } from '../helpers/random-cluster.js';

const PREFIX = 'npn-fakenft-';
/** nft reports every command of a batch that the kernel refused; compare the first. */
const firstKind = (stderr: string) => classifyNftError(stderr.split('\n').find((l) => /Error/.test(l)) ?? stderr);
const rulesetOf = (objects: unknown[]): Ruleset => compile(clusterFromObjects(objects).cluster, { node: 'n1' }).ruleset;

describe('fake nft agrees with the real nft', function () {
  this.timeout(300_000);
  const scratch = useScratchNetns(PREFIX);

  /** Applies to both; returns each side's outcome ('ok' or the error kind). */
  function both(fake: FakeNft, b: Batch): { kernel: string; fake: string; kernelErr?: string; fakeErr?: string } {
    let kernel = 'ok', kernelErr: string | undefined;
    try {
      scratch().nftApply(batchJson(b));
    } catch (e) {
      kernelErr = (e as Error).message;
      kernel = firstKind(kernelErr);
    }
    let fk = 'ok', fakeErr: string | undefined;
    try {
      fake.applyBatch(b);
    } catch (e) {
      fakeErr = (e as Error & { stderr?: string }).stderr ?? (e as Error).message;
      fk = firstKind(fakeErr);
    }
    return { kernel, fake: fk, kernelErr, fakeErr };
  }

  const table = (fake: FakeNft, name: string) => ({ kernel: scratch().listTable('inet', name), fake: fake.dump(name) });

  for (const k of CASES) {
    it(`${k.name}: ${k.nft === 'ok' ? 'accepted' : `refused (${k.nft})`} by both, same table after`, () => {
      const fake = new FakeNft();
      const start = both(fake, BASE);
      expect(start.kernel, start.kernelErr).to.equal('ok');
      expect(start.fake, start.fakeErr).to.equal('ok');
      expect(table(fake, 'fk').fake).to.equal(table(fake, 'fk').kernel);
      const r = both(fake, k.batch);
      expect(r.kernel, `the kernel's outcome changed (${r.kernelErr ?? 'accepted'}): update test/helpers/nft-cases.ts`).to.equal(k.nft);
      expect(r.fake, `fake: ${r.fakeErr ?? 'accepted'}; nft: ${r.kernelErr ?? 'accepted'}`).to.equal(r.kernel);
      const t = table(fake, 'fk');
      expect(t.fake).to.equal(t.kernel);
    });
  }

  // Compiled rulesets, their diffs, and the diffs spoilt the ways a diff goes wrong: a
  // command lost, a command repeated, the diff applied twice, the commands reversed.
  it('agrees on compiled rulesets, their diffs and spoilt diffs', () => {
    const spoil = (d: Batch, how: number, pick: number): Batch | undefined => {
      const cmds = d.nftables;
      if (!cmds.length) return undefined;
      const i = pick % cmds.length;
      switch (how) {
        case 0: return { nftables: cmds.filter((_, j) => j !== i) };
        case 1: return { nftables: [...cmds.slice(0, i + 1), cmds[i]!, ...cmds.slice(i + 1)] };
        case 2: return { nftables: [...cmds, ...cmds] };
        default: return { nftables: [...cmds].reverse() };
      }
    };
    let refused = 0, accepted = 0;
    fc.assert(
      fc.property(editChainArb(2, 5, 10, 6), fc.array(fc.tuple(fc.nat(3), fc.nat()), { minLength: 5, maxLength: 5 }), (states, spoils) => {
        const fake = new FakeNft();
        const steps = states.map(rulesetOf);
        const load = (rs: Ruleset) => {
          const r = both(fake, fullBatch(rs));
          expect([r.kernel, r.fake], r.kernelErr ?? r.fakeErr).to.deep.equal(['ok', 'ok']);
        };
        load(steps[0]!);
        for (let i = 1; i < steps.length; i++) {
          const d = diffBatch(steps[i - 1]!, steps[i]!);
          const [how, pick] = spoils[i % spoils.length]!;
          const bad = spoil(d, how, pick);
          if (bad) {
            const r = both(fake, bad);
            if (r.kernel !== r.fake) throw new Error(`spoilt diff (${how}): nft ${r.kernelErr ?? 'accepted'}; fake ${r.fakeErr ?? 'accepted'}\n${batchText(bad)}`);
            if (r.kernel === 'ok') accepted++;
            else refused++;
            const t = table(fake, 'netpol_nft');
            if (t.fake !== t.kernel) throw new Error(`after a spoilt diff (${how}) the tables differ\n${batchText(bad)}`);
            load(steps[i - 1]!); // back to the state the real diff starts from
          }
          const r = both(fake, d);
          expect([r.kernel, r.fake], r.kernelErr ?? r.fakeErr).to.deep.equal(['ok', 'ok']);
          const t = table(fake, 'netpol_nft');
          expect(t.fake).to.equal(t.kernel);
        }
      }),
      { numRuns: Number(process.env.FAKE_NFT_RUNS ?? 25), seed: process.env.FAKE_NFT_SEED ? Number(process.env.FAKE_NFT_SEED) : 424242, endOnFailure: true },
    );
    // The spoilt diffs must have exercised both answers.
    expect(refused).to.be.greaterThan(5);
    expect(accepted).to.be.greaterThan(0);
  });
});
