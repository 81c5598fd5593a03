// The upstream ClusterNetworkPolicy conformance suite (kubernetes-sigs/network-policy-api,
// conformance/tests/*.go and conformance/base/, v1alpha2, v0.2.0: 24 tests, 92 subtests) as
// data. The per-protocol files of both tiers (a subject house; a house R matched on
// everything, Y on one port (deny, or pass), H on one port (accept) and everything else
// (deny)), their rules in written order, the in-place mutations between subtests (they carry
// over, as upstream patches one object) and the probes, each subtest named as upstream names
// it; the NamedPort tests (a per-protocol file, one rule's ports turned into a port name); and
// the scenario tests (Integration, PriorityField, Gress, InlineCIDRPeers, NodePeers). Written
// here from reading upstream; the packet interpreter runs all of them on upstream's model
// (test/compiler/cnp-conformance.test.ts), the real-kernel suite a subset mapped onto our
// x/y/z model (test/e2e/cnp-conformance.test.ts).
import type { Protocol } from '../../../compiler/model.js';

export const HOUSES = { gryffindor: 'harry-potter', slytherin: 'draco-malfoy', hufflepuff: 'cedric-diggory', ravenclaw: 'luna-lovegood' } as const;
export type House = keyof typeof HOUSES;
/** Upstream's two ports per protocol: the one a rule names and another. */
export const PORTS: Record<Protocol, readonly [number, number]> = { TCP: [80, 8080], UDP: [53, 5353], SCTP: [9003, 9005] };

/** One upstream file of the per-protocol family. */
export interface Family {
  readonly upstream: string;
  readonly tier: 'Admin' | 'Baseline';
  readonly dir: 'ingress' | 'egress';
  readonly proto: Protocol;
  readonly priority: number;
  readonly subject: House;
  readonly r: House;
  readonly y: { readonly house: House; readonly port: number };
  readonly h: { readonly house: House; readonly port: number };
}

export const FAMILIES: readonly Family[] = [
  { upstream: 'CNPAdminTierIngressTCP', tier: 'Admin', dir: 'ingress', proto: 'TCP', priority: 3, subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 80 } },
  { upstream: 'CNPAdminTierIngressUDP', tier: 'Admin', dir: 'ingress', proto: 'UDP', priority: 4, subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPAdminTierIngressSCTP', tier: 'Admin', dir: 'ingress', proto: 'SCTP', priority: 5, subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
  { upstream: 'CNPAdminTierEgressTCP', tier: 'Admin', dir: 'egress', proto: 'TCP', priority: 6, subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 8080 } },
  { upstream: 'CNPAdminTierEgressUDP', tier: 'Admin', dir: 'egress', proto: 'UDP', priority: 7, subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPAdminTierEgressSCTP', tier: 'Admin', dir: 'egress', proto: 'SCTP', priority: 8, subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
  { upstream: 'CNPBaselineTierIngressTCP', tier: 'Baseline', dir: 'ingress', proto: 'TCP', priority: 10, subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 80 } },
  { upstream: 'CNPBaselineTierIngressUDP', tier: 'Baseline', dir: 'ingress', proto: 'UDP', priority: 10, subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPBaselineTierIngressSCTP', tier: 'Baseline', dir: 'ingress', proto: 'SCTP', priority: 10, subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
  { upstream: 'CNPBaselineTierEgressTCP', tier: 'Baseline', dir: 'egress', proto: 'TCP', priority: 10, subject: 'gryffindor', r: 'ravenclaw', y: { house: 'slytherin', port: 80 }, h: { house: 'hufflepuff', port: 8080 } },
  { upstream: 'CNPBaselineTierEgressUDP', tier: 'Baseline', dir: 'egress', proto: 'UDP', priority: 10, subject: 'hufflepuff', r: 'ravenclaw', y: { house: 'slytherin', port: 5353 }, h: { house: 'gryffindor', port: 53 } },
  { upstream: 'CNPBaselineTierEgressSCTP', tier: 'Baseline', dir: 'egress', proto: 'SCTP', priority: 10, subject: 'ravenclaw', r: 'gryffindor', y: { house: 'slytherin', port: 9003 }, h: { house: 'hufflepuff', port: 9003 } },
];

type Rule = Record<string, unknown>;

/** A probe from the peer house's view: its pods against the subject's, on `port`, in the
 *  file's direction (ingress: peer -> subject; egress: subject -> peer). */
export interface Probe { readonly peer: House; readonly port: number; readonly allowed: boolean }
export interface Step { readonly name: string; readonly rules: readonly Rule[]; readonly probes: readonly Probe[] }

/** How a house appears in a rule (upstream: a `namespaces` peer of its namespace) and how a
 *  port is called (upstream's own, or the model's where it has fewer). */
export interface Mapping {
  peer(h: House): Record<string, unknown>;
  port(p: number): number;
}

export const UPSTREAM: Mapping = {
  peer: (h) => ({ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': h } } }),
  port: (p) => p,
};

/** The file's rules in written order (Admin: 7 rules with Pass; Baseline: 5, no Pass). */
function rules(f: Family, m: Mapping): Rule[] {
  const peer = f.dir === 'ingress' ? 'from' : 'to';
  const at = (port: number) => [{ [f.proto.toLowerCase()]: { destinationPort: { number: m.port(port) } } }];
  const r = (name: string, action: string, h: House, protocols?: unknown): Rule => ({ name, action, [peer]: [m.peer(h)], ...(protocols ? { protocols } : {}) });
  const y = at(f.y.port), hp = at(f.h.port);
  return f.tier === 'Admin'
    ? [r('allow-r', 'Accept', f.r), r('deny-r', 'Deny', f.r), r('pass-r', 'Pass', f.r), r('deny-y', 'Deny', f.y.house, y), r('pass-y', 'Pass', f.y.house, y), r('allow-h', 'Accept', f.h.house, hp), r('deny-h-else', 'Deny', f.h.house)]
    : [r('allow-r', 'Accept', f.r), r('deny-r', 'Deny', f.r), r('deny-y', 'Deny', f.y.house, y), r('allow-h', 'Accept', f.h.house, hp), r('deny-h-else', 'Deny', f.h.house)];
}

/** The subtests in upstream's order, each with the rules in force (the mutations carried
 *  over) and its probes, ports as the mapping calls them. */
export function steps(f: Family, m: Mapping = UPSTREAM): Step[] {
  const [p, q] = PORTS[f.proto];
  const other = (port: number) => (port === p ? q : p);
  const g = f.dir, proto = f.proto;
  const plan: { name: string; swap?: [number, number]; probes: Probe[] }[] = [
    { name: `Should support an 'allow-${g}' policy for ${proto} protocol; ensure rule ordering is respected`, probes: [{ peer: f.r, port: p, allowed: true }, { peer: f.r, port: q, allowed: true }] },
    { name: `Should support an 'allow-${g}' policy for ${proto} protocol at the specified port`, probes: [{ peer: f.h.house, port: f.h.port, allowed: true }, { peer: f.h.house, port: other(f.h.port), allowed: false }] },
    { name: `Should support an 'deny-${g}' policy for ${proto} protocol; ensure rule ordering is respected`, swap: [0, 1], probes: [{ peer: f.r, port: p, allowed: false }, { peer: f.r, port: q, allowed: false }] },
    { name: `Should support a 'deny-${g}' policy for ${proto} protocol at the specified port`, probes: [{ peer: f.y.house, port: f.y.port, allowed: false }, { peer: f.y.house, port: other(f.y.port), allowed: true }] },
  ];
  if (f.tier === 'Admin') plan.push(
    // [deny-r, allow-r, pass-r, ...] -> [pass-r, allow-r, deny-r, ...]: Pass first, and no
    // NetworkPolicy or Baseline decides: allowed.
    { name: `Should support an 'pass-${g}' policy for ${proto} protocol; ensure rule ordering is respected`, swap: [0, 2], probes: [{ peer: f.r, port: p, allowed: true }, { peer: f.r, port: q, allowed: true }] },
    { name: `Should support a 'pass-${g}' policy for ${proto} protocol at the specified port`, swap: [3, 4], probes: [{ peer: f.y.house, port: f.y.port, allowed: true }, { peer: f.y.house, port: other(f.y.port), allowed: true }] },
  );
  const list = rules(f, m);
  return plan.map((s) => {
    if (s.swap) {
      const [i, j] = s.swap;
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    return { name: s.name, rules: [...list], probes: s.probes.map((pr) => ({ ...pr, port: m.port(pr.port) })) };
  });
}

/** The ClusterNetworkPolicy of a step (named as upstream's file names it). */
export function stepPolicy(f: Family, s: Step, subject: Record<string, unknown> = UPSTREAM.peer(f.subject)): Record<string, unknown> {
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy',
    metadata: { name: f.tier === 'Admin' ? `${f.dir}-${f.proto.toLowerCase()}` : 'default' },
    spec: { tier: f.tier, priority: f.priority, subject, [f.dir]: s.rules },
  };
}

// --- scenario tests: several policies, changed in place from subtest to subtest ------------

/** Where a probe goes: a house's pods, or upstream's forbidden-forrest (the `centaur`
 *  host-network StatefulSet: a pod per node, its addresses the node's). */
export type Place = House | 'forbidden-forrest';
/** A probe between houses: every pod of `from` to every pod of `to` (only its pod `toPod`
 *  when set: upstream's `luna-lovegood-0` is pod 0), on each port. */
export interface HouseProbe {
  readonly from: House;
  readonly to: Place;
  readonly toPod?: 0 | 1;
  readonly proto: Protocol;
  readonly ports: readonly number[];
  readonly allowed: boolean;
}
export interface ScenarioStep {
  readonly name: string;
  /** The ClusterNetworkPolicies and NetworkPolicies in force. */
  readonly objects: readonly Record<string, unknown>[];
  /** A house whose namespace's `conformance-house` label is patched to another value. */
  readonly relabel?: { readonly house: House; readonly label: string };
  readonly probes: readonly HouseProbe[];
}
export interface Scenario { readonly upstream: string; readonly steps: readonly ScenarioStep[] }

const houseSel = (h: House) => ({ matchLabels: { 'conformance-house': h } });
const housePods = (h: House) => ({ pods: { namespaceSelector: houseSel(h), podSelector: houseSel(h) } });
const cnpObj = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec });
const both = (from: House, to: House, allowed: boolean): HouseProbe => ({ from, to, proto: 'TCP', ports: [80, 8080], allowed });

/** CNPAdminTierIntegration (conformance/base/api_integration/standard-anp-np-banp.yaml): an
 *  Admin Deny between gryffindor and slytherin turned into Pass, a NetworkPolicy of gryffindor
 *  that admits slytherin both ways, a Baseline Deny; the NetworkPolicy deleted at the end. */
function integration(): Scenario {
  const admin = (ing: string, eg: string) => cnpObj('pass-example', {
    tier: 'Admin', priority: 10, subject: { namespaces: houseSel('gryffindor') },
    ingress: [{ name: 'deny-all-ingress-from-slytherin', action: ing, from: [{ namespaces: houseSel('slytherin') }] }],
    egress: [{ name: 'deny-all-egress-to-slytherin', action: eg, to: [{ namespaces: houseSel('slytherin') }] }],
  });
  const np = {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-gress-from-to-slytherin-to-gryffindor', namespace: 'gryffindor' },
    spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ namespaceSelector: houseSel('slytherin') }] }], egress: [{ to: [{ namespaceSelector: houseSel('slytherin') }] }] },
  };
  const baseline = cnpObj('default', {
    tier: 'Baseline', priority: 10, subject: { namespaces: houseSel('gryffindor') },
    ingress: [{ name: 'deny-all-ingress-from-slytherin', action: 'Deny', from: [{ namespaces: houseSel('slytherin') }] }],
    egress: [{ name: 'deny-all-egress-to-slytherin', action: 'Deny', to: [{ namespaces: houseSel('slytherin') }] }],
  });
  return {
    upstream: 'CNPAdminTierIntegration',
    steps: [
      { name: 'Should Deny traffic from slytherin to gryffindor respecting admin CNP', objects: [admin('Deny', 'Deny'), np, baseline], probes: [both('slytherin', 'gryffindor', false)] },
      { name: 'Should Deny traffic to slytherin from gryffindor respecting admin CNP', objects: [admin('Deny', 'Deny'), np, baseline], probes: [both('gryffindor', 'slytherin', false)] },
      { name: "Should support a 'pass-ingress' policy for admin CNP and respect the match for network policy", objects: [admin('Pass', 'Deny'), np, baseline], probes: [both('slytherin', 'gryffindor', true)] },
      { name: "Should support a 'pass-egress' policy for admin CNP and respect the match for network policy", objects: [admin('Pass', 'Pass'), np, baseline], probes: [both('gryffindor', 'slytherin', true)] },
      { name: "Should support a 'pass-ingress' policy for admin CNP and respect the match for baseline cluster network policy", objects: [admin('Pass', 'Pass'), baseline], probes: [both('slytherin', 'gryffindor', false)] },
      { name: "Should support a 'pass-egress' policy for admin CNP and respect the match for baseline cluster network policy", objects: [admin('Pass', 'Pass'), baseline], probes: [both('gryffindor', 'slytherin', false)] },
    ],
  };
}

/** CNPAdminTierPriorityField (conformance/base/admin_tier/standard-priority-field.yaml): a
 *  Deny at priority 50 and a Pass at 60, moved to 40, before a Baseline Accept. */
function priorityField(): Scenario {
  const gress = (name: string, action: string) => ({
    subject: housePods('gryffindor'),
    ingress: [{ name: `${name}-ingress-from-slytherin`, action, from: [housePods('slytherin')] }],
    egress: [{ name: `${name}-egress-to-slytherin`, action, to: [housePods('slytherin')] }],
  });
  const objects = (passPriority: number) => [
    cnpObj('priority-50-example', { tier: 'Admin', priority: 50, ...gress('deny-all', 'Deny') }),
    cnpObj('old-priority-60-new-priority-40-example', { tier: 'Admin', priority: passPriority, ...gress('pass-all', 'Pass') }),
    cnpObj('default', { tier: 'Baseline', priority: 10, ...gress('allow-all', 'Accept') }),
  ];
  return {
    upstream: 'CNPAdminTierPriorityField',
    steps: [
      { name: 'Should Deny traffic from slytherin to gryffindor respecting admin CNP', objects: objects(60), probes: [both('slytherin', 'gryffindor', false)] },
      { name: 'Should Deny traffic to slytherin from gryffindor respecting admin CNP', objects: objects(60), probes: [both('gryffindor', 'slytherin', false)] },
      { name: 'Should respect admin CNP priority field; thus passing both ingress and egress traffic over to baseline CNP', objects: objects(40), probes: [both('slytherin', 'gryffindor', true), both('gryffindor', 'slytherin', true)] },
    ],
  };
}

// --- the address plan of upstream's model, as the packet interpreter builds it --------------

/** Pod `i` of a house (`harry-potter-0` on node n1, `-1` on n2): IPv4 and IPv6. */
export function houseIps(h: House, i: 0 | 1): readonly [string, string] {
  const host = 10 + Object.keys(HOUSES).indexOf(h) * 10 + i;
  return [`192.0.2.${host}`, `2001:db8::${host.toString(16)}`];
}
/** The two nodes, labelled as kind labels them (upstream's node peers select
 *  `kubernetes.io/os: linux`); forbidden-forrest's centaur-0 and -1 run on them, host network. */
export const NODES = [
  { name: 'n1', addresses: ['198.51.100.1', '2001:db8:ff::1'] },
  { name: 'n2', addresses: ['198.51.100.2', '2001:db8:ff::2'] },
] as const;
export const NODE_LABELS = { 'kubernetes.io/os': 'linux' } as const;
/** Upstream's `HostNetworkPorts`: the suite's default range 34345-34352 (the centaurs serve
 *  TCP on [0] and [1], UDP on [2] and [4], SCTP on [6] and [7]). */
export const HOST_PORTS = [34345, 34346, 34347, 34348, 34349, 34350, 34351, 34352] as const;

/** How a scenario's objects name the houses (upstream's, by default; the wire suite maps
 *  them onto its own pods). */
export interface ScenarioMapping {
  /** The namespace selector upstream writes as `kubernetes.io/metadata.name: network-policy-conformance-HOUSE`. */
  ns(h: House): Record<string, unknown>;
  /** The namespace and pod selectors upstream writes as `conformance-house: HOUSE` (both). */
  pods(h: House): { namespaceSelector: Record<string, unknown>; podSelector: Record<string, unknown> };
  /** The addresses of pod `i` of a house (upstream: `Status.PodIP`), every family. */
  ips(h: House, i: 0 | 1): readonly string[];
  port(p: number): number;
}

export const UPSTREAM_SCENARIO: ScenarioMapping = {
  ns: (h) => ({ matchLabels: { 'kubernetes.io/metadata.name': h } }),
  pods: (h) => ({ namespaceSelector: houseSel(h), podSelector: houseSel(h) }),
  ips: houseIps,
  port: (p) => p,
};

/** A probe on one port, ports as the mapping calls them. */
const at = (m: ScenarioMapping, from: House, to: Place, proto: Protocol, port: number, allowed: boolean, toPod?: 0 | 1): HouseProbe =>
  ({ from, to, ...(toPod === undefined ? {} : { toPod }), proto, ports: [m.port(port)], allowed });
const protocols = (m: ScenarioMapping, tcp: number, udp: number, sctp: number) =>
  [{ tcp: { destinationPort: { number: m.port(tcp) } } }, { udp: { destinationPort: { number: m.port(udp) } } }, { sctp: { destinationPort: { number: m.port(sctp) } } }];
const swap = <T>(list: T[], i: number, j: number) => { [list[i], list[j]] = [list[j]!, list[i]!]; };

/** CNPAdminTierGress and CNPBaselineTierGress (conformance/base/{admin,baseline}_tier/
 *  standard-gress-rules-combined.yaml): one policy of gryffindor with both directions, the
 *  per-protocol files' rules over all three protocols at once, swapped in place in both lists. */
function gress(tier: 'Admin' | 'Baseline', m: ScenarioMapping): Scenario {
  type R = Record<string, unknown>;
  const rule = (dir: 'ingress' | 'egress', name: string, action: string, h: House, ps?: unknown): R =>
    ({ name, action, [dir === 'ingress' ? 'from' : 'to']: [{ namespaces: m.ns(h) }], ...(ps ? { protocols: ps } : {}) });
  const sy = protocols(m, 80, 53, 9003);
  const egress = [
    rule('egress', 'allow-to-ravenclaw-everything', 'Accept', 'ravenclaw'),
    rule('egress', 'deny-to-ravenclaw-everything', 'Deny', 'ravenclaw'),
    rule('egress', 'pass-to-ravenclaw-everything', 'Pass', 'ravenclaw'),
    rule('egress', 'deny-to-slytherin-at-ports-80-53-9003', 'Deny', 'slytherin', sy),
    rule('egress', 'pass-to-slytherin-at-port-80-53-9003', 'Pass', 'slytherin', sy),
    rule('egress', tier === 'Admin' ? 'allow-to-hufflepuff-at-ports-8080-5353-9003' : 'allow-to-hufflepuff-at-ports-8080-5353', 'Accept', 'hufflepuff', protocols(m, 8080, 5353, 9003)),
    rule('egress', 'deny-to-hufflepuff-everything-else', 'Deny', 'hufflepuff'),
  ];
  const ingress = [
    rule('ingress', 'allow-from-ravenclaw-everything', 'Accept', 'ravenclaw'),
    rule('ingress', 'deny-from-ravenclaw-everything', 'Deny', 'ravenclaw'),
    rule('ingress', 'pass-from-ravenclaw-everything', 'Pass', 'ravenclaw'),
    rule('ingress', 'deny-from-slytherin-at-port-80-53-9003', 'Deny', 'slytherin', sy),
    rule('ingress', 'pass-from-slytherin-at-port-80-53-9003', 'Pass', 'slytherin', sy),
    rule('ingress', 'allow-from-hufflepuff-at-port-80-5353-9003', 'Accept', 'hufflepuff', protocols(m, 80, 5353, 9003)),
    rule('ingress', 'deny-from-hufflepuff-everything-else', 'Deny', 'hufflepuff'),
  ];
  // The Baseline file has no Pass rules (indexes 2 and 4 of the Admin lists).
  if (tier === 'Baseline') for (const list of [egress, ingress]) { list.splice(4, 1); list.splice(2, 1); }
  const policy = () => cnpObj(tier === 'Admin' ? 'gress-rules' : 'default', { tier, priority: tier === 'Admin' ? 15 : 10, subject: { namespaces: m.ns('gryffindor') }, egress: [...egress], ingress: [...ingress] });
  const swapBoth = (i: number, j: number) => { swap(egress, i, j); swap(ingress, i, j); };
  const g = 'gryffindor' as const;
  /** Upstream's probes of a subtest: gryffindor to the peer (`egress`, when they differ from
   *  the ingress ones), then the peer to gryffindor; each (protocol, port, verdict). */
  const both = (peer: House, cells: readonly [Protocol, number, boolean][], egress?: readonly [Protocol, number, boolean][]) => [
    ...(egress ?? cells).map(([proto, port, ok]) => at(m, g, peer, proto, port, ok)),
    ...cells.map(([proto, port, ok]) => at(m, peer, g, proto, port, ok)),
  ];
  const steps: ScenarioStep[] = [];
  const step = (name: string, probes: HouseProbe[]) => steps.push({ name, objects: [policy()], probes });
  step("Should support an 'allow-gress' policy across different protocols",
    both('ravenclaw', [['TCP', 80, true], ['UDP', 53, true], ['SCTP', 9003, true]]));
  step("Should support an 'allow-gress' policy across different protocols at the specified ports",
    both('hufflepuff', [['TCP', 80, true], ['TCP', 8080, false], ['UDP', 5353, true], ['UDP', 53, false], ['SCTP', 9003, true], ['SCTP', 9005, false]],
      [['TCP', 8080, true], ['TCP', 80, false], ['UDP', 5353, true], ['UDP', 53, false], ['SCTP', 9003, true], ['SCTP', 9005, false]]));
  swapBoth(0, 1);
  step("Should support an 'deny-gress' policy across different protocols",
    both('ravenclaw', [['TCP', 80, false], ['UDP', 53, false], ['SCTP', 9003, false]]));
  step("Should support a 'deny-gress' policy across different protocols at the specified ports",
    both('slytherin', [['TCP', 80, false], ['TCP', 8080, true], ['UDP', 53, false], ['UDP', 5353, true], ['SCTP', 9003, false], ['SCTP', 9005, true]]));
  if (tier === 'Admin') {
    // [deny, allow, pass] -> [pass, allow, deny]: Pass first; no NetworkPolicy, no Baseline.
    swapBoth(0, 2);
    step("Should support an 'pass-gress' policy across different protocols",
      both('ravenclaw', [['TCP', 80, true], ['UDP', 53, true], ['SCTP', 9003, true]], [['TCP', 80, true], ['UDP', 5353, true], ['SCTP', 9003, true]]));
    swapBoth(3, 4);
    step("Should support a 'pass-gress' policy across different protocols at the specified ports",
      both('slytherin', [['TCP', 80, true], ['TCP', 8080, true], ['UDP', 53, true], ['UDP', 5353, true], ['SCTP', 9003, true], ['SCTP', 9005, true]]));
  }
  return { upstream: tier === 'Admin' ? 'CNPAdminTierGress' : 'CNPBaselineTierGress', steps };
}

/** CNPAdminTierEgressInlineCIDRPeers and CNPBaselineTierEgressInlineCIDRPeers
 *  (conformance/base/{admin,baseline}_tier/standard-egress-inline-cidr-rules.yaml):
 *  gryffindor may reach slytherin's pods; every other address (0.0.0.0/0, ::/0) is denied,
 *  pods included. 'deny-egress': relabel slytherin's namespace and it is denied too, until the
 *  label comes back (the relabelling is upstream's after v0.2.0; the same subtest). 'allow-
 *  egress': a rule inserted first accepts pod 0 of ravenclaw and of hufflepuff by address;
 *  pod 1 of each stays denied. Upstream's cluster is single-stack and writes each address with
 *  the mask of its family; ours is dual-stack, so the rule lists both addresses of each pod
 *  (/32 and /128). */
export function inlineCidr(tier: 'Admin' | 'Baseline', m: ScenarioMapping = UPSTREAM_SCENARIO): Scenario {
  const egress: Record<string, unknown>[] = [
    { name: 'allow-egress-to-slytherin', action: 'Accept', to: [{ pods: m.pods('slytherin') }] },
    { name: 'deny-egress-to-internet', action: 'Deny', to: [{ networks: ['0.0.0.0/0', '::/0'] }] },
  ];
  const policy = () => tier === 'Admin'
    ? cnpObj('inline-cidr-as-peers-example', { tier, priority: 85, subject: { pods: m.pods('gryffindor') }, egress: [...egress] })
    : cnpObj('default', { tier, priority: 10, subject: { namespaces: m.ns('gryffindor') }, egress: [...egress] });
  const all = (to: House, allowed: boolean, toPod?: 0 | 1): HouseProbe[] =>
    (['TCP', 'UDP', 'SCTP'] as const).map((proto) => at(m, 'gryffindor', to, proto, PORTS[proto][0], allowed, toPod));
  const deny = "Should support a 'deny-egress' rule policy for egress-cidr-peer";
  const steps: ScenarioStep[] = [
    { name: deny, objects: [policy()], probes: [...all('ravenclaw', false), ...all('hufflepuff', false), ...all('slytherin', true)] },
    { name: `${deny} (slytherin's namespace relabelled)`, objects: [policy()], relabel: { house: 'slytherin', label: 'denied-namespace-label' }, probes: all('slytherin', false) },
    { name: `${deny} (its label back)`, objects: [policy()], probes: all('slytherin', true) },
  ];
  const cidrs = (h: House) => m.ips(h, 0).map((ip) => `${ip}/${ip.includes(':') ? 128 : 32}`);
  egress.unshift({ name: 'allow-egress-to-specific-podIPs', action: 'Accept', to: [{ networks: [...cidrs('ravenclaw'), ...cidrs('hufflepuff')] }] });
  steps.push({
    name: "Should support an 'allow-egress' rule policy for egress-cidr-peer", objects: [policy()],
    probes: [...all('ravenclaw', true, 0), ...all('hufflepuff', true, 0), ...all('ravenclaw', false, 1), ...all('hufflepuff', false, 1)],
  });
  return { upstream: tier === 'Admin' ? 'CNPAdminTierEgressInlineCIDRPeers' : 'CNPBaselineTierEgressInlineCIDRPeers', steps };
}

/** CNPAdminTierEgressNodePeers and CNPBaselineTierEgressNodePeers (conformance/base/
 *  {admin,baseline}_tier/experimental-egress-selector-rules.yaml): gryffindor to the nodes
 *  (forbidden-forrest's host-network centaurs), on upstream's host-network ports. Admin: TCP
 *  [0] accepted, UDP [2] passed (and then allowed), the rest denied with slytherin and every
 *  other address; Baseline: the TCP range [0]-[1] accepted, the rest denied. */
export function nodePeers(tier: 'Admin' | 'Baseline', m: ScenarioMapping = UPSTREAM_SCENARIO): Scenario {
  const nodes = { nodes: { matchLabels: { ...NODE_LABELS } } };
  const p = (i: number) => m.port(HOST_PORTS[i]!);
  const internet = { networks: ['0.0.0.0/0', '::/0'] };
  const policy = tier === 'Admin'
    ? cnpObj('node-and-cidr-as-peers-example', { tier, priority: 75, subject: { pods: m.pods('gryffindor') }, egress: [
      { name: `allow-egress-to-${HOST_PORTS[0]}-on-nodes`, action: 'Accept', to: [nodes], protocols: [{ tcp: { destinationPort: { number: p(0) } } }] },
      { name: `pass-egress-to-${HOST_PORTS[2]}-on-nodes`, action: 'Pass', to: [nodes], protocols: [{ udp: { destinationPort: { number: p(2) } } }] },
      { name: 'deny-egress-to-slytherin-and-nodes-and-internet', action: 'Deny', to: [{ pods: m.pods('slytherin') }, nodes, internet] },
    ] })
    : cnpObj('default', { tier, priority: 10, subject: { namespaces: m.ns('gryffindor') }, egress: [
      { name: `allow-egress-to-${HOST_PORTS[0]}-on-nodes`, action: 'Accept', to: [nodes], protocols: [{ tcp: { destinationPort: { range: { start: p(0), end: p(1) } } } }] },
      { name: 'deny-egress-to-nodes-and-internet', action: 'Deny', to: [nodes, internet] },
    ] });
  const ff = (proto: Protocol, i: number, allowed: boolean) => at(m, 'gryffindor', 'forbidden-forrest', proto, HOST_PORTS[i]!, allowed);
  const name = (what: string) => `Should support ${what} rule policy for egress-node-peer`;
  const steps: ScenarioStep[] = tier === 'Admin'
    ? [
      { name: name("an 'allow-egress'"), objects: [policy], probes: [ff('TCP', 0, true)] },
      { name: name("a 'pass-egress'"), objects: [policy], probes: [ff('UDP', 2, true)] },
      { name: name("a 'deny-egress'"), objects: [policy], probes: [ff('TCP', 1, false), ff('UDP', 4, false), ff('SCTP', 6, false)] },
    ]
    : [
      { name: name("an 'allow-egress'"), objects: [policy], probes: [ff('TCP', 0, true), ff('TCP', 1, true)] },
      { name: name("a 'deny-egress'"), objects: [policy], probes: [ff('UDP', 4, false), ff('SCTP', 6, false)] },
    ];
  return { upstream: tier === 'Admin' ? 'CNPAdminTierEgressNodePeers' : 'CNPBaselineTierEgressNodePeers', steps };
}

export const SCENARIOS: readonly Scenario[] = [
  integration(), priorityField(),
  inlineCidr('Admin'), inlineCidr('Baseline'),
  gress('Admin', UPSTREAM_SCENARIO), gress('Baseline', UPSTREAM_SCENARIO),
  nodePeers('Admin'), nodePeers('Baseline'),
];

// --- named ports: a per-protocol file, fresh, one rule's ports turned into a port name -----

/** CNP*NamedPort (conformance/tests/*-experimental-{ingress,egress}-rules.go): the file of
 *  `family` applied afresh, its rule `rule` (the Accept on house H's port) rewritten as
 *  `protocols: [{destinationNamedPort: NAME}]`, NAME a container port of every pod (`web`:
 *  TCP 80, `dns`: UDP 53); H's named port is accepted, its other port denied by the next rule. */
export interface NamedPortTest {
  readonly upstream: string;
  readonly family: string;
  readonly rule: number;
  readonly portName: 'web' | 'dns';
  readonly name: string;
  readonly probes: readonly Probe[];
}

export const NAMED_PORTS: readonly NamedPortTest[] = [
  { upstream: 'CNPAdminTierEgressNamedPort', family: 'CNPAdminTierEgressTCP', rule: 5, portName: 'web', name: "Should support an 'allow-egress' policy for named port", probes: [{ peer: 'hufflepuff', port: 80, allowed: true }, { peer: 'hufflepuff', port: 8080, allowed: false }] },
  { upstream: 'CNPAdminTierIngressNamedPort', family: 'CNPAdminTierIngressUDP', rule: 5, portName: 'dns', name: "Should support an 'allow-ingress' policy for named port", probes: [{ peer: 'gryffindor', port: 53, allowed: true }, { peer: 'gryffindor', port: 5353, allowed: false }] },
  { upstream: 'CNPBaselineTierEgressNamedPort', family: 'CNPBaselineTierEgressUDP', rule: 3, portName: 'dns', name: "Should support an 'allow-egress' policy for named port", probes: [{ peer: 'gryffindor', port: 53, allowed: true }, { peer: 'gryffindor', port: 5353, allowed: false }] },
  { upstream: 'CNPBaselineTierIngressNamedPort', family: 'CNPBaselineTierIngressTCP', rule: 3, portName: 'web', name: "Should support an 'allow-ingress' policy for named port", probes: [{ peer: 'hufflepuff', port: 80, allowed: true }, { peer: 'hufflepuff', port: 8080, allowed: false }] },
];

/** The family and step of a named-port test: the file's rules as written (a fresh apply),
 *  the one rule's protocols replaced. */
export function namedPortStep(t: NamedPortTest, m: Mapping = UPSTREAM): { family: Family; step: Step } {
  const family = FAMILIES.find((f) => f.upstream === t.family);
  if (!family) throw new Error(`${t.upstream}: no family ${t.family}`);
  const list = rules(family, m);
  list[t.rule] = { ...list[t.rule], protocols: [{ destinationNamedPort: t.portName }] };
  return { family, step: { name: t.name, rules: list, probes: t.probes.map((p) => ({ ...p, port: m.port(p.port) })) } };
}
