// The kinds the agent watches: where they live in the API, how to list them (typed
// client-node calls, one page at a time) and how to turn one into its slim form.
// ClusterNetworkPolicy is a custom resource (network-policy-api v0.2.0, policy.networking.k8s.io
// v1alpha2): its CRD may be missing, which the reflector handles (`optional`).
import { CoreV1Api, CustomObjectsApi, NetworkingV1Api, type KubeConfig } from '@kubernetes/client-node';
import { parseClusterPolicy, parseNamespace, parseNode, parsePod, parsePolicy, type ClusterPolicyInfo, type NamespaceInfo, type NodeInfo, type ParseResult, type PodInfo, type PolicyInfo } from '../../compiler/index.js';
import type { ResourceKind } from '../source.js';
import { Interner } from './intern.js';

export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  readonly continueToken?: string;
}

export interface Resource<T> {
  readonly kind: ResourceKind;
  /** The all-namespaces collection path, also the watch path. */
  readonly path: string;
  readonly namespaced: boolean;
  /** Asked of the server on list and watch: objects outside it are never sent to us. */
  readonly fieldSelector?: string;
  list(limit: number, continueToken: string | undefined): Promise<ListPage>;
  parse(obj: unknown): ParseResult<T>;
  /** A resource whose API may not be installed (a CRD): a 404 means "none", said once and
   *  looked for again every `retryMs`. */
  readonly optional?: { readonly what: string; readonly retryMs: number };
}

/** The ClusterNetworkPolicy API we follow (network-policy-api v0.2.0). */
export const CNP_GROUP = 'policy.networking.k8s.io';
export const CNP_VERSION = 'v1alpha2';
export const CNP_PLURAL = 'clusternetworkpolicies';
/** How often a missing ClusterNetworkPolicy CRD is looked for again. */
export const CRD_RETRY_MS = 30_000;

interface TypedList {
  readonly items: readonly object[];
  readonly metadata?: { readonly resourceVersion?: string; readonly _continue?: string };
}

function page(l: TypedList): ListPage {
  return { items: l.items.map(toWire), resourceVersion: l.metadata?.resourceVersion ?? '', continueToken: l.metadata?._continue || undefined };
}

/** The compiler's parsers, with repeated values shared between the objects they return. */
export function slimParsers(interner = new Interner()) {
  return {
    pod: (o: unknown): ParseResult<PodInfo> => {
      const r = parsePod(o);
      return r.ok ? { ...r, value: interner.pod(r.value) } : r;
    },
    namespace: (o: unknown): ParseResult<NamespaceInfo> => {
      const r = parseNamespace(o);
      return r.ok ? { ...r, value: interner.namespace(r.value) } : r;
    },
    networkpolicy: (o: unknown): ParseResult<PolicyInfo> => parsePolicy(o),
    clusternetworkpolicy: (o: unknown): ParseResult<ClusterPolicyInfo> => parseClusterPolicy(o),
    node: (o: unknown): ParseResult<NodeInfo> => parseNode(o),
  };
}

/**
 * Finished pods take no part in policy (docs/design.md 1.12, podIsActive): the server leaves them
 * out, so that a cluster full of completed Jobs costs us nothing. When a pod finishes, its
 * watch sends DELETED (it no longer matches), which is exactly when its IP must leave every
 * set. Pending pods stay: they get an IP while Pending.
 */
export const ACTIVE_PODS = 'status.phase!=Succeeded,status.phase!=Failed';

export function kubeResources(kc: KubeConfig) {
  const core = kc.makeApiClient(CoreV1Api);
  const net = kc.makeApiClient(NetworkingV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const parse = slimParsers();
  return {
    pod: {
      kind: 'pod', path: '/api/v1/pods', namespaced: true, parse: parse.pod, fieldSelector: ACTIVE_PODS,
      list: async (limit, cont) => page(await core.listPodForAllNamespaces({ limit, _continue: cont, fieldSelector: ACTIVE_PODS })),
    },
    namespace: {
      kind: 'namespace', path: '/api/v1/namespaces', namespaced: false, parse: parse.namespace,
      list: async (limit, cont) => page(await core.listNamespace({ limit, _continue: cont })),
    },
    networkpolicy: {
      kind: 'networkpolicy', path: '/apis/networking.k8s.io/v1/networkpolicies', namespaced: true, parse: parse.networkpolicy,
      list: async (limit, cont) => page(await net.listNetworkPolicyForAllNamespaces({ limit, _continue: cont })),
    },
    clusternetworkpolicy: {
      kind: 'clusternetworkpolicy', path: `/apis/${CNP_GROUP}/${CNP_VERSION}/${CNP_PLURAL}`, namespaced: false, parse: parse.clusternetworkpolicy,
      optional: { what: `the ClusterNetworkPolicy CRD (${CNP_PLURAL}.${CNP_GROUP} ${CNP_VERSION})`, retryMs: CRD_RETRY_MS },
      // A custom resource comes back as plain JSON (no model class to map back).
      list: async (limit, cont) => page((await custom.listClusterCustomObject({ group: CNP_GROUP, version: CNP_VERSION, plural: CNP_PLURAL, limit, _continue: cont })) as TypedList),
    },
    node: {
      kind: 'node', path: '/api/v1/nodes', namespaced: false, parse: parse.node,
      list: async (limit, cont) => page(await core.listNode({ limit, _continue: cont })),
    },
  } satisfies { [K in ResourceKind]: Resource<unknown> };
}

/**
 * Typed client objects back to the wire (JSON) form that watch events carry.
 *
 * Why: list calls deserialise into generated model classes whose property names are not
 * always the JSON names — `V1NetworkPolicyIngressRule` keeps `from` as `_from`. Handing that
 * to the compiler would read an ingress rule with peers as one without (`from` absent = from
 * everywhere): a policy listed at start-up would allow what the same policy arriving by watch
 * denies. Each model class carries its own name map (`getAttributeTypeMap`), which gives
 * the JSON names back; plain objects (label maps) and values are copied as they are.
 */
export function toWire(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(toWire);
  const out: Record<string, unknown> = {};
  const model = (v as { constructor?: { getAttributeTypeMap?: () => readonly { name: string; baseName: string }[] } }).constructor;
  if (typeof model?.getAttributeTypeMap === 'function') {
    for (const a of model.getAttributeTypeMap()) {
      const x = (v as Record<string, unknown>)[a.name];
      if (x !== undefined) out[a.baseName] = toWire(x);
    }
    return out;
  }
  for (const [k, x] of Object.entries(v)) out[k] = toWire(x);
  return out;
}
