// Random small clusters for the property tests: 3 namespaces, up to 6 pods (random labels,
// nodes, phases, single or dual stack, named ports, sometimes host-network), up to 5
// policies using every feature (absent/empty lists, all peer kinds, every selector operator,
// numeric/range/named/all ports, policyTypes forms) and, rarely, invalid ones; and up to 3
// ClusterNetworkPolicies (both tiers, equal priorities, every action, every peer kind, ports,
// named ports, domainNames, rarely invalid) with the two Nodes their `nodes` peers select.
import fc from 'fast-check';
import type { Protocol } from '../../compiler/index.js';
import { ns, pod, policy, type Obj, type PortSpec } from './builders.js';
import { addr } from './packet-eval.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;

// ------------------------------------------------------------------ generators

const labelsArb = fc.record({ app: fc.constantFrom('a', 'b', undefined), tier: fc.constantFrom('a', 'b', undefined) }).map(clean);

function clean<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

const selectorArb = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: labelsArb }),
  fc.record({
    matchExpressions: fc.array(fc.oneof(
      fc.record({ key: fc.constantFrom('app', 'tier'), operator: fc.constantFrom('In', 'NotIn'), values: fc.subarray(['a', 'b'], { minLength: 1 }) }),
      fc.record({ key: fc.constantFrom('app', 'tier'), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
    ), { minLength: 1, maxLength: 2 }),
  }),
);
const nsSelectorArb = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: fc.record({ team: fc.constantFrom('a', 'b') }) }),
  fc.record({ matchExpressions: fc.constant([{ key: 'team', operator: 'DoesNotExist' }]) }),
  fc.record({ matchLabels: fc.record({ 'kubernetes.io/metadata.name': fc.constantFrom(...NAMESPACES) }) }),
);
// A rare operator typo: the policy is invalid (fails closed).
const typoSelector = fc.constant({ matchExpressions: [{ key: 'app', operator: 'in', values: ['a'] }] });

const BLOCKS: [string, string[]][] = [
  ['192.0.2.0/24', ['192.0.2.0/28', '192.0.2.32/27']],
  ['192.0.2.0/27', ['192.0.2.16/30']],
  ['203.0.113.0/24', ['203.0.113.128/25']],
  ['0.0.0.0/0', ['192.0.2.0/26']],
  ['2001:db8::/64', ['2001:db8::/124', '2001:db8::40/122']],
  ['::/0', ['2001:db8::/120']],
  ['2001:db8::/120', ['2001:db8::/120']], // except == cidr: invalid
  // Holes of one address: at both ends, side by side, and two with one allowed address between.
  ['198.51.100.0/24', ['198.51.100.0/32', '198.51.100.10/32', '198.51.100.12/32', '198.51.100.13/32', '198.51.100.255/32']],
  ['2001:db8::/120', ['2001:db8::7f/128', '2001:db8::81/128']],
];
const ipBlockArb = fc.constantFrom(...BLOCKS).chain(([cidr, ex]) =>
  fc.subarray(ex).map((except) => ({ ipBlock: except.length ? { cidr, except } : { cidr } })));

const peerArb = fc.oneof(
  { weight: 3, arbitrary: selectorArb.map((podSelector) => ({ podSelector })) },
  { weight: 2, arbitrary: nsSelectorArb.map((namespaceSelector) => ({ namespaceSelector })) },
  { weight: 2, arbitrary: fc.record({ podSelector: selectorArb, namespaceSelector: nsSelectorArb }) },
  { weight: 3, arbitrary: ipBlockArb },
  { weight: 1, arbitrary: typoSelector.map((podSelector) => ({ podSelector })) },
);

// Invalid ports are rarer than valid ones: a policy with one allows nothing (fail closed),
// which hides what its other rules would have shown.
const portArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP', undefined), port: fc.constantFrom(53, 80, 81, 8080) }).map(clean) },
  { weight: 4, arbitrary: fc.record({ protocol: fc.constantFrom('TCP', 'UDP', undefined) }).map(clean) },
  { weight: 4, arbitrary: fc.record({ protocol: fc.constantFrom('TCP', 'UDP', undefined), port: fc.constantFrom(80, 8000), endPort: fc.constantFrom(81, 8080, 9100) }).map(clean) },
  { weight: 4, arbitrary: fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP', undefined), port: fc.constantFrom('http', 'dns', 'metrics', 'sig') }).map(clean) },
  { weight: 1, arbitrary: fc.constant({ port: 'http', endPort: 90 }) }, // invalid
  { weight: 1, arbitrary: fc.constant({ protocol: 'ICMP' }) }, // invalid
);

/** absent | [] | a short list: the three forms the spec distinguishes. */
const listOrAbsent = <T>(arb: fc.Arbitrary<T>) => fc.oneof(fc.constant(undefined), fc.constant([]), fc.array(arb, { minLength: 1, maxLength: 2 }));
const ruleArb = (peerKey: 'from' | 'to') => fc.record({ [peerKey]: listOrAbsent(peerArb), ports: listOrAbsent(portArb) }).map(clean);

const policyArb = (i: number) => fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  podSelector: fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 8, arbitrary: selectorArb }, { weight: 1, arbitrary: typoSelector }),
  policyTypes: fc.constantFrom(undefined, [], ['Ingress'], ['Egress'], ['Ingress', 'Egress']),
  ingress: fc.oneof(fc.constant(undefined), fc.constant([]), fc.array(ruleArb('from'), { minLength: 1, maxLength: 2 })),
  egress: fc.oneof(fc.constant(undefined), fc.constant([]), fc.array(ruleArb('to'), { minLength: 1, maxLength: 2 })),
}).map((p) => policy(`${p.ns}/np${i}`, clean({ podSelector: p.podSelector, policyTypes: p.policyTypes, ingress: p.ingress, egress: p.egress })));

const portsArb: fc.Arbitrary<PortSpec[]> = fc.record({
  http: fc.constantFrom(undefined, 80, 8080),
  dns: fc.constantFrom(undefined, 'UDP', 'TCP'),
  metrics: fc.boolean(),
  sig: fc.boolean(),
}).map(({ http, dns, metrics, sig }) => [
  ...(http ? [{ name: 'http', port: http }] : []),
  ...(dns ? [{ name: 'dns', port: 53, protocol: dns }] : []),
  ...(metrics ? [{ name: 'metrics', port: 9100 }] : []),
  ...(sig ? [{ name: 'sig', port: 3868, protocol: 'SCTP' }] : []),
]);

const podArb = (i: number) => fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  labels: labelsArb,
  node: fc.constantFrom('n1', 'n2'),
  stack: fc.constantFrom('dual', 'dual', 'v4', 'v6'),
  phase: fc.constantFrom('Running', 'Running', 'Running', 'Pending', 'Succeeded'),
  hostNetwork: fc.boolean().map((b) => b && i % 3 === 0),
  ports: portsArb,
  created: fc.constantFrom(undefined, '2026-11-22T06:00:00Z', '2026-11-22T06:30:00Z'),
  // Rarely, the IPv4 address of the previous pod: an IP reused while the API still shows both.
  reuse: fc.integer({ min: 0, max: 7 }).map((n) => n === 0 && i > 0),
}).map((p) => {
  // Addresses inside the blocks above, distinct per pod; host-network pods sit on node addresses.
  const v4 = p.hostNetwork ? `198.51.100.${i + 1}` : `192.0.2.${V4[p.reuse ? i - 1 : i]}`;
  const v6 = `2001:db8::${(i * 0x21 + 3).toString(16)}`;
  const ips = p.hostNetwork ? [v4] : p.stack === 'v4' ? [v4] : p.stack === 'v6' ? [v6] : [v4, v6];
  return pod(`${p.ns}/p${i}`, { labels: p.labels, node: p.node, ips, phase: p.phase, hostNetwork: p.hostNetwork, ports: p.ports, created: p.created });
});
const V4 = [5, 20, 40, 70, 130, 17, 33, 100];

// ------------------------------------------------------------------ cluster policies

/** Node addresses: outside every pod's, inside the networks below. */
export const NODE_ADDRS: Record<string, [string, string]> = { n1: ['198.51.100.101', '2001:db8:1::101'], n2: ['198.51.100.102', '2001:db8:1::102'] };
const nodeArb = (name: string) => fc.constantFrom('a', 'b', undefined).map((role) => ({
  apiVersion: 'v1', kind: 'Node',
  metadata: { name, labels: clean({ role, 'kubernetes.io/hostname': name }) },
  status: { addresses: [{ type: 'InternalIP', address: NODE_ADDRS[name]![0] }, { type: 'InternalIP', address: NODE_ADDRS[name]![1] }, { type: 'Hostname', address: name }] },
}));

const NETWORKS = [['192.0.2.0/26'], ['192.0.2.0/24', '2001:db8::/120'], ['198.51.100.0/24'], ['0.0.0.0/0', '::/0'], ['192.0.2.64/26', '192.0.2.20/32'], ['2001:db8::/64', '2001:db8::40/122']];
const cnpPodsPeer = fc.record({ namespaceSelector: nsSelectorArb, podSelector: selectorArb });
// Subjects and peers that select much, so that the tiers decide often.
const wideNs = fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 2, arbitrary: nsSelectorArb });
const cnpPeerArb = (dir: 'ingress' | 'egress') => fc.oneof(
  { weight: 3, arbitrary: wideNs.map((namespaces) => ({ namespaces })) },
  { weight: 3, arbitrary: cnpPodsPeer.map((pods) => ({ pods })) },
  ...(dir === 'egress' ? [
    { weight: 3, arbitrary: fc.constantFrom(...NETWORKS).map((networks) => ({ networks })) },
    { weight: 1, arbitrary: fc.constantFrom({}, { matchLabels: { role: 'a' } }, { matchExpressions: [{ key: 'role', operator: 'DoesNotExist' }] }).map((nodes) => ({ nodes })) },
  ] : []),
);
const cnpProtocolArb = fc.oneof(
  fc.record({ p: fc.constantFrom('tcp', 'udp', 'sctp'), n: fc.constantFrom(53, 80, 81, 8080) }).map(({ p, n }) => ({ [p]: { destinationPort: { number: n } } })),
  fc.record({ p: fc.constantFrom('tcp', 'udp'), r: fc.constantFrom([80, 81], [53, 80], [8000, 9100]) }).map(({ p, r }) => ({ [p]: { destinationPort: { range: { start: r[0], end: r[1] } } } })),
  fc.constantFrom('http', 'dns', 'metrics').map((destinationNamedPort) => ({ destinationNamedPort })),
);
const cnpRuleArb = (dir: 'ingress' | 'egress') => fc.record({
  name: fc.constantFrom(undefined, 'r', 'allow-dns'),
  action: fc.constantFrom('Accept', 'Accept', 'Deny', 'Pass'),
  peers: fc.array(cnpPeerArb(dir), { minLength: 1, maxLength: 2 }),
  protocols: fc.option(fc.array(cnpProtocolArb, { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 1 }),
  // Rarely a domainNames peer: not enforced (Accept: matches nothing through it; else Deny all).
  domain: fc.integer({ min: 0, max: 15 }).map((n) => dir === 'egress' && n === 0),
}).map(({ name, action, peers, protocols, domain }) => {
  const to = [...peers, ...(domain ? [{ domainNames: ['*.example.com'] }] : [])];
  // The CRD refuses named ports with networks/nodes/domainNames peers: keep those rules valid
  // (the rare invalid policy comes from cnpArb below).
  const plain = to.some((p) => 'networks' in p || 'nodes' in p || 'domainNames' in p);
  const ports = plain ? protocols?.filter((x) => !('destinationNamedPort' in x)) : protocols;
  return clean({ name, action, [dir === 'ingress' ? 'from' : 'to']: to, protocols: ports?.length ? ports : undefined });
});
const cnpArb = (i: number) => fc.record({
  tier: fc.constantFrom('Admin', 'Baseline'),
  priority: fc.constantFrom(1, 5, 5, 10),
  subject: fc.oneof(
    { weight: 3, arbitrary: wideNs.map((namespaces) => ({ namespaces })) },
    { weight: 1, arbitrary: cnpPodsPeer.map((pods) => ({ pods })) },
  ),
  ingress: fc.option(fc.array(cnpRuleArb('ingress'), { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 3 }),
  egress: fc.option(fc.array(cnpRuleArb('egress'), { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 3 }),
  // Rarely invalid: a priority the CRD refuses (selects nothing), or a named port with a
  // networks peer (fails closed: Deny all in the directions it speaks of).
  broken: fc.constantFrom(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'priority', 'named'),
}).map(({ tier, priority, subject, ingress, egress, broken }) => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2',
  kind: 'ClusterNetworkPolicy',
  metadata: { name: `cnp${i}` },
  spec: clean({
    tier,
    priority: broken === 'priority' ? 1001 : priority,
    subject,
    ingress,
    egress: broken === 'named' ? [...(egress ?? []), { action: 'Accept', to: [{ networks: ['192.0.2.0/24'] }], protocols: [{ destinationNamedPort: 'http' }] }] : egress,
  }),
}));

/** Random clusters; `tiered` makes every cluster hold 1-3 cluster policies and at most 2
 *  NetworkPolicies, so that the tiers decide often. */
export const clusterArbOf = (tiered: boolean) => fc.record({
  nsLabels: fc.tuple(...NAMESPACES.map(() => fc.record({ team: fc.constantFrom('a', 'b', undefined) }).map(clean))),
  pods: fc.integer({ min: 2, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => podArb(i)))),
  policies: fc.integer({ min: tiered ? 0 : 1, max: tiered ? 2 : 5 }).chain((n) => (n ? fc.tuple(...Array.from({ length: n }, (_, i) => policyArb(i))) : fc.constant([] as Obj[]))),
  // Sometimes namespace z has no Namespace object (its pods still carry the name label).
  zObject: fc.integer({ min: 0, max: 4 }).map((n) => n !== 0),
  cnps: (tiered ? fc.constantFrom(1, 2, 3) : fc.constantFrom(0, 1, 2, 2, 3)).chain((n) => (n ? fc.tuple(...Array.from({ length: n }, (_, i) => cnpArb(i))) : fc.constant([] as Obj[]))),
  nodes: fc.tuple(nodeArb('n1'), nodeArb('n2')),
}).map(({ nsLabels, pods, policies, zObject, cnps, nodes }) => [
  ...NAMESPACES.filter((n) => n !== 'z' || zObject).map((n) => ns(n, nsLabels[NAMESPACES.indexOf(n)] as Record<string, string>)),
  ...pods,
  ...policies,
  ...(cnps.length ? [...cnps, ...nodes] : []),
]);
export const clusterArb = clusterArbOf(false);

/** Clusters whose policies are mostly about address blocks: each rule has one or two ipBlock
 *  peers (sometimes beside a pod selector) and valid ports, so that the edges of excepts and
 *  port ranges decide many connections (see edgeConnections). */
const validPortArb = fc.oneof(
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', undefined), port: fc.constantFrom(53, 80, 81, 8080) }).map(clean),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', undefined), port: fc.constantFrom(80, 8000), endPort: fc.constantFrom(81, 8080, 9100) }).map(clean),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', undefined) }).map(clean),
);
const blockRuleArb = (peerKey: 'from' | 'to') => fc.record({
  [peerKey]: fc.array(fc.oneof({ weight: 4, arbitrary: ipBlockArb }, { weight: 1, arbitrary: selectorArb.map((podSelector) => ({ podSelector })) }), { minLength: 1, maxLength: 2 }),
  ports: fc.oneof({ weight: 3, arbitrary: fc.array(validPortArb, { minLength: 1, maxLength: 2 }) }, { weight: 1, arbitrary: fc.constant(undefined) }),
}).map(clean);
const blockPolicyArb = (i: number) => fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  podSelector: fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: selectorArb }),
  dirs: fc.constantFrom<string[]>(['Ingress'], ['Egress'], ['Ingress', 'Egress']),
  ingress: fc.array(blockRuleArb('from'), { minLength: 1, maxLength: 2 }),
  egress: fc.array(blockRuleArb('to'), { minLength: 1, maxLength: 2 }),
}).map((p) => policy(`${p.ns}/bp${i}`, { podSelector: p.podSelector, policyTypes: p.dirs, ...(p.dirs.includes('Ingress') ? { ingress: p.ingress } : {}), ...(p.dirs.includes('Egress') ? { egress: p.egress } : {}) }));

export const ipBlockClusterArb = fc.record({
  pods: fc.integer({ min: 2, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => podArb(i)))),
  policies: fc.integer({ min: 1, max: 3 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => blockPolicyArb(i)))),
}).map(({ pods, policies }) => [...NAMESPACES.map((n) => ns(n)), ...pods, ...policies]);

const OUTSIDE = { 4: ['203.0.113.7', '192.0.2.200', '198.51.100.99'], 6: ['2001:db8::ff00', '2001:db8:1::1'] } as const;

// ------------------------------------------------------------------ probes at the edges

type Raw = Record<string, any>;

/** An address in its usual text form (IPv6 compressed as RFC 5952 writes it). */
function ipText(fam: 4 | 6, n: bigint): string {
  if (fam === 4) return [24n, 16n, 8n, 0n].map((sh) => String((n >> sh) & 0xffn)).join('.');
  const full = Array.from({ length: 8 }, (_, i) => ((n >> BigInt((7 - i) * 16)) & 0xffffn).toString(16)).join(':');
  return new URL(`http://[${full}]/`).hostname.slice(1, -1);
}

function cidrEnds(c: string): { fam: 4 | 6; lo: bigint; hi: bigint } {
  const [a, l] = c.split('/');
  const [fam, n] = addr(a!);
  const host = BigInt((fam === 4 ? 32 : 128) - Number(l));
  const lo = (n >> host) << host;
  return { fam, lo, hi: lo + (1n << host) - 1n };
}

const policyRules = (objects: readonly Obj[]): Raw[] =>
  objects.filter((o) => o.kind === 'NetworkPolicy').flatMap((o) => [...((o.spec as Raw).ingress ?? []), ...((o.spec as Raw).egress ?? [])] as Raw[]);

/** Addresses where an ipBlock's answer changes: the first and last address of every cidr and
 *  every except, the ones just outside each, and one in the middle of each except (inside
 *  the hole). A fail-open slip at an edge of an interval shows only there. */
export function edgeAddresses(objects: readonly Obj[]): string[] {
  const out = new Set<string>();
  const around = (c: string, middle: boolean) => {
    const { fam, lo, hi } = cidrEnds(c);
    const max = (1n << (fam === 4 ? 32n : 128n)) - 1n;
    for (const n of [lo - 1n, lo, hi, hi + 1n, ...(middle ? [(lo + hi) / 2n] : [])]) if (n >= 0n && n <= max) out.add(ipText(fam, n));
  };
  for (const rule of policyRules(objects)) {
    for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])] as Raw[]) {
      if (!peer.ipBlock) continue;
      around(peer.ipBlock.cidr, false);
      for (const e of peer.ipBlock.except ?? []) around(e, true);
    }
  }
  return [...out];
}

/** Ports where a port rule's answer changes: each numeric port and its neighbours, the two
 *  ends of every range and the ports just outside them, and the same around every named
 *  container port. */
export function edgePorts(objects: readonly Obj[]): number[] {
  const out = new Set<number>();
  const around = (lo: number, hi: number) => {
    for (const p of [lo - 1, lo, hi, hi + 1]) if (p >= 1 && p <= 65535) out.add(p);
  };
  for (const rule of policyRules(objects)) {
    for (const p of (rule.ports ?? []) as Raw[]) if (typeof p.port === 'number') around(p.port, typeof p.endPort === 'number' ? p.endPort : p.port);
  }
  for (const o of objects) {
    if (o.kind !== 'Pod') continue;
    for (const c of ((o.spec as Raw).containers ?? []) as Raw[]) for (const cp of (c.ports ?? []) as Raw[]) around(cp.containerPort, cp.containerPort);
  }
  return [...out];
}

const PORTS = [53, 79, 80, 81, 82, 443, 3868, 7999, 8080, 8081, 9100];
const podsOf = (objects: readonly Obj[]) => objects.filter((o) => o.kind === 'Pod');
const ipsOfPod = (o: Obj) => ((o.status as { podIPs?: { ip: string }[] }).podIPs ?? []).map((x) => x.ip);
const famOf = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

/** Any connection between two addresses of one family: pod addresses (of any pod, finished or
 *  host-network included, which are then plain addresses), outside ones and ipBlock edges, on
 *  a fixed port or one at an edge of the cluster's port rules. */
function anyConnectionArb(objects: Obj[]) {
  const all = [...podsOf(objects).flatMap(ipsOfPod), ...edgeAddresses(objects)];
  const ports = [...new Set([...PORTS, ...edgePorts(objects)])].sort((a, b) => a - b);
  return fc.constantFrom(4 as const, 6 as const).chain((fam) => {
    const ips = [...all.filter((ip) => famOf(ip) === fam), ...OUTSIDE[fam].slice(0, 1 + (objects.length % OUTSIDE[fam].length))];
    return fc.record({ src: fc.constantFrom(...ips), dst: fc.constantFrom(...ips), protocol: fc.constantFrom<Protocol>('TCP', 'TCP', 'UDP', 'SCTP'), port: fc.constantFrom(...ports) });
  });
}

/** Connections aimed at the cluster's ipBlock rules, every one of them: from each edge of a
 *  rule's block (cidr and except edges, see edgeAddresses) to each pod of the policy's
 *  namespace of that family (ingress), or the reverse (egress), on each port at an edge of
 *  the rule's ports (all fixed ports when it has none), with the rule's protocols. Random
 *  pairs almost never meet an except's first address on a port the rule allows; these do. */
export function edgeConnections(objects: readonly Obj[]): { src: string; dst: string; protocol: Protocol; port: number }[] {
  const out = new Map<string, { src: string; dst: string; protocol: Protocol; port: number }>();
  for (const o of objects.filter((x) => x.kind === 'NetworkPolicy')) {
    const spec = o.spec as Raw;
    for (const dir of ['ingress', 'egress'] as const) {
      for (const rule of (spec[dir] ?? []) as Raw[]) {
        for (const peer of (rule[dir === 'ingress' ? 'from' : 'to'] ?? []) as Raw[]) {
          if (!peer.ipBlock?.cidr) continue;
          const fam = famOf(peer.ipBlock.cidr);
          const pods = podsOf(objects).filter((p) => (p.metadata as Raw).namespace === (o.metadata as Raw).namespace).flatMap(ipsOfPod).filter((ip) => famOf(ip) === fam);
          const edges = edgeAddresses([{ kind: 'NetworkPolicy', spec: { ingress: [{ from: [peer] }] } }]);
          const ports = (rule.ports ?? []) as Raw[];
          const numeric = ports.filter((p) => typeof p.port === 'number');
          const probePorts = numeric.length ? edgePorts([{ kind: 'NetworkPolicy', spec: { ingress: [{ ports: numeric }] } }]) : ports.length ? edgePorts(objects) : PORTS;
          const protocols: Protocol[] = ports.length ? [...new Set(ports.map((p) => (p.protocol ?? 'TCP') as Protocol))].filter((x) => ['TCP', 'UDP', 'SCTP'].includes(x)) : ['TCP', 'UDP'];
          for (const pod of pods) for (const edge of edges) for (const protocol of protocols) for (const port of probePorts) {
            const c = dir === 'ingress' ? { src: edge, dst: pod, protocol, port } : { src: pod, dst: edge, protocol, port };
            if (c.src !== c.dst) out.set(JSON.stringify(c), c);
          }
        }
      }
    }
  }
  return [...out.values()];
}

/** A random cluster and one connection in it: two in three aimed at its ipBlock rules' edges
 *  when it has any, the rest anywhere. `tiered`: clusters full of ClusterNetworkPolicies, and
 *  connections between pods (and nodes) more often, a pod to its own address too (hairpin). */
export const scenarioArbOf = (tiered: boolean) => clusterArbOf(tiered).chain((objects) => {
  const aimed = edgeConnections(objects);
  const any = tiered ? tieredConnectionArb(objects) : anyConnectionArb(objects);
  const conn = aimed.length ? fc.oneof({ weight: 1, arbitrary: any }, { weight: 2, arbitrary: fc.constantFrom(...aimed) }) : any;
  return conn.map((c) => ({ objects, ...c }));
}).filter((s) => tiered || s.src !== s.dst);
export const scenarioArb = scenarioArbOf(false);

/** Connections where the tiers decide: pod addresses three times as often, node addresses. */
function tieredConnectionArb(objects: Obj[]) {
  const pods = podsOf(objects).flatMap(ipsOfPod);
  const nodes = objects.some((o) => o.kind === 'Node') ? Object.values(NODE_ADDRS).flat() : [];
  return fc.constantFrom(4 as const, 6 as const).chain((fam) => {
    const ips = [...pods, ...pods, ...pods, ...nodes, ...edgeAddresses(objects)].filter((ip) => famOf(ip) === fam);
    const all = [...ips, ...OUTSIDE[fam].slice(0, 1)];
    return fc.record({ src: fc.constantFrom(...all), dst: fc.constantFrom(...all), protocol: fc.constantFrom<Protocol>('TCP', 'TCP', 'UDP', 'SCTP'), port: fc.constantFrom(...PORTS) });
  });
}
