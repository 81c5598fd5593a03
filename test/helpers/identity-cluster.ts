// Clusters whose unchanged objects keep their identity from one state to the next, as the
// agent's stores keep them: what the compile cache relies on.
import { parseNamespace, parsePod, parsePolicy, sortCluster, type Cluster, type NamespaceInfo, type PodInfo, type PolicyInfo } from '../../compiler/index.js';

/** Slim objects made once per raw object, as the agent's store keeps them: an unchanged
 *  object is the same object in the next state. */
export function identityKeepingCluster() {
  const memo = new WeakMap<object, NamespaceInfo | PodInfo | PolicyInfo>();
  return (objects: unknown[]): Cluster => {
    const namespaces: NamespaceInfo[] = [], pods: PodInfo[] = [], policies: PolicyInfo[] = [];
    const seen = new Set<string>();
    for (const o of objects as { kind: string; metadata: { name: string; namespace?: string } }[]) {
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      if (seen.has(key)) continue; // the last one of a name wins in the API; first is fine here
      seen.add(key);
      let slim = memo.get(o);
      if (!slim) {
        const r = o.kind === 'Pod' ? parsePod(o) : o.kind === 'Namespace' ? parseNamespace(o) : parsePolicy(o);
        if (!r.ok) continue;
        memo.set(o, (slim = r.value));
      }
      if (o.kind === 'Pod') pods.push(slim as PodInfo);
      else if (o.kind === 'Namespace') namespaces.push(slim as NamespaceInfo);
      else policies.push(slim as PolicyInfo);
    }
    return sortCluster({ namespaces, pods, policies });
  };
}

