// The engine's reconcile (what the agent runs at start and after a relist) is a generator
// whose `null`s are the places the agent may give the event loop back: they must come at
// least every `every` units of work, the walk that finds deleted objects included (at 50,000
// pods that walk alone held the loop for 60 ms). And the cluster it reconciles to may come in
// any order (the agent takes the sources' objects unsorted): the table is the same, byte for
// byte as a Ruleset value (the full batch leaves each set's elements in the order they came,
// which nft does not need sorted).
import { expect } from 'chai';
import { PolicyEngine, type Batch, sortCluster, type Cluster, type ClusterEvent } from '../../compiler/index.js';
import { BENCH_NODE, generateCluster, prng } from '../../bench/generate.js';

const small = () => generateCluster({ name: 'S', pods: 600, policies: 120, namespaces: 20, nodes: 5 }, { wirePair: true }).cluster;

/** Runs of events between two nulls (the longest), and the nulls. */
function shape(steps: Iterable<ClusterEvent | null>, engine?: PolicyEngine): { nulls: number; longestRun: number; events: number } {
  let nulls = 0, run = 0, longestRun = 0, events = 0;
  for (const s of steps) {
    if (s === null) {
      nulls++;
      run = 0;
      continue;
    }
    events++;
    longestRun = Math.max(longestRun, ++run);
    engine?.apply(s);
  }
  return { nulls, longestRun, events };
}

/** A batch with each set's and map's elements sorted (their order means nothing to nft). */
function canonical(b: Batch): string {
  return JSON.stringify(b.nftables.map((cmd) => {
    const [verb, body] = Object.entries(cmd)[0]!;
    const [kind, o] = Object.entries(body)[0]! as [string, { elem?: unknown[] }];
    return o.elem ? { [verb]: { [kind]: { ...o, elem: o.elem.map((e) => JSON.stringify(e)).sort() } } } : cmd;
  }));
}

const objects = (c: Cluster) => c.namespaces.length + c.policies.length + c.pods.length + (c.nodes?.length ?? 0) + (c.clusterPolicies?.length ?? 0);

function shuffled<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('policy engine: reconcileSteps', () => {
  it('yields a null at least every `every` units: each object compared, and each held object looked up for deletion', () => {
    const c = sortCluster(small());
    const engine = new PolicyEngine({ node: BENCH_NODE });
    shape(engine.reconcileSteps(c), engine);
    // Nothing differs: 2 units per object (compared, then looked up), nothing else.
    const same = shape(engine.reconcileSteps(c, 10));
    expect(same.events).to.equal(0);
    expect(same.nulls).to.be.at.least(Math.floor((2 * objects(c)) / 10));
    // Every pod gone: the deletions come from the lookup walk, a null at least every 10.
    const gone = shape(engine.reconcileSteps({ ...c, pods: [] }, 10), engine);
    expect(gone.events).to.equal(c.pods.length);
    expect(gone.longestRun).to.be.at.most(10);
    expect(engine.stats().pods).to.equal(0);
  });

  it('a cluster in any order gives the same table (the Ruleset value, byte for byte; the full batch, as a set of commands) and the same local pods', () => {
    const c = small();
    const rnd = prng(13);
    const mixed: Cluster = {
      ...c, namespaces: shuffled(c.namespaces, rnd), pods: shuffled(c.pods, rnd), policies: shuffled(c.policies, rnd),
      ...(c.nodes ? { nodes: shuffled(c.nodes, rnd) } : {}), ...(c.clusterPolicies ? { clusterPolicies: shuffled(c.clusterPolicies, rnd) } : {}),
    };
    const a = new PolicyEngine({ node: BENCH_NODE }), b = new PolicyEngine({ node: BENCH_NODE });
    shape(a.reconcileSteps(sortCluster(c)), a);
    shape(b.reconcileSteps(mixed), b);
    expect(a.localPods().length).to.be.greaterThan(10);
    expect(JSON.stringify(b.ruleset(1))).to.equal(JSON.stringify(a.ruleset(1)));
    expect(canonical(b.fullBatch(1))).to.equal(canonical(a.fullBatch(1)));
    expect(b.localPods()).to.deep.equal(a.localPods());
  });

  it('localPods: the same array until an event changes a pod of this node, then the entries of the others are kept', () => {
    const c = sortCluster(small());
    const engine = new PolicyEngine({ node: BENCH_NODE });
    shape(engine.reconcileSteps(c), engine);
    // Every local pod is new: rebuilt by slices of 10, then localPods() only sorts.
    const fresh = new PolicyEngine({ node: BENCH_NODE });
    shape(fresh.reconcileSteps(c), fresh);
    const n = fresh.localPods().length;
    expect([...engine.localPodsSteps(10)].length, 'a null every 10 pods').to.equal(Math.floor(n / 10));
    expect([...engine.localPodsSteps(10)].length, 'nothing left to rebuild').to.equal(0);
    const before = engine.localPods();
    expect(before).to.deep.equal(fresh.localPods());
    const remote = c.pods.find((p) => p.nodeName !== BENCH_NODE)!, local = before[0]!;
    engine.apply({ kind: 'pod', op: 'upsert', pod: { ...remote, labels: { ...remote.labels, touched: 'yes' } } });
    expect(engine.localPods(), 'a pod of another node changed').to.equal(before);
    engine.apply({ kind: 'pod', op: 'delete', namespace: local.namespace, name: local.name });
    const after = engine.localPods();
    expect(after).to.not.equal(before);
    expect(after).to.deep.equal(before.slice(1));
    expect(after[0]).to.equal(before[1]);
  });
});
