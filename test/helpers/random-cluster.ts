// fast-check arbitraries for small random clusters that use every NetworkPolicy feature:
// label selectors with every operator, namespace and pod selectors alone and together,
// ipBlocks with except (both families), numeric, named and ranged ports on TCP/UDP/SCTP,
// pods on two nodes, dual-stack, pending/finished/host-network pods; and ClusterNetworkPolicies
// (both tiers, equal priorities, every action and peer kind, ports, named ports) with the
// Nodes their `nodes` peers select.
// Addresses come from the documentation ranges only.
import fc from 'fast-check';

const NAMESPACES = ['x', 'y', 'z'];
const NODES = ['n1', 'n2'];
const NAMED_PORTS = [
  { name: 'http', containerPort: 80, protocol: 'TCP' },
  { name: 'http', containerPort: 8080, protocol: 'TCP' },
  { name: 'dns', containerPort: 53, protocol: 'UDP' },
  { name: 'metrics', containerPort: 9100, protocol: 'TCP' },
  { name: 'sig', containerPort: 3868, protocol: 'SCTP' },
];

const labelsArb = (keys: readonly string[], values: readonly string[]) =>
  fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), { maxKeys: 2 });

const requirementArb = (keys: readonly string[], values: readonly string[]) =>
  fc.oneof(
    fc.record({ key: fc.constantFrom(...keys), operator: fc.constantFrom('In', 'NotIn'), values: fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 2 }) }),
    fc.record({ key: fc.constantFrom(...keys), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
  );

const selectorArb = (keys: readonly string[], values: readonly string[]) =>
  fc.oneof(
    fc.constant({}),
    fc.constant({}),
    fc.record({ matchLabels: labelsArb(keys, values) }),
    fc.record({ matchExpressions: fc.array(requirementArb(keys, values), { minLength: 1, maxLength: 2 }) }),
  );

const podSel = selectorArb(['app', 'tier'], ['a', 'b', 'c']);
const nsSel = selectorArb(['team', 'kubernetes.io/metadata.name'], ['a', 'b', 'x', 'y']);

const ipBlockArb = fc.oneof(
  fc.constant({ cidr: '192.0.2.0/24' }),
  fc.constant({ cidr: '192.0.2.0/25', except: ['192.0.2.16/28', '192.0.2.64/30'] }),
  fc.constant({ cidr: '192.0.2.0/27', except: ['192.0.2.8/29'] }),
  fc.constant({ cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] }),
  fc.constant({ cidr: '2001:db8::/64', except: ['2001:db8::10/124'] }),
  fc.constant({ cidr: '2001:db8::/120' }),
  // one-address holes: interval elements that touch, and single addresses
  fc.constant({ cidr: '198.51.100.0/24', except: ['198.51.100.0/32', '198.51.100.10/32', '198.51.100.12/32', '198.51.100.13/32'] }),
);

const peerArb = fc.oneof(
  podSel.map((s) => ({ podSelector: s })),
  nsSel.map((s) => ({ namespaceSelector: s })),
  fc.tuple(podSel, nsSel).map(([p, n]) => ({ podSelector: p, namespaceSelector: n })),
  ipBlockArb.map((b) => ({ ipBlock: b })),
);

const portArb = fc.oneof(
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constantFrom(53, 80, 81, 8080) }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'), port: fc.constantFrom('http', 'dns', 'metrics', 'sig') }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constantFrom(80, 8000), endPort: fc.constantFrom(81, 8100) }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP') }),
  fc.constant({ port: 80 }),
);

const optList = <T>(arb: fc.Arbitrary<T>) => fc.option(fc.array(arb, { maxLength: 3 }), { nil: undefined, freq: 6 });

const ruleArb = (peerField: 'from' | 'to') =>
  fc.record({ [peerField]: optList(peerArb), ports: optList(portArb) }, { requiredKeys: [] });

export const policyArb = (name: string) =>
  fc.record({
    namespace: fc.constantFrom(...NAMESPACES),
    podSelector: podSel,
    policyTypes: fc.option(fc.constantFrom(['Ingress'], ['Egress'], ['Ingress', 'Egress'], []), { nil: undefined }),
    ingress: optList(ruleArb('from')),
    egress: optList(ruleArb('to')),
  }).map((p) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: p.namespace },
    spec: {
      podSelector: p.podSelector,
      ...(p.policyTypes ? { policyTypes: p.policyTypes } : {}),
      ...(p.ingress ? { ingress: p.ingress } : {}),
      ...(p.egress ? { egress: p.egress } : {}),
    },
  }));

export const podArb = (i: number) =>
  fc.record({
    namespace: fc.constantFrom(...NAMESPACES),
    labels: labelsArb(['app', 'tier'], ['a', 'b', 'c']),
    node: fc.constantFrom(NODES[0]!, NODES[0]!, NODES[1]!),
    v6: fc.boolean(),
    ports: fc.uniqueArray(fc.constantFrom(...NAMED_PORTS), { maxLength: 2, selector: (p) => p.name }),
    phase: fc.constantFrom('Running', 'Running', 'Running', 'Pending', 'Succeeded'),
    hostNetwork: fc.constantFrom(false, false, false, false, true),
    ipShift: fc.integer({ min: 0, max: 1 }),
  }).map((p) => {
    const host = 10 + i + p.ipShift * 100;
    const ips = [`192.0.2.${host}`, ...(p.v6 ? [`2001:db8::${host.toString(16)}`] : [])];
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${i}`, namespace: p.namespace, labels: p.labels },
      spec: { nodeName: p.node, hostNetwork: p.hostNetwork, containers: [{ name: 'c', ports: p.ports }] },
      status: { phase: p.phase, podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
    };
  });

export const namespaceArb = (name: string) =>
  labelsArb(['team'], ['a', 'b']).map((labels) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }));

const cnpPeerArb = (dir: 'ingress' | 'egress') => fc.oneof(
  nsSel.map((namespaces) => ({ namespaces })),
  fc.tuple(nsSel, podSel).map(([namespaceSelector, podSelector]) => ({ pods: { namespaceSelector, podSelector } })),
  ...(dir === 'egress' ? [
    fc.constantFrom(['192.0.2.0/25', '2001:db8::/120'], ['192.0.2.0/24', '192.0.2.16/28'], ['198.51.100.0/24']).map((networks) => ({ networks })),
    fc.constantFrom({}, { matchLabels: { role: 'a' } }).map((nodes) => ({ nodes })),
  ] : []),
);
const cnpPortArb = fc.oneof(
  fc.record({ p: fc.constantFrom('tcp', 'udp'), n: fc.constantFrom(53, 80, 81) }).map(({ p, n }) => ({ [p]: { destinationPort: { number: n } } })),
  fc.record({ p: fc.constantFrom('tcp', 'udp', 'sctp'), r: fc.constantFrom([80, 81], [8000, 8100]) }).map(({ p, r }) => ({ [p]: { destinationPort: { range: { start: r[0], end: r[1] } } } })),
  fc.constantFrom('http', 'dns').map((destinationNamedPort) => ({ destinationNamedPort })),
);
const cnpRuleArb = (dir: 'ingress' | 'egress') =>
  fc.record({ action: fc.constantFrom('Accept', 'Deny', 'Pass'), peers: fc.array(cnpPeerArb(dir), { minLength: 1, maxLength: 2 }), ports: fc.option(fc.array(cnpPortArb, { minLength: 1, maxLength: 2 }), { nil: undefined }) })
    .map(({ action, peers, ports }) => {
      // The CRD refuses named ports with networks/nodes peers.
      const plain = peers.some((x) => 'networks' in x || 'nodes' in x);
      const protocols = plain ? ports?.filter((x) => !('destinationNamedPort' in x)) : ports;
      return { action, [dir === 'ingress' ? 'from' : 'to']: peers, ...(protocols?.length ? { protocols } : {}) };
    });

export const clusterPolicyArb = (name: string) =>
  fc.record({
    tier: fc.constantFrom('Admin', 'Baseline'),
    priority: fc.constantFrom(1, 5, 5),
    subject: fc.oneof(nsSel.map((namespaces) => ({ namespaces })), fc.tuple(nsSel, podSel).map(([namespaceSelector, podSelector]) => ({ pods: { namespaceSelector, podSelector } }))),
    ingress: fc.option(fc.array(cnpRuleArb('ingress'), { minLength: 1, maxLength: 2 }), { nil: undefined }),
    egress: fc.option(fc.array(cnpRuleArb('egress'), { minLength: 1, maxLength: 2 }), { nil: undefined }),
  }).map((p) => ({
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec: { tier: p.tier, priority: p.priority, subject: p.subject, ...(p.ingress ? { ingress: p.ingress } : {}), ...(p.egress ? { egress: p.egress } : {}) },
  }));

export const nodeArb = (name: string, i: number) =>
  fc.record({ role: fc.constantFrom('a', 'b'), v6: fc.boolean() }).map(({ role, v6 }) => ({
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { role } },
    status: { addresses: [{ type: 'InternalIP', address: `198.51.100.${201 + i}` }, ...(v6 ? [{ type: 'InternalIP', address: `2001:db8:1::${201 + i}` }] : []), { type: 'Hostname', address: name }] },
  }));

/** A whole cluster as raw objects: 3 namespaces, up to `maxPods` pods and `maxPolicies` policies. */
export const clusterObjectsArb = (maxPods = 14, maxPolicies = 6, maxClusterPolicies = 2) =>
  fc
    .tuple(
      fc.tuple(...NAMESPACES.map(namespaceArb)),
      fc.integer({ min: Math.min(6, maxPods), max: maxPods }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => podArb(i)))),
      fc.integer({ min: Math.min(2, maxPolicies), max: maxPolicies }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => policyArb(`np${i}`)))),
      fc.integer({ min: 0, max: maxClusterPolicies }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => clusterPolicyArb(`cnp${i}`)))),
      fc.tuple(...NODES.map((n, i) => nodeArb(n, i))),
    )
    .map(([nss, pods, pols, cnps, nodes]) => [...nss, ...pods, ...pols, ...cnps, ...nodes] as unknown[]);

/** A cluster and what becomes of it: each step replaces, drops or adds one object (taken
 *  from another random cluster), the kind of change one watch event brings. Unchanged
 *  objects stay the same objects from one state to the next. */
export const editChainArb = (minEdits: number, maxEdits: number, maxPods = 12, maxPolicies = 6) =>
  fc
    .tuple(clusterObjectsArb(maxPods, maxPolicies), fc.array(fc.tuple(fc.nat(), clusterObjectsArb(maxPods, maxPolicies)), { minLength: minEdits, maxLength: maxEdits }))
    .map(([start, edits]) => {
      const states = [start];
      let cur = start;
      for (const [pick, donor] of edits) {
        const next = [...cur];
        const i = pick % Math.max(1, next.length + 1);
        const d = donor[pick % Math.max(1, donor.length)];
        if (i < next.length && d) next[i] = d;
        else if (i < next.length) next.splice(i, 1);
        else if (d) next.push(d);
        states.push((cur = next));
      }
      return states;
    });
