// docs/design.md 1.10 and section 2 "every packet is decided": a policy change stops a flow that
// it no longer allows at the flow's very next packet, with no conntrack flush. With
// `--established-fast-path` the usual behaviour comes back: established flows keep going.
//
// Flows: TCP x/a -> y/a on 80 (cross-node), UDP x/c -> z/a on 81 (same node n1).
import { expect } from 'chai';
import { applyState, InProcessApplier, netpol, useTopology } from './harness.js';
import type { ClusterState } from './topology.js';

const DENY: ClusterState = {
  policies: [
    netpol('y/deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] }),
    netpol('z/deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] }),
  ],
};

async function openFlows(topo: ReturnType<ReturnType<typeof useTopology>>, tag: string) {
  const tcp = topo.prober('x/a'), udp = topo.prober('x/c');
  expect(await tcp.open(`tcp-${tag}`, topo.addr('y/a', 4), 80, 'tcp'), 'TCP flow opens').to.equal(true);
  expect(await udp.open(`udp-${tag}`, topo.addr('z/a', 4), 81, 'udp'), 'UDP flow opens').to.equal(true);
  for (let i = 0; i < 3; i++) {
    expect(await tcp.send(`tcp-${tag}`), `TCP message ${i} before the change`).to.equal(true);
    expect(await udp.send(`udp-${tag}`), `UDP message ${i} before the change`).to.equal(true);
  }
  return { tcp, udp };
}

describe('e2e: revocation of established flows', function () {
  this.timeout(120_000);
  const topo = useTopology();

  it('default mode: the next message after the apply returns does not arrive (TCP and UDP)', async () => {
    const t = topo();
    await applyState(t, {});
    const { tcp, udp } = await openFlows(t, 'rev');
    try {
      await applyState(t, DENY);
      expect(await tcp.send('tcp-rev', 2000), 'TCP message after the deny').to.equal(false);
      expect(await udp.send('udp-rev', 2000), 'UDP message after the deny').to.equal(false);
      // Allowed again: the same flows carry on (TCP retransmits what was dropped).
      await applyState(t, {});
      expect(await udp.send('udp-rev', 3000), 'UDP message after re-allowing').to.equal(true);
      // TCP backs off while its segments are dropped: its next retransmission may be seconds away.
      expect(await tcp.send('tcp-rev', 30000), 'TCP message after re-allowing').to.equal(true);
    } finally {
      await tcp.close('tcp-rev');
      await udp.close('udp-rev');
    }
  });

  it('--established-fast-path: established flows keep working, new connections are denied', async () => {
    const t = topo();
    const flags = ['--established-fast-path'];
    await applyState(t, {}, flags);
    const { tcp, udp } = await openFlows(t, 'fast');
    try {
      await applyState(t, DENY, flags);
      expect(await tcp.send('tcp-fast', 3000), 'TCP message on the established connection').to.equal(true);
      expect(await udp.send('udp-fast', 3000), 'UDP message on the established flow').to.equal(true);
      expect(await tcp.probe([{ host: t.addr('y/a', 4), port: 80, proto: 'tcp' }]), 'a new TCP connection').to.deep.equal([false]);
      expect(await udp.probe([{ host: t.addr('z/a', 4), port: 81, proto: 'udp' }]), 'a new UDP flow').to.deep.equal([false]);
    } finally {
      await tcp.close('tcp-fast');
      await udp.close('udp-fast');
    }
  });

  it('applied as a diff (the agent path, set elements only): a peer losing its label loses its flow at the next message', async () => {
    const t = topo();
    const applier = new InProcessApplier(t);
    const policies = [netpol('y/from-clients', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { client: 'true' } } }] }] })];
    await applier.apply({ policies, podLabels: { 'x/a': { client: 'true' }, 'x/c': { client: 'true' } } });
    const tcp = t.prober('x/a'), udp = t.prober('x/c');
    expect(await tcp.open('tcp-diff', t.addr('y/a', 6), 80, 'tcp'), 'TCP flow x/a -> y/a (IPv6) opens').to.equal(true);
    expect(await udp.open('udp-diff', t.addr('y/a', 4), 81, 'udp'), 'UDP flow x/c -> y/a opens').to.equal(true);
    try {
      expect(await tcp.send('tcp-diff'), 'TCP message while x/a is a client').to.equal(true);
      expect(await udp.send('udp-diff'), 'UDP message while x/c is a client').to.equal(true);
      await applier.apply({ policies, podLabels: { 'x/c': { client: 'true' } } });
      expect(await tcp.send('tcp-diff', 2000), 'TCP message after x/a lost its label').to.equal(false);
      expect(await udp.send('udp-diff', 2000), 'UDP message: x/c is still a client').to.equal(true);
      await applier.apply({ policies });
      expect(await udp.send('udp-diff', 2000), 'UDP message after x/c lost its label').to.equal(false);
    } finally {
      await tcp.close('tcp-diff');
      await udp.close('udp-diff');
    }
  });
});
