// The upstream ClusterNetworkPolicy conformance scenarios (kubernetes-sigs/network-policy-api,
// conformance/tests/*.go and conformance/base/, v1alpha2), ported as our own table: the same
// model (four "houses" namespaces with two pods each, serving TCP 80/8080, UDP 53/5353, SCTP
// 9003/9005), the same rule lists, the same in-place mutations between subtests (they carry
// over, as upstream patches one object), and the same probes. Each subtest's name is the
// upstream t.Run name under the upstream ShortName. Every probe is decided three ways that must
// all give the expected verdict: the compiled rulesets of both nodes packet by packet
// (packet-eval.ts), `explain`, and `matrix --by pod`; IPv4 and IPv6.
//
// The subset that is cheap on the real kernel runs in test/e2e/cnp-conformance.test.ts.
// Not ported here (README, "Conformance"): the named-port and node-peer tests
// (CNP*EgressNamedPort, CNP*IngressNamedPort, CNP*EgressNodePeers: the real-kernel suite
// covers named ports and node peers in test/e2e/tiers.test.ts), the combined-gress files
// (CNP*Gress) and the priority-field, integration and inline-CIDR tests.
import { expect } from 'chai';
import { clusterFromObjects, explain, formatProblem, type Cluster, type Protocol } from '../../compiler/index.js';
import { buildMatrix } from '../../compiler/matrix.js';
import { ns, pod, type Obj } from './builders.js';
import { connectionVerdict } from './packet-eval.js';

const HOUSES = { gryffindor: 'harry-potter', slytherin: 'draco-malfoy', hufflepuff: 'cedric-diggory', ravenclaw: 'luna-lovegood' } as const;
type House = keyof typeof HOUSES;
const PORTS: Record<Protocol, readonly [number, number]> = { TCP: [80, 8080], UDP: [53, 5353], SCTP: [9003, 9005] };

/** The model: each house a namespace with pods NAME-0 (node n1) and NAME-1 (node n2). */
function model(): Obj[] {
  const out: Obj[] = [];
  Object.entries(HOUSES).forEach(([house, name], h) => {
    out.push(ns(house, { 'conformance-house': house }));
    for (const i of [0, 1]) {
      const host = 10 + h * 10 + i;
      out.push(pod(`${house}/${name}-${i}`, {
        labels: { 'conformance-house': house }, node: i ? 'n2' : 'n1', ips: [`192.0.2.${host}`, `2001:db8::${host.toString(16)}`],
        ports: [{ name: 'web', port: 80 }, { port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }, { port: 5353, protocol: 'UDP' }, { port: 9003, protocol: 'SCTP' }, { port: 9005, protocol: 'SCTP' }],
      }));
    }
  });
  return out;
}

const house = (h: House) => ({ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': h } } });
const at = (proto: Protocol, port: number) => [{ [proto.toLowerCase()]: { destinationPort: { number: port } } }];

/** One upstream file of the per-protocol family: a subject house, and three peer houses R
 *  (everything), Y (one port: deny or pass) and H (one port accepted, the rest denied). */
interface Family {
  readonly upstream: string;
  readonly tier: 'Admin' | 'Baseline';
  readonly dir: 'ingress' | 'egress';
  readonly proto: Protocol;
  readonly subject: House;
  readonly r: House;
  readonly y: { readonly house: House; readonly port: number };
  readonly h: { readonly house: House; readonly port: number };
}

const FAMILIES: readonly Family[] = [
  { upstream: 'CNPAdminTierIngressTCP', tier: 'Admin', dir: 'ingress', proto: 'TCP', subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 80 } },
  { upstream: 'CNPAdminTierIngressUDP', tier: 'Admin', dir: 'ingress', proto: 'UDP', subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPAdminTierIngressSCTP', tier: 'Admin', dir: 'ingress', proto: 'SCTP', subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
  { upstream: 'CNPAdminTierEgressTCP', tier: 'Admin', dir: 'egress', proto: 'TCP', subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 8080 } },
  { upstream: 'CNPAdminTierEgressUDP', tier: 'Admin', dir: 'egress', proto: 'UDP', subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPAdminTierEgressSCTP', tier: 'Admin', dir: 'egress', proto: 'SCTP', subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
  { upstream: 'CNPBaselineTierIngressTCP', tier: 'Baseline', dir: 'ingress', proto: 'TCP', subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 80 } },
  { upstream: 'CNPBaselineTierIngressUDP', tier: 'Baseline', dir: 'ingress', proto: 'UDP', subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPBaselineTierIngressSCTP', tier: 'Baseline', dir: 'ingress', proto: 'SCTP', subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
  { upstream: 'CNPBaselineTierEgressTCP', tier: 'Baseline', dir: 'egress', proto: 'TCP', subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 8080 } },
  { upstream: 'CNPBaselineTierEgressUDP', tier: 'Baseline', dir: 'egress', proto: 'UDP', subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPBaselineTierEgressSCTP', tier: 'Baseline', dir: 'egress', proto: 'SCTP', subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
];

type Rule = Record<string, unknown>;

/** The file's rules in written order (Admin: 7 rules with Pass; Baseline: 5, no Pass). */
function rules(f: Family): Rule[] {
  const peer = f.dir === 'ingress' ? 'from' : 'to';
  const r = (name: string, action: string, h: House, protocols?: unknown): Rule => ({ name, action, [peer]: [house(h)], ...(protocols ? { protocols } : {}) });
  const y = at(f.proto, f.y.port), hp = at(f.proto, f.h.port);
  return f.tier === 'Admin'
    ? [r('allow-r', 'Accept', f.r), r('deny-r', 'Deny', f.r), r('pass-r', 'Pass', f.r), r('deny-y', 'Deny', f.y.house, y), r('pass-y', 'Pass', f.y.house, y), r('allow-h', 'Accept', f.h.house, hp), r('deny-h-else', 'Deny', f.h.house)]
    : [r('allow-r', 'Accept', f.r), r('deny-r', 'Deny', f.r), r('deny-y', 'Deny', f.y.house, y), r('allow-h', 'Accept', f.h.house, hp), r('deny-h-else', 'Deny', f.h.house)];
}

/** A probe from the peer house's view: every pod of it against every pod of the subject, on
 *  `port`, in the file's direction (ingress: peer -> subject; egress: subject -> peer). */
interface Probe { readonly peer: House; readonly port: number; readonly allowed: boolean }
interface Subtest { readonly name: string; readonly swap?: readonly [number, number]; readonly probes: readonly Probe[] }

function subtests(f: Family): Subtest[] {
  const [p, q] = PORTS[f.proto];
  const other = (port: number) => (port === p ? q : p);
  const gress = `${f.dir}`;
  const proto = f.proto;
  const common: Subtest[] = [
    { name: `Should support an 'allow-${gress}' policy for ${proto} protocol; ensure rule ordering is respected`, probes: [{ peer: f.r, port: p, allowed: true }, { peer: f.r, port: q, allowed: true }] },
    { name: `Should support an 'allow-${gress}' policy for ${proto} protocol at the specified port`, probes: [{ peer: f.h.house, port: f.h.port, allowed: true }, { peer: f.h.house, port: other(f.h.port), allowed: false }] },
    { name: `Should support an 'deny-${gress}' policy for ${proto} protocol; ensure rule ordering is respected`, swap: [0, 1], probes: [{ peer: f.r, port: p, allowed: false }, { peer: f.r, port: q, allowed: false }] },
    { name: `Should support a 'deny-${gress}' policy for ${proto} protocol at the specified port`, probes: [{ peer: f.y.house, port: f.y.port, allowed: false }, { peer: f.y.house, port: other(f.y.port), allowed: true }] },
  ];
  if (f.tier === 'Baseline') return common;
  return [
    ...common,
    // [deny-r, allow-r, pass-r, ...] -> [pass-r, allow-r, deny-r, ...]: Pass first, and no
    // NetworkPolicy or Baseline decides: allowed.
    { name: `Should support an 'pass-${gress}' policy for ${proto} protocol; ensure rule ordering is respected`, swap: [0, 2], probes: [{ peer: f.r, port: p, allowed: true }, { peer: f.r, port: q, allowed: true }] },
    { name: `Should support a 'pass-${gress}' policy for ${proto} protocol at the specified port`, swap: [3, 4], probes: [{ peer: f.y.house, port: f.y.port, allowed: true }, { peer: f.y.house, port: other(f.y.port), allowed: true }] },
  ];
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

describe('ClusterNetworkPolicy conformance (network-policy-api v1alpha2 scenarios, packet interpreter, explain, matrix)', () => {
  for (const f of FAMILIES) {
    describe(f.upstream, () => {
      // Upstream patches one object from subtest to subtest: so do we.
      const list = rules(f);
      const steps = subtests(f).map((s) => {
        if (s.swap) {
          const [i, j] = s.swap;
          [list[i], list[j]] = [list[j]!, list[i]!];
        }
        return { ...s, rules: [...list] };
      });
      for (const s of steps) {
        it(s.name, () => {
          const policy = { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: `${f.dir}-${f.proto.toLowerCase()}` }, spec: { tier: f.tier, priority: f.tier === 'Admin' ? 3 : 10, subject: house(f.subject), [f.dir]: s.rules } };
          const c = clusterOf([...model(), policy]);
          const bad = s.probes.flatMap((p) => check(c, f, p));
          expect(bad, bad.join('\n')).to.deep.equal([]);
        });
      }
    });
  }
});
