// The ruleset's shape: deterministic, per-packet work independent of scale, loadable by nft
// at scale, idempotent, confined to its own table, and readable as text.
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { batchJson, clusterFromObjects, compile, fullBatch, parseManifestText, rulesetText, type Ruleset } from '../../compiler/index.js';
import { useScratchNetns } from '../helpers/kernel.js';
import { scaleClusterObjects } from '../helpers/scale-cluster.js';

const PREFIX = 'npn-shape-';
const fixture = (name: string) => clusterFromObjects(parseManifestText(readFileSync(join('test/fixtures', name), 'utf8'), name).objects).cluster;
const compileObjects = (objs: unknown[], node = 'n1') => compile(clusterFromObjects(objs).cluster, { node });

/** The base chains with the generation value blanked: it is a hash of the content. */
function baseChains(rs: Ruleset, gen: number): string {
  return JSON.stringify(rs.chains.filter((c) => c.base)).replaceAll(String(gen), 'GEN').replaceAll(String((gen | ~0x00fff000) >>> 0), 'GEN');
}

/** Every rule a packet to or from `ip` can meet: the base chains plus each chain the
 *  dispatch maps send that address to (and any chain those jump to). */
function rulesOnPath(rs: Ruleset, ip: string): number {
  const chains = new Map(rs.chains.map((c) => [c.name, c]));
  const seen = new Set<string>(['forward', 'input']);
  const todo = [...seen];
  for (const m of rs.maps) for (const [k, v] of m.elems) if (k === ip && v && typeof v === 'object' && 'jump' in v) todo.push((v as { jump: { target: string } }).jump.target);
  let n = 0;
  while (todo.length) {
    const name = todo.pop()!;
    const c = chains.get(name)!;
    n += c.rules.length;
    for (const r of c.rules) for (const s of r) if (s.kind === 'verdict' && (s.verdict === 'jump' || s.verdict === 'goto')) { const t = s.target; if (!seen.has(t)) { seen.add(t); todo.push(t); } }
    seen.add(name);
  }
  return n;
}

describe('ruleset shape', function () {
  this.timeout(120_000);

  it('is deterministic: the same cluster in another order gives the same bytes', () => {
    const objs = scaleClusterObjects({ pods: 300, policies: 60, selecting: 10 });
    const shuffled = [...objs].reverse();
    const a = batchJson(fullBatch(compileObjects(objs).ruleset));
    const b = batchJson(fullBatch(compileObjects(shuffled).ruleset));
    expect(a).to.equal(b);
  });

  it('keeps per-packet work flat: 10 vs 1,000 policies, 100 vs 10,000 pods (10 selecting the target each time)', () => {
    const small = compileObjects(scaleClusterObjects({ pods: 100, policies: 10, selecting: 10 }));
    const manyPolicies = compileObjects(scaleClusterObjects({ pods: 100, policies: 1000, selecting: 10 }));
    const manyPods = compileObjects(scaleClusterObjects({ pods: 10_000, policies: 10, selecting: 10 }));
    const base = baseChains(small.ruleset, small.generation);
    expect(baseChains(manyPolicies.ruleset, manyPolicies.generation)).to.equal(base);
    expect(baseChains(manyPods.ruleset, manyPods.generation)).to.equal(base);
    for (const ip of ['192.0.2.10', '2001:db8::10']) {
      const n = rulesOnPath(small.ruleset, ip);
      expect(n).to.be.greaterThan(13); // base chains + the target's group chains
      expect(rulesOnPath(manyPolicies.ruleset, ip), `rules on ${ip}'s path, 1,000 policies`).to.equal(n);
      expect(rulesOnPath(manyPods.ruleset, ip), `rules on ${ip}'s path, 10,000 pods`).to.equal(n);
    }
    // What grows is data: set and map elements.
    const elems = (rs: Ruleset) => rs.sets.reduce((s, x) => s + x.elems.length, 0);
    expect(elems(manyPods.ruleset)).to.be.greaterThan(elems(small.ruleset));
  });

  it('grows a pod\'s chains with the rules of the policies that select it, and with nothing else', () => {
    // Each policy of scaleClusterObjects has 2 ingress rules (2 nft rules for the first: exact
    // port and named port resolve into one set; 1 for the ipBlock) and 2 egress rules.
    const chainOf = (rs: Ruleset, prefix: string) => rs.chains.find((c) => c.name.startsWith(prefix) && rs.maps.some((m) => m.elems.some(([k, v]) => k === '192.0.2.10' && JSON.stringify(v).includes(c.name))))!;
    const sizes = [10, 20].map((selecting) => compileObjects(scaleClusterObjects({ pods: 1000, policies: 100, selecting })).ruleset);
    const bigger = compileObjects(scaleClusterObjects({ pods: 5000, policies: 1000, selecting: 20 })).ruleset;
    for (const prefix of ['in4o_', 'eg4o_']) {
      const [a, b] = sizes.map((rs) => chainOf(rs, prefix).rules.length);
      expect(b! - 2, `${prefix}: policy rules of 20 selecting policies`).to.equal(2 * (a! - 2));
      expect(chainOf(bigger, prefix).rules.length, `${prefix}: 5x the pods, 10x the policies`).to.equal(b);
      // Every policy rule says where it came from.
      const c = chainOf(bigger, prefix);
      expect(c.comments!.slice(0, -2).every((x) => /^x\/np\d+ (ingress|egress)\[\d\]( (from|to)\[\d\])?$/.test(x ?? '')), JSON.stringify(c.comments)).to.equal(true);
    }
  });

  it('renders as text the way it was reviewed (golden)', () => {
    const got = rulesetText(compile(fixture('small.yaml'), { node: 'node-1' }).ruleset);
    expect(got).to.equal(readFileSync('test/fixtures/small.golden.nft', 'utf8'));
  });

  describe('on the real kernel', () => {
    const scratch = useScratchNetns(PREFIX, 'k');

    it('loads 5,000 pods and 1,000 policies (nft -c, then for real)', () => {
      const r = compileObjects(scaleClusterObjects({ pods: 5000, policies: 1000, selecting: 100 }));
      const json = batchJson(fullBatch(r.ruleset));
      scratch().nftApply(json, ['-c']);
      scratch().nftApply(json);
      expect(scratch().listTable('inet', 'netpol_nft')).to.include('"name":"forward"');
    });

    it('accepts every example policy in policies-examples/', function () {
      let files: string[] = [];
      try {
        files = readdirSync('policies-examples').filter((f) => /\.ya?ml$/.test(f));
      } catch { /* folder not there yet */ }
      if (!files.length) this.skip();
      const model = readFileSync('test/fixtures/xyz-model.yaml', 'utf8');
      for (const f of files) {
        const objs = [...parseManifestText(model, 'model').objects, ...parseManifestText(readFileSync(join('policies-examples', f), 'utf8'), f).objects];
        for (const node of ['n1', 'n2']) {
          const r = compileObjects(objs, node);
          expect(r.problems, f).to.deep.equal([]);
          scratch().nftApply(batchJson(fullBatch(r.ruleset)), ['-c']);
        }
      }
    });

    it('loads twice to the same table and leaves other tables alone', () => {
      scratch().exec('nft', ['add table inet other; add chain inet other c { type filter hook forward priority 10; policy accept; }; add rule inet other c counter accept']);
      const other = scratch().listTable('inet', 'other');
      const json = batchJson(fullBatch(compile(fixture('small.yaml'), { node: 'node-1' }).ruleset));
      scratch().nftApply(json);
      const once = scratch().listTable('inet', 'netpol_nft');
      scratch().nftApply(json);
      expect(scratch().listTable('inet', 'netpol_nft')).to.equal(once);
      expect(scratch().listTable('inet', 'other')).to.equal(other);
      scratch().exec('nft', ['delete table inet other']);
    });

    it('text output loads to the same table as JSON output', () => {
      const rs = compile(fixture('small.yaml'), { node: 'node-1' }).ruleset;
      scratch().nftApply(batchJson(fullBatch(rs)));
      const viaJson = scratch().listTable('inet', 'netpol_nft');
      scratch().exec('nft', ['delete table inet netpol_nft']);
      scratch().nftApplyText(rulesetText(rs));
      expect(scratch().listTable('inet', 'netpol_nft')).to.equal(viaJson);
    });
  });
});
