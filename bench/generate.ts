// Synthetic clusters for the benchmark: seeded, deterministic, shaped like real ones.
//
// Team namespaces labelled (team, env); deployment-like pods (app, tier, version labels,
// named container ports); system namespaces for DNS, the ingress controller and monitoring;
// and a policy mix as seen in real clusters: default deny per namespace, DNS egress, allow
// from the same app, from labelled namespaces, from the ingress controller and monitoring,
// ipBlock egress with except, named ports and endPort ranges.
//
// Addresses: there are not enough documentation addresses for 50,000 pods, so generated pod
// IPs are 10.0.0.0/8-style. They are used ONLY by figures that never send traffic (compile
// time, memory, and rules loaded into a network namespace: loading a rule sends nothing).
// The one measurement that sends packets (wire.ts) asks for `wirePair`, which rewrites two
// pods to documentation addresses (192.0.2.10 and 192.0.2.20, see WIRE_PAIR) and only ever
// sends traffic between those two, inside namespaces the benchmark created. It also asks for
// `wirePair60`, which adds a second pair (WIRE_PAIR60: 192.0.2.30 and 192.0.2.40) in a
// namespace of its own, each pod selected by 60 policies; only the wire part asks for it, so
// every other figure compiles the same M as before.
import { clusterFromObjects, type Cluster } from '../compiler/index.js';

export type SizeName = 'S' | 'M' | 'L' | 'XL';

export interface Size {
  readonly name: SizeName;
  readonly pods: number;
  readonly policies: number;
  readonly namespaces: number;
  /** Nodes the pods are spread over (BENCH_NODE is one of them). */
  readonly nodes: number;
}

export const SIZES: Record<SizeName, Size> = {
  S: { name: 'S', pods: 1_000, policies: 200, namespaces: 50, nodes: 20 },
  M: { name: 'M', pods: 10_000, policies: 2_000, namespaces: 200, nodes: 20 },
  L: { name: 'L', pods: 50_000, policies: 10_000, namespaces: 1_000, nodes: 20 },
  // The top of the Kubernetes scalability envelope (150,000 pods), on fewer, fuller nodes.
  XL: { name: 'XL', pods: 150_000, policies: 30_000, namespaces: 3_000, nodes: 100 },
};

/** The node whose ruleset every figure compiles. */
export const BENCH_NODE = 'node-00';

/** The two pods the wire benchmark sends traffic between: documentation addresses only. */
export const WIRE_PAIR = {
  namespace: 'team-000-prod',
  app: 'pair',
  client: { name: 'pair-client', ip: '192.0.2.10' },
  server: { name: 'pair-server', ip: '192.0.2.20' },
  /** Ports the server listens on: the connection-rate server and iperf3. */
  crrPort: 8080,
  iperfPort: 5201,
} as const;

/** The second wire pair: both pods selected by PAIR60_POLICY_COUNT policies (ingress and
 *  egress), in a namespace no other policy selects pods in. Only the policy that sorts last
 *  allows the measured traffic, so a connection's first packet walks every rule before it. */
export const WIRE_PAIR60 = {
  namespace: 'wire-60',
  app: 'pair60',
  client: { name: 'pair60-client', ip: '192.0.2.30' },
  server: { name: 'pair60-server', ip: '192.0.2.40' },
  crrPort: WIRE_PAIR.crrPort,
  iperfPort: WIRE_PAIR.iperfPort,
  /** The policy that allows the measured traffic (its ingress[0] and egress[0]). */
  allowPolicy: 'pair60-p59',
} as const;
export const PAIR60_POLICY_COUNT = 60;

/** mulberry32: small, fast, good enough for shaping test data; same seed, same cluster. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pad = (n: number, w: number) => String(n).padStart(w, '0');

type Tier = 'frontend' | 'backend' | 'db' | 'cache' | 'worker';
const TIERS: readonly Tier[] = ['frontend', 'frontend', 'backend', 'backend', 'backend', 'db', 'cache', 'worker'];
const TIER_PORTS: Record<Tier, { name: string; containerPort: number; protocol?: string }[]> = {
  frontend: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }],
  backend: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9000 }, { name: 'metrics', containerPort: 9090 }],
  db: [{ name: 'postgres', containerPort: 5432 }, { name: 'metrics', containerPort: 9187 }],
  cache: [{ name: 'redis', containerPort: 6379 }, { name: 'metrics', containerPort: 9121 }],
  worker: [{ name: 'metrics', containerPort: 9090 }],
};
const ENVS = ['prod', 'staging', 'dev'] as const;

interface App {
  readonly namespace: string;
  readonly name: string;
  readonly tier: Tier;
}

export interface Generated {
  readonly size: Size;
  readonly seed: number;
  /** Kubernetes objects as the API server would return them (Namespace, Pod, NetworkPolicy). */
  readonly objects: unknown[];
  /** Team namespaces (with their labels), for the change scenarios. */
  readonly teamNamespaces: readonly { name: string; team: string; env: string }[];
  readonly apps: readonly App[];
}

export interface GenerateOptions {
  readonly seed?: number;
  /** Put the two WIRE_PAIR pods on BENCH_NODE with documentation addresses. */
  readonly wirePair?: boolean;
  /** Add this many ClusterNetworkPolicies (Admin and Baseline, see clusterPolicies) and the
   *  Node objects their `nodes` peers read; the rest of the cluster is unchanged. */
  readonly clusterPolicies?: number;
  /** Add the WIRE_PAIR60 namespace, its two pods (on BENCH_NODE, documentation addresses) and
   *  its 60 policies, after everything else and outside the policy budget: the rest of the
   *  cluster stays the same objects, byte for byte. */
  readonly wirePair60?: boolean;
}

/** 10.x.y.z from a running index: used only where no packet is ever sent (see top). */
export function syntheticIp(i: number): string {
  const n = 0x0a400000 + i; // 10.64.0.0 upwards
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function pod(ns: string, name: string, labels: Record<string, string>, node: string, ip: string, ports: unknown[], phase = 'Running'): unknown {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, labels, uid: `uid-${ns}-${name}` },
    spec: { nodeName: node, containers: [{ name: 'main', image: 'registry.example/app:1', ports }] },
    status: { phase, podIP: ip, podIPs: [{ ip }] },
  };
}

function policy(ns: string, name: string, spec: unknown): unknown {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec };
}

function namespace(name: string, labels: Record<string, string>): unknown {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

const nsSel = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });

/** The policies that select the wire pair: many, of every kind, all allowing the pair's own
 *  traffic (same app, on the ports the load generators use) among other things. */
function pairPolicies(ns: string): unknown[] {
  const { app, crrPort, iperfPort } = WIRE_PAIR;
  const sel = { matchLabels: { app } };
  const same = [{ podSelector: sel }];
  return [
    policy(ns, 'pair-same-app', { podSelector: sel, ingress: [{ from: same, ports: [{ port: 'http' }, { port: iperfPort }, { port: iperfPort, protocol: 'UDP' }] }] }),
    policy(ns, 'pair-from-ingress', { podSelector: sel, ingress: [{ from: [{ namespaceSelector: nsSel('ingress-nginx'), podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } }], ports: [{ port: 'http' }] }] }),
    policy(ns, 'pair-monitoring', { podSelector: sel, ingress: [{ from: [{ namespaceSelector: { matchLabels: { role: 'monitoring' } } }], ports: [{ port: 'metrics' }] }] }),
    policy(ns, 'pair-from-prod', { podSelector: sel, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }], ports: [{ port: crrPort }] }] }),
    policy(ns, 'pair-from-team', { podSelector: sel, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['team-000', 'team-001'] }] }, podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } }], ports: [{ port: 9000 }, { port: 9001, protocol: 'UDP' }] }] }),
    policy(ns, 'pair-partners', { podSelector: sel, ingress: [{ from: [{ ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] } }, { ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ port: 8443 }] }] }),
    policy(ns, 'pair-nodeports', { podSelector: sel, ingress: [{ ports: [{ port: 30000, endPort: 30100 }, { port: 31000, endPort: 31010, protocol: 'UDP' }] }] }),
    policy(ns, 'pair-egress-same', { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: same, ports: [{ port: crrPort }, { port: iperfPort }, { port: iperfPort, protocol: 'UDP' }] }] }),
    policy(ns, 'pair-egress-db', { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ port: 'postgres' }] }] }),
    policy(ns, 'pair-egress-internet', { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }], ports: [{ port: 443 }] }] }),
    policy(ns, 'pair-egress-range', { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '198.51.100.0/24' } }], ports: [{ port: 8000, endPort: 8099 }] }] }),
    policy(ns, 'pair-egress-prod', { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { tier: 'backend' } } }], ports: [{ port: 'grpc' }] }] }),
  ];
}
export const PAIR_POLICY_COUNT = 12;

/** The 60 policies of WIRE_PAIR60, each selecting both pods in both directions. The first 59
 *  never match the measured traffic, in a rotation of what real policies hold (peers by
 *  namespace labels, by pod labels, the pair's own app on other ports, ipBlocks with except,
 *  named ports, port ranges); the last (by name, the order of the group chain) allows it. */
function pair60Policies(): unknown[] {
  const { namespace: ns, app, crrPort, iperfPort } = WIRE_PAIR60;
  const podSelector = { matchLabels: { app } };
  const same = [{ podSelector }];
  const out: unknown[] = [];
  for (let i = 0; i < PAIR60_POLICY_COUNT - 1; i++) {
    const name = `pair60-p${pad(i, 2)}`;
    const port = 9100 + i; // nothing listens there; never 8080 or 5201
    let ingress: unknown, egress: unknown;
    switch (i % 6) {
      case 0:
        ingress = { from: [{ namespaceSelector: { matchLabels: { team: `team-${pad(i % 60, 3)}`, env: 'prod' } } }], ports: [{ port }] };
        egress = { to: [{ namespaceSelector: { matchLabels: { team: `team-${pad(i % 60, 3)}` } }, podSelector: { matchLabels: { tier: 'backend' } } }], ports: [{ port: 'grpc' }] };
        break;
      case 1:
        ingress = { from: [{ ipBlock: { cidr: '198.51.100.0/24', except: [`198.51.100.${(i % 4) * 64}/26`] } }, { ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ port: 8443 }] };
        egress = { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '192.0.2.0/24'] } }], ports: [{ port: 443 }, { port: 80 }] };
        break;
      case 2: // the pair's own app, on another port: the peer matches, the port does not
        ingress = { from: same, ports: [{ port }, { port, protocol: 'UDP' }] };
        egress = { to: same, ports: [{ port }, { port, protocol: 'UDP' }] };
        break;
      case 3:
        ingress = { from: [{ namespaceSelector: nsSel('ingress-nginx'), podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } }], ports: [{ port: 'http' }] };
        egress = { to: [{ namespaceSelector: nsSel('kube-system'), podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53 }] };
        break;
      case 4:
        ingress = { from: [{ namespaceSelector: { matchLabels: { role: 'monitoring' } } }], ports: [{ port: 'metrics' }] };
        egress = { to: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ port: 'postgres' }] };
        break;
      default: // port ranges from anywhere / to a partner network
        ingress = { ports: [{ port: 30000 + i * 10, endPort: 30009 + i * 10 }, { port: 31000 + i * 10, endPort: 31009 + i * 10, protocol: 'UDP' }] };
        egress = { to: [{ ipBlock: { cidr: '198.51.100.0/24' } }], ports: [{ port: 8000, endPort: 8099 }] };
    }
    out.push(policy(ns, name, { podSelector, policyTypes: ['Ingress', 'Egress'], ingress: [ingress], egress: [egress] }));
  }
  const allowed = [{ port: crrPort }, { port: iperfPort }, { port: iperfPort, protocol: 'UDP' }];
  out.push(policy(ns, WIRE_PAIR60.allowPolicy, { podSelector, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: same, ports: allowed }], egress: [{ to: same, ports: allowed }] }));
  return out;
}

/** Generates one cluster. Same size and seed: the same objects, byte for byte. */
export function generate(size: Size, opts: GenerateOptions = {}): Generated {
  const seed = opts.seed ?? 1;
  const r = prng(seed * 1_000_003 + size.pods);
  const objects: unknown[] = [];
  const nodes = Array.from({ length: size.nodes }, (_, i) => `node-${pad(i, 2)}`);
  let ipIndex = 0;
  const nextIp = () => syntheticIp(ipIndex++);

  // System namespaces: DNS, ingress controller, monitoring.
  objects.push(namespace('kube-system', {}));
  objects.push(namespace('ingress-nginx', { role: 'ingress' }));
  objects.push(namespace('monitoring', { role: 'monitoring' }));
  const sysPods = (ns: string, base: string, labels: Record<string, string>, n: number, ports: unknown[]) => {
    for (let i = 0; i < n; i++) objects.push(pod(ns, `${base}-${pad(i, 3)}`, labels, pick(r, nodes), nextIp(), ports));
  };
  const dnsPods = Math.max(2, Math.round(size.pods / 500));
  sysPods('kube-system', 'coredns', { 'k8s-app': 'kube-dns' }, dnsPods, [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }]);
  sysPods('ingress-nginx', 'controller', { 'app.kubernetes.io/name': 'ingress-nginx' }, Math.max(2, Math.round(size.pods / 500)), [{ name: 'http', containerPort: 80 }, { name: 'https', containerPort: 443 }]);
  sysPods('monitoring', 'prometheus', { app: 'prometheus' }, Math.max(2, Math.round(size.pods / 1000)), [{ name: 'web', containerPort: 9090 }]);
  let placed = objects.length - 3;

  // Team namespaces.
  const teamNs: { name: string; team: string; env: string }[] = [];
  const teamCount = size.namespaces - 3;
  for (let i = 0; i < teamCount; i++) {
    const team = `team-${pad(Math.floor(i / 3), 3)}`;
    const env = ENVS[i % 3]!;
    const name = `${team}-${env}`;
    teamNs.push({ name, team, env });
    objects.push(namespace(name, { team, env, 'cost-center': `cc-${i % 17}` }));
  }

  // Deployment-like pods: each namespace gets a share of the pods, cut into apps of 1-8 replicas.
  const apps: App[] = [];
  const perNs = (size.pods - placed) / teamCount;
  let carry = 0;
  for (const [i, ns] of teamNs.entries()) {
    carry += perNs;
    let n = Math.floor(carry);
    carry -= n;
    if (i === teamCount - 1) n = size.pods - placed; // exact total
    let k = 0;
    while (n > 0) {
      const tier = pick(r, TIERS);
      const isPair = i === 0 && k === 0;
      const app = isPair ? WIRE_PAIR.app : `${tier}-${pad(k, 3)}`;
      apps.push({ namespace: ns.name, name: app, tier: isPair ? 'backend' : tier });
      const replicas = Math.min(n, isPair ? 2 : int(r, 1, 8));
      const version = pick(r, ['v1', 'v1', 'v2']);
      const hash = Math.floor(r() * 0xfffff).toString(16);
      for (let j = 0; j < replicas; j++) {
        const labels = { app, tier: isPair ? 'backend' : tier, version, 'pod-template-hash': hash };
        let ports: unknown[] = TIER_PORTS[isPair ? 'backend' : tier];
        if (isPair) {
          const pairPod = j === 0 ? WIRE_PAIR.client : WIRE_PAIR.server;
          ports = [...ports, { name: 'iperf', containerPort: WIRE_PAIR.iperfPort }, { name: 'iperf-udp', containerPort: WIRE_PAIR.iperfPort, protocol: 'UDP' }];
          const ip = opts.wirePair ? pairPod.ip : nextIp();
          objects.push(pod(ns.name, pairPod.name, labels, opts.wirePair ? BENCH_NODE : pick(r, nodes), ip, ports));
        } else {
          // About 1% finished jobs-like pods still holding an IP: they must not count.
          const phase = r() < 0.01 ? 'Succeeded' : 'Running';
          objects.push(pod(ns.name, `${app}-${hash}-${pad(j, 2)}`, labels, pick(r, nodes), nextIp(), ports, phase));
        }
      }
      n -= replicas;
      placed += replicas;
      k++;
    }
  }

  // Policies: per team namespace a default deny and DNS egress; the rest per app.
  let budget = size.policies;
  const add = (p: unknown) => { objects.push(p); budget--; };
  for (const ns of teamNs) {
    add(policy(ns.name, 'default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    add(policy(ns.name, 'allow-dns', {
      podSelector: {}, policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: nsSel('kube-system'), podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }],
    }));
  }
  for (const p of pairPolicies(WIRE_PAIR.namespace)) add(p);
  const teamApps = apps.filter((a) => a.name !== WIRE_PAIR.app);
  const nsByName = new Map(teamNs.map((n) => [n.name, n]));
  for (let i = 0; budget > 0; i++) {
    const a = teamApps[(i * 7919) % teamApps.length]!; // a stride walk: apps in many namespaces
    const ns = nsByName.get(a.namespace)!;
    add(appPolicy(r, a, ns, i, teamNs));
  }
  if (opts.clusterPolicies) objects.push(...nodeObjects(nodes), ...clusterPolicies(opts.clusterPolicies, teamNs));
  if (opts.wirePair60) {
    // After everything else, drawing nothing from the generator and no synthetic address.
    const { namespace: ns, app, client, server } = WIRE_PAIR60;
    objects.push(namespace(ns, { purpose: 'wire-bench' }));
    const ports = [...TIER_PORTS.backend, { name: 'iperf', containerPort: WIRE_PAIR60.iperfPort }, { name: 'iperf-udp', containerPort: WIRE_PAIR60.iperfPort, protocol: 'UDP' }];
    for (const p of [client, server]) objects.push(pod(ns, p.name, { app, tier: 'backend' }, BENCH_NODE, p.ip, ports));
    objects.push(...pair60Policies());
  }
  return { size, seed, objects, teamNamespaces: teamNs, apps };
}

/** Node objects for `nodes` peers: synthetic addresses (no packet is ever sent to them). */
function nodeObjects(nodes: readonly string[]): unknown[] {
  return nodes.map((name, i) => ({
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, zone: `zone-${i % 3}`, ...(i < 3 ? { 'node-role.kubernetes.io/control-plane': '' } : {}) } },
    status: { addresses: [{ type: 'InternalIP', address: `10.255.0.${i + 1}` }, { type: 'Hostname', address: name }] },
  }));
}

const cnp = (name: string, spec: Record<string, unknown>): unknown => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec });
const teamSel = (team: string) => ({ matchLabels: { team } });

/** ClusterNetworkPolicies a platform team writes, 60% Admin and 40% Baseline, deterministic
 *  (no draw from the cluster's prng: the rest of the cluster stays byte for byte the same).
 *  Admin: protect monitoring, deny the metadata address and the nodes' kubelet port, keep dev
 *  out of prod databases, and per team a Pass that hands the team's own traffic to its
 *  NetworkPolicies; Baseline: per team, accept the team and DNS, deny the rest. The wire pair
 *  (team-000-prod) is a subject of several: its connection walks the Admin tier (rules that do
 *  not match, then its team's Pass) before its NetworkPolicies decide. */
function clusterPolicies(n: number, teams: readonly { name: string; team: string; env: string }[]): unknown[] {
  const out: unknown[] = [];
  const teamNames = [...new Set(teams.map((t) => t.team))];
  const admin = Math.round(n * 0.6);
  for (let i = 0; i < n; i++) {
    // Five policies per team in turn (team-000 first: the wire pair's).
    const team = teamNames[Math.floor(i / 5) % teamNames.length]!;
    if (i < admin) {
      const kind = i % 5;
      const priority = 10 + i * 7; // distinct: no ties
      if (kind === 0) out.push(cnp(`admin-${i}-protect-monitoring`, { tier: 'Admin', priority, subject: { namespaces: { matchLabels: { role: 'monitoring' } } }, ingress: [
        { name: 'prometheus-peers', action: 'Accept', from: [{ pods: { namespaceSelector: { matchLabels: { role: 'monitoring' } }, podSelector: { matchLabels: { app: 'prometheus' } } } }] },
        { name: 'nobody-else', action: 'Deny', from: [{ namespaces: {} }] },
      ] }));
      else if (kind === 1) out.push(cnp(`admin-${i}-no-metadata`, { tier: 'Admin', priority, subject: { namespaces: {} }, egress: [
        { name: 'metadata', action: 'Deny', to: [{ networks: ['169.254.169.254/32', 'fd00:ec2::254/128'] }] },
        { name: 'kubelet', action: 'Deny', to: [{ nodes: { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'DoesNotExist' }] } }], protocols: [{ tcp: { destinationPort: { range: { start: 10250, end: 10259 } } } }] },
      ] }));
      else if (kind === 2) out.push(cnp(`admin-${i}-dev-not-in-prod-db`, { tier: 'Admin', priority, subject: { pods: { namespaceSelector: { matchLabels: { env: 'prod', team } }, podSelector: { matchLabels: { tier: 'db' } } } }, ingress: [
        { name: 'no-dev', action: 'Deny', from: [{ namespaces: { matchLabels: { env: 'dev' } } }], protocols: [{ destinationNamedPort: 'postgres' }] },
      ] }));
      else if (kind === 3) out.push(cnp(`admin-${i}-${team}-decides`, { tier: 'Admin', priority, subject: { namespaces: teamSel(team) }, ingress: [
        { name: 'own-team', action: 'Pass', from: [{ namespaces: teamSel(team) }] },
        { name: 'ingress-controller', action: 'Pass', from: [{ pods: { namespaceSelector: { matchLabels: { role: 'ingress' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } } }] },
      ], egress: [
        { name: 'own-team', action: 'Pass', to: [{ namespaces: teamSel(team) }] },
        { name: 'dns', action: 'Accept', to: [{ pods: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } } }], protocols: [{ udp: { destinationPort: { number: 53 } } }, { tcp: { destinationPort: { number: 53 } } }] },
      ] }));
      else out.push(cnp(`admin-${i}-no-staging-to-prod`, { tier: 'Admin', priority, subject: { namespaces: { matchLabels: { env: 'prod', team } } }, ingress: [
        { name: 'staging', action: 'Deny', from: [{ namespaces: { matchLabels: { env: 'staging', team } } }], protocols: [{ tcp: { destinationPort: { range: { start: 30000, end: 32767 } } } }] },
      ] }));
    } else {
      out.push(cnp(`baseline-${i}-${team}`, { tier: 'Baseline', priority: i, subject: { namespaces: teamSel(team) }, ingress: [
        { name: 'own-team', action: 'Accept', from: [{ namespaces: teamSel(team) }] },
        { name: 'monitoring', action: 'Accept', from: [{ namespaces: { matchLabels: { role: 'monitoring' } } }], protocols: [{ destinationNamedPort: 'metrics' }] },
        { name: 'the-rest', action: 'Deny', from: [{ namespaces: {} }] },
      ], egress: [
        { name: 'own-team', action: 'Accept', to: [{ namespaces: teamSel(team) }] },
        { name: 'internet', action: 'Accept', to: [{ networks: ['0.0.0.0/0'] }], protocols: [{ tcp: { destinationPort: { number: 443 } } }] },
        { name: 'the-rest', action: 'Deny', to: [{ namespaces: {} }] },
      ] }));
    }
  }
  return out;
}

function appPolicy(r: Rand, a: App, ns: { team: string; env: string }, i: number, teams: readonly { team: string }[]): unknown {
  const sel = { matchLabels: { app: a.name } };
  const name = `${a.name}-p${i}`;
  const kind = i % 10;
  switch (kind) {
    case 0: // the same app talks to itself
      return policy(a.namespace, name, { podSelector: sel, ingress: [{ from: [{ podSelector: sel }] }] });
    case 1: // the ingress controller reaches the web port by name
      return policy(a.namespace, name, { podSelector: sel, ingress: [{ from: [{ namespaceSelector: nsSel('ingress-nginx'), podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } }], ports: [{ port: 'http' }] }] });
    case 2: // monitoring scrapes metrics by name
      return policy(a.namespace, name, { podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { role: 'monitoring' } } }], ports: [{ port: 'metrics' }] }] });
    case 3: // the same team's other environments, or another team's prod
      return policy(a.namespace, name, { podSelector: sel, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: r() < 0.5 ? ns.team : pick(r, teams).team, env: 'prod' } } }], ports: [{ port: 8080 }, { port: 9000 }] }] });
    case 4: // backends from frontends of the namespace
      return policy(a.namespace, name, { podSelector: { matchLabels: { tier: 'backend' } }, ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'frontend' } } }], ports: [{ port: 'grpc' }, { port: 8080 }] }] });
    case 5: // internet egress except private ranges
      return policy(a.namespace, name, { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }], ports: [{ port: 443 }, { port: 80 }] }] });
    case 6: // egress to the namespace's databases by port name
      return policy(a.namespace, name, { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ port: 'postgres' }] }, { to: [{ podSelector: { matchLabels: { tier: 'cache' } } }], ports: [{ port: 6379 }] }] });
    case 7: // a port range from prod namespaces
      return policy(a.namespace, name, { podSelector: sel, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }] } }], ports: [{ port: 30000 + (i % 50) * 10, endPort: 30009 + (i % 50) * 10 }] }] });
    case 8: // a partner network with a hole, on a port range
      return policy(a.namespace, name, { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '198.51.100.0/24', except: [`198.51.100.${(i % 4) * 64}/26`] } }], ports: [{ port: 8443, endPort: 8453 }] }] });
    case 9: // egress to the team's backends in any of its namespaces
      return policy(a.namespace, name, { podSelector: sel, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { team: ns.team } }, podSelector: { matchLabels: { tier: 'backend' } } }], ports: [{ port: 'http' }] }] });
    default:
      throw new Error(`unreachable policy kind ${kind}`);
  }
}

/** Generates and parses: the slim Cluster the compiler reads. */
export function generateCluster(size: Size, opts: GenerateOptions = {}): { gen: Generated; cluster: Cluster } {
  const gen = generate(size, opts);
  const { cluster, problems } = clusterFromObjects(gen.objects);
  if (problems.length) throw new Error(`generated cluster ${size.name} has problems: ${problems.slice(0, 3).map((p) => `${p.kind} ${p.object}: ${p.path}: ${p.message}`).join('; ')}`);
  return { gen, cluster };
}
