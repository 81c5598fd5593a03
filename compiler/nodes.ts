// Nodes' own addresses, for `explain` and `matrix`: traffic a node sends to its own pods
// leaves through the output hook, which the ruleset never filters (docs: "Node traffic"); and
// their labels and addresses for ClusterNetworkPolicy `nodes` peers (the ruleset's node sets).
//
// Where they come from: `kind: Node` objects in the cluster files (or the API), their
// `status.addresses` of type InternalIP and ExternalIP; and, as before, the addresses of a
// node's host-network pods, which are the node's.
import { parseCidrText } from './cidr.js';
import { canonicalIp, type Problem } from './model.js';

export interface NodeInfo {
  readonly name: string;
  /** metadata.labels (for `nodes` peers). */
  readonly labels: Readonly<Record<string, string>>;
  /** Canonical addresses, IPv4 first. */
  readonly addresses: readonly string[];
  /** spec.podCIDRs (or spec.podCIDR), canonical: the agent of this node holds addresses in
   *  them that are no known pod to deny (compiler/base.ts, the guard chains). */
  readonly podCidrs?: readonly string[];
}

const ADDRESS_TYPES = new Set(['InternalIP', 'ExternalIP']);

/** One Node object; problems name the node and the field. */
export function parseNode(obj: unknown): { ok: true; value: NodeInfo } | { ok: false; problem: Problem } {
  const o = obj as { metadata?: { name?: unknown; labels?: unknown }; spec?: { podCIDR?: unknown; podCIDRs?: unknown }; status?: { addresses?: unknown } } | null;
  const name = o?.metadata?.name;
  if (typeof name !== 'string' || !name) return { ok: false, problem: { kind: 'node', object: '<unnamed>', path: 'metadata.name', message: 'required' } };
  const raw = o?.status?.addresses ?? [];
  if (!Array.isArray(raw)) return { ok: false, problem: { kind: 'node', object: name, path: 'status.addresses', message: 'must be a list' } };
  const addresses: string[] = [];
  for (const [i, a] of raw.entries()) {
    const { type, address } = (a ?? {}) as { type?: unknown; address?: unknown };
    if (typeof type !== 'string' || !ADDRESS_TYPES.has(type)) continue; // Hostname, InternalDNS, ...
    const ip = typeof address === 'string' ? canonicalIp(address) : undefined;
    if (!ip) return { ok: false, problem: { kind: 'node', object: name, path: `status.addresses[${i}].address`, message: `${JSON.stringify(address)} is not an IP address` } };
    if (!addresses.includes(ip)) addresses.push(ip);
  }
  addresses.sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
  const rawLabels = o?.metadata?.labels ?? {};
  if (typeof rawLabels !== 'object' || Array.isArray(rawLabels) || Object.values(rawLabels as object).some((v) => typeof v !== 'string')) {
    return { ok: false, problem: { kind: 'node', object: name, path: 'metadata.labels', message: 'must map strings to strings' } };
  }
  const rawCidrs = o?.spec?.podCIDRs ?? (o?.spec?.podCIDR !== undefined ? [o.spec.podCIDR] : []);
  const cidrPath = o?.spec?.podCIDRs !== undefined ? 'spec.podCIDRs' : 'spec.podCIDR';
  if (!Array.isArray(rawCidrs)) return { ok: false, problem: { kind: 'node', object: name, path: cidrPath, message: 'must be a list' } };
  const podCidrs: string[] = [];
  for (const [i, c] of rawCidrs.entries()) {
    const r = parseCidrText(c);
    if (typeof r === 'string') return { ok: false, problem: { kind: 'node', object: name, path: o?.spec?.podCIDRs !== undefined ? `${cidrPath}[${i}]` : cidrPath, message: r } };
    if (!podCidrs.includes(r.text)) podCidrs.push(r.text);
  }
  return { ok: true, value: { name, labels: rawLabels as Record<string, string>, addresses, ...(podCidrs.length ? { podCidrs } : {}) } };
}

/** The Node objects among loose objects (`List`s unwrapped), sorted by name. */
export function nodesFromObjects(objects: readonly unknown[]): { nodes: NodeInfo[]; problems: Problem[] } {
  const nodes = new Map<string, NodeInfo>();
  const problems: Problem[] = [];
  const visit = (o: unknown) => {
    if (!o || typeof o !== 'object') return;
    const { kind, items, apiVersion } = o as { kind?: unknown; items?: unknown; apiVersion?: unknown };
    if ((kind === 'List' || kind === 'NodeList') && Array.isArray(items)) {
      for (const it of items) visit(kind === 'NodeList' && it && typeof it === 'object' && !(it as { kind?: unknown }).kind ? { kind: 'Node', ...(it as object) } : it);
      return;
    }
    if (kind !== 'Node' || (apiVersion !== undefined && apiVersion !== 'v1')) return;
    const r = parseNode(o);
    if (r.ok) nodes.set(r.value.name, r.value);
    else problems.push(r.problem);
  };
  objects.forEach(visit);
  return { nodes: [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), problems };
}
