// compile() with a CompileCache carried from one cluster state to the next gives exactly the
// bytes compile() gives from scratch: the cache only saves time.
import { expect } from 'chai';
import fc from 'fast-check';
import { batchJson, compile, CompileCache, fullBatch, parseNamespace, parsePod, parsePolicy, sortCluster, type Cluster, type NamespaceInfo, type PodInfo, type PolicyInfo } from '../../compiler/index.js';
import { clusterObjectsArb } from '../helpers/random-cluster.js';

/** Slim objects made once per raw object, as the agent's store keeps them: an unchanged
 *  object is the same object in the next state. */
function identityKeepingCluster() {
  const memo = new WeakMap<object, NamespaceInfo | PodInfo | PolicyInfo>();
  return (objects: unknown[]): Cluster => {
    const namespaces: NamespaceInfo[] = [], pods: PodInfo[] = [], policies: PolicyInfo[] = [];
    const seen = new Set<string>();
    for (const o of objects as { kind: string; metadata: { name: string; namespace?: string } }[]) {
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      if (seen.has(key)) continue; // the last one of a name wins in the API; first is fine here
      seen.add(key);
      let slim = memo.get(o);
      if (!slim) {
        const r = o.kind === 'Pod' ? parsePod(o) : o.kind === 'Namespace' ? parseNamespace(o) : parsePolicy(o);
        if (!r.ok) continue;
        memo.set(o, (slim = r.value));
      }
      if (o.kind === 'Pod') pods.push(slim as PodInfo);
      else if (o.kind === 'Namespace') namespaces.push(slim as NamespaceInfo);
      else policies.push(slim as PolicyInfo);
    }
    return sortCluster({ namespaces, pods, policies });
  };
}

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
