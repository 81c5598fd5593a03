// The upstream ClusterNetworkPolicy conformance scenarios (test/e2e/cases/cnp-conformance.ts:
// network-policy-api v1alpha2, conformance/tests/*.go: the per-protocol files of both tiers)
// on upstream's own model: four "houses" namespaces with two pods each (on two nodes),
// serving TCP 80/8080, UDP 53/5353, SCTP 9003/9005. Each subtest is named as upstream names it
// under upstream's ShortName, and every probe (each pod of the peer house against each pod of
// the subject house, IPv4 and IPv6) is decided three ways that must all give upstream's
// expected verdict: the compiled rulesets of both nodes packet by packet (packet-eval.ts),
// `explain`, and `matrix --by pod`.
//
// Also the scenario tests (CNPAdminTierIntegration, CNPAdminTierPriorityField, the Gress,
// InlineCIDRPeers and NodePeers tests of both tiers) and the four NamedPort tests: all 24
// upstream tests, 92 subtests. Probes to forbidden-forrest (host-network pods: the nodes'
// addresses) are decided by the rulesets and `explain`; the matrix is pod to pod. What differs
// from upstream, and why: the README, "ClusterNetworkPolicy conformance".
import { expect } from 'chai';
import { clusterFromObjects, explain, formatProblem, type Cluster } from '../../compiler/index.js';
import { buildMatrix } from '../../compiler/matrix.js';
import { FAMILIES, HOUSES, houseIps, NAMED_PORTS, namedPortStep, NODE_LABELS, NODES, SCENARIOS, stepPolicy, steps, type Family, type House, type HouseProbe, type Place, type Probe, type ScenarioStep } from '../e2e/cases/cnp-conformance.js';
import { ns, pod, type Obj } from './builders.js';
import { connectionVerdict } from './packet-eval.js';

/** The model: each house a namespace with pods NAME-0 (node n1) and NAME-1 (node n2), the
 *  two Node objects, and forbidden-forrest's host-network centaur-0 and -1 (one per node, the
 *  node's addresses). */
function model(relabel?: ScenarioStep['relabel']): Obj[] {
  const out: Obj[] = [];
  for (const [house, name] of Object.entries(HOUSES) as [House, string][]) {
    out.push(ns(house, { 'conformance-house': relabel?.house === house ? relabel.label : house }));
    for (const i of [0, 1] as const) {
      out.push(pod(`${house}/${name}-${i}`, {
        labels: { 'conformance-house': house }, node: i ? 'n2' : 'n1', ips: houseIps(house, i),
        ports: [{ name: 'web', port: 80 }, { port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }, { port: 5353, protocol: 'UDP' }, { port: 9003, protocol: 'SCTP' }, { port: 9005, protocol: 'SCTP' }],
      }));
    }
  }
  out.push(ns('forbidden-forrest', { 'conformance-house': 'forbidden-forrest' }));
  NODES.forEach((n, i) => {
    out.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name, labels: { ...NODE_LABELS } }, status: { addresses: n.addresses.map((address) => ({ type: 'InternalIP', address })) } });
    out.push(pod(`forbidden-forrest/centaur-${i}`, { labels: { 'conformance-house': 'forbidden-forrest' }, node: n.name, hostNetwork: true, ips: n.addresses }));
  });
  return out;
}

function clusterOf(objects: Obj[]): Cluster {
  const r = clusterFromObjects(objects);
  if (r.problems.length) throw new Error(r.problems.map(formatProblem).join('; '));
  return r.cluster;
}

/** Every pod pair of the probe, both families, three ways; the failures, described. */
function check(c: Cluster, f: Family, probe: Probe): string[] {
  const pods = (h: House) => c.pods.filter((x) => x.namespace === h);
  const bad: string[] = [];
  const matrices = new Map<4 | 6, ReturnType<typeof buildMatrix>>();
  for (const family of [4, 6] as const) {
    const m = buildMatrix(c, { by: 'pod', family, ports: [{ port: probe.port, protocol: f.proto }] });
    matrices.set(family, m);
    for (const peer of pods(probe.peer)) for (const subj of pods(f.subject)) {
      const [src, dst] = f.dir === 'ingress' ? [peer, subj] : [subj, peer];
      const ip = (x: typeof src) => x.ips.find((i) => (family === 4) === i.includes('.'))!;
      const what = `${src.namespace}/${src.name} -> ${dst.namespace}/${dst.name} ${f.proto}/${probe.port} IPv${family}`;
      const packets = connectionVerdict(c, ip(src), ip(dst), f.proto, probe.port).allowed;
      const e = explain(c, `${src.namespace}/${src.name}`, `${dst.namespace}/${dst.name}`, probe.port, f.proto, { family });
      const row = m.entities.findIndex((x) => x.pods[0] === src), col = m.entities.findIndex((x) => x.pods[0] === dst);
      const cell = m.verdict(row, col, 0);
      if (packets !== probe.allowed) bad.push(`${what}: the rulesets say ${packets}, expected ${probe.allowed}`);
      if (e.allowed !== probe.allowed) bad.push(`${what}: explain says ${e.allowed} (${e.egress.reason} | ${e.ingress.reason}), expected ${probe.allowed}`);
      if (cell !== probe.allowed) bad.push(`${what}: matrix says ${cell}, expected ${probe.allowed}`);
    }
  }
  return bad;
}

/** A probe between houses, both families: three ways between pods; to forbidden-forrest
 *  (addresses of nodes, not pods: the matrix has no column for them) two ways. */
function checkHouses(c: Cluster, probe: HouseProbe): string[] {
  const pods = (h: Place, i?: 0 | 1) => c.pods.filter((x) => x.namespace === h && (i === undefined || x.name.endsWith(`-${i}`)));
  const bad: string[] = [];
  const dsts = pods(probe.to, probe.toPod);
  if (!dsts.length) return [`no pod in ${probe.to}`];
  for (const family of [4, 6] as const) for (const port of probe.ports) {
    const m = buildMatrix(c, { by: 'pod', family, ports: [{ port, protocol: probe.proto }] });
    for (const src of pods(probe.from)) for (const dst of dsts) {
      const ip = (x: typeof src) => x.ips.find((i) => (family === 4) === i.includes('.'))!;
      const what = `${src.namespace}/${src.name} -> ${dst.namespace}/${dst.name} ${probe.proto}/${port} IPv${family}`;
      const packets = connectionVerdict(c, ip(src), ip(dst), probe.proto, port).allowed;
      const e = explain(c, `${src.namespace}/${src.name}`, `${dst.namespace}/${dst.name}`, port, probe.proto, { family });
      if (packets !== probe.allowed) bad.push(`${what}: the rulesets say ${packets}, expected ${probe.allowed}`);
      if (e.allowed !== probe.allowed) bad.push(`${what}: explain says ${e.allowed} (${e.egress.reason} | ${e.ingress.reason}), expected ${probe.allowed}`);
      if (dst.hostNetwork) continue;
      const cell = m.verdict(m.entities.findIndex((x) => x.pods[0] === src), m.entities.findIndex((x) => x.pods[0] === dst), 0);
      if (cell !== probe.allowed) bad.push(`${what}: matrix says ${cell}, expected ${probe.allowed}`);
    }
  }
  return bad;
}

describe('ClusterNetworkPolicy conformance (network-policy-api v1alpha2 scenarios, packet interpreter, explain, matrix)', () => {
  for (const sc of SCENARIOS) {
    describe(sc.upstream, () => {
      for (const s of sc.steps) {
        it(s.name, () => {
          const c = clusterOf([...model(s.relabel), ...(s.objects as Obj[])]);
          const bad = s.probes.flatMap((p) => checkHouses(c, p));
          expect(bad, bad.join('\n')).to.deep.equal([]);
        });
      }
    });
  }

  it('ports every per-protocol file of both tiers: 6 Admin files of 6 subtests, 6 Baseline files of 4', () => {
    expect(FAMILIES.map((f) => steps(f).length)).to.deep.equal([6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4]);
  });

  for (const t of NAMED_PORTS) {
    describe(t.upstream, () => {
      it(t.name, () => {
        const { family, step } = namedPortStep(t);
        const c = clusterOf([...model(), stepPolicy(family, step)]);
        const bad = step.probes.flatMap((p) => check(c, family, p));
        expect(bad, bad.join('\n')).to.deep.equal([]);
      });
    });
  }

  it('ports all 24 upstream tests, 92 subtests', () => {
    const names = [...FAMILIES.map((f) => f.upstream), ...SCENARIOS.map((sc) => sc.upstream), ...NAMED_PORTS.map((t) => t.upstream)];
    expect(new Set(names).size).to.equal(24);
    // Our extra steps of a subtest (the relabelling, named "SUBTEST (…)") count as that subtest.
    const subtests = SCENARIOS.flatMap((sc) => [...new Set(sc.steps.map((st) => `${sc.upstream}: ${st.name.replace(/ \(.*\)$/, '')}`))]);
    expect(FAMILIES.reduce((n, f) => n + steps(f).length, 0) + subtests.length + NAMED_PORTS.length).to.equal(92);
  });

  for (const f of FAMILIES) {
    describe(f.upstream, () => {
      for (const s of steps(f)) {
        it(s.name, () => {
          const c = clusterOf([...model(), stepPolicy(f, s)]);
          const bad = s.probes.flatMap((p) => check(c, f, p));
          expect(bad, bad.join('\n')).to.deep.equal([]);
        });
      }
    });
  }
});
