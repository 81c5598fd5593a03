// docs/design.md section 2: policies see the pods behind a Service. A kube-proxy-like DNAT in
// node n1 (its own table, which our table must leave alone) sends 203.0.113.80:80 (TCP and
// UDP) to y/a (on n2). In the forward hook the original packets already carry y/a's address
// and the replies still do, so egress and ingress decide on the pods, not on the virtual IP.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { applyState, netpol, useTopology } from './harness.js';
import type { PodId, Proto, Topology } from './topology.js';

const VIP = '203.0.113.80';
const SVC_TABLE = 'npn_e2e_svc';

function serviceBatch(backend: string): string {
  return [
    `add table ip ${SVC_TABLE}`,
    `add chain ip ${SVC_TABLE} pre { type nat hook prerouting priority -100; }`,
    `add rule ip ${SVC_TABLE} pre ip daddr ${VIP} tcp dport 80 dnat to ${backend}:80`,
    `add rule ip ${SVC_TABLE} pre ip daddr ${VIP} udp dport 80 dnat to ${backend}:80`,
  ].join('\n') + '\n';
}

/** nft reads a file: it cannot read the socketpair Node hands a child as stdin. */
function writeTmp(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'npn-e2e-svc-')), 'svc.nft');
  writeFileSync(f, text);
  return f;
}

/** kube-proxy's hairpin: a pod reaching its own Service is DNATed to itself and masqueraded
 *  (postrouting, after the forward hook: there the packet still goes from the pod's address
 *  to the same address, the case the ClusterNetworkPolicy hairpin rule exempts). */
function hairpinBatch(backend: string): string {
  return serviceBatch(backend) + [
    `add chain ip ${SVC_TABLE} post { type nat hook postrouting priority 100; }`,
    `add rule ip ${SVC_TABLE} post ip saddr ${backend} ip daddr ${backend} masquerade`,
  ].join('\n') + '\n';
}

function loadSvc(t: Topology, batch: string): void {
  const file = writeTmp(batch);
  try {
    t.nodeExec('n1', 'nft', ['-f', file]);
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}

async function toVip(t: Topology, from: PodId, proto: Proto): Promise<boolean> {
  return (await t.prober(from).probe([{ host: VIP, port: 80, proto }], 1000))[0]!;
}

describe('e2e: traffic through a Service (DNAT)', function () {
  this.timeout(120_000);
  const topo = useTopology();

  afterEach(() => {
    topo().nodeExec('n1', 'sh', ['-c', `nft delete table ip ${SVC_TABLE} 2>/dev/null || true`]);
  });

  it('egress and ingress decide on the backend pod behind the virtual IP, and leave the NAT table alone', async () => {
    const t = topo();
    await applyState(t, {});
    const file = writeTmp(serviceBatch(t.addr('y/a', 4)));
    try {
      t.nodeExec('n1', 'nft', ['-f', file]);
    } finally {
      rmSync(dirname(file), { recursive: true, force: true });
    }
    expect(await toVip(t, 'x/a', 'tcp'), 'no policy: x/a -> service tcp').to.equal(true);
    expect(await toVip(t, 'z/a', 'udp'), 'no policy: z/a -> service udp').to.equal(true);

    await applyState(t, {
      policies: [
        netpol('y/a-from-x-a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } }, podSelector: { matchLabels: { pod: 'a' } } }] }] }),
        netpol('x/to-y-a', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80 }, { protocol: 'UDP', port: 80 }] }] }),
      ],
    });
    expect(t.nodeExec('n1', 'nft', ['list', 'table', 'ip', SVC_TABLE]), 'the service table survives our apply').to.include('dnat to');
    expect(await toVip(t, 'x/a', 'tcp'), 'x/a -> service (y/a allows x/a; x/a may reach y/a)').to.equal(true);
    expect(await toVip(t, 'x/a', 'udp'), 'x/a -> service udp').to.equal(true);
    expect(await toVip(t, 'x/c', 'tcp'), 'x/c -> service (y/a does not allow x/c)').to.equal(false);
    expect(await toVip(t, 'z/a', 'udp'), 'z/a -> service (y/a does not allow z)').to.equal(false);
    // x's egress names the pod y/a; the virtual IP itself is not in any allow list.
    await applyState(t, {
      policies: [netpol('x/to-y-b', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] })],
    });
    expect(await toVip(t, 'x/a', 'tcp'), 'x/a may only reach y/b: the service backed by y/a is denied').to.equal(false);
    expect(await toVip(t, 'z/a', 'tcp'), 'z is not isolated').to.equal(true);
  });

  it('a pod reaching its own address through a Service (hairpin) is not subject to ClusterNetworkPolicy; other pods are', async () => {
    const t = topo();
    // x/a (on n1) serves its own Service; an Admin policy denies everything in and out of it.
    const xNs = { matchLabels: { 'kubernetes.io/metadata.name': 'x' } };
    await applyState(t, { policies: [{
      apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'isolate-x-a' },
      spec: { tier: 'Admin', priority: 1, subject: { pods: { namespaceSelector: xNs, podSelector: { matchLabels: { pod: 'a' } } } },
        ingress: [{ name: 'nothing-in', action: 'Deny', from: [{ namespaces: {} }] }],
        egress: [{ name: 'nothing-out', action: 'Deny', to: [{ namespaces: {} }, { networks: ['0.0.0.0/0'] }] }] },
    }] });
    loadSvc(t, hairpinBatch(t.addr('x/a', 4)));
    expect(await toVip(t, 'x/a', 'tcp'), 'x/a -> its own Service (tcp): hairpin, past the tiers').to.equal(true);
    expect(await toVip(t, 'x/a', 'udp'), 'x/a -> its own Service (udp)').to.equal(true);
    expect(await toVip(t, 'x/c', 'tcp'), 'x/c -> the Service backed by x/a: denied by isolate-x-a').to.equal(false);
    expect((await t.prober('x/a').probe([{ host: t.addr('y/a', 4), port: 80, proto: 'tcp' }], 1000))[0], 'x/a -> y/a: denied by isolate-x-a').to.equal(false);
  });
});
