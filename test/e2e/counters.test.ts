// docs/design.md section 2 "counters": a dropped packet is counted on the
// counter of the pod and direction that dropped it (drop_in_<ns>_<pod>, drop_eg_<ns>_<pod>),
// in the node that enforces it, and nowhere else.
import { expect } from 'chai';
import { applyState, netpol, useTopology } from './harness.js';
import type { NodeName, Topology } from './topology.js';

function packets(t: Topology, node: NodeName, counter: string): number {
  const out = t.nodeExec(node, 'nft', ['-j', 'list', 'counter', 'inet', 'netpol_nft', counter]);
  const doc = JSON.parse(out) as { nftables: { counter?: { packets: number } }[] };
  return doc.nftables.find((o) => o.counter)!.counter!.packets;
}

describe('e2e: drop counters', function () {
  this.timeout(120_000);
  const topo = useTopology();

  it('ingress drops count on the destination pod, egress drops on the source pod', async () => {
    const t = topo();
    // Both pods of interest on n1: x/a (ingress denied), z/c (egress denied); y/c on n2.
    await applyState(t, {
      policies: [
        netpol('x/deny-in-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] }),
        netpol('z/deny-out-c', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'] }),
        netpol('y/deny-in-c', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Ingress'] }),
      ],
    });
    // Before: read, not assumed zero (a late packet of an earlier case may already count).
    const before = { inXA: packets(t, 'n1', 'drop_in_x_a'), egZC: packets(t, 'n1', 'drop_eg_z_c'), inYC: packets(t, 'n2', 'drop_in_y_c') };
    expect(await t.prober('y/b').probe([{ host: t.addr('x/a', 4), port: 80, proto: 'tcp' }, { host: t.addr('x/a', 6), port: 81, proto: 'udp' }])).to.deep.equal([false, false]);
    expect(await t.prober('z/c').probe([{ host: t.addr('x/c', 4), port: 80, proto: 'udp' }])).to.deep.equal([false]);
    expect(await t.prober('x/b').probe([{ host: t.addr('y/c', 4), port: 81, proto: 'tcp' }])).to.deep.equal([false]);

    expect(packets(t, 'n1', 'drop_in_x_a'), 'n1 drop_in_x_a').to.be.greaterThan(before.inXA);
    expect(packets(t, 'n1', 'drop_eg_z_c'), 'n1 drop_eg_z_c').to.be.greaterThan(before.egZC);
    expect(packets(t, 'n2', 'drop_in_y_c'), 'n2 drop_in_y_c').to.be.greaterThan(before.inYC);
    // Each node only holds counters of its own pods.
    expect(t.nodeExec('n2', 'nft', ['list', 'counters', 'table', 'inet', 'netpol_nft'])).to.not.include('drop_in_x_a');
    expect(t.nodeExec('n1', 'nft', ['list', 'counters', 'table', 'inet', 'netpol_nft'])).to.not.include('drop_in_y_c');
  });
});
