// Upstream ClusterNetworkPolicy conformance on the real kernel: two of the per-protocol files
// (test/e2e/cases/cnp-conformance.ts, from network-policy-api v1alpha2 conformance/tests/),
// CNPAdminTierIngressTCP and CNPBaselineTierEgressUDP, every subtest, mapped onto our model:
// the houses are gryffindor = namespace x, ravenclaw = namespace y, slytherin = pods z/a and
// z/b, hufflepuff = pod z/c; upstream's ports (80 and 8080, 53 and 5353) are our 80 and 81.
// The policy is changed in place from subtest to subtest as upstream patches it: here through
// the agent's path (policy engine events, delta transactions). Probes: every pod of the peer
// house against every pod of the subject, IPv4 and IPv6. (The packet interpreter runs all
// twelve files on upstream's own model in npm test.)
import { expect } from 'chai';
import { FAMILIES, stepPolicy, steps, type House, type Mapping } from './cases/cnp-conformance.js';
import { InProcessApplier, useTopology } from './harness.js';
import type { PodId, Proto, Topology } from './topology.js';

const nsSel = (n: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } });
const inZ = (...pods: string[]) => ({ pods: { namespaceSelector: nsSel('z'), podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: pods }] } } });
const PEERS: Record<House, Record<string, unknown>> = { gryffindor: { namespaces: nsSel('x') }, ravenclaw: { namespaces: nsSel('y') }, slytherin: inZ('a', 'b'), hufflepuff: inZ('c') };
const PODS: Record<House, readonly PodId[]> = { gryffindor: ['x/a', 'x/b', 'x/c'], ravenclaw: ['y/a', 'y/b', 'y/c'], slytherin: ['z/a', 'z/b'], hufflepuff: ['z/c'] };
const MODEL: Mapping = { peer: (h) => PEERS[h], port: (p) => (p === 80 || p === 53 ? 80 : 81) };

/** Each cell once (1 s); a cell that did not pass is asked again with a long timeout, as
 *  expectMatrix does (a loaded machine may be slow to answer; a pass is final). */
async function probe(t: Topology, cells: readonly { from: PodId; to: PodId; fam: 4 | 6 }[], port: number, proto: Proto): Promise<boolean[]> {
  const once = (timeout: number) => (c: (typeof cells)[number]) => t.prober(c.from).probe([{ host: t.addr(c.to, c.fam), port, proto }], timeout).then((r) => r[0]!);
  const first = await Promise.all(cells.map(once(1000)));
  return Promise.all(cells.map((c, i) => (first[i] ? true : once(4000)(c))));
}

describe('e2e: ClusterNetworkPolicy conformance (network-policy-api scenarios on the wire)', function () {
  this.timeout(240_000);
  const topo = useTopology();

  for (const name of ['CNPAdminTierIngressTCP', 'CNPBaselineTierEgressUDP']) {
    const f = FAMILIES.find((x) => x.upstream === name)!;
    it(`${name}: every subtest, the policy patched in place between them`, async () => {
      const t = topo();
      const applier = new InProcessApplier(t);
      const proto = f.proto.toLowerCase() as Proto;
      for (const s of steps(f, MODEL)) {
        // The subject maps as the peer of its house does (a namespaces or a pods selector).
        await applier.apply({ policies: [stepPolicy(f, s, MODEL.peer(f.subject))] });
        for (const p of s.probes) {
          // ingress: peer -> subject; egress: subject -> peer.
          const [froms, tos] = f.dir === 'ingress' ? [PODS[p.peer], PODS[f.subject]] : [PODS[f.subject], PODS[p.peer]];
          const cells = froms.flatMap((from) => tos.flatMap((to) => ([4, 6] as const).map((fam) => ({ from, to, fam }))));
          const got = await probe(t, cells, p.port, proto);
          const line = (c: (typeof cells)[number], ok: boolean) => `${c.from} -> ${c.to} ${proto}/${p.port} IPv${c.fam}: ${ok}`;
          expect(cells.map((c, i) => line(c, got[i]!)), `${name}: ${s.name}`).to.deep.equal(cells.map((c) => line(c, p.allowed)));
        }
      }
    });
  }
});
