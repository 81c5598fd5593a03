// `npm run bench -- --only tiers`: the M cluster with 100 ClusterNetworkPolicies on top
// (bench/generate.ts clusterPolicies: 60 Admin, 40 Baseline, and the Nodes their `nodes` peers
// read). In a child process of its own (so that the heap is this cluster's): compile time and
// peak heap for BENCH_NODE, the full transaction, and the transactions of changes a platform
// team makes (a priority changed in place, a policy's rules reordered, a policy added and
// removed, a pod joining a peer that cluster policies read), each on one long-lived engine as
// the agent keeps it. The wire part (run.ts) then measures the per-packet cost with this
// ruleset through bench/wire.ts, for the wire pair whose connection walks the Admin tier
// (rules that do not match, then its team's Pass) before its NetworkPolicies decide.
import v8 from 'node:v8';
import { batchJson, batchOperations, compile, engineFor, explain, fullBatch, type Cluster } from '../compiler/index.js';
import { BENCH_NODE, generateCluster, SIZES, WIRE_PAIR } from './generate.js';
import { fmtSpread, median, ms, repeat } from './stats.js';
import type { WireResult } from './wire.js';

export const BENCH_CLUSTER_POLICIES = 100;

export interface TiersBenchResult {
  readonly pods: number;
  readonly policies: number;
  readonly clusterPolicies: { readonly admin: number; readonly baseline: number };
  readonly compileMs: number[];
  readonly heapPeakBytes: number;
  /** The same cluster without its cluster policies, compiled in the same process (for scale). */
  readonly compileWithoutMs: number[];
  readonly full: { readonly operations: number; readonly jsonBytes: number; readonly chains: number; readonly rules: number };
  readonly fullWithout: { readonly operations: number; readonly chains: number; readonly rules: number };
  readonly changes: readonly { readonly name: string; readonly operations: number; readonly ms: number }[];
  /** What `explain` says of the wire pair's connection, side by side: the tier walk. */
  readonly pairWalk: { readonly egress: readonly string[]; readonly ingress: readonly string[] };
}

const gc = (globalThis as { gc?: () => void }).gc;

export function measureTiers(): TiersBenchResult {
  const { cluster } = generateCluster(SIZES.M, { wirePair: true, clusterPolicies: BENCH_CLUSTER_POLICIES });
  const cnps = cluster.clusterPolicies ?? [];
  const without: Cluster = { ...cluster, clusterPolicies: undefined };
  gc?.();
  const prof = new v8.GCProfiler();
  prof.start();
  const full = repeat(() => compile(cluster, { node: BENCH_NODE }), 3, 7, 8000);
  const stats = prof.stop() as { statistics: { beforeGC: { heapStatistics: { usedHeapSize: number } } }[] };
  const heapPeakBytes = Math.max(process.memoryUsage().heapUsed, ...stats.statistics.map((s) => s.beforeGC.heapStatistics.usedHeapSize));
  const plain = repeat(() => compile(without, { node: BENCH_NODE }), 3, 7, 8000);
  const rules = (r: typeof full.last) => r.ruleset.chains.reduce((n, c) => n + c.rules.length, 0);
  const fb = fullBatch(full.last.ruleset);

  // Changes on one engine: each applied, its delta timed and measured, committed, then walked
  // back (untimed) so that every change starts from the same state.
  const engine = engineFor(cluster, { node: BENCH_NODE });
  let gen = 1;
  engine.fullBatch(gen);
  engine.commit();
  const step = (next: Cluster) => {
    const t = process.hrtime.bigint();
    for (const ev of [...engine.reconcileEvents(next)]) engine.apply(ev);
    const b = engine.deltaBatch(++gen);
    const took = ms(process.hrtime.bigint() - t);
    engine.commit();
    return { operations: b ? batchOperations(b) : 0, ms: took };
  };
  const spec = (i: number) => cnps[i]!.spec as Record<string, unknown>;
  const withCnp = (i: number, s: Record<string, unknown>): Cluster => ({ ...cluster, clusterPolicies: cnps.map((c, k) => (k === i ? { ...c, spec: s } : c)) });
  // The wire pair's team policy (admin-3-team-000-decides): its priority, then its rule order.
  const pairPolicy = cnps.findIndex((c) => c.name.includes('team-000-decides'));
  const changes: { name: string; operations: number; ms: number }[] = [];
  const change = (name: string, next: Cluster) => {
    const runs = [step(next), step(cluster), step(next), step(cluster), step(next)];
    step(cluster);
    changes.push({ name, operations: runs[0]!.operations, ms: median(runs.filter((_, i) => i % 2 === 0).map((r) => r.ms)) });
  };
  change('an Admin policy\'s priority changed in place (moves past 2 others)', withCnp(pairPolicy, { ...spec(pairPolicy), priority: (spec(pairPolicy).priority as number) + 20 }));
  change('an Admin policy\'s ingress rules reordered', withCnp(pairPolicy, { ...spec(pairPolicy), ingress: [...(spec(pairPolicy).ingress as unknown[])].reverse() }));
  change('a Baseline policy removed', { ...cluster, clusterPolicies: cnps.filter((c) => !c.name.startsWith('baseline-60-')) });
  const pod = cluster.pods.find((p) => p.namespace === WIRE_PAIR.namespace && p.nodeName === BENCH_NODE && p.name !== WIRE_PAIR.client.name && p.name !== WIRE_PAIR.server.name)
    ?? cluster.pods.find((p) => p.namespace === WIRE_PAIR.namespace)!;
  change('a pod joining the peers cluster policies read (a new pod in team-000-prod)', { ...cluster, pods: [...cluster.pods, { ...pod, name: `${pod.name}-new`, ips: ['10.127.255.1'] }] });

  const e = explain(cluster, `${WIRE_PAIR.namespace}/${WIRE_PAIR.client.name}`, `${WIRE_PAIR.namespace}/${WIRE_PAIR.server.name}`, WIRE_PAIR.crrPort, 'TCP');
  if (!e.allowed || e.egress.decidedBy !== 'NetworkPolicy' || !e.egress.tiers?.[0]?.startsWith('Admin: Pass')) throw new Error(`the wire pair does not walk the tiers as intended:\n${[...(e.egress.tiers ?? []), ...(e.ingress.tiers ?? [])].join('\n')}`);
  return {
    pods: cluster.pods.length, policies: cluster.policies.length,
    clusterPolicies: { admin: cnps.filter((c) => (c.spec as { tier?: string }).tier === 'Admin').length, baseline: cnps.filter((c) => (c.spec as { tier?: string }).tier === 'Baseline').length },
    compileMs: full.times, heapPeakBytes, compileWithoutMs: plain.times,
    full: { operations: batchOperations(fb), jsonBytes: batchJson(fb).length, chains: full.last.ruleset.chains.length, rules: rules(full.last) },
    fullWithout: { operations: batchOperations(fullBatch(plain.last.ruleset)), chains: plain.last.ruleset.chains.length, rules: rules(plain.last) },
    changes,
    pairWalk: { egress: e.egress.tiers ?? [], ingress: e.ingress.tiers ?? [] },
  };
}

export function tiersSection(r: TiersBenchResult, wire?: WireResult): string {
  const s = (x: number) => `${(x / 1000).toFixed(2)} s`;
  const lines = [
    `## M + ${r.clusterPolicies.admin + r.clusterPolicies.baseline} ClusterNetworkPolicies (${r.clusterPolicies.admin} Admin, ${r.clusterPolicies.baseline} Baseline): ${r.pods} pods, ${r.policies} NetworkPolicies`,
    `compile ${BENCH_NODE}: ${s(median(r.compileMs))} (without the cluster policies ${s(median(r.compileWithoutMs))}), peak heap ${(r.heapPeakBytes / 2 ** 20).toFixed(0)} MiB`,
    `full transaction: ${r.full.operations} operations, ${(r.full.jsonBytes / 1e6).toFixed(1)} MB, ${r.full.chains} chains, ${r.full.rules} rules (without: ${r.fullWithout.operations} operations, ${r.fullWithout.chains} chains, ${r.fullWithout.rules} rules)`,
    ...r.changes.map((c) => `  ${c.name}: ${c.operations} operations, ${c.ms.toFixed(1)} ms`),
    `wire pair: egress ${r.pairWalk.egress.join(' / ')}; ingress ${r.pairWalk.ingress.join(' / ')}`,
  ];
  if (wire) {
    for (const v of ['ours', 'ours-counters', 'ours-noguard'] as const) lines.push(`per packet, ${v} / conntrack only, median (quartiles; min–max) of ${wire.rounds} same-round ratios: new TCP connections ${fmtSpread(wire.ratioToConntrack[v].crr)}, TCP stream ${fmtSpread(wire.ratioToConntrack[v].stream)}, 64-byte UDP ${fmtSpread(wire.ratioToConntrack[v].udp)}`);
    lines.push(`(load average ${wire.loadavg.start.join(' ')} at start, ${wire.loadavg.end.join(' ')} at end${wire.errors.length ? `; errors: ${wire.errors.join('; ')}` : ''})`);
  }
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('tiers.ts') && process.argv[2] === 'compile') {
  process.stdout.write(`##RESULT ${JSON.stringify(measureTiers())}\n`);
}
