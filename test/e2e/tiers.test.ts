// ClusterNetworkPolicy tiers on the real kernel (policy.networking.k8s.io/v1alpha2): Admin →
// NetworkPolicy → Baseline → allow, with real TCP and UDP packets over IPv4 and IPv6.
// Placement (topology.ts): n1 holds x/a, x/c, y/b, z/a, z/c; n2 holds x/b, y/a, y/c, z/b.
// Nodes: n1 198.51.100.1 / 2001:db8:ff::1 (role control), n2 198.51.100.2 / 2001:db8:ff::2
// (role worker).
//
// The hairpin (a pod reaching its own address through a Service) is on the wire in
// service.test.ts: kube-proxy masquerades it in postrouting, after the forward hook, which
// sees the packet from the pod's address to the same address.
import { expect } from 'chai';
import { applyState, expectMatrix, InProcessApplier, netpol, useTopology } from './harness.js';
import type { ClusterState, ProbeKind, Topology } from './topology.js';
import { allowAll } from './truth.js';

const nsSel = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
const podsPeer = (ns: string, pod: string) => ({ pods: { namespaceSelector: nsSel(ns), podSelector: { matchLabels: { pod } } } });

function cnp(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec };
}

function nodes(t: Topology): Record<string, unknown>[] {
  return (['n1', 'n2'] as const).map((n) => ({
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: n, labels: { role: n === 'n1' ? 'control' : 'worker' } },
    status: { addresses: [{ type: 'InternalIP', address: t.node(n).ipv4 }, { type: 'InternalIP', address: t.node(n).ipv6 }, { type: 'Hostname', address: n }] },
  }));
}

/** TCP over IPv4 and UDP over IPv6 in one matrix. */
const KINDS: readonly ProbeKind[] = [{ port: 80, proto: 'tcp', family: 4 }, { port: 81, proto: 'udp', family: 6 }];

describe('e2e: ClusterNetworkPolicy tiers', function () {
  this.timeout(240_000);
  const topo = useTopology();

  it('tier order, first match by priority (changed in place), ties by name, Pass in both tiers, an egress Accept still meets the destination\'s ingress', async () => {
    const t = topo();
    const applier = new InProcessApplier(t); // the agent's path: events, delta transactions
    const policies = (earlyPriority: number) => [
      cnp('x-egress', { tier: 'Admin', priority: 10, subject: { namespaces: nsSel('x') }, egress: [
        { name: 'y-a', action: 'Accept', to: [podsPeer('y', 'a')] },
        { name: 'y-c', action: 'Accept', to: [podsPeer('y', 'c')] },
        { name: 'rest-of-y', action: 'Deny', to: [{ namespaces: nsSel('y') }] },
      ] }),
      cnp('x-early', { tier: 'Admin', priority: earlyPriority, subject: { namespaces: nsSel('x') }, egress: [
        { name: 'no-web-to-y-a', action: 'Deny', to: [podsPeer('y', 'a')], protocols: [{ tcp: { destinationPort: { number: 80 } } }] },
      ] }),
      // y/c admits z only: x's egress Accept to y/c does not open y/c's ingress.
      netpol('y/c-from-z', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ namespaceSelector: nsSel('z') }] }] }),
      // Equal priorities: tie-a goes first (by name) and accepts z/b; tie-b denies the rest of z.
      cnp('tie-b', { tier: 'Admin', priority: 30, subject: { namespaces: nsSel('y') }, ingress: [{ action: 'Deny', from: [{ namespaces: nsSel('z') }] }] }),
      cnp('tie-a', { tier: 'Admin', priority: 30, subject: { namespaces: nsSel('y') }, ingress: [{ action: 'Accept', from: [podsPeer('z', 'b')] }] }),
      // z: the Admin tier passes; z/b's own NetworkPolicy decides for it; the Baseline decides
      // for z/a and z/c (x accepted, y/a passed on to the default allow, the rest denied).
      cnp('z-pass', { tier: 'Admin', priority: 20, subject: { namespaces: nsSel('z') }, ingress: [{ action: 'Pass', from: [{ namespaces: {} }] }] }),
      netpol('z/b-open', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{}] }),
      cnp('z-baseline', { tier: 'Baseline', priority: 10, subject: { namespaces: nsSel('z') }, ingress: [
        { name: 'x', action: 'Accept', from: [{ namespaces: nsSel('x') }] },
        { name: 'y-a', action: 'Pass', from: [podsPeer('y', 'a')] },
        { name: 'rest', action: 'Deny', from: [{ namespaces: {} }] },
      ] }),
    ];
    const common = () => allowAll()
      .deny('x/*', 'y/b') // x-egress rest-of-y
      .deny(['x/*', 'y/*', 'z/a', 'z/c'], 'y/c') // y/c's NetworkPolicy (x accepted at egress), tie-b
      .deny(['z/a', 'z/c'], ['y/a', 'y/b']) // tie-b; z/b accepted by tie-a
      .deny(['y/b', 'y/c', 'z/*'], ['z/a', 'z/c']); // z-baseline rest
    await applier.apply({ policies: policies(5) });
    await expectMatrix(t, common().deny('x/*', 'y/a', { ports: [80], protos: ['tcp'] }), KINDS, 'x-early at priority 5, before x-egress');
    // The same policy moved after x-egress: its chains are rebuilt in one transaction.
    await applier.apply({ policies: policies(15) });
    await expectMatrix(t, common(), KINDS, 'x-early at priority 15, after x-egress');
  });

  it('networks peers match pods, nodes peers match node addresses, named ports and ranges, host-network pods are never peers (CLI path)', async () => {
    const t = topo();
    const hostPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'host-n2', namespace: 'x', labels: { pod: 'host' } }, spec: { nodeName: 'n2', hostNetwork: true }, status: { phase: 'Running', podIP: t.node('n2').ipv4, podIPs: [{ ip: t.node('n2').ipv4 }, { ip: t.node('n2').ipv6 }] } };
    const state: ClusterState = { policies: [
      ...nodes(t), hostPod,
      cnp('x-a-egress', { tier: 'Admin', priority: 10, subject: { pods: { namespaceSelector: nsSel('x'), podSelector: { matchLabels: { pod: 'a' } } } }, egress: [
        { name: 'no-y-b', action: 'Deny', to: [{ networks: [`${t.addr('y/b', 4)}/32`, `${t.addr('y/b', 6)}/128`] }] },
        { name: 'workers-http', action: 'Accept', to: [{ nodes: { matchLabels: { role: 'worker' } } }], protocols: [{ tcp: { destinationPort: { number: 80 } } }] },
        { name: 'no-nodes', action: 'Deny', to: [{ nodes: {} }] },
      ] }),
      cnp('z-c-ports', { tier: 'Admin', priority: 10, subject: { pods: { namespaceSelector: nsSel('z'), podSelector: { matchLabels: { pod: 'c' } } } }, ingress: [
        { name: 'no-udp-81-by-name', action: 'Deny', from: [{ namespaces: {} }], protocols: [{ destinationNamedPort: 'serve-81-udp' }] },
        { name: 'no-tcp-79-80', action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { range: { start: 79, end: 80 } } } }] },
      ] }),
      cnp('z-a-from-pods', { tier: 'Admin', priority: 20, subject: { pods: { namespaceSelector: nsSel('z'), podSelector: { matchLabels: { pod: 'a' } } } }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] }),
    ] };
    const applied = await applyState(t, state);
    expect(applied.stderr.n1, 'no problem reported').to.equal('');
    const to = (id: 'y/a' | 'y/b' | 'z/a' | 'z/c', port: number, proto: 'tcp' | 'udp', f: 4 | 6) => ({ host: t.addr(id, f), port, proto });
    const node = (n: 'n1' | 'n2', port: number, f: 4 | 6) => ({ host: f === 4 ? t.node(n).ipv4 : t.node(n).ipv6, port, proto: 'tcp' as const });
    // networks peers match pod addresses, per family
    expect(await t.prober('x/a').probe([to('y/b', 80, 'tcp', 4), to('y/b', 81, 'udp', 6), to('y/a', 80, 'tcp', 4), to('y/a', 81, 'udp', 6)]), 'x/a -> y/b denied by networks; y/a not').to.deep.equal([false, false, true, true]);
    // nodes peers: the other node (forward hook) and the pod's own node (input hook)
    expect(await t.prober('x/a').probe([node('n2', 80, 4), node('n2', 80, 6), node('n2', 81, 4), node('n1', 80, 4), node('n1', 80, 6)]), 'x/a -> n2:80 accepted (worker), n2:81 and n1 denied').to.deep.equal([true, true, false, false, false]);
    expect(await t.prober('x/c').probe([node('n1', 80, 4)]), 'x/c is not a subject').to.deep.equal([true]);
    // a named port (on the destination pod) and a port range
    expect(await t.prober('x/b').probe([to('z/c', 80, 'tcp', 4), to('z/c', 80, 'tcp', 6), to('z/c', 81, 'tcp', 4), to('z/c', 80, 'udp', 4), to('z/c', 81, 'udp', 4), to('z/c', 81, 'udp', 6)]), 'x/b -> z/c').to.deep.equal([false, false, true, true, false, false]);
    // host-network pods (here the node n2's address) never match a namespaces peer
    expect(await t.prober('x/b').probe([to('z/a', 80, 'tcp', 4), to('z/a', 81, 'udp', 6)]), 'a pod -> z/a').to.deep.equal([false, false]);
    expect(await t.prober('n2').probe([to('z/a', 80, 'tcp', 4), to('z/a', 81, 'udp', 6)]), 'host-network x/host-n2 -> z/a').to.deep.equal([true, true]);
  });

  it('a Deny revokes established flows at their next packet (TCP IPv4, UDP IPv6), and drops: a timeout, never a reject', async () => {
    const t = topo();
    const applier = new InProcessApplier(t);
    await applier.apply({});
    const tcp = t.prober('x/a'), udp = t.prober('x/c');
    expect(await tcp.open('tcp-cnp', t.addr('y/a', 4), 80, 'tcp'), 'TCP flow x/a -> y/a opens').to.equal(true);
    expect(await udp.open('udp-cnp', t.addr('z/a', 6), 81, 'udp'), 'UDP flow x/c -> z/a (IPv6) opens').to.equal(true);
    try {
      expect(await tcp.send('tcp-cnp'), 'TCP message before').to.equal(true);
      expect(await udp.send('udp-cnp'), 'UDP message before').to.equal(true);
      const deny = cnp('cut-x', { tier: 'Admin', priority: 1, subject: { namespaces: {} }, ingress: [{ name: 'from-x', action: 'Deny', from: [{ namespaces: nsSel('x') }] }] });
      await applier.apply({ policies: [deny] });
      expect(await tcp.send('tcp-cnp', 2000), 'TCP message after the Deny').to.equal(false);
      expect(await udp.send('udp-cnp', 2000), 'UDP message after the Deny').to.equal(false);
      expect(await t.prober('x/b').connectOutcome(t.addr('y/a', 6), 81, 1500), 'a new connection: dropped, not refused').to.equal('timeout');
      expect(await t.prober('y/b').connectOutcome(t.addr('z/a', 4), 81, 1500), 'y is not denied').to.equal('connected');
      await applier.apply({});
      expect(await udp.send('udp-cnp', 3000), 'UDP message once the Deny is gone').to.equal(true);
    } finally {
      await tcp.close('tcp-cnp');
      await udp.close('udp-cnp');
    }
  });
});
