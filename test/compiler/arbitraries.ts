// Random small clusters for the property tests: 3 namespaces, up to 6 pods (random labels,
// nodes, phases, single or dual stack, named ports, sometimes host-network), up to 5
// policies using every feature (absent/empty lists, all peer kinds, every selector operator,
// numeric/range/named/all ports, policyTypes forms) and, rarely, invalid ones.
import fc from 'fast-check';
import type { Protocol } from '../../compiler/index.js';
import { ns, pod, policy, type Obj, type PortSpec } from './builders.js';

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

const portArb = fc.oneof(
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP', undefined), port: fc.constantFrom(53, 80, 81, 8080) }).map(clean),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', undefined) }).map(clean),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', undefined), port: fc.constantFrom(80, 8000), endPort: fc.constantFrom(81, 8080, 9100) }).map(clean),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP', undefined), port: fc.constantFrom('http', 'dns', 'metrics', 'sig') }).map(clean),
  fc.constant({ port: 'http', endPort: 90 }), // invalid
  fc.constant({ protocol: 'ICMP' }), // invalid
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

export const clusterArb = fc.record({
  nsLabels: fc.tuple(...NAMESPACES.map(() => fc.record({ team: fc.constantFrom('a', 'b', undefined) }).map(clean))),
  pods: fc.integer({ min: 2, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => podArb(i)))),
  policies: fc.integer({ min: 1, max: 5 }).chain((n) => (n ? fc.tuple(...Array.from({ length: n }, (_, i) => policyArb(i))) : fc.constant([] as Obj[]))),
  // Sometimes namespace z has no Namespace object (its pods still carry the name label).
  zObject: fc.integer({ min: 0, max: 4 }).map((n) => n !== 0),
}).map(({ nsLabels, pods, policies, zObject }) => [
  ...NAMESPACES.filter((n) => n !== 'z' || zObject).map((n) => ns(n, nsLabels[NAMESPACES.indexOf(n)] as Record<string, string>)),
  ...pods,
  ...policies,
]);

const OUTSIDE = { 4: ['203.0.113.7', '192.0.2.200', '198.51.100.99'], 6: ['2001:db8::ff00', '2001:db8:1::1'] } as const;

/** A connection between two addresses of one family: pod addresses (of any pod, finished or
 *  host-network included, which are then plain addresses) or outside ones. */
export const scenarioArb = clusterArb.chain((objects) => {
  const ipsOf = (fam: 4 | 6) => [
    ...objects.filter((o) => o.kind === 'Pod').flatMap((o) => ((o.status as { podIPs?: { ip: string }[] }).podIPs ?? []).map((x) => x.ip)),
    ...OUTSIDE[fam].slice(0, 1 + (objects.length % OUTSIDE[fam].length)),
  ].filter((ip) => (fam === 6) === ip.includes(':'));
  return fc.constantFrom(4 as const, 6 as const).chain((fam) => fc.record({
    objects: fc.constant(objects),
    src: fc.constantFrom(...ipsOf(fam)),
    dst: fc.constantFrom(...ipsOf(fam)),
    protocol: fc.constantFrom<Protocol>('TCP', 'TCP', 'UDP', 'SCTP'),
    port: fc.constantFrom(53, 79, 80, 81, 82, 443, 3868, 7999, 8080, 8081, 9100),
  }));
}).filter((s) => s.src !== s.dst);
