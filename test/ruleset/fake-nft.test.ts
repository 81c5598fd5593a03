// Batch mistakes caught without root: the in-memory nft (test/helpers/fake-nft.ts) refuses
// what nft refuses, so a diff that deletes what is not there, refers to what is missing or
// deletes what is still used fails here as it would on a node. Its agreement with the real
// nft is proven in fake-nft-kernel.test.ts; here it gives the recorded answers.
import { expect } from 'chai';
import fc from 'fast-check';
import { batchText, clusterFromObjects, compile, diffBatch, fullBatch, PolicyEngine, type Batch, type Ruleset } from '../../compiler/index.js';
import type { Command } from '../../compiler/nft.js';
import { NftError } from '../../controller/nft.js';
import { FakeNft } from '../helpers/fake-nft.js';
import { BASE, CASES } from '../helpers/nft-cases.js';
import { clusterObjectsArb, editChainArb } from '../helpers/random-cluster.js';
import { ns, pod, policy } from '../compiler/builders.js';

const rulesetOf = (objects: unknown[]): Ruleset => compile(clusterFromObjects(objects).cluster, { node: 'n1' }).ruleset;
const fresh = (rs: Ruleset) => {
  const f = new FakeNft();
  f.applyBatch(fullBatch(rs));
  return f.dump(rs.table);
};
const refusal = (f: FakeNft, b: Batch): NftError | undefined => {
  try {
    f.applyBatch(b);
    return undefined;
  } catch (e) {
    if (e instanceof NftError) return e;
    throw e;
  }
};

describe('fake nft (no root)', () => {
  describe('gives the answers the real nft gave', () => {
    for (const k of CASES) {
      it(`${k.name}: ${k.nft === 'ok' ? 'accepted' : `refused (${k.nft})`}`, () => {
        const f = new FakeNft();
        f.applyBatch(BASE);
        const before = f.dump('fk');
        const err = refusal(f, k.batch);
        expect(err?.kind ?? 'ok', err?.stderr).to.equal(k.nft);
        if (err) expect(f.dump('fk'), 'a refused batch changes nothing').to.equal(before);
      });
    }
  });

  it('lists chains and counters as the agent reads them, and nothing for a missing table', async () => {
    const f = new FakeNft();
    expect(await f.list('inet', 'netpol_nft')).to.equal(undefined);
    f.applyBatch(BASE);
    const chains = JSON.parse((await f.list('inet', 'fk', 'chains'))!) as { nftables: { chain?: { name: string } }[] };
    expect(chains.nftables.flatMap((o) => (o.chain ? [o.chain.name] : []))).to.have.members(['c', 'd', 'e', 'fwd']);
    f.setCounter('k', 3, 180, 'fk');
    const counters = JSON.parse((await f.list('inet', 'fk', 'counters'))!) as { nftables: { counter?: { name: string; packets: number }[] }[] };
    expect(JSON.stringify(counters)).to.include('"name":"k","table":"fk","handle"').and.include('"packets":3,"bytes":180');
    // Read as `nft reset counters`: the next read starts from zero.
    expect(await f.list('inet', 'fk', 'counters')).to.include('"packets":0,"bytes":0');
  });

  it('a diff chain ends in the table a fresh load gives (strict: no element added twice)', () => {
    fc.assert(
      fc.property(editChainArb(3, 8, 12, 6), (states) => {
        const steps = states.map(rulesetOf);
        const f = new FakeNft({ strict: true });
        f.applyBatch(fullBatch(steps[0]!));
        for (let i = 1; i < steps.length; i++) {
          const d = diffBatch(steps[i - 1]!, steps[i]!);
          const err = refusal(f, d);
          if (err) throw new Error(`diff step ${i} refused: ${err.stderr}\n${batchText(d)}`);
          expect(f.dump(), `after diff step ${i}`).to.equal(fresh(steps[i]!));
        }
      }),
      { numRuns: 60, seed: 99 },
    );
  });

  it('so do the policy engine\'s delta transactions, as the agent makes them', () => {
    fc.assert(
      fc.property(editChainArb(3, 8), (states) => {
        const engine = new PolicyEngine({ node: 'n1' });
        const f = new FakeNft({ strict: true });
        states.forEach((objects, i) => {
          const cluster = clusterFromObjects(objects).cluster;
          for (const ev of [...engine.reconcileEvents(cluster)]) engine.apply(ev);
          const d = i === 0 ? engine.fullBatch(i + 1) : engine.deltaBatch(i + 1);
          if (d) {
            const err = refusal(f, d);
            if (err) throw new Error(`engine step ${i} refused: ${err.stderr}\n${batchText(d)}`);
            engine.commit();
            expect(f.dump(), `after engine step ${i}`).to.equal(fresh(engine.ruleset(i + 1)));
          }
        });
      }),
      { numRuns: 40, seed: 5 },
    );
  });

  it('a full batch loads over any table, and twice', () => {
    fc.assert(
      fc.property(clusterObjectsArb(), clusterObjectsArb(), (a, b) => {
        const f = new FakeNft();
        f.applyBatch(fullBatch(rulesetOf(a)));
        f.applyBatch(fullBatch(rulesetOf(b)));
        f.applyBatch(fullBatch(rulesetOf(b)));
        expect(f.dump()).to.equal(fresh(rulesetOf(b)));
      }),
      { numRuns: 30 },
    );
  });

  describe('refuses the diff mistakes that only the kernel caught before', () => {
    // x/a isolated, allowed from y/b on 80; then y/b goes away and y/c comes.
    const base = [ns('x'), ns('y'), pod('x/a', { ips: ['192.0.2.10', '2001:db8::a'] }), policy('x/web', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 80 }] }] })];
    const a = rulesetOf([...base, pod('y/b', { ips: ['192.0.2.11'] })]);
    const b = rulesetOf([...base, pod('y/c', { ips: ['192.0.2.12'] })]);
    const c = rulesetOf([ns('x'), ns('y'), pod('x/a', { ips: ['192.0.2.10', '2001:db8::a'] })]);
    const loaded = (rs: Ruleset, strict = false) => {
      const f = new FakeNft({ strict });
      f.applyBatch(fullBatch(rs));
      return f;
    };
    const cmds = (bt: Batch, pred: (c: Command) => boolean) => bt.nftables.filter(pred);
    const is = (verb: string, what: string) => (c: Command) => verb in c && what in c[verb]!;

    it('the diff itself is accepted and gives the fresh table', () => {
      const f = loaded(a);
      f.applyBatch(diffBatch(a, b));
      expect(f.dump()).to.equal(fresh(b));
      const g = loaded(b);
      g.applyBatch(diffBatch(b, c));
      expect(g.dump()).to.equal(fresh(c));
    });

    it('a diff applied twice deletes what is not there', () => {
      const f = loaded(a);
      f.applyBatch(diffBatch(a, b));
      expect(refusal(f, diffBatch(a, b))?.kind).to.equal('not-found');
    });

    it('a diff made against a state the kernel does not hold', () => {
      expect(refusal(loaded(c), diffBatch(a, b))?.kind).to.equal('not-found');
    });

    it('a stale diff that only adds is caught by strict mode (nft would take it silently)', () => {
      const d = { nftables: cmds(diffBatch(a, b), is('add', 'element')) };
      expect(d.nftables.length).to.be.greaterThan(0);
      expect(refusal(loaded(b), d), 'nft accepts an element added twice').to.equal(undefined);
      expect(refusal(loaded(b, true), d)?.kind).to.equal('exists');
    });

    it('map elements sent before the chains they jump to', () => {
      const d = diffBatch(c, a); // a brings the group chains and the map elements that jump to them
      const chains = cmds(d, is('add', 'chain'));
      expect(chains.length).to.be.greaterThan(0);
      expect(refusal(loaded(c), { nftables: [...d.nftables.filter((x) => !chains.includes(x)), ...chains] })?.kind).to.equal('not-found');
    });

    it('a set deleted while a rule still uses it', () => {
      const d = diffBatch(a, c); // c drops the policy: its sets and chains go
      const flushes = cmds(d, is('flush', 'chain'));
      const setDeletes = cmds(d, is('delete', 'set'));
      expect(flushes.length).to.be.greaterThan(0);
      expect(setDeletes.length).to.be.greaterThan(0);
      const err = refusal(loaded(a), { nftables: [...setDeletes, ...d.nftables.filter((x) => !setDeletes.includes(x))] });
      expect(err?.stderr).to.match(/Device or resource busy/);
    });

    it('a chain deleted while a map element still jumps to it', () => {
      const d = diffBatch(a, c);
      const elementDeletes = cmds(d, is('delete', 'element'));
      const err = refusal(loaded(a), { nftables: d.nftables.filter((x) => !elementDeletes.includes(x)) });
      expect(err?.stderr).to.match(/Device or resource busy/);
    });

    it('interval elements that overlap (merging forgotten)', () => {
      const overlapping = { add: { set: { family: 'inet', table: 'netpol_nft', name: 'in_test_c4', type: 'ipv4_addr', flags: ['interval'], elem: [{ prefix: { addr: '192.0.2.0', len: 24 } }, { prefix: { addr: '192.0.2.16', len: 28 } }] } } };
      expect(refusal(new FakeNft(), { nftables: [...fullBatch(a).nftables, overlapping] })?.stderr).to.match(/conflicting intervals/);
    });
  });
});
