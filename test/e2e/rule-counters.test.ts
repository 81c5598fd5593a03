// Per-rule counters on the real kernel (README "Metrics", --policy-rule-counters): real TCP
// and UDP connections, IPv4 and IPv6, count exactly once each on the counter of the rule that
// allowed them, on each node that decided them (egress on the client's node, ingress on the
// server's); a rule nothing used stays at 0; an incremental transaction (a pod added) leaves
// the counts in place; a full replace starts them from 0.
import { expect } from 'chai';
import { batchJson, fullBatch } from '../../compiler/index.js';
import { compileState, InProcessApplier, netpol, useTopology } from './harness.js';
import type { ClusterState, NodeName, Topology } from './topology.js';

function packets(t: Topology, node: NodeName, counter: string): number {
  const out = t.nodeExec(node, 'nft', ['-j', 'list', 'counter', 'inet', 'netpol_nft', counter]);
  const doc = JSON.parse(out) as { nftables: { counter?: { packets: number } }[] };
  return doc.nftables.find((o) => o.counter)!.counter!.packets;
}

const both80 = [{ port: 80, protocol: 'TCP' }, { port: 80, protocol: 'UDP' }];
const policies = [
  // x/a (n1) lets x/b in on 80 (rule 0), and namespace z on 81 (rule 1: nobody uses it).
  netpol('x/web', {
    podSelector: { matchLabels: { pod: 'a' } },
    ingress: [
      { from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: both80 },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }], ports: [{ port: 81 }] },
    ],
  }),
  // x/b (n2) may reach x/a on 80 (rule 0), and 203.0.113.0/24 (rule 1: nobody uses it).
  netpol('x/b-out', {
    podSelector: { matchLabels: { pod: 'b' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: both80 }, { to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }],
  }),
];

describe('e2e: per-rule counters (--policy-rule-counters)', function () {
  this.timeout(120_000);
  const topo = useTopology();

  it('count each allowed connection once on its rule, keep the counts through a pod added, and start from 0 on a full replace', async () => {
    const t = topo();
    const applier = new InProcessApplier(t, { policyRuleCounters: true });
    // x/c is finished at first: it takes part only once Running (a pod added).
    const s1: ClusterState = { policies, podPhase: { 'x/c': 'Succeeded' }, podLabels: { 'x/c': { pod: 'b' } } };
    await applier.apply(s1);
    const read = () => ({
      in0: packets(t, 'n1', 'rule_in_x_web_0'), in1: packets(t, 'n1', 'rule_in_x_web_1'),
      eg0: packets(t, 'n2', 'rule_eg_x_b-out_0'), eg1: packets(t, 'n2', 'rule_eg_x_b-out_1'),
    });
    expect(read(), 'a full load starts every rule counter at 0').to.deep.equal({ in0: 0, in1: 0, eg0: 0, eg1: 0 });

    // Four connections from x/b (n2) to x/a (n1): TCP and UDP, IPv4 and IPv6.
    const targets = [4, 6].flatMap((f) => (['tcp', 'udp'] as const).map((proto) => ({ host: t.addr('x/a', f as 4 | 6), port: 80, proto })));
    expect(await t.prober('x/b').probe(targets, 3000)).to.deep.equal([true, true, true, true]);
    // Each connection, decided once per node, whatever its packets (SYN, data, FIN, echoes).
    expect(read()).to.deep.equal({ in0: 4, in1: 0, eg0: 4, eg1: 0 });
    // A second round on one connection's worth: 2 more.
    expect(await t.prober('x/b').probe(targets.slice(0, 2), 3000)).to.deep.equal([true, true]);
    expect(read()).to.deep.equal({ in0: 6, in1: 0, eg0: 6, eg1: 0 });

    // A pod added (x/c, on n1, a peer of rule 0): an incremental transaction on n1 (n2 has
    // nothing that refers to it); no counter is deleted or recreated, the counts stay.
    await applier.apply({ ...s1, podPhase: {} });
    // (On n1, x/c is the first local pod x/b-out selects: its group brings x/b-out's rule
    // counters and x/c's drop counter to n1, new there; the counters n1 had are untouched.)
    for (const [n, had] of [['n1', 'rule_in_x_web_'], ['n2', 'rule_eg_x_b-out_']] as const) {
      expect(applier.last[n] ?? '', `the delta on ${n} leaves its rule counters alone`).to.not.include(`"name":"${had}`).and.not.include('"delete":{"counter"').and.not.include('"delete":{"table"');
    }
    expect(read()).to.deep.equal({ in0: 6, in1: 0, eg0: 6, eg1: 0 });
    // ... and the new pod's connection counts on the same rule (same node: x/c and x/a on n1).
    expect(await t.prober('x/c').probe([{ host: t.addr('x/a', 4), port: 80, proto: 'tcp' }], 3000)).to.deep.equal([true]);
    expect(read()).to.deep.equal({ in0: 7, in1: 0, eg0: 6, eg1: 0 });

    // A full replace (the agent's first sync, periodic resync, recovery) starts them from 0.
    for (const n of ['n1', 'n2'] as const) await t.applyNode(n, batchJson(fullBatch(compileState(t, { ...s1, podPhase: {} }, n, { policyRuleCounters: true }).ruleset)));
    expect(read()).to.deep.equal({ in0: 0, in1: 0, eg0: 0, eg1: 0 });
  });
});
