// `netpol-nft matrix` and the cluster sources `explain` and `matrix` share: a folder of
// manifests (--cluster) or the live cluster, listed once, read-only (--kubeconfig, or the
// current kubeconfig context when neither is given, as a kubectl plugin does).
import { parseArgs } from 'node:util';
import { formatProblem, sortCluster, type Cluster, type Problem, type Protocol } from '../compiler/index.js';
import { buildMatrix, MatrixError, type GroupBy } from '../compiler/matrix.js';
import { matrixHtml } from '../compiler/matrix-html.js';
import { matrixJson, matrixText, whatIf, whatIfJson, whatIfText } from '../compiler/matrix-output.js';
import type { NodeInfo } from '../compiler/nodes.js';
import { loadKubeConfig } from './kube-source.js';
import { listCluster, ListError } from './kube-list.js';
import { loadCluster, LoadError } from './load.js';

export class CliUsageError extends Error {}

export interface LoadedState {
  readonly cluster: Cluster;
  readonly problems: readonly Problem[];
  readonly nodes: readonly NodeInfo[];
}

/** --cluster FILE|DIR, else the API through --kubeconfig or the default configuration. */
export async function loadState(values: { cluster?: string; kubeconfig?: string }): Promise<LoadedState> {
  if (values.cluster) {
    if (values.kubeconfig) throw new CliUsageError('--cluster and --kubeconfig: give one of them');
    return loadCluster(values.cluster);
  }
  let kc;
  try {
    kc = loadKubeConfig({ kubeconfig: values.kubeconfig });
  } catch (e) {
    throw new LoadError(`${(e as Error).message} (or give --cluster FILE|DIR)`);
  }
  try {
    return await listCluster(kc, { warn: (m) => process.stderr.write(`netpol-nft: ${m}\n`) });
  } catch (e) {
    if (e instanceof ListError) throw new LoadError(`${kc.getCurrentCluster()?.server ?? 'the API server'}: ${e.message}`);
    throw e;
  }
}

/** `80`, `80/tcp`, `53/UDP`; several separated by commas. */
export function parsePorts(specs: readonly string[]): { protocol: Protocol; port: number }[] {
  return specs.flatMap((s) => s.split(',')).map((s) => {
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(s.trim());
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new CliUsageError(`--port ${s}: N or N/PROTO (tcp, udp, sctp), N from 1 to 65535`);
    return { port: Number(m[1]), protocol: (m[2] ?? 'tcp').toUpperCase() as Protocol };
  });
}

export function parseFamily(s: string | undefined): 4 | 6 | undefined {
  if (s === undefined) return undefined;
  if (s !== '4' && s !== '6') throw new CliUsageError(`--family ${s}: 4 or 6`);
  return Number(s) as 4 | 6;
}

/** The state after `kubectl apply -f` of the --with files (NetworkPolicies,
 *  ClusterNetworkPolicies, Namespaces) and `kubectl delete` of the --without policies
 *  (NAMESPACE/NAME a NetworkPolicy, a bare NAME a ClusterNetworkPolicy: it has no namespace). */
function applyWhatIf(base: Cluster, withFiles: readonly string[], without: readonly string[], problems: Problem[]): Cluster {
  const key = (o: { namespace?: string; name: string }) => `${o.namespace ?? ''}/${o.name}`;
  const ns = new Map(base.namespaces.map((o) => [key(o), o]));
  const pols = new Map(base.policies.map((o) => [key(o), o]));
  const cnps = new Map((base.clusterPolicies ?? []).map((o) => [o.name, o]));
  for (const f of withFiles) {
    const l = loadCluster(f);
    problems.push(...l.problems);
    // The two matrices are compared row by row: the pods are the cluster's, in both.
    const p = l.cluster.pods[0];
    if (p) throw new LoadError(`--with ${f}: pod ${p.namespace}/${p.name}: a what-if changes policies and namespace labels, not pods`);
    if (!l.cluster.policies.length && !l.cluster.namespaces.length && !l.cluster.clusterPolicies?.length) throw new LoadError(`--with ${f}: no NetworkPolicy, ClusterNetworkPolicy or Namespace in it`);
    for (const o of l.cluster.namespaces) ns.set(key(o), o);
    for (const o of l.cluster.policies) pols.set(key(o), o);
    for (const o of l.cluster.clusterPolicies ?? []) cnps.set(o.name, o);
  }
  for (const w of without) {
    if (/^[^/]+$/.test(w)) {
      if (!cnps.delete(w)) throw new LoadError(`--without ${w}: clusternetworkpolicy ${w} is not in the cluster state`);
      continue;
    }
    if (!/^[^/]+\/[^/]+$/.test(w)) throw new CliUsageError(`--without ${w}: NAMESPACE/NAME of a NetworkPolicy, or NAME of a ClusterNetworkPolicy`);
    if (!pols.delete(w)) throw new LoadError(`--without ${w}: networkpolicy ${w} is not in the cluster state`);
  }
  return sortCluster({
    namespaces: [...ns.values()], pods: base.pods, policies: [...pols.values()],
    ...(cnps.size ? { clusterPolicies: [...cnps.values()] } : {}),
    ...(base.nodes ? { nodes: base.nodes } : {}),
  });
}

export const MATRIX_USAGE = `  netpol-nft matrix  [--cluster FILE|DIR | --kubeconfig FILE] [--by workload|pod|namespace]
                     [--namespace NS]... [--port N[/PROTO]]... [--family 4|6] [--output text|json|html]
                     [--with FILE]... [--without NS/NAME|CNP-NAME]...   (what-if: exit 3 when a verdict changes)`;

/** Each problem once, on stderr, naming the object and field. */
function report(problems: readonly Problem[]): void {
  for (const line of new Set(problems.map(formatProblem))) process.stderr.write(`netpol-nft: ${line}\n`);
}

export async function matrixCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      cluster: { type: 'string' }, kubeconfig: { type: 'string' },
      by: { type: 'string', default: 'workload' }, namespace: { type: 'string', multiple: true }, port: { type: 'string', multiple: true },
      family: { type: 'string' }, output: { type: 'string', default: 'text' },
      with: { type: 'string', multiple: true }, without: { type: 'string', multiple: true },
    },
  });
  if (!['workload', 'pod', 'namespace'].includes(values.by)) throw new CliUsageError(`--by ${values.by}: workload, pod or namespace`);
  if (!['text', 'json', 'html'].includes(values.output)) throw new CliUsageError(`--output ${values.output}: text, json or html`);
  const opts = {
    by: values.by as GroupBy,
    ...(values.namespace ? { namespaces: values.namespace.flatMap((n) => n.split(',')) } : {}),
    ...(values.port ? { ports: parsePorts(values.port) } : {}),
    ...(values.family ? { family: parseFamily(values.family) } : {}),
  };
  const state = await loadState(values);
  const problems = [...state.problems];
  const known = new Set([...state.cluster.namespaces.map((n) => n.name), ...state.cluster.pods.map((p) => p.namespace)]);
  for (const n of opts.namespaces ?? []) if (!known.has(n)) throw new LoadError(`--namespace ${n}: namespace ${n} is not in the cluster state`);
  const what = values.with?.length || values.without?.length;
  try {
    if (what) {
      const after = applyWhatIf(state.cluster, values.with ?? [], values.without ?? [], problems);
      const w = whatIf(state.cluster, after, opts, state.nodes);
      report([...problems, ...w.before.index.problems, ...w.after.index.problems]);
      process.stdout.write(values.output === 'json' ? JSON.stringify(whatIfJson(w), null, 1) + '\n' : values.output === 'html' ? matrixHtml(w.after, { nodes: state.nodes, changes: w.changes }) : whatIfText(w));
      return w.changes.length ? 3 : 0;
    }
    const m = buildMatrix(state.cluster, opts);
    // Invalid policies are named, and enforced fail-closed in the matrix as in the ruleset.
    report([...problems, ...m.index.problems]);
    process.stdout.write(values.output === 'json' ? JSON.stringify(matrixJson(m)) + '\n' : values.output === 'html' ? matrixHtml(m, { nodes: state.nodes }) : matrixText(m));
    return 0;
  } catch (e) {
    if (e instanceof MatrixError) throw new LoadError(e.message);
    throw e;
  }
}
