// The cluster as the enforcer sees it: only the fields it reads, validated with zod.
// Objects are accepted as `kubectl get -o yaml` prints them: unknown fields are dropped
// (zod objects strip by default), `kind: List` is unwrapped by the loader.
//
// The slim types below (NamespaceInfo, PodInfo, PolicyInfo) are also what the agent keeps
// in memory, so they hold nothing the compiler does not need.
import { isIP } from 'node:net';
import { normalizeCidr } from 'cidr-tools';
import { z } from 'zod';

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

export interface Cluster {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly PolicyInfo[];
}

/** A problem with one object, worded as `kind ns/name: field.path: what is wrong`. */
export interface Problem {
  readonly kind: 'namespace' | 'pod' | 'networkpolicy' | 'node' | 'document';
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
  spec: z.unknown(),
});

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problem: Problem };

function objectName(obj: unknown): string {
  const md = (obj as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = typeof md?.name === 'string' ? md.name : '<unnamed>';
  return typeof md?.namespace === 'string' ? `${md.namespace}/${name}` : name;
}

function zodProblem(kind: Problem['kind'], obj: unknown, err: z.ZodError): Problem {
  const issue = err.issues[0]!;
  return { kind, object: objectName(obj), path: formatPath(issue.path), message: issue.message };
}

export function parseNamespace(obj: unknown): ParseResult<NamespaceInfo> {
  const r = NamespaceSchema.safeParse(obj);
  if (!r.success) return { ok: false, problem: zodProblem('namespace', obj, r.error) };
  const m = r.data.metadata;
  // The API server sets this label on every namespace; a manifest may omit it.
  return { ok: true, value: { name: m.name, labels: { ...m.labels, 'kubernetes.io/metadata.name': m.name } } };
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
  if (!r.success) return { ok: false, problem: zodProblem('pod', obj, r.error) };
  const { metadata: m, spec, status } = r.data;
  const namespace = m.namespace ?? 'default';
  const raw = status?.podIPs?.length ? status.podIPs.map((p) => p.ip) : status?.podIP ? [status.podIP] : [];
  const ips: string[] = [];
  for (const [i, ip] of raw.entries()) {
    const c = canonicalIp(ip);
    if (!c) {
      return { ok: false, problem: { kind: 'pod', object: `${namespace}/${m.name}`, path: `status.podIPs[${i}].ip`, message: `${JSON.stringify(ip)} is not an IP address` } };
    }
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

export function parsePolicy(obj: unknown): ParseResult<PolicyInfo> {
  const r = PolicySchema.safeParse(obj);
  if (!r.success) return { ok: false, problem: zodProblem('networkpolicy', obj, r.error) };
  return { ok: true, value: { namespace: r.data.metadata.namespace ?? 'default', name: r.data.metadata.name, spec: r.data.spec } };
}

/** A pod takes part in policy (as a selected pod or as a peer) when it has an IP, is not
 *  finished, and does not share the node's network namespace (docs/design.md 1.11, 1.12). */
export function podIsActive(p: PodInfo): boolean {
  return p.ips.length > 0 && p.phase !== 'Succeeded' && p.phase !== 'Failed' && !p.hostNetwork;
}

const KINDS = ['Namespace', 'Pod', 'NetworkPolicy'] as const;
/** Other API groups reuse these kind names (Calico's projectcalico.org/v3 NetworkPolicy has
 *  another spec entirely): read only the core ones. An absent apiVersion is accepted. */
const API_VERSION: Record<(typeof KINDS)[number], string> = { Namespace: 'v1', Pod: 'v1', NetworkPolicy: 'networking.k8s.io/v1' };
const PROBLEM_KIND: Record<(typeof KINDS)[number], Problem['kind']> = { Namespace: 'namespace', Pod: 'pod', NetworkPolicy: 'networkpolicy' };

/** Sorts loose Kubernetes objects (already decoded from YAML or JSON) into a Cluster.
 *  `List` objects are unwrapped; other kinds are ignored; bad objects become problems. */
export function clusterFromObjects(objects: readonly unknown[]): { cluster: Cluster; problems: Problem[] } {
  const namespaces = new Map<string, NamespaceInfo>();
  const pods = new Map<string, PodInfo>();
  const policies = new Map<string, PolicyInfo>();
  const problems: Problem[] = [];
  const visit = (o: unknown, where: string) => {
    if (o === null || o === undefined) return;
    if (typeof o !== 'object' || Array.isArray(o)) {
      problems.push({ kind: 'document', object: where, path: '', message: 'not a Kubernetes object' });
      return;
    }
    const kind = (o as { kind?: unknown }).kind;
    if (kind === 'List' || (typeof kind === 'string' && kind.endsWith('List') && Array.isArray((o as { items?: unknown }).items))) {
      const itemKind = kind === 'List' ? undefined : kind.slice(0, -4);
      const listVersion = (o as { apiVersion?: unknown }).apiVersion;
      ((o as { items: unknown[] }).items ?? []).forEach((item, i) => {
        // Items of a typed list (PodList) carry neither kind nor apiVersion: the list's hold.
        const withKind = itemKind && item && typeof item === 'object' && !(item as { kind?: unknown }).kind
          ? { kind: itemKind, ...(listVersion !== undefined ? { apiVersion: listVersion } : {}), ...(item as object) }
          : item;
        visit(withKind, `${where} items[${i}]`);
      });
      return;
    }
    if (!KINDS.includes(kind as (typeof KINDS)[number])) return;
    const apiVersion = (o as { apiVersion?: unknown }).apiVersion;
    const want = API_VERSION[kind as (typeof KINDS)[number]];
    if (apiVersion !== undefined && apiVersion !== want) {
      problems.push({ kind: PROBLEM_KIND[kind as (typeof KINDS)[number]], object: objectName(o), path: 'apiVersion', message: `${JSON.stringify(apiVersion)} is not ${want}: ignored` });
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
      if (r.ok) keep(namespaces, r.value.name, r.value, 'namespace');
      else problems.push(r.problem);
    } else if (kind === 'Pod') {
      const r = parsePod(o);
      if (r.ok) keep(pods, `${r.value.namespace}/${r.value.name}`, r.value, 'pod');
      else problems.push(r.problem);
    } else {
      const r = parsePolicy(o);
      if (r.ok) keep(policies, `${r.value.namespace}/${r.value.name}`, r.value, 'networkpolicy');
      else problems.push(r.problem);
    }
  };
  // Objects no longer know their file here (parseManifestText reports bad documents with it).
  objects.forEach((o, i) => visit(o, `#${i + 1}`));
  return { cluster: sortCluster({ namespaces: [...namespaces.values()], pods: [...pods.values()], policies: [...policies.values()] }), problems };
}

const byKey = <T extends { namespace?: string; name: string }>(a: T, b: T) => {
  const ka = `${a.namespace ?? ''}/${a.name}`, kb = `${b.namespace ?? ''}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** Order does not matter to the semantics; sorting makes every output independent of it.
 *  Address claims are settled here too, so that every reader of the cluster (the ruleset,
 *  explain, the IR) sees one owner per address. */
export function sortCluster(c: Cluster): Cluster {
  return { namespaces: [...c.namespaces].sort(byKey), pods: resolveAddressClaims([...c.pods].sort(byKey)), policies: [...c.policies].sort(byKey) };
}

/** IPs are reused (docs/design.md 1.12): the API can briefly show an ended pod as still running
 *  with the address a new pod already has. Of the live pods claiming one address, the newest
 *  (metadata.creationTimestamp; unknown counts as oldest; a tie goes to the first by
 *  namespace/name) keeps it; the others lose that address, and a pod left without any
 *  takes no part, like a pod without an IP. Pods are expected sorted; untouched pods keep
 *  their identity (caches key on it). */
export function resolveAddressClaims(pods: readonly PodInfo[]): PodInfo[] {
  const owner = new Map<string, PodInfo>();
  let conflict = false;
  for (const p of pods) {
    if (!podIsActive(p)) continue;
    for (const ip of p.ips) {
      const o = owner.get(ip);
      if (!o) owner.set(ip, p);
      else {
        conflict = true;
        if ((p.created ?? '') > (o.created ?? '')) owner.set(ip, p);
      }
    }
  }
  if (!conflict) return [...pods];
  return pods.map((p) => {
    if (!podIsActive(p) || p.ips.every((ip) => owner.get(ip) === p)) return p;
    return { ...p, ips: p.ips.filter((ip) => owner.get(ip) === p) };
  });
}
