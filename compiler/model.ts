// The cluster as the enforcer sees it: only the fields it reads, validated with zod.
// Objects are accepted as `kubectl get -o yaml` prints them: unknown fields are dropped
// (zod objects strip by default), `kind: List` is unwrapped by the loader.
//
// The slim types below (NamespaceInfo, PodInfo, PolicyInfo) are also what the agent keeps
// in memory, so they hold nothing the compiler does not need.
import { isIP } from 'node:net';
import { normalizeCidr } from 'cidr-tools';
import { z } from 'zod';
import { parseNode, type NodeInfo } from './nodes.js';

export type { NodeInfo };

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface NamedPort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly nodeName: string;
  readonly labels: Readonly<Record<string, string>>;
  /** status.podIPs (or status.podIP), normalised, IPv4 first. */
  readonly ips: readonly string[];
  readonly phase: string;
  readonly hostNetwork: boolean;
  /** Container ports that carry a name: of the containers and of the sidecars (init
   *  containers with restartPolicy Always, which keep serving); a plain init container has
   *  ended before the pod serves, so its ports name nothing. */
  readonly namedPorts: readonly NamedPort[];
  /** metadata.creationTimestamp as an ISO string, when known: of two live pods claiming one
   *  address, the newer owns it (see resolveAddressClaims). */
  readonly created?: string;
}

/** A NetworkPolicy as stored: the spec is kept raw and validated by the compiler, so that a
 *  broken policy is still known (and still isolates the pods it selects). */
export interface PolicyInfo {
  readonly namespace: string;
  readonly name: string;
  readonly spec: unknown;
}

/** A ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) as stored: cluster-scoped,
 *  its spec kept raw and validated by the compiler (compiler/cnp.ts), like a NetworkPolicy's. */
export interface ClusterPolicyInfo {
  readonly name: string;
  readonly spec: unknown;
}

export interface Cluster {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly PolicyInfo[];
  /** ClusterNetworkPolicies (absent: none). */
  readonly clusterPolicies?: readonly ClusterPolicyInfo[];
  /** Nodes (absent: none known; `nodes` peers then match nothing). */
  readonly nodes?: readonly NodeInfo[];
}

/** A problem with one object, worded as `kind ns/name: field.path: what is wrong`. */
export interface Problem {
  readonly kind: 'namespace' | 'pod' | 'networkpolicy' | 'clusternetworkpolicy' | 'node' | 'document';
  readonly object: string;
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.kind} ${p.object}: ${p.path ? p.path + ': ' : ''}${p.message}`;
}

/** zod issue path -> `spec.ingress[0].from[1]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += (out ? '.' : '') + String(k);
  }
  return out;
}

const labels = z.record(z.string(), z.string()).nullish().transform((l) => l ?? {});

const Metadata = z.object({
  name: z.string().min(1),
  namespace: z.string().min(1).nullish(),
  labels,
  // A string in manifests, a Date from some API clients: anything else is ignored, not fatal.
  creationTimestamp: z.unknown().optional(),
});

function isoTime(t: unknown): string | undefined {
  if (!(typeof t === 'string' || t instanceof Date)) return undefined;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

const NamespaceSchema = z.object({
  metadata: z.object({ name: z.string().min(1), labels }),
});

const ContainerPort = z.object({
  name: z.string().nullish(),
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).nullish(),
});
const Container = z.object({ ports: z.array(ContainerPort).nullish(), restartPolicy: z.string().nullish() });

const PodSchema = z.object({
  metadata: Metadata,
  spec: z
    .object({
      nodeName: z.string().nullish(),
      hostNetwork: z.boolean().nullish(),
      containers: z.array(Container).nullish(),
      initContainers: z.array(Container).nullish(),
    })
    .nullish(),
  status: z
    .object({
      phase: z.string().nullish(),
      podIP: z.string().nullish(),
      podIPs: z.array(z.object({ ip: z.string() })).nullish(),
    })
    .nullish(),
});

const PolicySchema = z.object({
  metadata: Metadata,
  // Optional, as in the API (an absent spec is an empty one: every pod, ingress isolated).
  spec: z.unknown().optional(),
});

const ClusterPolicySchema = z.object({
  metadata: z.object({ name: z.string().min(1) }),
  spec: z.unknown(),
});

/** `ok` with `problems`: the object was not what the API server accepts, and `value` is the
 *  best-effort record the compiler uses instead (see bestEffortPod). */
export type ParseResult<T> = { ok: true; value: T; problems?: readonly Problem[] } | { ok: false; problem: Problem };

function objectName(obj: unknown): string {
  const md = (obj as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = scalarText(md?.name) || '<unnamed>';
  const ns = scalarText(md?.namespace);
  return ns ? `${ns}/${name}` : name;
}

function zodProblem(kind: Problem['kind'], obj: unknown, err: z.ZodError): Problem {
  const issue = err.issues[0]!;
  return { kind, object: objectName(obj), path: formatPath(issue.path), message: issue.message };
}

/** The text a scalar stands for: `2` -> "2", `true` -> "true" (YAML reads an unquoted `2` as
 *  a number; the user meant the text); undefined for anything else. */
function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Labels as far as they can be read: a scalar value is kept as its text, a null one as ""
 *  (what the API server makes of it); a value that is a map or a list means nothing and is
 *  left out. Every departure is a problem on `path`. */
function bestEffortLabels(raw: unknown, path: string, bad: (path: string, message: string) => void): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) {
    bad(path, `must be a map of strings (is ${describe(raw)}): no labels read`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'string') out[k] = v;
    else if (v === null) {
      out[k] = '';
      bad(`${path}.${k}`, 'is null: read as ""');
    } else {
      const t = scalarText(v);
      if (t !== undefined) {
        out[k] = t;
        bad(`${path}.${k}`, `must be a string: ${JSON.stringify(v)} read as ${JSON.stringify(t)}`);
      } else bad(`${path}.${k}`, `must be a string (is ${describe(v)}): label left out`);
    }
  }
  return out;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`;
}

/** The name and namespace of an object the schema refused, when they can be read at all. */
function bestEffortIdentity(obj: unknown): { name: string; namespace?: string } | undefined {
  if (!isRecord(obj) || !isRecord(obj.metadata)) return undefined;
  const name = scalarText(obj.metadata.name);
  const ns = obj.metadata.namespace;
  if (!name) return undefined;
  if (ns === undefined || ns === null) return { name };
  const namespace = scalarText(ns);
  return namespace ? { name, namespace } : undefined;
}

export function parseNamespace(obj: unknown): ParseResult<NamespaceInfo> {
  const r = NamespaceSchema.safeParse(obj);
  if (r.success) {
    const m = r.data.metadata;
    // The API server sets this label on every namespace; a manifest may omit it.
    return { ok: true, value: { name: m.name, labels: { ...m.labels, 'kubernetes.io/metadata.name': m.name } } };
  }
  // A namespace the API server would refuse still names a namespace whose pods exist for
  // us: dropping it would lose its labels, and `NotIn`/`DoesNotExist` selectors would start
  // to match its pods. Keep it under the name it gives, with the labels that can be read.
  const id = bestEffortIdentity(obj);
  if (!id) return { ok: false, problem: zodProblem('namespace', obj, r.error) };
  const problems: Problem[] = [];
  const bad = (path: string, message: string) => problems.push({ kind: 'namespace', object: id.name, path, message });
  const labels = bestEffortLabels((obj as { metadata: { labels?: unknown } }).metadata.labels, 'metadata.labels', bad);
  if (!problems.length) problems.push(zodProblem('namespace', obj, r.error));
  return { ok: true, value: { name: id.name, labels: { ...labels, 'kubernetes.io/metadata.name': id.name } }, problems };
}

/** Canonical text form of an address (RFC 5952 for IPv6), so that sets, maps and diffs
 *  compare equal strings; undefined when it is not an address. */
export function canonicalIp(ip: string): string | undefined {
  if (!isIP(ip) || ip.includes('%')) return undefined;
  return normalizeCidr(ip, { compress: true });
}

export function ipFamily(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}

export function parsePod(obj: unknown): ParseResult<PodInfo> {
  const r = PodSchema.safeParse(obj);
  if (!r.success) return bestEffortPod(obj, r.error);
  const { metadata: m, spec, status } = r.data;
  const namespace = m.namespace ?? 'default';
  const raw = status?.podIPs?.length ? status.podIPs.map((p) => p.ip) : status?.podIP ? [status.podIP] : [];
  const ips: string[] = [];
  for (const [i, ip] of raw.entries()) {
    const c = canonicalIp(ip);
    // An address that is not one cannot be enforced: the pod keeps its others (and stays in
    // the cluster, isolated as its namespace's policies say, by every address it has).
    if (!c) return bestEffortPod(obj, undefined, { path: status?.podIPs?.length ? `status.podIPs[${i}].ip` : 'status.podIP', message: `${JSON.stringify(ip)} is not an IP address` });
    if (!ips.includes(c)) ips.push(c);
  }
  ips.sort((a, b) => ipFamily(a) - ipFamily(b));
  const namedPorts: NamedPort[] = [];
  for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? []).filter((i) => i.restartPolicy === 'Always')]) {
    for (const p of c.ports ?? []) {
      if (p.name) namedPorts.push({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.containerPort });
    }
  }
  return {
    ok: true,
    value: {
      namespace,
      name: m.name,
      nodeName: spec?.nodeName ?? '',
      labels: m.labels,
      ips,
      phase: status?.phase ?? '',
      hostNetwork: spec?.hostNetwork ?? false,
      namedPorts,
      ...(isoTime(m.creationTimestamp) ? { created: isoTime(m.creationTimestamp) } : {}),
    },
  };
}

/**
 * A pod the API server would refuse (a label `version: 2`, a bad address, `containerPort:
 * "80"`) still runs somewhere in our view of the cluster: dropping it would leave it out of
 * its namespace's policies, i.e. not isolated. Instead it is kept, every field read as far as
 * it can be, each choice on the closed side:
 *  - labels: scalars as their text (`2` -> "2", what the user meant), null as "", maps and
 *    lists left out;
 *  - addresses that parse are kept, the others dropped (an address we cannot read cannot be
 *    enforced, but takes nothing from other pods); none left: the pod takes no part, as a
 *    pod without an IP;
 *  - named ports: a port number given as a numeric string is read as the number; a port that
 *    cannot be read is left out, so named-port rules that needed it match nothing;
 *  - hostNetwork counts only when it is `true` (a host-network pod is never isolated);
 *    phase and node name are read when they are text.
 * Returns a problem alone only when not even the name can be read.
 */
export function bestEffortPod(obj: unknown, err: z.ZodError | undefined, first?: { path: string; message: string }): ParseResult<PodInfo> {
  const id = bestEffortIdentity(obj);
  if (!id) return { ok: false, problem: err ? zodProblem('pod', obj, err) : { kind: 'pod', object: objectName(obj), path: first?.path ?? '', message: first?.message ?? 'cannot be read' } };
  const namespace = id.namespace ?? 'default';
  const problems: Problem[] = [];
  const bad = (path: string, message: string) => problems.push({ kind: 'pod', object: `${namespace}/${id.name}`, path, message });
  const o = obj as { metadata: Record<string, unknown>; spec?: unknown; status?: unknown };
  const labels = bestEffortLabels(o.metadata.labels, 'metadata.labels', bad);
  const spec = isRecord(o.spec) ? o.spec : {};
  const status = isRecord(o.status) ? o.status : {};
  if (o.spec !== undefined && o.spec !== null && !isRecord(o.spec)) bad('spec', `must be a map (is ${describe(o.spec)})`);
  if (o.status !== undefined && o.status !== null && !isRecord(o.status)) bad('status', `must be a map (is ${describe(o.status)})`);

  const ips: string[] = [];
  const take = (v: unknown, path: string) => {
    const c = typeof v === 'string' ? canonicalIp(v) : undefined;
    if (c) {
      if (!ips.includes(c)) ips.push(c);
    } else bad(path, `${JSON.stringify(v) ?? String(v)} is not an IP address`);
  };
  if (Array.isArray(status.podIPs) && status.podIPs.length) {
    status.podIPs.forEach((p, i) => take(isRecord(p) ? p.ip : p, `status.podIPs[${i}].ip`));
  } else if (status.podIPs !== undefined && status.podIPs !== null && !Array.isArray(status.podIPs)) {
    bad('status.podIPs', `must be a list (is ${describe(status.podIPs)})`);
    if (status.podIP !== undefined && status.podIP !== null) take(status.podIP, 'status.podIP');
  } else if (status.podIP !== undefined && status.podIP !== null && status.podIP !== '') take(status.podIP, 'status.podIP');
  ips.sort((a, b) => ipFamily(a) - ipFamily(b));

  const namedPorts: NamedPort[] = [];
  const containers = (field: string): { c: Record<string, unknown>; path: string }[] => {
    const v = spec[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      bad(`spec.${field}`, `must be a list (is ${describe(v)})`);
      return [];
    }
    return v.flatMap((c, i) => (isRecord(c) ? [{ c, path: `spec.${field}[${i}]` }] : (bad(`spec.${field}[${i}]`, 'must be a map'), [])));
  };
  const serving = [...containers('containers'), ...containers('initContainers').filter(({ c }) => c.restartPolicy === 'Always')];
  for (const { c, path } of serving) {
    if (c.ports === undefined || c.ports === null) continue;
    if (!Array.isArray(c.ports)) {
      bad(`${path}.ports`, `must be a list (is ${describe(c.ports)})`);
      continue;
    }
    c.ports.forEach((p, j) => {
      const pp = `${path}.ports[${j}]`;
      if (!isRecord(p)) return bad(pp, 'must be a map');
      if (p.name === undefined || p.name === null || p.name === '') return;
      const name = scalarText(p.name);
      const n = typeof p.containerPort === 'number' ? p.containerPort : typeof p.containerPort === 'string' && /^\d{1,5}$/.test(p.containerPort) ? Number(p.containerPort) : NaN;
      const protocol = p.protocol === undefined || p.protocol === null ? 'TCP' : p.protocol;
      if (!name) return bad(`${pp}.name`, `must be a string (is ${describe(p.name)}): port left out`);
      if (!Number.isInteger(n) || n < 1 || n > 65535) return bad(`${pp}.containerPort`, `${JSON.stringify(p.containerPort) ?? 'absent'} is not a port number: port left out`);
      if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') return bad(`${pp}.protocol`, `${JSON.stringify(protocol)} is not TCP, UDP or SCTP: port left out`);
      if (typeof p.containerPort !== 'number') bad(`${pp}.containerPort`, `must be a number: ${JSON.stringify(p.containerPort)} read as ${n}`);
      if (typeof p.name !== 'string') bad(`${pp}.name`, `must be a string: read as ${JSON.stringify(name)}`);
      namedPorts.push({ name, protocol, port: n });
    });
  }
  if (spec.hostNetwork !== undefined && spec.hostNetwork !== null && typeof spec.hostNetwork !== 'boolean') bad('spec.hostNetwork', `must be true or false (is ${describe(spec.hostNetwork)}): read as false`);
  if (spec.nodeName !== undefined && spec.nodeName !== null && scalarText(spec.nodeName) === undefined) bad('spec.nodeName', `must be a string (is ${describe(spec.nodeName)})`);
  if (status.phase !== undefined && status.phase !== null && typeof status.phase !== 'string') bad('status.phase', `must be a string (is ${describe(status.phase)}): read as running`);
  if (first && !problems.some((p) => p.path === first.path)) problems.unshift({ kind: 'pod', object: `${namespace}/${id.name}`, path: first.path, message: first.message });
  if (!problems.length && err) problems.push({ ...zodProblem('pod', obj, err), object: `${namespace}/${id.name}` });
  const created = isoTime(o.metadata.creationTimestamp);
  return {
    ok: true,
    value: {
      namespace,
      name: id.name,
      nodeName: scalarText(spec.nodeName) ?? '',
      labels,
      ips,
      phase: typeof status.phase === 'string' ? status.phase : '',
      hostNetwork: spec.hostNetwork === true,
      namedPorts,
      ...(created ? { created } : {}),
    },
    problems,
  };
}

export function parsePolicy(obj: unknown): ParseResult<PolicyInfo> {
  const r = PolicySchema.safeParse(obj);
  if (r.success) return { ok: true, value: { namespace: r.data.metadata.namespace ?? 'default', name: r.data.metadata.name, spec: r.data.spec } };
  // Only the metadata can fail here (the spec is the compiler's): a name or namespace given
  // as a number is read as its text, so that the policy still isolates what it selects.
  const id = bestEffortIdentity(obj);
  if (!id) return { ok: false, problem: zodProblem('networkpolicy', obj, r.error) };
  const namespace = id.namespace ?? 'default';
  const o = obj as { metadata: { labels?: unknown }; spec?: unknown };
  const problems: Problem[] = [{ ...zodProblem('networkpolicy', obj, r.error), object: `${namespace}/${id.name}` }];
  return { ok: true, value: { namespace, name: id.name, spec: o.spec }, problems };
}

export function parseClusterPolicy(obj: unknown): ParseResult<ClusterPolicyInfo> {
  const r = ClusterPolicySchema.safeParse(obj);
  if (!r.success) return { ok: false, problem: zodProblem('clusternetworkpolicy', obj, r.error) };
  return { ok: true, value: { name: r.data.metadata.name, spec: r.data.spec } };
}

/** A pod takes part in policy (as a selected pod or as a peer) when it has an IP, is not
 *  finished, and does not share the node's network namespace (docs/design.md 1.11, 1.12). */
export function podIsActive(p: PodInfo): boolean {
  return p.ips.length > 0 && p.phase !== 'Succeeded' && p.phase !== 'Failed' && !p.hostNetwork;
}

const KINDS = ['Namespace', 'Pod', 'NetworkPolicy', 'ClusterNetworkPolicy', 'Node'] as const;
/** `kind: List` inside `kind: List`: real dumps nest one level; this many is already absurd. */
const MAX_LIST_DEPTH = 8;
/** Other API groups reuse these kind names (Calico's projectcalico.org/v3 NetworkPolicy has
 *  another spec entirely): read only the core ones. An absent apiVersion is accepted. */
const API_VERSION: Record<(typeof KINDS)[number], string> = {
  Namespace: 'v1', Pod: 'v1', NetworkPolicy: 'networking.k8s.io/v1', ClusterNetworkPolicy: 'policy.networking.k8s.io/v1alpha2', Node: 'v1',
};
const PROBLEM_KIND: Record<(typeof KINDS)[number], Problem['kind']> = {
  Namespace: 'namespace', Pod: 'pod', NetworkPolicy: 'networkpolicy', ClusterNetworkPolicy: 'clusternetworkpolicy', Node: 'node',
};

/** Sorts loose Kubernetes objects (already decoded from YAML or JSON) into a Cluster.
 *  `List` objects are unwrapped; other kinds are ignored; bad objects become problems. */
export function clusterFromObjects(objects: readonly unknown[], origins?: readonly string[]): { cluster: Cluster; problems: Problem[] } {
  const namespaces = new Map<string, NamespaceInfo>();
  const pods = new Map<string, PodInfo>();
  const policies = new Map<string, PolicyInfo>();
  const clusterPolicies = new Map<string, ClusterPolicyInfo>();
  const nodes = new Map<string, NodeInfo>();
  const problems: Problem[] = [];
  const visit = (o: unknown, where: string, depth = 0) => {
    if (o === null || o === undefined) return;
    if (depth > MAX_LIST_DEPTH) {
      problems.push({ kind: 'document', object: where, path: '', message: `lists nested deeper than ${MAX_LIST_DEPTH}: not read` });
      return;
    }
    if (typeof o !== 'object' || Array.isArray(o)) {
      problems.push({ kind: 'document', object: where, path: '', message: 'not a Kubernetes object' });
      return;
    }
    const kind = (o as { kind?: unknown }).kind;
    // A kind or apiVersion that is not text is not some other API's object, it is garbage:
    // the document cannot be read (and a folder source keeps the file's last good objects).
    const version = (o as { apiVersion?: unknown }).apiVersion;
    if ((kind !== undefined && typeof kind !== 'string') || (version !== undefined && typeof version !== 'string')) {
      problems.push({ kind: 'document', object: where, path: typeof kind !== 'string' ? 'kind' : 'apiVersion', message: `must be a string (is ${describe(typeof kind !== 'string' ? kind : version)}): not read` });
      return;
    }
    if (kind === 'List' || (typeof kind === 'string' && kind.endsWith('List') && Array.isArray((o as { items?: unknown }).items))) {
      const itemKind = kind === 'List' ? undefined : kind.slice(0, -4);
      const listVersion = (o as { apiVersion?: unknown }).apiVersion;
      const items = (o as { items?: unknown }).items ?? [];
      if (!Array.isArray(items)) {
        problems.push({ kind: 'document', object: where, path: 'items', message: 'must be a list' });
        return;
      }
      items.forEach((item, i) => {
        // Items of a typed list (PodList) carry neither kind nor apiVersion: the list's hold.
        const withKind = itemKind && item && typeof item === 'object' && !(item as { kind?: unknown }).kind
          ? { kind: itemKind, ...(listVersion !== undefined ? { apiVersion: listVersion } : {}), ...(item as object) }
          : item;
        visit(withKind, `${where} items[${i}]`, depth + 1);
      });
      return;
    }
    if (!KINDS.includes(kind as (typeof KINDS)[number])) return;
    const apiVersion = (o as { apiVersion?: unknown }).apiVersion;
    const want = API_VERSION[kind as (typeof KINDS)[number]];
    if (apiVersion !== undefined && apiVersion !== want) {
      // Another API's kind of the same name (projectcalico.org/v3 NetworkPolicy) is not ours;
      // anything else (a typo, a version of our group we do not know, a corrupted file) may
      // be one of ours: the document cannot be read, rather than silently ignored.
      const group = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/v\d+((alpha|beta)\d+)?$/.exec(String(apiVersion))?.[1];
      const ours = want.includes('/') ? want.slice(0, want.indexOf('/')) : '';
      if (group !== undefined && group !== ours && group.includes('.')) {
        problems.push({ kind: PROBLEM_KIND[kind as (typeof KINDS)[number]], object: objectName(o), path: 'apiVersion', message: `${JSON.stringify(apiVersion)} is not ${want}: ignored` });
      } else {
        problems.push({ kind: 'document', object: `${where} (${PROBLEM_KIND[kind as (typeof KINDS)[number]]} ${objectName(o)})`, path: 'apiVersion', message: `${JSON.stringify(apiVersion)} is not ${want} nor another API group's: not read` });
      }
      return;
    }
    // The same object twice (two files, an old dump and an edit): the last one read wins,
    // and the user hears of it, as the outcome depends on reading order.
    const keep = <T>(m: Map<string, T>, k: string, v: T, pk: Problem['kind']) => {
      if (m.has(k)) problems.push({ kind: pk, object: k, path: '', message: 'defined more than once; the last one read is used' });
      m.set(k, v);
    };
    if (kind === 'Namespace') {
      const r = parseNamespace(o);
      if (r.ok) {
        keep(namespaces, r.value.name, r.value, 'namespace');
        if (r.problems) problems.push(...r.problems);
      } else problems.push(unreadable(r.problem, where));
    } else if (kind === 'Pod') {
      const r = parsePod(o);
      if (r.ok) {
        keep(pods, `${r.value.namespace}/${r.value.name}`, r.value, 'pod');
        if (r.problems) problems.push(...r.problems);
      } else problems.push(unreadable(r.problem, where));
    } else if (kind === 'ClusterNetworkPolicy') {
      const r = parseClusterPolicy(o);
      if (r.ok) keep(clusterPolicies, r.value.name, r.value, 'clusternetworkpolicy');
      else problems.push(unreadable(r.problem, where));
    } else if (kind === 'Node') {
      const r = parseNode(o);
      if (r.ok) keep(nodes, r.value.name, r.value, 'node');
      else problems.push(unreadable(r.problem, where));
    } else {
      const r = parsePolicy(o);
      if (r.ok) {
        keep(policies, `${r.value.namespace}/${r.value.name}`, r.value, 'networkpolicy');
        if (r.problems) problems.push(...r.problems);
      } else problems.push(unreadable(r.problem, where));
    }
  };
  // Objects no longer know their file here, unless the caller says (`origins`, one per object).
  objects.forEach((o, i) => visit(o, origins?.[i] ?? `#${i + 1}`));
  const cluster: Cluster = {
    namespaces: [...namespaces.values()], pods: [...pods.values()], policies: [...policies.values()],
    // Only when present, so that a cluster without them reads as before.
    ...(clusterPolicies.size ? { clusterPolicies: [...clusterPolicies.values()] } : {}),
    ...(nodes.size ? { nodes: [...nodes.values()] } : {}),
  };
  return { cluster: sortCluster(cluster), problems };
}

/** An object of our kinds whose name or namespace cannot be read cannot be placed at all:
 *  the document is unreadable (a folder source keeps the file's last good objects; compile
 *  reports the input incomplete). Other problems stay the object's. */
function unreadable(p: Problem, where: string): Problem {
  const named = /^(?:[^/]+\/)?[^/]+$/.test(p.object) && !p.object.includes('<unnamed>');
  if (named && !p.path.startsWith('metadata')) return p;
  return { kind: 'document', object: `${where} (${p.kind} ${p.object})`, path: p.path, message: `${p.message}: the object cannot be placed, not read` };
}

const byKey = <T extends { namespace?: string; name: string }>(a: T, b: T) => {
  const ka = `${a.namespace ?? ''}/${a.name}`, kb = `${b.namespace ?? ''}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** Order does not matter to the semantics; sorting makes every output independent of it.
 *  Address claims are left to the readers: the policy engine settles them from its node's
 *  point of view (a pod of the node keeps its address whatever other nodes' pods claim; two
 *  pods of the node claiming one address both keep it, and it gets the union of their
 *  isolation), the IR (explain, matrix) cluster-wide with resolveAddressClaims. */
export function sortCluster(c: Cluster): Cluster {
  return {
    namespaces: [...c.namespaces].sort(byKey), pods: [...c.pods].sort(byKey), policies: [...c.policies].sort(byKey),
    ...(c.clusterPolicies ? { clusterPolicies: [...c.clusterPolicies].sort(byKey) } : {}),
    ...(c.nodes ? { nodes: [...c.nodes].sort(byKey) } : {}),
  };
}

/** IPs are reused (docs/design.md 1.12): the API can briefly show an ended pod as still running
 *  with the address a new pod already has. Of the live pods claiming one address, the newest
 *  (metadata.creationTimestamp; unknown counts as oldest; a tie goes to the first by
 *  namespace/name) keeps it; the others lose that address, and a pod left without any
 *  takes no part, like a pod without an IP. Pods are expected sorted; untouched pods keep
 *  their identity (caches key on it). `scope` 'node' settles only claims between pods of
 *  one node (pods of different nodes keep theirs). */
export function resolveAddressClaims(pods: readonly PodInfo[], scope: 'cluster' | 'node' = 'cluster'): PodInfo[] {
  const owner = new Map<string, PodInfo>();
  const k = (p: PodInfo, ip: string) => (scope === 'node' ? `${p.nodeName}\0${ip}` : ip);
  let conflict = false;
  for (const p of pods) {
    if (!podIsActive(p)) continue;
    for (const ip of p.ips) {
      const key = k(p, ip);
      const o = owner.get(key);
      if (!o) owner.set(key, p);
      else {
        conflict = true;
        if ((p.created ?? '') > (o.created ?? '')) owner.set(key, p);
      }
    }
  }
  if (!conflict) return [...pods];
  return pods.map((p) => {
    if (!podIsActive(p) || p.ips.every((ip) => owner.get(k(p, ip)) === p)) return p;
    return { ...p, ips: p.ips.filter((ip) => owner.get(k(p, ip)) === p) };
  });
}
