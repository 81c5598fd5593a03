// docs/design.md 1.11 and section 2: a pod talking to its own node's address is egress (the
// input hook decides it), while the node's own traffic to its pods always passes.
// Node n1 (198.51.100.1, 2001:db8:ff::1) serves 80 and 81 like the pods; x/a, x/c, y/b,
// z/a and z/c live on n1.
import { expect } from 'chai';
import { applyState, netpol, useTopology } from './harness.js';
import type { PodId, Proto, Topology } from './topology.js';

async function toNode(t: Topology, from: PodId, port: number, proto: Proto, family: 4 | 6): Promise<boolean> {
  const n = t.node('n1');
  return (await t.prober(from).probe([{ host: family === 4 ? n.ipv4 : n.ipv6, port, proto }], 1000))[0]!;
}

describe('e2e: node-local traffic', function () {
  this.timeout(120_000);
  const topo = useTopology();

  it("a pod's egress policy decides its traffic to its own node", async () => {
    const t = topo();
    await applyState(t, {});
    expect(await toNode(t, 'x/a', 80, 'tcp', 4), 'no policy: x/a -> n1 tcp/80').to.equal(true);
    expect(await toNode(t, 'x/a', 81, 'udp', 6), 'no policy: x/a -> n1 udp/81 IPv6').to.equal(true);

    await applyState(t, { policies: [netpol('x/to-node-80', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '198.51.100.1/32' } }], ports: [{ port: 80 }] }] })] });
    expect(await toNode(t, 'x/a', 80, 'tcp', 4), 'allowed: x/a -> n1 tcp/80').to.equal(true);
    expect(await toNode(t, 'x/a', 81, 'tcp', 4), 'not allowed: x/a -> n1 tcp/81').to.equal(false);
    expect(await toNode(t, 'x/a', 80, 'udp', 4), 'not allowed: x/a -> n1 udp/80').to.equal(false);
    expect(await toNode(t, 'x/a', 80, 'tcp', 6), 'IPv4 block, IPv6 node address: denied').to.equal(false);
    expect(await toNode(t, 'y/b', 81, 'tcp', 4), 'y/b is not isolated').to.equal(true);

    await applyState(t, { policies: [netpol('x/deny-egress', { podSelector: {}, policyTypes: ['Egress'] })] });
    expect(await toNode(t, 'x/c', 80, 'tcp', 4), 'default deny egress: x/c -> n1').to.equal(false);
    expect(await toNode(t, 'x/c', 81, 'udp', 6), 'default deny egress: x/c -> n1 udp IPv6').to.equal(false);
  });

  it("the node's own traffic to its pods always passes, even to pods denying all", async () => {
    const t = topo();
    await applyState(t, { policies: [netpol('x/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })] });
    const targets = (['x/a', 'x/c'] as const).flatMap((p) => ([4, 6] as const).flatMap((f) => (['tcp', 'udp'] as const).map((proto) => ({ host: t.addr(p, f), port: 80, proto }))));
    expect(await t.prober('n1').probe(targets, 1000), 'n1 -> its pods x/a, x/c').to.deep.equal(targets.map(() => true));
    // Only a pod's own node is exempt: n1 reaching x/b (on n2) is ingress like any other.
    expect(await t.prober('n1').probe([{ host: t.addr('x/b', 4), port: 80, proto: 'tcp' }]), 'n1 -> x/b on n2').to.deep.equal([false]);
    expect(await t.prober('n2').probe([{ host: t.addr('x/b', 6), port: 81, proto: 'tcp' }]), 'n2 -> its pod x/b').to.deep.equal([true]);
  });
});
