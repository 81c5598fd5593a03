// The core property of the policy engine: applying a cluster's changes as events, one at a
// time, gives exactly what a fresh compile of the same state gives — the wanted ruleset
// (generation aside: it is the caller's), the local pods, the problems — and each delta
// transaction, applied to the in-memory nft (test/helpers/fake-nft.ts, strict: it refuses
// what nft refuses, and an element added twice), leaves that table equal to a fresh load of
// the fresh compile. Random clusters, random edit chains,
// both nodes, and pods that claim one another's addresses (the engine settles claims itself,
// from the raw pods, as the agent's sources hand them over).
//
// PROPERTY_RUNS / PROPERTY_SEED as in property.test.ts.
import { expect } from 'chai';
import fc from 'fast-check';
import { clusterFromObjects, compile, formatProblem, fullBatch, parseClusterPolicy, parseNamespace, parseNode, parsePod, parsePolicy, PolicyEngine, type ClusterEvent, type ClusterPolicyInfo, type NamespaceInfo, type NodeInfo, type PodInfo, type PolicyInfo } from '../../compiler/index.js';
import { editChainArb } from '../helpers/random-cluster.js';
import { FakeNft } from '../helpers/fake-nft.js';

type Raw = { kind: string; metadata: { name: string; namespace?: string; creationTimestamp?: string }; status?: { podIP?: string; podIPs?: { ip: string }[] } };

/** Makes pods p<i> and p<i+4> share addresses (and gives them creation times), so that
 *  address claims come and go along a chain. */
function colliding(objects: unknown[], on: boolean): unknown[] {
  if (!on) return objects;
  return objects.map((o) => {
    const r = o as Raw;
    if (r.kind !== 'Pod') return o;
    const i = Number(r.metadata.name.slice(1));
    const host = 10 + (i % 4);
    const ips = [`192.0.2.${host}`, ...((r.status?.podIPs?.length ?? 0) > 1 ? [`2001:db8::${host.toString(16)}`] : [])];
    return { ...r, metadata: { ...r.metadata, creationTimestamp: `2026-01-0${1 + (i % 3)}T00:00:00Z` }, status: { ...r.status, podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } };
  });
}

/** Objects as a source holds them: parsed one by one, last of a name wins, claims unsettled. */
function rawState(objects: unknown[]): { namespaces: Map<string, NamespaceInfo>; pods: Map<string, PodInfo>; policies: Map<string, PolicyInfo>; cnps: Map<string, ClusterPolicyInfo>; nodes: Map<string, NodeInfo> } {
  const s = { namespaces: new Map<string, NamespaceInfo>(), pods: new Map<string, PodInfo>(), policies: new Map<string, PolicyInfo>(), cnps: new Map<string, ClusterPolicyInfo>(), nodes: new Map<string, NodeInfo>() };
  for (const o of objects as Raw[]) {
    if (o.kind === 'Namespace') { const r = parseNamespace(o); if (r.ok) s.namespaces.set(r.value.name, r.value); }
    else if (o.kind === 'Pod') { const r = parsePod(o); if (r.ok) s.pods.set(`${r.value.namespace}/${r.value.name}`, r.value); }
    else if (o.kind === 'ClusterNetworkPolicy') { const r = parseClusterPolicy(o); if (r.ok) s.cnps.set(r.value.name, r.value); }
    else if (o.kind === 'Node') { const r = parseNode(o); if (r.ok) s.nodes.set(r.value.name, r.value); }
    else { const r = parsePolicy(o); if (r.ok) s.policies.set(`${r.value.namespace}/${r.value.name}`, r.value); }
  }
  return s;
}

/** The events between two raw states, key by key (deletions first or last). */
function events(a: ReturnType<typeof rawState>, b: ReturnType<typeof rawState>, deletesFirst: boolean): ClusterEvent[] {
  const up: ClusterEvent[] = [], del: ClusterEvent[] = [];
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  for (const [k, v] of b.namespaces) if (!same(a.namespaces.get(k), v)) up.push({ kind: 'namespace', op: 'upsert', namespace: v });
  for (const k of a.namespaces.keys()) if (!b.namespaces.has(k)) del.push({ kind: 'namespace', op: 'delete', name: k });
  for (const [k, v] of b.policies) if (!same(a.policies.get(k), v)) up.push({ kind: 'networkpolicy', op: 'upsert', policy: v });
  for (const [k, v] of a.policies) if (!b.policies.has(k)) del.push({ kind: 'networkpolicy', op: 'delete', namespace: v.namespace, name: v.name });
  for (const [k, v] of b.pods) if (!same(a.pods.get(k), v)) up.push({ kind: 'pod', op: 'upsert', pod: v });
  for (const [k, v] of a.pods) if (!b.pods.has(k)) del.push({ kind: 'pod', op: 'delete', namespace: v.namespace, name: v.name });
  for (const [k, v] of b.cnps) if (!same(a.cnps.get(k), v)) up.push({ kind: 'clusternetworkpolicy', op: 'upsert', policy: v });
  for (const k of a.cnps.keys()) if (!b.cnps.has(k)) del.push({ kind: 'clusternetworkpolicy', op: 'delete', name: k });
  for (const [k, v] of b.nodes) if (!same(a.nodes.get(k), v)) up.push({ kind: 'node', op: 'upsert', node: v });
  for (const k of a.nodes.keys()) if (!b.nodes.has(k)) del.push({ kind: 'node', op: 'delete', name: k });
  return deletesFirst ? [...del, ...up] : [...up, ...del];
}

const EMPTY = rawState([]);

describe('policy engine: incremental == fresh compile', function () {
  this.timeout(600_000);

  it('along random edit chains, on both nodes: the ruleset, and every delta applied to an in-memory table', () => {
    let deltas = 0, empty = 0, contested = 0;
    fc.assert(
      fc.property(editChainArb(2, 8), fc.boolean(), fc.boolean(), fc.boolean(), (states, collide, deletesFirst, policyRuleCounters) => {
        for (const node of ['n1', 'n2']) {
          // Half the runs with per-rule counters: their reference counts across groups too.
          const engine = new PolicyEngine({ node, policyRuleCounters });
          const table = new FakeNft({ strict: true });
          const fresh = (gen: number) => {
            const f = new FakeNft();
            f.applyBatch(fullBatch(engine.ruleset(gen)));
            return f.dump();
          };
          let prev = EMPTY;
          let written = 0;
          states.forEach((objs, step) => {
            const objects = colliding(objs, collide);
            const raw = rawState(objects);
            for (const ev of events(prev, raw, deletesFirst)) engine.apply(ev);
            prev = raw;
            const gen = step + 1;
            const cluster = clusterFromObjects(objects).cluster;
            const want = compile(cluster, { node, generation: gen, policyRuleCounters });
            if (want.ruleset.chains.some((c) => /^(in|eg)[46][or]_c_/.test(c.name))) contested++;
            const where = () => `step ${step} on ${node}\nobjects: ${JSON.stringify(objects)}`;
            expect(JSON.stringify(engine.ruleset(gen)), `ruleset at ${where()}`).to.equal(JSON.stringify(want.ruleset));
            expect(engine.localPods(), `local pods at ${where()}`).to.deep.equal(want.localPods);
            expect(engine.problems().map(formatProblem), `problems at ${where()}`).to.deep.equal(want.problems.map(formatProblem));
            expect(engine.policyCount()).to.deep.equal(want.policyCount);
            if (policyRuleCounters) expect(engine.ruleCounters().map((r) => r.counter), `rule counters at ${where()}`).to.deep.equal(want.ruleset.counters.filter((n) => /^c?rule_/.test(n)));
            const batch = step === 0 ? engine.fullBatch(gen) : engine.deltaBatch(gen);
            if (batch) {
              try {
                table.applyBatch(batch);
              } catch (e) {
                throw new Error(`the ${step === 0 ? 'full' : 'delta'} batch was refused at ${where()}\n${(e as Error).message}\nbatch: ${JSON.stringify(batch)}`);
              }
              if (step > 0) deltas++;
              written = gen;
            } else empty++;
            engine.commit();
            // The object counts the engine keeps as it goes (the agent's gauges) are a recount's.
            const rs = engine.ruleset(written);
            expect(engine.objectCounts(), `object counts at ${where()}`).to.deep.equal({
              chain: rs.chains.length, rule: rs.chains.reduce((n, c) => n + c.rules.length, 0),
              set: rs.sets.length + rs.maps.length, element: [...rs.sets, ...rs.maps].reduce((n, c) => n + c.elems.length, 0),
            });
            // The table equals a fresh load of what the engine wants, stamped as last written.
            expect(table.dump(), `table after step ${where()}`).to.equal(fresh(written));
          });
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150), seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined },
    );
    expect(deltas, 'delta batches seen').to.be.greaterThan(50);
    expect(contested, 'steps with an address two differently isolated pods of the node claim (contested chains)').to.be.greaterThan(10);
    expect(empty, 'steps that changed nothing for a node').to.be.greaterThan(0);
  });

  it('deleting everything leaves only the fixed objects, and re-adding gives the same table', () => {
    fc.assert(
      fc.property(editChainArb(0, 0), (states) => {
        const raw = rawState(states[0]!);
        const engine = new PolicyEngine({ node: 'n1' });
        for (const ev of events(EMPTY, raw, false)) engine.apply(ev);
        const full = JSON.stringify(engine.ruleset(1));
        for (const ev of events(raw, EMPTY, false)) engine.apply(ev);
        expect(JSON.stringify(engine.ruleset(1))).to.equal(JSON.stringify(compile({ namespaces: [], pods: [], policies: [] }, { node: 'n1' }).ruleset));
        expect(engine.ruleset(1).sets.filter((x) => /^(hairpin|node_)/.test(x.name)), 'tier sets left behind').to.deep.equal([]);
        expect(engine.stats()).to.deep.include({ pods: 0, peers: 0, groups: 0, policies: 0 });
        for (const ev of events(EMPTY, raw, true)) engine.apply(ev);
        expect(JSON.stringify(engine.ruleset(1))).to.equal(full);
      }),
      { numRuns: 50 },
    );
  });

  it('the full batch built in slices (as the agent builds it) is the same batch, byte for byte', async () => {
    const states = fc.sample(editChainArb(0, 0), { numRuns: 20, seed: 5 });
    for (const [start] of states) {
      const engine = new PolicyEngine({ node: 'n1' });
      for (const ev of events(EMPTY, rawState(start!), false)) engine.apply(ev);
      const sliced = await engine.fullBatchSliced(3, async () => {});
      expect(JSON.stringify(sliced)).to.equal(JSON.stringify(engine.fullBatch(3)));
    }
  });
});
