// diff(a, b) applied to a table holding a yields exactly b, on the real kernel:
// random clusters and random edits (fast-check), compared as normalised `nft -j list table`;
// and each fresh load, read back into the nft IR (compiler/listing.ts), equals the compiled ruleset.
import { expect } from 'chai';
import fc from 'fast-check';
import { batchJson, batchText, clusterFromObjects, compile, diffBatch, fullBatch, PolicyEngine, type ClusterEvent, type Ruleset } from '../../compiler/index.js';
import { rulesetKey } from '../../compiler/listing.js';
import { Netns, removeNamespaces, requireKernel } from '../helpers/kernel.js';
import { clusterObjectsArb, editChainArb } from '../helpers/random-cluster.js';

const PREFIX = 'npn-diff-';
const rulesetOf = (objects: unknown[], node = 'n1'): Ruleset => compile(clusterFromObjects(objects).cluster, { node }).ruleset;

describe('diff on the real kernel', function () {
  this.timeout(300_000);
  let viaDiff: Netns, direct: Netns;

  before(function () {
    requireKernel(this);
    removeNamespaces(PREFIX);
    viaDiff = Netns.create(`${PREFIX}a`);
    direct = Netns.create(`${PREFIX}b`);
  });
  after(() => {
    viaDiff?.delete();
    direct?.delete();
  });

  /** Loads a, applies diff(a, b) then diff(b, c) ..., and checks the table after each step. */
  function checkChain(steps: Ruleset[]): void {
    viaDiff.nftApply(batchJson(fullBatch(steps[0]!)));
    for (let i = 1; i < steps.length; i++) {
      const d = diffBatch(steps[i - 1]!, steps[i]!);
      try {
        if (d.nftables.length) viaDiff.nftApply(batchJson(d));
      } catch (e) {
        throw new Error(`diff step ${i} was refused: ${(e as Error).message}\n--- batch ---\n${batchText(d)}`);
      }
      direct.nftApply(batchJson(fullBatch(steps[i]!)));
      // What the kernel holds, read back into the IR, is what was compiled.
      expect(rulesetKey(direct.listRuleset('inet', 'netpol_nft')!), `step ${i}: the kernel's table read back`).to.equal(rulesetKey(steps[i]!));
      const got = viaDiff.listTable('inet', 'netpol_nft'), want = direct.listTable('inet', 'netpol_nft');
      if (got !== want) {
        const g = new Set(got.split('\n')), w = new Set(want.split('\n'));
        const only = (a: Set<string>, b: Set<string>) => [...a].filter((l) => !b.has(l)).slice(0, 10).join('\n');
        throw new Error(`after diff step ${i} the table differs from a fresh load\n--- batch ---\n${batchText(d)}\n--- only after the diff ---\n${only(g, w)}\n--- only in the fresh load ---\n${only(w, g)}`);
      }
    }
  }

  it('turns a random cluster into another random cluster', () => {
    fc.assert(
      fc.property(clusterObjectsArb(), clusterObjectsArb(), (a, b) => checkChain([rulesetOf(a), rulesetOf(b)])),
      { numRuns: 60, seed: 20261122, endOnFailure: true },
    );
  });

  it('follows a chain of small random edits (one object replaced at a time)', () => {
    fc.assert(
      fc.property(editChainArb(3, 6, 10, 6), (states) => checkChain(states.map((s) => rulesetOf(s)))),
      { numRuns: 30, seed: 7, endOnFailure: true },
    );
  });

  let lastGen = 1;
  it('applies the policy engine\'s delta transactions along edit chains: each equals a fresh load', () => {
    // The agent's path: one engine, the changed objects as events, deltaBatch after each step.
    fc.assert(
      // Half the chains with per-rule counters: nft must take their adds and deletes in order.
      fc.property(editChainArb(3, 8), fc.boolean(), (states, policyRuleCounters) => {
        const engine = new PolicyEngine({ node: 'n1', policyRuleCounters });
        let held = new Map<string, unknown>();
        states.forEach((objects, step) => {
          const cluster = clusterFromObjects(objects).cluster;
          const now = new Map<string, unknown>([
            ...cluster.namespaces.map((n) => [`ns ${n.name}`, n] as const),
            ...cluster.policies.map((p) => [`np ${p.namespace}/${p.name}`, p] as const),
            ...cluster.pods.map((p) => [`pod ${p.namespace}/${p.name}`, p] as const),
            ...(cluster.nodes ?? []).map((n) => [`node ${n.name}`, n] as const),
            ...(cluster.clusterPolicies ?? []).map((p) => [`cnp ${p.name}`, p] as const),
          ]);
          const upsert = (kind: string, v: unknown): ClusterEvent =>
            kind === 'ns' ? { kind: 'namespace', op: 'upsert', namespace: v as never }
              : kind === 'np' ? { kind: 'networkpolicy', op: 'upsert', policy: v as never }
                : kind === 'node' ? { kind: 'node', op: 'upsert', node: v as never }
                  : kind === 'cnp' ? { kind: 'clusternetworkpolicy', op: 'upsert', policy: v as never }
                    : { kind: 'pod', op: 'upsert', pod: v as never };
          const remove = (kind: string, o: { name: string; namespace: string }): ClusterEvent =>
            kind === 'ns' ? { kind: 'namespace', op: 'delete', name: o.name }
              : kind === 'node' ? { kind: 'node', op: 'delete', name: o.name }
                : kind === 'cnp' ? { kind: 'clusternetworkpolicy', op: 'delete', name: o.name }
                  : { kind: kind === 'np' ? 'networkpolicy' : 'pod', op: 'delete', namespace: o.namespace, name: o.name };
          for (const [k, v] of now) if (JSON.stringify(held.get(k)) !== JSON.stringify(v)) engine.apply(upsert(k.split(' ')[0]!, v));
          for (const [k, v] of held) if (!now.has(k)) engine.apply(remove(k.split(' ')[0]!, v as { name: string; namespace: string }));
          held = now;
          const gen = step + 1;
          const batch = step === 0 ? engine.fullBatch(gen) : engine.deltaBatch(gen);
          if (batch) {
            try {
              viaDiff.nftApply(batchJson(batch));
            } catch (e) {
              throw new Error(`engine step ${step} was refused: ${(e as Error).message}\n--- batch ---\n${batchText(batch)}`);
            }
          }
          engine.commit();
          direct.nftApply(batchJson(fullBatch(compile(cluster, { node: 'n1', generation: batch ? gen : lastGen, policyRuleCounters }).ruleset)));
          if (batch) lastGen = gen;
          const got = viaDiff.listTable('inet', 'netpol_nft'), want = direct.listTable('inet', 'netpol_nft');
          if (got !== want) throw new Error(`after engine step ${step} the table differs from a fresh load\n--- batch ---\n${batch ? batchText(batch) : '(none)'}`);
        });
      }),
      { numRuns: 30, seed: 11, endOnFailure: true },
    );
  });

  it('sends nothing when nothing changed', () => {
    fc.assert(fc.property(clusterObjectsArb(), (a) => {
      expect(diffBatch(rulesetOf(a), rulesetOf(a)).nftables).to.deep.equal([]);
    }), { numRuns: 50 });
  });
});
