// Address claims from the node's point of view (issue 11, item 4): a pod of this node keeps its
// address in the dispatch maps and local sets whatever pods of other nodes claim; two pods of
// this node claiming one address both keep it, and it gets the union of their isolation (what
// every isolating claimant's policies allow, through a contested chain); an address two pods of
// other nodes claim is nobody's (it leaves every peer set), so a claim can take allowances away
// but never lend the claimant's. The incremental path is held to the same by
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

describe('compiler: a contested address gets the union of its claimants\' isolation (pods of one node)', () => {
  const Z = '192.0.2.20', B = '192.0.2.30';
  const pk = (saddr: string, daddr: string, dport = 80): Packet => ({ ...pkt(saddr, daddr), dport });
  const old = (labels: Record<string, string> = { app: 'old' }) => pod('x/old', { labels, node: 'n1', ips: [A, '2001:db8::a'], created: '2026-01-01T00:00:00Z' });
  const newer = (labels: Record<string, string> = { app: 'new' }) => pod('y/new', { labels, node: 'n1', ips: [A, '2001:db8::a'], created: '2026-01-02T00:00:00Z' });
  const base = [ns('x'), ns('y'), ns('z'),
    pod('z/peer', { labels: { app: 'peer' }, node: 'n1', ips: [Z, '2001:db8::20'] }),
    pod('z/b', { labels: { role: 'b' }, node: 'n2', ips: [B, '2001:db8::30'] })];

  it('a newer unisolated pod of the same node claiming x/old\'s address leaves x/old\'s deny-all in force, both families', () => {
    const r = compile(cluster(...base, old(), newer(), denyAll), { node: 'n1' });
    for (const [a, z] of [[A, Z], ['2001:db8::a', '2001:db8::20']] as const) {
      expect(evalPacket(r.ruleset, pkt(z, a)).verdict, `z/peer -> ${a}`).to.equal('drop');
      expect(evalPacket(r.ruleset, pkt(a, z)).verdict, `${a} -> z/peer`).to.equal('drop');
    }
    // Both pods hold the address on n1 (metrics and the local set speak of both).
    expect(r.localPods.filter((p) => p.ips.includes(A)).map((p) => `${p.namespace}/${p.name}`)).to.deep.equal(['x/old', 'y/new']);
    // ... and the address is no worse off than x/old alone: the same verdicts without the claim.
    const alone = compile(cluster(...base, old(), denyAll), { node: 'n1' });
    expect(evalPacket(alone.ruleset, pkt(Z, A)).verdict).to.equal('drop');
  });

  it('two isolating claimants with different policies: only what both allow passes (a contested chain)', () => {
    // x/old admits pods role=b on 80 and 81; y/new admits anyone on 80: the address admits role=b on 80.
    const oldPol = policy('x/old-from-b', { podSelector: { matchLabels: { app: 'old' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'b' } } }], ports: [{ port: 80 }, { port: 81 }] }] });
    const newPol = policy('y/new-80', { podSelector: { matchLabels: { app: 'new' } }, ingress: [{ ports: [{ port: 80 }] }] });
    const r = compile(cluster(...base, old(), newer(), oldPol, newPol), { node: 'n1' });
    expect(evalPacket(r.ruleset, pk(B, A, 80)).verdict, 'z/b -> A:80 (both allow)').to.equal('accept');
    expect(evalPacket(r.ruleset, pk(B, A, 81)).verdict, 'z/b -> A:81 (y/new does not)').to.equal('drop');
    expect(evalPacket(r.ruleset, pk(Z, A, 80)).verdict, 'z/peer -> A:80 (x/old does not)').to.equal('drop');
    expect(evalPacket(r.ruleset, pk('2001:db8::30', '2001:db8::a', 80)).verdict, 'IPv6 z/b -> A:80').to.equal('accept');
    expect(evalPacket(r.ruleset, pk('2001:db8::30', '2001:db8::a', 81)).verdict, 'IPv6 z/b -> A:81').to.equal('drop');
    // The reply of an allowed connection passes (the contested chain decides replies too).
    expect(evalPacket(r.ruleset, { ...pkt(A, B), sport: 80, dport: 40000, ct: { state: 'established', direction: 'reply', mark: 0 } }).verdict).to.equal('accept');
    // Egress is not isolated by either: untouched.
    expect(evalPacket(r.ruleset, pk(A, Z, 81)).verdict, 'A -> z/peer').to.equal('accept');
    const chains = r.ruleset.chains.map((c) => c.name).filter((n) => /_c_/.test(n));
    expect(chains, 'contested chains: ingress, IPv4 and IPv6, original and reply').to.have.length(4);
  });

  it('claimants in one group share its chain; an address nobody contests is never affected', () => {
    const both = policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] });
    const twin = pod('x/twin', { labels: { app: 'old' }, node: 'n1', ips: [A], created: '2026-01-02T00:00:00Z' });
    const r = compile(cluster(...base, old(), twin, both), { node: 'n1' });
    expect(r.ruleset.chains.some((c) => /_c_/.test(c.name)), 'no contested chain for one group').to.equal(false);
    expect(evalPacket(r.ruleset, pkt(Z, A)).verdict).to.equal('drop');
    // A ruleset without any contest is the one it always was (no contested chain, same bytes
    // whatever the claims elsewhere in the cluster).
    const plain = compile(cluster(...base, old(), denyAll), { node: 'n1' });
    expect(plain.ruleset.chains.some((c) => /_c_/.test(c.name))).to.equal(false);
  });

  it('events in any order reach the same ruleset as a fresh compile, and a claimant leaving undoes the contest', () => {
    const oldPol = policy('x/old-from-b', { podSelector: { matchLabels: { app: 'old' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'b' } } }] }] });
    const newPol = policy('y/new-80', { podSelector: { matchLabels: { app: 'new' } }, ingress: [{ ports: [{ port: 80 }] }] });
    const objs = [...base, old(), newer(), oldPol, newPol];
    const { cluster: c } = clusterFromObjects(objs);
    const fresh = JSON.stringify(compile(c, { node: 'n1' }).ruleset);
    const withoutNew = JSON.stringify(compile(clusterFromObjects(objs.filter((o) => (o as { metadata: { name: string } }).metadata.name !== 'new')).cluster, { node: 'n1' }).ruleset);
    for (const order of [[...c.pods], [...c.pods].reverse()]) for (const polFirst of [true, false]) {
      const e = new PolicyEngine({ node: 'n1' });
      for (const namespace of c.namespaces) e.apply({ kind: 'namespace', op: 'upsert', namespace });
      if (polFirst) for (const p of c.policies) e.apply({ kind: 'networkpolicy', op: 'upsert', policy: p });
      for (const p of order) e.apply({ kind: 'pod', op: 'upsert', pod: p });
      if (!polFirst) for (const p of c.policies) e.apply({ kind: 'networkpolicy', op: 'upsert', policy: p });
      expect(JSON.stringify(e.ruleset())).to.equal(fresh);
      e.apply({ kind: 'pod', op: 'delete', namespace: 'y', name: 'new' });
      expect(JSON.stringify(e.ruleset())).to.equal(withoutNew);
    }
  });
});
