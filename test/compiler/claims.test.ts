// Address claims from the node's point of view (issue 11, item 4): a pod of this node keeps its
// address in the dispatch maps and local sets whatever pods of other nodes claim; an address
// two pods of other nodes claim is nobody's (it leaves every peer set), so a claim can take
// allowances away but never lend the claimant's. The incremental path is held to the same by
// the property test (incremental.test.ts, pods that claim one another's addresses).
import { expect } from 'chai';
import { compile, PolicyEngine, clusterFromObjects } from '../../compiler/index.js';
import { cluster, ns, pod, policy } from './builders.js';
import { evalPacket, type Packet } from './packet-eval.js';

const A = '192.0.2.10';
const pkt = (saddr: string, daddr: string): Packet => ({ hook: 'forward', saddr, daddr, l4proto: 'tcp', sport: 40000, dport: 80, ct: { state: 'new', direction: 'original', mark: 0 } });
const denyAll = policy('x/deny-all', { podSelector: { matchLabels: { app: 'old' } }, policyTypes: ['Ingress', 'Egress'] });

describe('compiler: address claims (a pod of this node keeps its address)', () => {
  // x/old runs on n1 and denies everything; y/new on n2 is newer and claims x/old's address
  // (pods/status written by a compromised kubelet, or an API lagging behind an IP reuse).
  const objs = [ns('x'), ns('y'), ns('z'),
    pod('x/old', { labels: { app: 'old' }, node: 'n1', ips: [A], created: '2026-01-01T00:00:00Z' }),
    pod('y/new', { labels: { app: 'new' }, node: 'n2', ips: [A], created: '2026-01-02T00:00:00Z' }),
    pod('z/peer', { labels: { app: 'peer' }, node: 'n1', ips: ['192.0.2.20'] }),
    denyAll];

  it("on its own node, x/old keeps its address and its deny-all, whatever n2's newer pod claims", () => {
    const r = compile(cluster(...objs), { node: 'n1' });
    expect(r.localPods.find((p) => p.name === 'old')?.ips).to.deep.equal([A]);
    expect(evalPacket(r.ruleset, pkt('192.0.2.20', A)).verdict, 'z/peer -> x/old').to.equal('drop');
    expect(evalPacket(r.ruleset, pkt(A, '192.0.2.20')).verdict, 'x/old -> z/peer').to.equal('drop');
  });

  it('on the claimant\'s node the claimant keeps it too: each node enforces its own pod', () => {
    const r = compile(cluster(...objs), { node: 'n2' });
    expect(r.localPods.find((p) => p.name === 'new')?.ips).to.deep.equal([A]);
  });

  it('an address two pods of other nodes claim lends no allowance on a third node', () => {
    // z/web on n3 admits pods labelled role=client. x/plain (n1) holds A; y/claimer (n2, newer,
    // role=client) claims it: A must not become a client on n3.
    const web = policy('z/web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'client' } } }] }] });
    const three = [ns('x'), ns('y'), ns('z'),
      pod('x/plain', { node: 'n1', ips: [A], created: '2026-01-01T00:00:00Z' }),
      pod('y/claimer', { labels: { role: 'client' }, node: 'n2', ips: [A], created: '2026-01-02T00:00:00Z' }),
      pod('y/client', { labels: { role: 'client' }, node: 'n2', ips: ['192.0.2.30'] }),
      pod('z/web', { labels: { app: 'web' }, node: 'n3', ips: ['192.0.2.40'] }),
      web];
    const r = compile(cluster(...three), { node: 'n3' });
    expect(evalPacket(r.ruleset, pkt(A, '192.0.2.40')).verdict, 'contested A -> z/web').to.equal('drop');
    expect(evalPacket(r.ruleset, pkt('192.0.2.30', '192.0.2.40')).verdict, 'y/client -> z/web').to.equal('accept');
    // Once the claim is gone, A is x/plain's again (no role: still denied) or, if x/plain is
    // the one gone, y/claimer's (a client: allowed).
    const withoutPlain = three.filter((o) => (o as { metadata: { name: string } }).metadata.name !== 'plain');
    expect(evalPacket(compile(cluster(...withoutPlain), { node: 'n3' }).ruleset, pkt(A, '192.0.2.40')).verdict).to.equal('accept');
  });

  it('events in any order reach the same ruleset as a fresh compile', () => {
    const { cluster: c } = clusterFromObjects(objs);
    const fresh = JSON.stringify(compile(c, { node: 'n1' }).ruleset);
    for (const order of [[...c.pods], [...c.pods].reverse()]) {
      const e = new PolicyEngine({ node: 'n1' });
      for (const namespace of c.namespaces) e.apply({ kind: 'namespace', op: 'upsert', namespace });
      for (const p of c.policies) e.apply({ kind: 'networkpolicy', op: 'upsert', policy: p });
      for (const p of order) e.apply({ kind: 'pod', op: 'upsert', pod: p });
      expect(JSON.stringify(e.ruleset())).to.equal(fresh);
      // The claimant leaving changes nothing on n1.
      e.apply({ kind: 'pod', op: 'delete', namespace: 'y', name: 'new' });
      expect(JSON.stringify(e.ruleset())).to.equal(fresh);
    }
  });
});
