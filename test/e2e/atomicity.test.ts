// docs/design.md section 2 "atomic, incremental apply": 200 updates back to back, each a
// different but equivalent ruleset for one pair, plus unrelated churn, applied to one policy
// engine per node (checked against a fresh compile at every step) and sent as its delta
// transactions the way the agent sends them; a probe loop runs the whole time and never sees a wrong
// verdict. Allowed: x/a -> y/b (same node n1) on TCP and UDP 80, IPv4 and IPv6. Denied:
// x/b (cross-node) and x/c -> y/b.
import { expect } from 'chai';
import { InProcessApplier, netpol, useTopology } from './harness.js';
import type { ClusterState } from './topology.js';

const STEPS = 200;
const NS_X = { matchLabels: { 'kubernetes.io/metadata.name': 'x' } };
const TARGET = { podSelector: { matchLabels: { pod: 'b' } } };

/** Four shapes, each allowing exactly x/a -> y/b on TCP 80 and UDP 80 (and isolating y/b). */
function shape(i: number): unknown[] {
  switch (i % 4) {
    case 0: return [netpol('y/allow-a', { ...TARGET, ingress: [{ from: [{ namespaceSelector: NS_X, podSelector: { matchLabels: { pod: 'a' } } }] }] })];
    case 1: return [netpol('y/allow-b', { ...TARGET, ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.10/32' } }, { ipBlock: { cidr: '2001:db8:1::10/128' } }] }] })];
    case 2: return [netpol('y/allow-c', { ...TARGET, ingress: [{ from: [{ namespaceSelector: NS_X, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a'] }] } }], ports: [{ port: 80 }, { protocol: 'UDP', port: 80 }, { port: 'serve-81-tcp' }] }] })];
    default: return [
      netpol('y/allow-d1', { ...TARGET, ingress: [{ from: [{ namespaceSelector: NS_X, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80 }] }] }),
      netpol('y/allow-d2', { ...TARGET, ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.8/29' } }, { ipBlock: { cidr: '2001:db8:1::10/127' } }], ports: [{ protocol: 'UDP', port: 80, endPort: 81 }] }] }),
    ];
  }
}

/** Unrelated churn: policies and labels elsewhere that change every step. */
function churn(i: number): ClusterState {
  const pod = ['a', 'b', 'c'][i % 3]!;
  return {
    nsLabels: { z: { step: String(i) } },
    podLabels: { 'z/c': { generation: String(i % 7) } },
    policies: [
      netpol(`z/churn-${i % 5}`, { podSelector: { matchLabels: { pod } }, ingress: [{ from: [{ ipBlock: { cidr: `203.0.113.${i % 250}/32` } }] }] }),
      ...(i % 2 ? [netpol('x/churn-egress', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 1000 + i }] }] })] : []),
    ],
  };
}

function state(i: number): ClusterState {
  const c = churn(i);
  return { ...c, policies: [...shape(i), ...(c.policies ?? [])] };
}

describe('e2e: atomicity under 200 back-to-back updates', function () {
  this.timeout(600_000);
  const topo = useTopology();

  it('a probe loop running through every update sees no wrong verdict', async () => {
    const t = topo();
    const applier = new InProcessApplier(t);
    await applier.apply(state(0));
    const allowed = [
      { host: t.addr('y/b', 4), port: 80, proto: 'tcp' as const },
      { host: t.addr('y/b', 4), port: 80, proto: 'udp' as const },
      { host: t.addr('y/b', 6), port: 80, proto: 'tcp' as const },
      { host: t.addr('y/b', 6), port: 80, proto: 'udp' as const },
    ];
    const denied = [{ host: t.addr('y/b', 4), port: 80, proto: 'tcp' as const }, { host: t.addr('y/b', 6), port: 80, proto: 'udp' as const }];
    let done = false;
    const counts = { allowed: 0, denied: 0, wrong: [] as string[] };
    const loop = async (from: 'x/a' | 'x/b' | 'x/c', targets: typeof allowed, want: boolean, timeoutMs: number) => {
      while (!done) {
        const r = await t.prober(from).probe(targets, timeoutMs);
        r.forEach((ok, k) => {
          if (want) counts.allowed++;
          else counts.denied++;
          if (ok !== want) counts.wrong.push(`${from} -> ${targets[k]!.host} ${targets[k]!.proto}/80: ${ok ? 'passed' : 'blocked'}`);
        });
      }
    };
    const loops = [loop('x/a', allowed, true, 3000), loop('x/b', denied, false, 500), loop('x/c', denied, false, 500)];
    try {
      for (let i = 1; i <= STEPS; i++) await applier.apply(state(i));
    } finally {
      done = true;
      await Promise.all(loops);
    }
    expect(counts.allowed, 'allowed probes made').to.be.greaterThan(0);
    expect(counts.denied, 'denied probes made').to.be.greaterThan(0);
    expect(counts.wrong, `wrong verdicts among ${counts.allowed} allowed and ${counts.denied} denied probes`).to.deep.equal([]);
    process.stderr.write(`      atomicity: ${STEPS} updates, ${counts.allowed} allowed and ${counts.denied} denied probes, 0 wrong\n`);
  });
});
