// The tiers in the ruleset (compiler/graph/tiers.ts), without root: rule origins, Deny counted
// on the pod's drop counter, a priority change as one transaction of chains only, a cost on
// the packet's path that does not grow with the cluster, and explain's tier walk. The
// semantics themselves are held to the reference evaluator by property.test.ts.
import { expect } from 'chai';
import { clusterFromObjects, compile, explain, explanationText, PolicyEngine, type Cluster } from '../../compiler/index.js';
import { cluster, pod, world, type Obj } from './builders.js';
import { evalPacket } from './packet-eval.js';

const cnp = (name: string, spec: Record<string, unknown>): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec });
const nsSel = (n: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } });
const denyY = (priority: number) => cnp('deny-y', { tier: 'Admin', priority, subject: { namespaces: nsSel('x') }, ingress: [{ name: 'no-y', action: 'Deny', from: [{ namespaces: nsSel('y') }] }] });
const acceptYa = cnp('accept-y-a', { tier: 'Admin', priority: 10, subject: { namespaces: nsSel('x') }, ingress: [{ name: 'y-a', action: 'Accept', from: [{ pods: { namespaceSelector: nsSel('y'), podSelector: { matchLabels: { pod: 'a' } } } }] }] });

const packet = (c: Cluster, node: string, saddr: string, daddr: string) =>
  evalPacket(compile(c, { node }).ruleset, { hook: 'forward', saddr, daddr, l4proto: 'tcp', sport: 40000, dport: 80, ct: { state: 'new', direction: 'original', mark: 0 } });

describe('ClusterNetworkPolicy tiers in the ruleset', () => {
  it('rules name their origin; a Deny drops on the pod\'s own drop counter; an Accept returns to the other direction\'s dispatch', () => {
    const c = cluster(...world(denyY(20), acceptYa));
    const rs = compile(c, { node: 'n1' }).ruleset;
    const comments = rs.chains.flatMap((ch) => ch.comments ?? []).filter((x): x is string => !!x);
    expect(comments).to.include('cnp/deny-y ingress[0] "no-y" from[0]');
    expect(comments).to.include('cnp/accept-y-a ingress[0] "y-a" from[0]');
    // y/b -> x/a (192.0.2.11 on n1): denied by deny-y, counted on x/a's ingress counter.
    const denied = packet(c, 'n1', '192.0.2.22', '192.0.2.11');
    expect(denied.verdict).to.equal('drop');
    expect(denied.counters).to.deep.equal(['drop_in_x_a']);
    // y/a -> x/a: accept-y-a (priority 10) before deny-y (20).
    expect(packet(c, 'n1', '192.0.2.21', '192.0.2.11').verdict).to.equal('accept');
    const e = explain(c, 'y/b', 'x/a', 80, 'TCP');
    expect(explanationText(e)).to.include('denied by cnp/deny-y ingress[0] "no-y" (Admin tier)').and.include('Admin: Deny by cnp/deny-y ingress[0] "no-y"').and.include('NetworkPolicy: not reached');
  });

  it('a priority change in place is one transaction that rebuilds chains and touches no set or map element', () => {
    const engine = new PolicyEngine({ node: 'n1' });
    const { cluster: c } = clusterFromObjects(world(denyY(20), acceptYa));
    for (const n of c.namespaces) engine.apply({ kind: 'namespace', op: 'upsert', namespace: n });
    for (const p of c.pods) engine.apply({ kind: 'pod', op: 'upsert', pod: p });
    for (const p of c.clusterPolicies!) engine.apply({ kind: 'clusternetworkpolicy', op: 'upsert', policy: p });
    engine.fullBatch(1);
    engine.commit();
    const moved = clusterFromObjects([denyY(5)]).cluster.clusterPolicies![0]!;
    engine.apply({ kind: 'clusternetworkpolicy', op: 'upsert', policy: moved });
    const batch = engine.deltaBatch(2)!;
    const kinds = batch.nftables.map((cmd) => `${Object.keys(cmd)[0]} ${Object.keys(Object.values(cmd)[0] as object)[0]}`);
    expect([...new Set(kinds)].sort()).to.deep.equal(['add rule', 'flush chain']);
    // Now deny-y goes first: y/a -> x/a is denied.
    const after = cluster(...world(denyY(5), acceptYa));
    expect(packet(after, 'n1', '192.0.2.21', '192.0.2.11').verdict).to.equal('drop');
    expect(JSON.stringify(engine.ruleset(2).chains)).to.equal(JSON.stringify(compile(after, { node: 'n1', generation: 2 }).ruleset.chains));
  });

  it('the rules on a pod\'s path do not grow with the pods of the cluster', () => {
    const chainsOf = (extra: number) => {
      const pods = Array.from({ length: extra }, (_, i) => pod(`y/p${i}`, { labels: { pod: 'a' }, node: 'n2', ips: [`198.51.100.${(i % 250) + 1}`] }));
      const rs = compile(cluster(...world(denyY(20), acceptYa), ...pods.slice(0, Math.min(extra, 250))), { node: 'n1' }).ruleset;
      return rs.chains.filter((ch) => !ch.base).map((ch) => `${ch.name}:${ch.rules.length}`).sort();
    };
    expect(chainsOf(200)).to.deep.equal(chainsOf(2));
  });
});
