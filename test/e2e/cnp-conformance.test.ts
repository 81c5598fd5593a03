// Upstream ClusterNetworkPolicy conformance on the real kernel (test/e2e/cases/cnp-conformance.ts,
// from network-policy-api v1alpha2 conformance/tests/), every subtest of a representative
// subset of upstream's tests, mapped onto our model:
// - two per-protocol files, CNPAdminTierIngressTCP and CNPBaselineTierEgressUDP, and the
//   named-port tests CNPAdminTierEgressNamedPort and CNPBaselineTierEgressNamedPort (egress
//   named ports, resolved on the destination pod): gryffindor = namespace x, ravenclaw = y,
//   slytherin = pods z/a and z/b, hufflepuff = pod z/c; upstream's ports (80 and 8080, 53 and
//   5353) are our 80 and 81, its named ports `web` (TCP 80) and `dns` (UDP 53) are added to
//   every pod as TCP 80 and UDP 80;
// - CNPAdminTierEgressNodePeers and CNPBaselineTierEgressNodePeers: forbidden-forrest's
//   centaurs are the nodes n1 and n2 themselves (their Node objects, labelled
//   `kubernetes.io/os: linux`; a pod's own node through the input hook, the other node through
//   forward), upstream's host-network ports 34345 and 34347 are our 80, the others 81;
// - CNPBaselineTierEgressInlineCIDRPeers (every address denied at Baseline but slytherin's pods
//   and, once a rule is inserted, two pods by address): gryffindor = x, slytherin = z/a and
//   z/b (labelled `conformance-house` as upstream's selectors read), ravenclaw = y/a (pod 0)
//   and y/b (pod 1), hufflepuff = y/c (0) and z/c (1).
// The policy is changed in place from subtest to subtest as upstream patches it, through the
// agent's path (policy engine events, delta transactions). Probes: every pod of one house
// against every pod of the other, IPv4 and IPv6, TCP and UDP (SCTP: the kernel here has none;
// the packet interpreter runs all 92 subtests on upstream's own model in npm test).
import { expect } from 'chai';
import { FAMILIES, HOST_PORTS, inlineCidr, NAMED_PORTS, namedPortStep, NODE_LABELS, nodePeers, stepPolicy, steps, type Family, type House, type Mapping, type Place, type Scenario, type ScenarioMapping, type Step } from './cases/cnp-conformance.js';
import { InProcessApplier, useTopology } from './harness.js';
import type { ClusterState, NodeName, PodId, Proto, Topology } from './topology.js';

const nsSel = (n: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } });
const inZ = (...pods: string[]) => ({ pods: { namespaceSelector: nsSel('z'), podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: pods }] } } });
const PEERS: Record<House, Record<string, unknown>> = { gryffindor: { namespaces: nsSel('x') }, ravenclaw: { namespaces: nsSel('y') }, slytherin: inZ('a', 'b'), hufflepuff: inZ('c') };
const PODS: Record<House, readonly PodId[]> = { gryffindor: ['x/a', 'x/b', 'x/c'], ravenclaw: ['y/a', 'y/b', 'y/c'], slytherin: ['z/a', 'z/b'], hufflepuff: ['z/c'] };

/** Upstream's port numbers onto ours: the ports a rule names (80, 53, 9003, and the
 *  host-network ports [0] and [2]) are 80, the others 81. */
const PORT = (p: number) => ([80, 53, 9003, HOST_PORTS[0], HOST_PORTS[2]] as number[]).includes(p) ? 80 : 81;
const MODEL: Mapping = { peer: (h) => PEERS[h], port: PORT };

/** One probe from a pod to an address. */
interface Cell { readonly from: PodId; readonly host: string; readonly what: string }

/** Each cell once (1 s); a cell that did not pass is asked again with a long timeout, as
 *  expectMatrix does (a loaded machine may be slow to answer; a pass is final). */
async function probe(t: Topology, cells: readonly Cell[], port: number, proto: Proto): Promise<boolean[]> {
  const once = (timeout: number) => (c: Cell) => t.prober(c.from).probe([{ host: c.host, port, proto }], timeout).then((r) => r[0]!);
  const first = await Promise.all(cells.map(once(1000)));
  return Promise.all(cells.map((c, i) => (first[i] ? true : once(4000)(c))));
}

/** Probes cells on one port and protocol; the lines that differ from `allowed`. */
async function expectCells(t: Topology, cells: readonly Cell[], port: number, proto: Proto, allowed: boolean, title: string): Promise<void> {
  const got = await probe(t, cells, port, proto);
  const line = (c: Cell, ok: boolean) => `${c.what} ${proto}/${port}: ${ok}`;
  expect(cells.map((c, i) => line(c, got[i]!)), title).to.deep.equal(cells.map((c) => line(c, allowed)));
}

const pairs = (t: Topology, froms: readonly PodId[], tos: readonly PodId[]): Cell[] =>
  froms.flatMap((from) => tos.flatMap((to) => ([4, 6] as const).map((fam) => ({ from, host: t.addr(to, fam), what: `${from} -> ${to} IPv${fam}` }))));

/** A per-protocol file's subtest (or a named-port test): its probes, all at once. */
async function expectStep(t: Topology, f: Family, s: Step, title: string): Promise<void> {
  const proto = f.proto.toLowerCase() as Proto;
  await Promise.all(s.probes.map((p) => {
    // ingress: peer -> subject; egress: subject -> peer.
    const [froms, tos] = f.dir === 'ingress' ? [PODS[p.peer], PODS[f.subject]] : [PODS[f.subject], PODS[p.peer]];
    return expectCells(t, pairs(t, froms, tos), p.port, proto, p.allowed, `${title}: ${s.name}`);
  }));
}

/** The Node objects of the topology, labelled as upstream's node peers select them. */
const nodeObjects = (t: Topology) => (['n1', 'n2'] as const).map((n) => ({
  apiVersion: 'v1', kind: 'Node', metadata: { name: n, labels: { ...NODE_LABELS } },
  status: { addresses: [{ type: 'InternalIP', address: t.node(n).ipv4 }, { type: 'InternalIP', address: t.node(n).ipv6 }] },
}));

/** A scenario on the wire: each step's objects through the agent's path, its probes (TCP and
 *  UDP; SCTP has no kernel here) all at once. `to` says which pods (or nodes) a place is. */
async function runScenario(t: Topology, sc: Scenario, state: (relabel?: Scenario['steps'][number]['relabel']) => ClusterState, to: (p: Place, pod?: 0 | 1) => readonly (PodId | NodeName)[], from: readonly PodId[]): Promise<void> {
  const applier = new InProcessApplier(t);
  for (const s of sc.steps) {
    const base = state(s.relabel);
    await applier.apply({ ...base, policies: [...(base.policies ?? []), ...s.objects] });
    const probes = s.probes.filter((p) => p.proto !== 'SCTP');
    expect(probes.length, `${sc.upstream}: ${s.name} has probes on the wire`).to.be.greaterThan(0);
    await Promise.all(probes.flatMap((p) => p.ports.map((port) => {
      const cells = from.flatMap((f) => to(p.to, p.toPod).flatMap((d) => ([4, 6] as const).map((fam) => {
        const host = d === 'n1' || d === 'n2' ? (fam === 4 ? t.node(d).ipv4 : t.node(d).ipv6) : t.addr(d, fam);
        return { from: f, host, what: `${f} -> ${d} IPv${fam}` };
      })));
      return expectCells(t, cells, port, p.proto.toLowerCase() as Proto, p.allowed, `${sc.upstream}: ${s.name}`);
    })));
  }
}

describe('e2e: ClusterNetworkPolicy conformance (network-policy-api scenarios on the wire)', function () {
  this.timeout(240_000);
  const topo = useTopology();

  for (const name of ['CNPAdminTierIngressTCP', 'CNPBaselineTierEgressUDP']) {
    const f = FAMILIES.find((x) => x.upstream === name)!;
    it(`${name}: every subtest, the policy patched in place between them`, async () => {
      const t = topo();
      const applier = new InProcessApplier(t);
      for (const s of steps(f, MODEL)) {
        // The subject maps as the peer of its house does (a namespaces or a pods selector).
        await applier.apply({ policies: [stepPolicy(f, s, MODEL.peer(f.subject))] });
        await expectStep(t, f, s, name);
      }
    });
  }

  it('CNPAdminTierEgressNamedPort and CNPBaselineTierEgressNamedPort: a named port of the destination pod', async () => {
    const t = topo();
    // Upstream's container ports `web` (TCP 80) and `dns` (UDP 53, our 80) on every pod.
    const podPorts = Object.fromEntries(Object.values(PODS).flat().map((id) => [id, [{ name: 'web', containerPort: 80, protocol: 'TCP' as const }, { name: 'dns', containerPort: PORT(53), protocol: 'UDP' as const }]]));
    for (const name of ['CNPAdminTierEgressNamedPort', 'CNPBaselineTierEgressNamedPort']) {
      const { family, step } = namedPortStep(NAMED_PORTS.find((x) => x.upstream === name)!, MODEL);
      // A fresh apply, as upstream applies the file anew for each test.
      await new InProcessApplier(t).apply({ policies: [stepPolicy(family, step, MODEL.peer(family.subject))], podPorts });
      await expectStep(t, family, step, name);
    }
  });

  it('CNPAdminTierEgressNodePeers and CNPBaselineTierEgressNodePeers: the nodes by label, a port and a range', async () => {
    const t = topo();
    // gryffindor = x, slytherin = z/a and z/b, labelled as the `pods` selectors read.
    const labels = { nsLabels: { x: { 'conformance-house': 'gryffindor' }, z: { 'conformance-house': 'slytherin' } }, podLabels: { 'x/a': { 'conformance-house': 'gryffindor' }, 'x/b': { 'conformance-house': 'gryffindor' }, 'x/c': { 'conformance-house': 'gryffindor' }, 'z/a': { 'conformance-house': 'slytherin' }, 'z/b': { 'conformance-house': 'slytherin' } } } satisfies ClusterState;
    const m = wireScenario(t);
    for (const tier of ['Admin', 'Baseline'] as const) {
      await runScenario(t, nodePeers(tier, m), () => ({ ...labels, policies: nodeObjects(t) }), () => ['n1', 'n2'], GRYFFINDOR);
    }
  });

  it('CNPBaselineTierEgressInlineCIDRPeers: every address denied at Baseline but slytherin\'s pods, then two pods by address', async () => {
    const t = topo();
    const state = (relabel?: { house: House; label: string }): ClusterState => ({
      nsLabels: { x: { 'conformance-house': 'gryffindor' }, z: { 'conformance-house': relabel?.house === 'slytherin' ? relabel.label : 'slytherin' } },
      podLabels: { 'z/a': { 'conformance-house': 'slytherin' }, 'z/b': { 'conformance-house': 'slytherin' } },
    });
    await runScenario(t, inlineCidr('Baseline', wireScenario(t)), state, (p, i) => (p === 'forbidden-forrest' ? [] : i === undefined ? CIDR_PODS[p] : [CIDR_PODS[p][i]!]), GRYFFINDOR);
  });
});

const GRYFFINDOR: readonly PodId[] = ['x/a', 'x/b', 'x/c'];
/** The houses of the inline-CIDR case: ravenclaw and hufflepuff are only reached by address,
 *  so they may share a namespace; pod 0 and pod 1 of each as upstream's -0 and -1. */
const CIDR_PODS: Record<House, readonly PodId[]> = { gryffindor: GRYFFINDOR, slytherin: ['z/a', 'z/b'], ravenclaw: ['y/a', 'y/b'], hufflepuff: ['y/c', 'z/c'] };

/** Upstream's selectors as written (`conformance-house` labels, put on our namespaces and
 *  pods by the case), gryffindor's namespace by name, the addresses of the inline-CIDR pods. */
function wireScenario(t: Topology): ScenarioMapping {
  const house = (h: House) => ({ matchLabels: { 'conformance-house': h } });
  return {
    ns: (h) => {
      if (h !== 'gryffindor') throw new Error(`no namespace of its own for ${h} on the wire`);
      return nsSel('x');
    },
    pods: (h) => ({ namespaceSelector: house(h), podSelector: house(h) }),
    ips: (h, i) => ([4, 6] as const).map((fam) => t.addr(CIDR_PODS[h][i]!, fam)),
    port: PORT,
  };
}
