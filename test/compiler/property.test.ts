// Property: on random small clusters and random connections, the compiler agrees with a
// reference evaluator written independently from docs/design.md section 1 (reference.ts), through
// (a) `explain` and (b) the compiled rulesets of the nodes involved, decided packet by packet
// (packet-eval.ts). A failure prints the cluster as objects and the three verdicts.
//
// PROPERTY_RUNS=5000 runs more examples (default 500, 300 with tiers); PROPERTY_SEED=<seed from a failure>
// replays one; PROPERTY_STATS=1 prints how many connections were allowed, denied, isolated.
import { expect } from 'chai';
import fc from 'fast-check';
import { clusterFromObjects, explain, formatProblem, resolveAddressClaims, type Cluster } from '../../compiler/index.js';
import { clusterArb, edgeConnections, ipBlockClusterArb, scenarioArbOf } from './arbitraries.js';
import type { Obj } from './builders.js';
import { connectionVerdict } from './packet-eval.js';
import { Reference, type RefConnection } from './reference.js';

// ------------------------------------------------------------------ the property

function describeScenario(s: { objects: Obj[]; src: string; dst: string; protocol: string; port: number }): string {
  const line = (o: Obj) => JSON.stringify(o.kind === 'Pod' ? { kind: 'Pod', metadata: o.metadata, spec: o.spec, status: o.status } : o);
  return [`connection ${s.src} -> ${s.dst} ${s.protocol}/${s.port}`, ...s.objects.map(line)].join('\n  ');
}

/** The reference gives a contested address to its newest claimant cluster-wide; a node's
 *  ruleset settles claims across nodes from its own point of view (claims.test.ts). Here the
 *  compiled rulesets get one owner per address, as the reference sees it. */
const settled = (c: Cluster): Cluster => ({ ...c, pods: resolveAddressClaims(c.pods) });

describe('compiler semantics: property against a reference evaluator', function () {
  this.timeout(300_000);

  for (const tiered of [false, true]) it(`explain and the compiled rulesets agree with the reference on random clusters${tiered ? ' full of ClusterNetworkPolicies' : ''}`, () => {
    let allowedCount = 0, deniedCount = 0, isolatedSeen = 0, invalidSeen = 0;
    const byTier: Record<string, number> = {};
    fc.assert(
      fc.property(scenarioArbOf(tiered), (s) => {
        const { cluster, problems } = clusterFromObjects(s.objects);
        if (problems.length) throw new Error(`generator produced bad objects: ${problems.map(formatProblem).join('; ')}`);
        const conn: RefConnection = { src: s.src, dst: s.dst, protocol: s.protocol, port: s.port };
        const ref = new Reference(s.objects).allowed(conn);
        const e = explain(cluster, s.src, s.dst, s.port, s.protocol);
        const packets = connectionVerdict(settled(cluster), s.src, s.dst, s.protocol, s.port);
        if (ref.allowed) allowedCount++; else deniedCount++;
        if (e.egress.isolated || e.ingress.isolated) isolatedSeen++;
        if (e.egress.invalidPolicies.length || e.ingress.invalidPolicies.length) invalidSeen++;
        for (const side of [e.egress, e.ingress]) if (side.decidedBy) byTier[`${side.decidedBy} ${side.allowed ? 'allow' : 'deny'}`] = (byTier[`${side.decidedBy} ${side.allowed ? 'allow' : 'deny'}`] ?? 0) + 1;
        const msg = () => [
          describeScenario(s),
          `reference: ${JSON.stringify(ref)}`,
          `explain:   allowed=${e.allowed} egress=${e.egress.allowed} (${e.egress.reason}) ingress=${e.ingress.allowed} (${e.ingress.reason})`,
          ...[...(e.egress.tiers ?? []), ...(e.ingress.tiers ?? [])].map((t) => `           ${t}`),
          `ruleset:   allowed=${packets.allowed}`,
          ...packets.trace,
        ].join('\n');
        if (e.egress.allowed !== ref.egress || e.ingress.allowed !== ref.ingress) throw new Error(`explain disagrees with the reference\n${msg()}`);
        if (packets.allowed !== ref.allowed) throw new Error(`the compiled ruleset disagrees with the reference\n${msg()}`);
        // The established fast path changes nothing for a connection's first packet.
        const fast = connectionVerdict(settled(cluster), s.src, s.dst, s.protocol, s.port, { establishedFastPath: true });
        if (fast.allowed !== ref.allowed) throw new Error(`the ruleset compiled with the established fast path disagrees with the reference\n${msg()}\n${fast.trace.join('\n')}`);
        // The drop log marks packets for tracing and changes no verdict: under its rate and above.
        for (const overLimit of [false, true]) {
          const logged = connectionVerdict(settled(cluster), s.src, s.dst, s.protocol, s.port, { dropLog: true, overLimit });
          const verdicts = (v: typeof packets) => v.nodes.map((n) => [n.original.verdict, n.reply.verdict, n.replyMarked.verdict, n.original.mark].join());
          if (JSON.stringify(verdicts(logged)) !== JSON.stringify(verdicts(packets))) throw new Error(`the drop log changed a verdict (overLimit ${overLimit})\n${msg()}\n${logged.trace.join('\n')}`);
          // Only dropped packets are marked, and every one of them while under the rate.
          for (const n of logged.nodes) for (const r of [n.original, n.reply, n.replyMarked]) {
            if (r.nftrace && r.verdict !== 'drop') throw new Error(`an accepted packet was marked for the drop log\n${msg()}`);
            if (!overLimit && r.verdict === 'drop' && r.counters.length && !r.nftrace) throw new Error(`a dropped packet was not marked for the drop log\n${msg()}\n${logged.trace.join('\n')}`);
          }
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? (tiered ? 300 : 500)), seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined },
    );
    if (process.env.PROPERTY_STATS) console.log({ tiered, allowedCount, deniedCount, isolatedSeen, invalidSeen, byTier });
    // The generator must exercise both outcomes and the interesting paths, or the property says little.
    expect(allowedCount, 'allowed connections seen').to.be.greaterThan(10);
    expect(deniedCount, 'denied connections seen').to.be.greaterThan(10);
    if (!tiered) {
      expect(isolatedSeen, 'connections with an isolated end').to.be.greaterThan(30);
      expect(invalidSeen, 'connections decided by an invalid policy').to.be.greaterThan(0);
    } else {
      // Every tier decides both ways somewhere, and the default allow is reached through the tiers.
      for (const k of ['Admin allow', 'Admin deny', 'Baseline allow', 'Baseline deny', 'NetworkPolicy allow', 'NetworkPolicy deny', 'default allow']) expect(byTier[k] ?? 0, `sides decided: ${k}`).to.be.greaterThan(1);
    }
  });

  // Every edge, not a sample: for each random cluster (half of them made of ipBlock rules),
  // every connection from an edge of each
  // ipBlock rule (first and last address of the cidr and of each except, the ones just
  // outside, the middle of each hole) to the pods of its policy's namespace, on every edge
  // of the rule's ports (port-1, port, endPort, endPort+1). A slip of one address or one
  // port in interval merging shows only there.
  it('agrees with the reference at every ipBlock edge and every port-range edge', () => {
    let checked = 0, denied = 0;
    fc.assert(
      fc.property(fc.oneof(clusterArb, ipBlockClusterArb), (objects) => {
        const { cluster, problems } = clusterFromObjects(objects);
        if (problems.length) throw new Error(`generator produced bad objects: ${problems.map(formatProblem).join('; ')}`);
        const ref = new Reference(objects);
        for (const c of edgeConnections(objects)) {
          const want = ref.allowed(c);
          const e = explain(cluster, c.src, c.dst, c.port, c.protocol);
          const packets = connectionVerdict(settled(cluster), c.src, c.dst, c.protocol, c.port);
          checked++;
          if (!want.allowed) denied++;
          const s = { objects, ...c };
          if (e.egress.allowed !== want.egress || e.ingress.allowed !== want.ingress) throw new Error(`explain disagrees with the reference\n${describeScenario(s)}\nreference: ${JSON.stringify(want)}\nexplain: ${e.egress.reason} | ${e.ingress.reason}`);
          if (packets.allowed !== want.allowed) throw new Error(`the compiled ruleset disagrees with the reference\n${describeScenario(s)}\nreference: ${JSON.stringify(want)}\n${packets.trace.join('\n')}`);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_EDGE_RUNS ?? 40), seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined },
    );
    expect(checked, 'edge connections checked').to.be.greaterThan(500);
    expect(denied, 'edge connections denied').to.be.greaterThan(50);
  });
});
