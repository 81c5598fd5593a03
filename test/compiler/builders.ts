// Scenario builders (STYLE.md idea 7): raw Kubernetes objects as `kubectl get -o yaml` prints
// them, so that every test goes through the same parsing as real input (clusterFromObjects).
// A field left out of the options is left out of the object: absent and empty must stay
// distinguishable (`ingress` absent vs `ingress: []`).
import { expect } from 'chai';
import { clusterFromObjects, compile, explain, formatProblem, type Cluster, type Explanation, type Problem, type Protocol } from '../../compiler/index.js';
import { connectionVerdict, type ConnectionVerdict } from './packet-eval.js';

export type Obj = Record<string, unknown>;

export function ns(name: string, labels: Record<string, string> = {}): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export interface PortSpec {
  readonly name?: string;
  readonly port: number | string;
  readonly protocol?: string;
}

export interface PodOptions {
  readonly labels?: Record<string, string>;
  readonly node?: string;
  readonly ips?: readonly string[];
  readonly ports?: readonly PortSpec[];
  /** Ports of an init container: a sidecar (restartPolicy Always) unless `initSidecar` is false. */
  readonly initPorts?: readonly PortSpec[];
  readonly initSidecar?: boolean;
  readonly phase?: string;
  readonly hostNetwork?: boolean;
  /** metadata.creationTimestamp (RFC 3339). */
  readonly created?: string;
}

/** `pod('x/a', {...})`; defaults: node `n1`, phase Running, no IP (pass `ips`). */
export function pod(id: string, o: PodOptions = {}): Obj {
  const [namespace, name] = split(id);
  const ctr = (n: string, ports: readonly PortSpec[] | undefined) => ({
    name: n,
    image: 'registry.example/app:1',
    ...(ports ? { ports: ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.port, protocol: p.protocol ?? 'TCP' })) } : {}),
  });
  const ips = o.ips ?? [];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: o.labels ?? {}, uid: `uid-${namespace}-${name}`, ...(o.created ? { creationTimestamp: o.created } : {}) },
    spec: {
      nodeName: o.node ?? 'n1',
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      containers: [ctr('main', o.ports)],
      ...(o.initPorts ? { initContainers: [{ ...ctr('sidecar', o.initPorts), ...(o.initSidecar === false ? {} : { restartPolicy: 'Always' }) }] } : {}),
    },
    status: {
      phase: o.phase ?? 'Running',
      ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
    },
  };
}

export interface PolicyOptions {
  readonly podSelector?: unknown;
  readonly ingress?: unknown;
  readonly egress?: unknown;
  readonly policyTypes?: unknown;
}

/** `policy('x/deny', {...})`; podSelector defaults to `{}` (every pod of the namespace). */
export function policy(id: string, o: PolicyOptions = {}): Obj {
  const [namespace, name] = split(id);
  const spec: Obj = { podSelector: o.podSelector ?? {} };
  if ('ingress' in o) spec.ingress = o.ingress;
  if ('egress' in o) spec.egress = o.egress;
  if ('policyTypes' in o) spec.policyTypes = o.policyTypes;
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

function split(id: string): [string, string] {
  const i = id.indexOf('/');
  if (i < 0) throw new Error(`builder id ${id}: want NAMESPACE/NAME`);
  return [id.slice(0, i), id.slice(i + 1)];
}

/** Objects -> Cluster, failing the test on any parse problem (scenarios are meant to be valid
 *  at the object level; policy problems come later, from compile/explain). */
export function cluster(...objects: Obj[]): Cluster {
  const r = clusterFromObjects(objects);
  expect(r.problems.map(formatProblem), 'object problems').to.deep.equal([]);
  return r.cluster;
}

export function policyProblems(c: Cluster): string[] {
  return compile(c, { node: 'none' }).problems.map(formatProblem);
}

export interface Verdict {
  readonly allowed: boolean;
  readonly explanation: Explanation;
  readonly packets: ConnectionVerdict;
}

/** Decides one connection twice, through `explain` (the IR) and through the compiled rulesets
 *  of the nodes involved (packet-eval), and fails the test when the two paths disagree. */
export function decide(c: Cluster, from: string, to: string, port: number, protocol: Protocol = 'TCP'): Verdict {
  const e = explain(c, from, to, port, protocol);
  const packets = connectionVerdict(c, e.from.ip, e.to.ip, protocol, port);
  expect(packets.allowed, `ruleset vs explain for ${from} -> ${to} ${protocol}/${port}\n${packets.trace.join('\n')}\nexplain: ${JSON.stringify(e, null, 1)}`).to.equal(e.allowed);
  return { allowed: e.allowed, explanation: e, packets };
}

export const allowed = (c: Cluster, from: string, to: string, port: number, protocol: Protocol = 'TCP') => decide(c, from, to, port, protocol).allowed;

/** The address of family `fam` of pod `ns/name` in the cluster. */
export function ipOf(c: Cluster, id: string, fam: 4 | 6): string {
  const p = c.pods.find((x) => `${x.namespace}/${x.name}` === id);
  const ip = p?.ips.find((i) => (fam === 6) === i.includes(':'));
  if (!ip) throw new Error(`${id} has no IPv${fam} address`);
  return ip;
}

/** `allowed` for a pair of dual-stack pods, once over IPv4 and once over IPv6 (addresses
 *  given as such): the two families must agree, and the verdict is returned. */
export function allowedBoth(c: Cluster, from: string, to: string, port: number, protocol: Protocol = 'TCP'): boolean {
  const v4 = decide(c, from, to, port, protocol).allowed;
  const v6 = decide(c, ipOf(c, from, 6), ipOf(c, to, 6), port, protocol).allowed;
  expect(v6, `IPv6 verdict of ${from} -> ${to} ${protocol}/${port} differs from IPv4`).to.equal(v4);
  return v4;
}

export type { Problem };

const NS_INDEX: Record<string, number> = { x: 1, y: 2, z: 3 };
const POD_INDEX: Record<string, number> = { a: 1, b: 2, c: 3 };

/** The upstream model, small: namespaces x, y, z (label `ns`), pods a and b in each (label
 *  `pod`), dual stack, serving `http` 80/TCP and `dns` 53/UDP; x on node n1, y on n2, z/a on
 *  n1 and z/b on n2, so that same-node and cross-node paths both occur. x/a is 192.0.2.11 and
 *  2001:db8::11, y/b is 192.0.2.22 and 2001:db8::22, and so on. */
export function world(...extra: Obj[]): Obj[] {
  const out: Obj[] = [];
  for (const n of ['x', 'y', 'z']) {
    out.push(ns(n, { ns: n }));
    for (const p of ['a', 'b']) {
      const i = NS_INDEX[n]! * 10 + POD_INDEX[p]!;
      const node = n === 'x' || (n === 'z' && p === 'a') ? 'n1' : 'n2';
      out.push(pod(`${n}/${p}`, { labels: { pod: p }, node, ips: [`192.0.2.${i}`, `2001:db8::${i}`], ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] }));
    }
  }
  return [...out, ...extra];
}

export const PODS = ['x/a', 'x/b', 'y/a', 'y/b', 'z/a', 'z/b'] as const;
