// The upstream ClusterNetworkPolicy conformance scenarios (kubernetes-sigs/network-policy-api,
// conformance/tests/*.go and conformance/base/, v1alpha2) as data: the per-protocol files of
// both tiers (a subject house; a house R matched on everything, Y on one port (deny, or pass),
// H on one port (accept) and everything else (deny)), their rules in written order, the
// in-place mutations between subtests (they carry over, as upstream patches one object) and
// the probes, each subtest named as upstream names it. Written here from reading upstream; the
// packet interpreter runs all of them on upstream's model (test/compiler/cnp-conformance.test.ts),
// the real-kernel suite a subset mapped onto our x/y/z model (test/e2e/cnp-conformance.test.ts).
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

/** A probe between houses: every pod of `from` to every pod of `to`, on each port. */
export interface HouseProbe { readonly from: House; readonly to: House; readonly proto: Protocol; readonly ports: readonly number[]; readonly allowed: boolean }
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

/** CNPAdminTierEgressInlineCIDRPeers, its 'deny-egress' subtest
 *  (conformance/base/admin_tier/standard-egress-inline-cidr-rules.yaml): gryffindor may reach
 *  slytherin's pods; every other address (0.0.0.0/0, ::/0) is denied, pods included; relabel
 *  slytherin's namespace and it is denied too, until the label comes back. */
function inlineCidr(): Scenario {
  const objects = [cnpObj('inline-cidr-as-peers-example', {
    tier: 'Admin', priority: 85, subject: housePods('gryffindor'),
    egress: [
      { name: 'allow-egress-to-slytherin', action: 'Accept', to: [housePods('slytherin')] },
      { name: 'deny-egress-to-internet', action: 'Deny', to: [{ networks: ['0.0.0.0/0', '::/0'] }] },
    ],
  })];
  const all = (to: House, allowed: boolean): HouseProbe[] => (['TCP', 'UDP', 'SCTP'] as const).map((proto) => ({ from: 'gryffindor', to, proto, ports: [PORTS[proto][0]], allowed }));
  const name = "Should support a 'deny-egress' rule policy for egress-cidr-peer";
  return {
    upstream: 'CNPAdminTierEgressInlineCIDRPeers',
    steps: [
      { name, objects, probes: [...all('ravenclaw', false), ...all('hufflepuff', false), ...all('slytherin', true)] },
      { name: `${name} (slytherin's namespace relabelled)`, objects, relabel: { house: 'slytherin', label: 'denied-namespace-label' }, probes: all('slytherin', false) },
      { name: `${name} (its label back)`, objects, probes: all('slytherin', true) },
    ],
  };
}

export const SCENARIOS: readonly Scenario[] = [integration(), priorityField(), inlineCidr()];
