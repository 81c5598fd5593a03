// Property: compiling through a long-lived CompileCache (as the agent does, objects that did
// not change keeping their identity) gives exactly what a fresh compile gives. The cache
// (ir.ts IndexCache, ruleset.ts CompileCache) must only save time, never change a verdict.
import fc from 'fast-check';
import { clusterFromObjects, compile, CompileCache, formatProblem, type Cluster } from '../../compiler/index.js';
import { clusterArb } from './arbitraries.js';

type Keyed = { namespace?: string; name: string };
const key = (o: Keyed) => `${o.namespace ?? ''}/${o.name}`;

/** Mixes two clusters as a source would hand them over: each object from the first or the
 *  second (or dropped), unchanged objects keeping their identity. */
function mix<T extends Keyed>(a: readonly T[], b: readonly T[], bits: readonly number[], salt: number): T[] {
  const out = new Map<string, T>();
  a.forEach((o, i) => { if ((bits[(i + salt) % bits.length]! & 3) !== 0) out.set(key(o), o); });
  b.forEach((o, i) => { if ((bits[(i + salt + 7) % bits.length]! & 3) === 1) out.set(key(o), o); });
  return [...out.values()].sort((x, y) => (key(x) < key(y) ? -1 : 1));
}
const mixCluster = (a: Cluster, b: Cluster, bits: readonly number[], salt: number): Cluster => ({
  namespaces: mix(a.namespaces, b.namespaces, bits, salt),
  pods: mix(a.pods, b.pods, bits, salt + 1),
  policies: mix(a.policies, b.policies, bits, salt + 2),
});

/** What a compile decides (bookkeeping a ruleset may carry for diffs is left out). */
const view = (c: Cluster, node: string, cache?: CompileCache) => {
  const r = compile(c, { node }, cache);
  const rs = r.ruleset;
  return JSON.stringify({
    chains: rs.chains.map((ch) => ({ name: ch.name, base: ch.base, rules: ch.rules })),
    counters: rs.counters,
    sets: rs.sets.map((s) => ({ name: s.name, type: s.type, flags: s.flags, elems: s.elems })),
    maps: rs.maps.map((m) => ({ name: m.name, type: m.type, map: m.map, elems: m.elems })),
    localPods: r.localPods, generation: r.generation, problems: r.problems.map(formatProblem), count: r.policyCount,
  });
};

describe('compiler: a long-lived compile cache changes nothing', function () {
  this.timeout(300_000);
  it('a sequence of mixed clusters compiles through one cache exactly as it compiles fresh', () => {
    fc.assert(
      fc.property(clusterArb, clusterArb, fc.array(fc.nat(255), { minLength: 8, maxLength: 8 }), (objsA, objsB, bits) => {
        const a = clusterFromObjects(objsA).cluster, b = clusterFromObjects(objsB).cluster;
        const steps = [a, mixCluster(a, b, bits, 0), b, mixCluster(a, b, bits, 3), a, mixCluster(b, a, bits, 5)];
        for (const node of ['n1', 'n2']) {
          const cache = new CompileCache();
          steps.forEach((c, i) => {
            const got = view(c, node, cache), want = view(c, node);
            if (got !== want) {
              throw new Error(`step ${i} on ${node}: cached compile differs from a fresh one\ncluster: ${JSON.stringify(c)}\ncached: ${got}\nfresh:  ${want}`);
            }
          });
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150), seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined },
    );
  });
});

describe('compiler: the order of objects never matters (docs/design.md 1.3)', function () {
  this.timeout(300_000);
  it('any permutation of the objects compiles to the same bytes and the same explanations', () => {
    fc.assert(
      fc.property(clusterArb.chain((objs) => fc.tuple(fc.constant(objs), fc.shuffledSubarray(objs, { minLength: objs.length, maxLength: objs.length }))), ([objs, shuffled]) => {
        const a = clusterFromObjects(objs).cluster, b = clusterFromObjects(shuffled).cluster;
        for (const node of ['n1', 'n2']) {
          const x = view(a, node), y = view(b, node);
          if (x !== y) throw new Error(`order changed the ruleset of ${node}\nobjects: ${JSON.stringify(objs)}\nshuffled: ${JSON.stringify(shuffled)}`);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 100), seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined },
    );
  });
});
