// Address trust (issue 11, items 2 to 5): a pod cannot lie about its source address, a
// link-local source cannot walk around egress towards the node, and a pod the agent does not
// know yet is held to deny, and a pod claiming another pod's address does not unisolate it
// (from another node: the pod keeps its address; from the same node: the address gets the
// union of both pods' isolation). Each case is the attack, with real packets: a spoofing pod
// (test/e2e/spoof.py: a raw socket for IPv4, IPV6_FREEBIND without any capability for IPv6).
//
// n1 holds x/a, x/c, y/b, z/a, z/c (192.0.2.0/25, 2001:db8:1::/64); n2 holds x/b, y/a, y/c,
// z/b (192.0.2.128/25, 2001:db8:2::/64). Rulesets are compiled in process (the agent's engine)
// so that each node gets its own pod CIDRs.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchJson, clusterFromObjects, compile, fullBatch } from '../../compiler/index.js';
import { NODES, netpol, useTopology } from './harness.js';
import type { ClusterState, NodeName, PodId, Topology } from './topology.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const POD_CIDRS: Record<NodeName, string[]> = { n1: ['192.0.2.0/25', '2001:db8:1::/64'], n2: ['192.0.2.128/25', '2001:db8:2::/64'] };

let generation = 1000;

/** Compiles the state for both nodes (with their pod CIDRs unless told otherwise) and loads
 *  it. `unknown` pods are left out of the cluster: they run, but no sync has seen them. */
async function applyGuarded(t: Topology, state: ClusterState, opts: { unknown?: readonly PodId[]; antiSpoofing?: boolean; podCidrs?: boolean; extra?: readonly unknown[] } = {}): Promise<void> {
  const objs = [...t.clusterObjects(state), ...(opts.extra ?? [])].filter((o) => {
    const m = o as { kind: string; metadata: { namespace?: string; name: string } };
    return !(m.kind === 'Pod' && opts.unknown?.includes(`${m.metadata.namespace}/${m.metadata.name}` as PodId));
  });
  const { cluster } = clusterFromObjects(objs);
  const gen = ++generation;
  await Promise.all(NODES.map((node) => {
    const r = compile(cluster, { node, generation: gen, antiSpoofing: opts.antiSpoofing ?? true, podCidrs: opts.podCidrs === false ? [] : POD_CIDRS[node] });
    return t.applyNode(node, batchJson(fullBatch(r.ruleset)));
  }));
}

/** A receiver in a pod or node: resolves once listening, with a function that waits for its
 *  end and returns the payloads received. */
async function receiver(t: Topology, where: PodId | NodeName, port: number, seconds: number): Promise<() => Promise<string[]>> {
  const netns = where === 'n1' || where === 'n2' ? t.node(where).netns : t.pod(where).netns;
  const p = spawn('ip', ['netns', 'exec', netns, 'python3', join(HERE, 'spoof.py'), 'recv', String(port), String(seconds)]);
  const lines: string[] = [];
  let buf = '', err = '';
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<void>((resolve, reject) => {
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`receiver in ${where} exited ${code}: ${err}`))));
  });
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) if (l === 'ready') resolve(); else lines.push(l);
    });
    done.catch(reject);
  });
  return async () => {
    await done;
    return [...new Set(lines.map((l) => (JSON.parse(l) as { payload: string }).payload))].sort();
  };
}

/** Sends a UDP datagram from `from` with source `src`. IPv6 runs with no capability at all
 *  (an empty bounding set): IPV6_FREEBIND needs none. IPv4 needs CAP_NET_RAW, which
 *  container runtimes grant by default. */
function sendSpoofed(t: Topology, from: PodId, src: string, dst: string, port: number, payload: string): void {
  const py = ['python3', join(HERE, 'spoof.py'), 'send', src, dst, String(port), payload];
  const cmd = dst.includes(':') ? ['setpriv', '--bounding-set=-all', '--inh-caps=-all', '--', ...py] : py;
  const r = spawnSync('ip', ['netns', 'exec', t.pod(from).netns, ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`spoof.py send from ${from} failed: ${r.stderr}`);
}

describe('e2e: address trust (spoofed sources, link-local, unknown pods)', function () {
  this.timeout(120_000);
  const topo = useTopology();

  // x/a may send nothing; z/c admits pods named b only (y/b on n1, x/b on n2).
  const state: ClusterState = {
    policies: [
      netpol('x/a-no-egress', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] }),
      netpol('z/c-from-b', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ],
  };

  async function spoofRound(t: Topology): Promise<string[]> {
    const got = await receiver(t, 'z/c', 9999, 15);
    for (const f of [4, 6] as const) {
      const to = t.addr('z/c', f);
      sendSpoofed(t, 'x/a', t.addr('x/a', f), to, 9999, `own-${f}`);
      sendSpoofed(t, 'x/a', t.addr('y/b', f), to, 9999, `as-y/b-${f}`); // a pod of the same node
      sendSpoofed(t, 'x/a', t.addr('x/b', f), to, 9999, `as-x/b-${f}`); // a pod of the other node
      sendSpoofed(t, 'y/b', t.addr('y/b', f), to, 9999, `control-${f}`); // the receiver works
    }
    sendSpoofed(t, 'y/b', t.addr('y/b', 4), t.addr('z/c', 4), 9999, 'END');
    return got();
  }

  it('a forged source neither walks around egress nor borrows another pod\'s ingress allowance (IPv4 raw socket, IPv6 FREEBIND)', async () => {
    const t = topo();
    await applyGuarded(t, state);
    expect(await spoofRound(t)).to.deep.equal(['control-4', 'control-6']);
  });

  it('--no-anti-spoofing: the same attack goes through (what the guard closes)', async () => {
    const t = topo();
    await applyGuarded(t, state, { antiSpoofing: false });
    expect(await spoofRound(t)).to.deep.equal(['as-x/b-4', 'as-x/b-6', 'as-y/b-4', 'as-y/b-6', 'control-4', 'control-6']);
  });

  it('an egress-isolated pod cannot reach its node from a link-local source; neighbour discovery still works', async () => {
    const t = topo();
    await applyGuarded(t, state);
    const n1 = t.node('n1');
    // The node's link-local address on the pod's link, from the pod's own link-local source.
    expect(await t.prober('x/a').probe([{ host: 'fe80::1%eth0', port: 80, proto: 'tcp' }]), 'x/a -> [fe80::1] tcp/80').to.deep.equal([false]);
    const got = await receiver(t, 'n1', 9998, 10);
    sendSpoofed(t, 'x/a', 'fe80::bad%eth0', n1.ipv6, 9998, 'x/a-link-local');
    sendSpoofed(t, 'y/b', 'fe80::bad%eth0', n1.ipv6, 9998, 'y/b-link-local');
    sendSpoofed(t, 'y/b', t.addr('y/b', 6), n1.ipv6, 9998, 'y/b-global');
    sendSpoofed(t, 'y/b', t.addr('y/b', 4), n1.ipv4, 9998, 'END');
    expect(await got(), "only y/b's own global address reaches the node").to.deep.equal(['y/b-global']);
    // Neighbour discovery through the node's input hook: flushed, then learnt again.
    spawnSync('ip', ['-n', t.pod('x/c').netns, 'neigh', 'flush', 'all']);
    expect(await t.prober('x/c').probe([{ host: t.addr('y/b', 6), port: 80, proto: 'tcp' }], 3000), 'x/c -> y/b IPv6 after a neighbour flush').to.deep.equal([true]);
  });

  it('a pod no sync has seen is dropped both ways, the node still reaches it; once known, its real policies decide', async () => {
    const t = topo();
    const policies = [netpol('z/a-from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] })];
    await applyGuarded(t, { policies }, { unknown: ['x/c'] });
    const probe = (from: PodId | NodeName, to: PodId, f: 4 | 6) => t.prober(from).probe([{ host: t.addr(to, f), port: 80, proto: 'tcp' }]).then((r) => r[0]);
    for (const f of [4, 6] as const) {
      expect(await probe('x/c', 'y/b', f), `unknown x/c -> y/b (not isolated) IPv${f}`).to.equal(false);
      expect(await probe('y/b', 'x/c', f), `y/b -> unknown x/c IPv${f}`).to.equal(false);
      expect(await probe('x/b', 'x/c', f), `x/b (n2) -> unknown x/c IPv${f}`).to.equal(false);
      expect(await probe('n1', 'x/c', f), `the node itself -> unknown x/c IPv${f}`).to.equal(true);
    }
    await applyGuarded(t, { policies });
    for (const f of [4, 6] as const) {
      expect(await probe('x/c', 'y/b', f), `known x/c -> y/b IPv${f}`).to.equal(true);
      expect(await probe('y/b', 'x/c', f), `y/b -> known x/c IPv${f}`).to.equal(true);
      expect(await probe('x/c', 'z/a', f), `known x/c -> z/a: z/a admits pods b only IPv${f}`).to.equal(false);
    }
  });

  it("a newer pod of another node claiming x/a's addresses does not lift x/a's isolation on n1: its own policy still decides", async () => {
    const t = topo();
    // x/a admits pods b only and sends nothing. Not a deny-all: with x/a out of n1's maps, the
    // guard would drop what x/a's policy admits (x/a's address, in n1's pod CIDR, would be
    // nobody's), so y/b -> x/a passing shows that x/a keeps its address and its policy; z/c
    // -> x/a failing, that its isolation stays.
    const own = netpol('x/a-from-b', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] });
    // pods/status written by a compromised kubelet on n2: y/claimer says it has x/a's addresses.
    const claimer = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { namespace: 'y', name: 'claimer', labels: { pod: 'claimer' }, creationTimestamp: '2030-01-01T00:00:00Z' },
      spec: { nodeName: 'n2', containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIP: t.addr('x/a', 4), podIPs: [{ ip: t.addr('x/a', 4) }, { ip: t.addr('x/a', 6) }] },
    };
    await applyGuarded(t, { policies: [own] }, { extra: [claimer] });
    for (const f of [4, 6] as const) {
      const tcp80 = (host: string) => [{ host, port: 80, proto: 'tcp' as const }];
      expect(await t.prober('y/b').probe(tcp80(t.addr('x/a', f))), `y/b -> x/a IPv${f} (x/a admits pods b)`).to.deep.equal([true]);
      expect(await t.prober('z/c').probe(tcp80(t.addr('x/a', f))), `z/c -> x/a IPv${f}`).to.deep.equal([false]);
      expect(await t.prober('x/a').probe(tcp80(t.addr('y/b', f))), `x/a -> y/b IPv${f} (x/a sends nothing)`).to.deep.equal([false]);
      expect(await t.prober('y/b').probe(tcp80(t.addr('x/c', f))), `y/b -> x/c IPv${f} (not isolated)`).to.deep.equal([true]);
    }
  });

  it("a newer pod of the same node claiming x/a's addresses: the address gets both pods' isolation (deny-all stays; only what both allow passes)", async () => {
    const t = topo();
    // pods/status forged on n1: y/claimer (newer, on x/a's node) says it has x/a's addresses.
    const claimer = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { namespace: 'y', name: 'claimer', labels: { pod: 'claimer' }, creationTimestamp: '2030-01-01T00:00:00Z' },
      spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIP: t.addr('x/a', 4), podIPs: [{ ip: t.addr('x/a', 4) }, { ip: t.addr('x/a', 6) }] },
    };
    const to = (host: string, port: number) => ({ host, port, proto: 'tcp' as const });
    // x/a denies everything, y/claimer nothing: the deny-all stays in force.
    const deny = netpol('x/a-deny-all', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress', 'Egress'] });
    await applyGuarded(t, { policies: [deny] }, { extra: [claimer] });
    for (const f of [4, 6] as const) {
      expect(await t.prober('y/b').probe([to(t.addr('x/a', f), 80), to(t.addr('x/c', f), 80)]), `y/b -> x/a, x/c IPv${f}`).to.deep.equal([false, true]);
      expect(await t.prober('x/a').probe([to(t.addr('y/b', f), 80)]), `x/a -> y/b IPv${f}`).to.deep.equal([false]);
    }
    // Both isolate, differently: x/a admits pods b on 80 and 81, y/claimer anyone on 80. The
    // address admits pods b on 80 only (the contested chain runs both pods' chains).
    const fromB = netpol('x/a-from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }, { port: 81 }] }] });
    const on80 = netpol('y/claimer-80', { podSelector: { matchLabels: { pod: 'claimer' } }, ingress: [{ ports: [{ port: 80 }] }] });
    await applyGuarded(t, { policies: [fromB, on80] }, { extra: [claimer] });
    for (const f of [4, 6] as const) {
      const a = t.addr('x/a', f);
      expect(await t.prober('y/b').probe([to(a, 80), to(a, 81)]), `y/b -> x/a:80, :81 IPv${f}`).to.deep.equal([true, false]);
      expect(await t.prober('x/b').probe([to(a, 80)]), `x/b (n2) -> x/a:80 IPv${f}`).to.deep.equal([true]);
      expect(await t.prober('z/c').probe([to(a, 80)]), `z/c -> x/a:80 IPv${f} (x/a admits pods b only)`).to.deep.equal([false]);
    }
  });
});
