// The cluster state read once from the Kubernetes API (for `explain` and `matrix` with
// --kubeconfig, and as a kubectl plugin): list only, read-only, page by page, through the
// same typed calls and slim parsers as the agent's source. Nodes are listed too, for their
// own addresses and for ClusterNetworkPolicy `nodes` peers; a cluster that does not let us
// list them (RBAC) is read without them. ClusterNetworkPolicies are listed when their CRD is
// installed.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { sortCluster, type Cluster, type ClusterPolicyInfo, type Problem } from '../compiler/index.js';
import { nodesFromObjects, type NodeInfo } from '../compiler/nodes.js';
import { describeError, httpStatus } from './kube/reflector.js';
import { kubeResources, toWire, type Resource } from './kube/resources.js';

export class ListError extends Error {}

async function listAll<T>(r: Resource<T>, problems: Problem[], pageSize: number): Promise<T[]> {
  const out: T[] = [];
  let cont: string | undefined;
  do {
    let page;
    try {
      page = await r.list(pageSize, cont);
    } catch (e) {
      throw new ListError(`listing ${r.path}: ${describeError(e)}`);
    }
    for (const item of page.items) {
      const p = r.parse(item);
      if (p.ok) out.push(p.value);
      else problems.push(p.problem);
    }
    cont = page.continueToken;
  } while (cont);
  return out;
}

export async function listCluster(kc: KubeConfig, opts: { pageSize?: number; warn?: (m: string) => void } = {}): Promise<{ cluster: Cluster; problems: Problem[]; nodes: NodeInfo[] }> {
  const res = kubeResources(kc);
  const problems: Problem[] = [];
  const size = opts.pageSize ?? 500;
  const [namespaces, pods, policies] = await Promise.all([listAll(res.namespace, problems, size), listAll(res.pod, problems, size), listAll(res.networkpolicy, problems, size)]);
  let nodes: NodeInfo[] = [];
  try {
    const core = kc.makeApiClient(CoreV1Api);
    const items: unknown[] = [];
    let cont: string | undefined;
    do {
      const l = await core.listNode({ limit: size, _continue: cont });
      items.push(...l.items.map((i) => ({ kind: 'Node', ...(toWire(i) as object) })));
      cont = l.metadata?._continue || undefined;
    } while (cont);
    const n = nodesFromObjects(items);
    nodes = n.nodes;
    problems.push(...n.problems);
  } catch (e) {
    // Only host-network pods then tell a node's addresses (explain says "not a pod" for others).
    opts.warn?.(`nodes not listed (${httpStatus(e) ?? describeError(e)}): a node's own address is known only through its host-network pods`);
  }
  // ClusterNetworkPolicies, when their CRD is installed (a 404 means it is not: none).
  let clusterPolicies: Awaited<ReturnType<typeof listAll<ClusterPolicyInfo>>> = [];
  try {
    clusterPolicies = await listAll(res.clusternetworkpolicy, problems, size);
  } catch (e) {
    if (!(e instanceof ListError && / 404\b|HTTP 404|NotFound/.test(e.message))) opts.warn?.(`clusternetworkpolicies not listed (${(e as Error).message}): the tiers are left out`);
  }
  return {
    cluster: sortCluster({ namespaces, pods, policies, ...(clusterPolicies.length ? { clusterPolicies } : {}), ...(nodes.length ? { nodes } : {}) }),
    problems, nodes,
  };
}
