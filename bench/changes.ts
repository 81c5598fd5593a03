// The incremental changes the benchmark applies to a generated cluster: one object each, as
// the agent would see them arrive. Every change starts from the same base cluster.
import { indexCluster, parseNamespace, parsePod, parsePolicy, podView, sortCluster, type Cluster, type PodInfo } from '../compiler/index.js';
import { BENCH_NODE, syntheticIp, WIRE_PAIR, type Generated } from './generate.js';

export type ChangeName = 'pod added' | 'pod labels changed' | 'pod deleted' | 'policy added' | 'policy deleted' | 'namespace relabelled';
export const CHANGES: readonly ChangeName[] = ['pod added', 'pod labels changed', 'pod deleted', 'policy added', 'policy deleted', 'namespace relabelled'];

function ok<T>(r: { ok: true; value: T } | { ok: false; problem: { message: string } }): T {
  if (!r.ok) throw new Error(`bench change: ${r.problem.message}`);
  return r.value;
}

/** A local pod of an ordinary team app (not the wire pair), chosen deterministically. */
function localPod(c: Cluster, skip = 0): PodInfo {
  const pods = c.pods.filter((p) => p.nodeName === BENCH_NODE && p.namespace.startsWith('team-') && p.labels.app !== WIRE_PAIR.app && p.phase === 'Running');
  if (pods.length <= skip) throw new Error('bench change: no local team pod');
  return pods[skip]!;
}

/** The cluster after one change. */
export function applyChange(name: ChangeName, base: Cluster, gen: Generated): Cluster {
  switch (name) {
    case 'pod added': {
      const like = localPod(base);
      const obj = {
        kind: 'Pod',
        metadata: { name: `${like.labels.app}-new-00`, namespace: like.namespace, labels: like.labels },
        spec: { nodeName: BENCH_NODE, containers: [{ name: 'main', ports: like.namedPorts.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })) }] },
        status: { phase: 'Running', podIP: syntheticIp(1_000_000), podIPs: [{ ip: syntheticIp(1_000_000) }] },
      };
      return sortCluster({ ...base, pods: [...base.pods, ok(parsePod(obj))] });
    }
    case 'pod labels changed': {
      // A pod moves to another app of its namespace (a relabel, as a canary rollout does).
      const p = localPod(base, 1);
      const other = gen.apps.find((a) => a.namespace === p.namespace && a.name !== p.labels.app && a.name !== WIRE_PAIR.app);
      if (!other) throw new Error(`bench change: no other app in ${p.namespace}`);
      const moved: PodInfo = { ...p, labels: { ...p.labels, app: other.name, tier: other.tier } };
      return { ...base, pods: base.pods.map((q) => (q === p ? moved : q)) };
    }
    case 'pod deleted': {
      const p = localPod(base, 2);
      return { ...base, pods: base.pods.filter((q) => q !== p) };
    }
    case 'policy added': {
      const p = localPod(base, 3);
      const obj = {
        kind: 'NetworkPolicy',
        metadata: { name: 'bench-added', namespace: p.namespace },
        spec: { podSelector: { matchLabels: { app: p.labels.app } }, ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'frontend' } } }], ports: [{ port: 8080 }, { port: 'metrics' }] }] },
      };
      return sortCluster({ ...base, policies: [...base.policies, ok(parsePolicy(obj))] });
    }
    case 'policy deleted': {
      // A policy that selects a local pod goes away.
      const p = localPod(base, 4);
      const id = podView(indexCluster(base), p, 'ingress').policies[0];
      const pol = base.policies.find((q) => `${q.namespace}/${q.name}` === id);
      if (!pol) throw new Error(`bench change: no policy selecting ${p.namespace}/${p.name}`);
      return { ...base, policies: base.policies.filter((q) => q !== pol) };
    }
    case 'namespace relabelled': {
      // A staging namespace is promoted to prod: every `env: prod` selector sees it.
      const ns = gen.teamNamespaces.find((n) => n.env === 'staging');
      if (!ns) throw new Error('bench change: no staging namespace');
      const info = base.namespaces.find((n) => n.name === ns.name)!;
      const relabelled = ok(parseNamespace({ metadata: { name: ns.name, labels: { ...info.labels, env: 'prod' } } }));
      return { ...base, namespaces: base.namespaces.map((n) => (n === info ? relabelled : n)) };
    }
    default: {
      const never: never = name;
      throw new Error(`unknown change ${String(never)}`);
    }
  }
}
