// Every statement kind of the nft IR (compiler/nft/ir.ts), those the compiler emits and those
// the team is adding (log, limit, nftrace, fib, named counters), loaded into the real nft as
// the JSON visitor writes them, then listed and read back into the IR: nft must accept each
// shape, and give back what we wrote (the same IR, after the folds nft makes on listing).
import { expect } from 'chai';
import { batchJson, fullBatch, type Batch } from '../../compiler/index.js';
import { rulesetKey } from '../../compiler/listing.js';
import { useScratchNetns } from '../helpers/kernel.js';
import { allStmts, table } from '../compiler/nft-ir-samples.js';
import * as b from '../../compiler/nft/build.js';

const PREFIX = 'npn-nftir-';

describe('nft IR on the real nft: every statement kind loads and lists back as written', function () {
  this.timeout(60_000);
  const scratch = useScratchNetns(PREFIX);

  it('loads a table holding every sample statement and reads the same ruleset back', () => {
    const base = table(b.ACCEPT);
    // `fib … iif` is valid in the forward hook: the samples live in a chain the base chain
    // jumps to, so nft checks them against a hook.
    const rs = { ...base, chains: [{ ...base.chains[0]!, rules: [[b.jump('c')], [b.ACCEPT]] }, base.chains[1]!, { name: 'c', rules: allStmts.map(([s]) => [s]), comments: allStmts.map(([, c]) => c.text) }] };
    const full = fullBatch(rs);
    // The named limit of the `limitRef` sample, added after the counters.
    const at = full.nftables.findIndex((c) => 'add' in c && 'counter' in c.add!);
    const batch: Batch = { nftables: [...full.nftables.slice(0, at), { add: { limit: { family: 'inet', table: 't', name: 'lim', rate: 10, per: 'second', burst: 5 } } }, ...full.nftables.slice(at)] };
    scratch().nftApply(batchJson(batch));
    const listed = scratch().listRuleset('inet', 't');
    expect(listed, 'the table is there').to.not.equal(undefined);
    expect(rulesetKey(listed!)).to.equal(rulesetKey(rs));
  });
});
