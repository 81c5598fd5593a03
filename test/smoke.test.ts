import { expect } from 'chai';
import { compile, fullBatch } from '../compiler/index.js';

describe('smoke', () => {
  it('compiles an empty cluster into a table with the two base chains and their guard chains', () => {
    const r = compile({ namespaces: [], pods: [], policies: [] }, { node: 'n1' });
    expect(r.ruleset.chains.map((c) => c.name)).to.deep.equal(['forward', 'guard_fwd', 'guard_in', 'input']);
    expect(fullBatch(r.ruleset).nftables[0]).to.deep.equal({ add: { table: { family: 'inet', name: 'netpol_nft' } } });
  });
});
