// The printed report: one table per measurement, each figure next to its goal.
import { agentScaleSection, type AgentScaleResult } from './agent-scale.js';
import type { ApplyResult } from './apply.js';
import type { CompileChildResult, MemoryChildResult, ProfileChildResult, SoakChildResult } from './compile-child.js';
import type { LatencyResult } from './latency.js';
import { fmtMB, fmtMs, fmtNum, fmtRatio, fmtSpread, median, table } from './stats.js';
import { LOAD_UNIT, LOADS, VARIANTS, VARIANTS60, type Load, type Wire60Result, type WireResult } from './wire.js';

export interface BenchResult {
  meta: Record<string, unknown> & { date: string; quick: boolean; loadavgEnd?: number[]; seconds?: number };
  compile: CompileChildResult[];
  soak?: SoakChildResult;
  profile?: ProfileChildResult;
  memory: MemoryChildResult[];
  apply: ApplyResult[];
  wire?: WireResult;
  latency?: LatencyResult;
  agent?: AgentScaleResult[];
  notes: string[];
}

const goal = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? 'met' : 'MISSED');

function compileSection(r: BenchResult): string {
  if (!r.compile.length) return '';
  const rows = [['size', 'pods', 'policies', 'namespaces', 'local pods', 'compile (median)', 'CPU (median)', 'runs', 'peak heap', 'peak RSS', 'RSS before', 'engine state', 'full batch ops', 'batch JSON']];
  for (const c of r.compile) {
    rows.push([c.size, fmtNum(c.pods), fmtNum(c.policies), fmtNum(c.namespaces), fmtNum(c.localPods), fmtMs(median(c.compileMs)), fmtMs(median(c.compileCpuMs ?? [])), String(c.compileMs.length),
      fmtMB(c.heapPeakBytes), fmtMB(c.rssPeakBytes), fmtMB(c.rssBeforeBytes), fmtMB(c.cacheBytes), fmtNum(c.full.operations), fmtMB(c.full.jsonBytes)]);
  }
  const t = (s: string) => median(r.compile.find((c) => c.size === s)?.compileMs ?? []);
  const lines = [`## 1. Full compile for one node (${r.compile[0] ? 'node-00' : ''}, about 1/20 of the pods; 1/100 at XL)`, table(rows)];
  const cpu = (s: string) => median(r.compile.find((c) => c.size === s)?.compileCpuMs ?? []);
  if (Number.isFinite(t('L'))) lines.push(`scaling: time L / time M = ${fmtRatio(t('L') / t('M'))}, CPU time L / M = ${fmtRatio(cpu('L') / cpu('M'))} (5x the pods and policies; linear would be 5)`);
  if (Number.isFinite(t('XL')) && Number.isFinite(t('L'))) lines.push(`scaling: time XL / time L = ${fmtRatio(t('XL') / t('L'))} (3x the pods and policies over 5x the nodes: a node holds 1/100 of the pods at XL, 1/20 at L)`);
  lines.push('peak heap: largest V8 heap in use during the cold compiles (GC profiler); peak RSS: process maximum (getrusage) after them; RSS before: the generated cluster alone;');
  lines.push('engine state: heap retained by a policy engine holding the cluster (what the agent keeps between syncs).');
  const m = r.compile.find((c) => c.size === 'M');
  if (m) lines.push(`where the time goes at M (separately timed): every object into a fresh engine ${fmtMs(m.phases.eventsMs)}, the ruleset value out of it ${fmtMs(m.phases.rulesetMs)}`);
  if (r.profile) {
    lines.push(`CPU profile of one warm compile at ${r.profile.size} (${fmtMs(r.profile.totalMs)}), self time:`);
    lines.push(table([['function', 'self', 'share'], ...r.profile.hotspots.slice(0, 8).map((h) => [h.fn, fmtMs(h.selfMs), `${(h.share * 100).toFixed(0)}%`])]));
  }
  return lines.join('\n');
}

function soakSection(r: BenchResult): string {
  if (!r.soak) return '';
  const h = r.soak.heapAfterBytes;
  const growth = h.length > 1 ? (h[h.length - 1]! - h[1]!) / h[1]! : 0;
  return [
    `## 2b. Soak: ${fmtNum(r.soak.changes)} single-pod changes at ${r.soak.size} on one engine, each a committed delta`,
    table([['after changes', ...h.map((_, i) => fmtNum(i * 1000))], ['heap in use', ...h.map((b) => fmtMB(b))]]),
    `heap growth from 1,000 to ${fmtNum(r.soak.changes)} changes: ${(growth * 100).toFixed(1)}% (goal: flat, ${goal(growth < 0.05)}); first transactions: ${r.soak.operations.join(', ')} ops`,
  ].join('\n');
}

function incrementalSection(r: BenchResult): string {
  const incr = r.compile.filter((c) => c.changes.length);
  if (!incr.length) return '';
  const head = ['change'];
  for (const c of incr) head.push(`${c.size} ops`, `${c.size} compile+diff`, `${c.size} (diff)`, `${c.size} /full`, `${c.size} cold`, `${c.size} apply`);
  head.push('ops same at M and L', 'time <= full/50', 'ops: elements in sets / rules / other');
  const rows = [head];
  for (const [i, ch] of incr[0]!.changes.entries()) {
    const row = [ch.name];
    const ratios: number[] = [], ops: number[] = [];
    for (const c of incr) {
      const x = c.changes[i]!;
      const full = median(c.compileMs);
      const ap = r.apply.find((a) => a.size === c.size)?.changes[i];
      ratios.push(median(x.totalMs) / full);
      ops.push(x.operations);
      row.push(fmtNum(x.operations), fmtMs(median(x.totalMs)), fmtMs(median(x.diffMs)), fmtRatio(median(x.totalMs) / full), x.coldTotalMs.length ? fmtMs(median(x.coldTotalMs)) : '≈ full', ap ? (ap.error ? 'FAILED' : fmtMs(median(ap.ms))) : '—');
    }
    // "The same": within 1.5x of each other (a pod's group may hold one set more or less).
    row.push(incr.length > 1 ? goal(Math.max(...ops) <= 1.5 * Math.min(...ops)) + ` (${ops.join(' / ')})` : '—', goal(ratios.every((x) => x <= 1 / 50)),
      incr.map((c) => { const b = c.changes[i]!.breakdown; return `${b.elements} in ${b.containers} / ${b.rules} / ${b.other}`; }).join('; '));
    rows.push(row);
  }
  return [
    '## 2. Incremental change: compile + diff, transaction size',
    table(rows),
    'ops: batchOperations of the engine\'s delta batch (the forward chain re-stamped, a flush and its 15 rules, is 16 of them); compile+diff: the change\'s events applied to a long-lived engine + its delta batch (the delta part in brackets), median;',
    '/full: that over the full compile of the same size (goal <= 0.02); apply: the batch through nft in a namespace;',
    'ops same at M and L: met when within 1.5x of each other.',
  ].join('\n');
}

function applySection(r: BenchResult): string {
  if (!r.apply.length) return '';
  const rows = [['size', 'full apply (median)', 'runs', 'incremental apply (median of changes)', 'incremental / full', 'failed batches']];
  for (const a of r.apply) {
    const inc = a.changes.filter((c) => c.ms.length).map((c) => median(c.ms));
    rows.push([a.size, fmtMs(median(a.fullMs)), String(a.fullMs.length), fmtMs(median(inc)), fmtRatio(median(a.ratios.filter(Number.isFinite))), String(a.changes.filter((c) => c.error).length)]);
  }
  const errors = r.apply.flatMap((a) => a.changes.filter((c) => c.error).map((c) => `  ${a.size} ${c.name}: ${c.error}`));
  return ['## 3. Kernel apply (`nft -j -f`, in a network namespace, process start included)', table(rows), ...(errors.length ? ['failed batches:', ...errors] : [])].join('\n');
}

function wireSection(w: WireResult | undefined): string {
  if (!w) return '';
  const fmt = (l: Load, x: number) => (l === 'stream' ? fmtNum(x, 1) : fmtNum(x));
  const rows = [['load', ...VARIANTS, 'ours / conntrack', 'ours-noguard / conntrack', 'ours / ours-noguard (guard)', 'ours-counters / ours (counters)', 'goal >= 0.95']];
  for (const l of LOADS) {
    rows.push([`${l} (${LOAD_UNIT[l]})`, ...VARIANTS.map((v) => fmt(l, median(w.raw[v][l].filter(Number.isFinite)))),
      fmtSpread(w.ratioToConntrack.ours[l]), fmtSpread(w.ratioToConntrack['ours-noguard'][l]), fmtSpread(w.guardCost[l]), fmtSpread(w.countersCost[l]),
      goal(w.ratioToConntrack.ours[l].median >= 0.95)]);
  }
  const rc = w.ruleCounterCheck;
  return [
    `## 4. Per-packet cost on the wire (M ruleset; client selected by ${w.clientEgressPolicies} egress policies, server by ${w.serverIngressPolicies} ingress policies)`,
    table(rows),
    `${w.rounds} rounds; in each, for each load, every table in turn for ${w.seconds} s (order rotating by round); figures are medians over rounds; ratios: median (quartiles; min–max) of same-round ratios.`,
    `load generators at nice -20, pinned: ${w.pinned ? `client side on CPU ${w.pinned.client}, servers on CPU ${w.pinned.server}` : 'no (one CPU)'}; load average ${w.loadavg.start.join(' ')} at start, ${w.loadavg.end.join(' ')} at end.`,
    'crr: new TCP connections per second (connect, 1-byte request and reply, close; 4 workers); stream: one TCP stream (iperf3); udp: 64-byte datagrams received per second (2 senders).',
    `ours: what \`netpol-nft run\` loads with no flags (stamp 0x${w.ours.stamp.toString(16)}, drop log ${w.ours.dropLog}, anti-spoofing on, pod CIDR ${w.ours.podCidrs.join(', ')}, rule counters off); ours-counters: with --policy-rule-counters; ours-noguard: --no-anti-spoofing and no pod CIDR. The goal applies to ours. A port no policy allows is dropped by ours: ${w.disallowedPortDropped ? 'yes' : 'NO'}.`,
    ...(rc ? [`rule counters count connections: one crr run made ${fmtNum(rc.connections)} connections (${fmtNum(rc.failed)} failed); the server's ingress rule counters counted ${fmtNum(rc.ingress)}, the client's egress rule counters ${fmtNum(rc.egress)}.`] : []),
    ...(w.errors.length ? ['errors:', ...w.errors.map((e) => `  ${e}`)] : []),
    ...(w.pair60 ? ['', wire60Section(w.pair60, w)] : []),
  ].join('\n');
}

function wire60Section(p: Wire60Result, w: WireResult): string {
  const fmt = (l: Load, x: number) => (l === 'stream' ? fmtNum(x, 1) : fmtNum(x));
  const rows = [['load', ...VARIANTS60, 'ours / conntrack', 'goal >= 0.95']];
  for (const l of LOADS) {
    rows.push([`${l} (${LOAD_UNIT[l]})`, ...VARIANTS60.map((v) => fmt(l, median(p.raw[v][l].filter(Number.isFinite)))),
      fmtSpread(p.ratioToConntrack.ours[l]), goal(p.ratioToConntrack.ours[l].median >= 0.95)]);
  }
  const rc = p.ruleCounterCheck;
  return [
    `### 4b. The pair selected by 60 policies (client by ${p.clientEgressPolicies} egress policies, server by ${p.serverIngressPolicies} ingress policies; only the last policy of the group chain allows the traffic)`,
    table(rows),
    `same rounds as above (${w.rounds} rounds of ${w.seconds} s per table and load), measured right after the first pair in each round.`,
    `group chains in the loaded table: the allowing policy's rules come last in client egress ${p.chains.client} and server ingress ${p.chains.server}, after ${p.chains.clientRulesBefore} and ${p.chains.serverRulesBefore} rules (the distinct matches of the other policies: rules from ${p.chains.clientPolicies} and ${p.chains.serverPolicies} policies remain, the others' rules repeat an earlier match and are left out).`,
    `rule counters (ours-counters, one crr run): ${fmtNum(rc.connections)} connections (${fmtNum(rc.failed)} failed); the allowing policy's ingress rule counted ${fmtNum(rc.allowIngress)}, its egress rule ${fmtNum(rc.allowEgress)}; the other policies' rules ${fmtNum(rc.othersMatched)}. A port no policy allows is dropped by ours: ${p.disallowedPortDropped ? 'yes' : 'NO'}.`,
  ].join('\n');
}

function latencySection(l: LatencyResult | undefined): string {
  if (!l) return '';
  if (!l.measured) return `## 5. Event to enforcement\nnot measured: ${l.reason}`;
  const rows = [['size', 'churn (pod events/s)', 'events', 'enforced', 'final = compile', 'p50', 'p99', 'max', 'longest stall', 'syncs (full, failed)', 'ops per sync', 'sync: compile+diff', 'sync: nft apply', 'sync: after apply']];
  for (const x of l.rates) {
    rows.push([x.size ?? 'M', fmtNum(x.rate), fmtNum(x.events), fmtNum(x.enforced), x.finalMatchesCompile === undefined ? '?' : x.finalMatchesCompile ? 'yes' : 'NO', fmtMs(x.p50Ms), fmtMs(x.p99Ms), fmtMs(x.maxMs), x.longestStallMs === undefined ? '?' : fmtMs(x.longestStallMs), `${x.syncs} (${x.fullSyncs}, ${x.failedSyncs})`, fmtNum(x.opsPerSync),
      fmtMs(x.syncParts.compileDiffMs), fmtMs(x.syncParts.applyMs), fmtMs(x.syncParts.afterApplyMs)]);
  }
  return ['## 5. Event to enforcement (the agent in-process, pod churn; goals: p99 <= 100 ms at 100 events/s at M and L, <= 250 ms at 1,000/s at L, every event enforced)', table(rows), l.method, 'sync parts: medians over syncs that applied a batch; after apply = the agent\'s verification listing and bookkeeping.'].join('\n');
}

function memorySection(m: readonly MemoryChildResult[]): string {
  if (!m.length) return '';
  const rows = [['size', 'pods', 'policies', 'watch caches: per pod', 'per policy', 'total', 'slim Cluster: per pod', 'per policy', 'total']];
  for (const x of m) {
    rows.push([x.size, fmtNum(x.pods), fmtNum(x.policies),
      `${fmtNum(x.store.bytesPerPod)} B`, `${fmtNum(x.store.bytesPerPolicy)} B`, fmtMB(x.store.podBytes + x.store.policyBytes),
      `${fmtNum(x.slim.bytesPerPod)} B`, `${fmtNum(x.slim.bytesPerPolicy)} B`, fmtMB(x.slim.podBytes + x.slim.policyBytes)]);
  }
  return ['## 6. Memory held per object (V8 heap retained, gc() before and after)', table(rows),
    'watch caches: the agent\'s SlimStore per kind filled through slimParsers (with the Interner), as controller/kube-source.ts keeps them;',
    'slim Cluster: the compiler\'s Cluster from clusterFromObjects. Per pod includes the namespaces (a few hundred); neither counts the compiled ruleset.'].join('\n');
}

export function report(r: BenchResult): string {
  const m = r.meta;
  const head = [
    `# netpol-nft bench ${m.quick ? '(quick) ' : ''}— ${m.date}`,
    `machine: ${m.cpus} CPU (${m.cpuModel}), kernel ${m.kernel}, node ${m.node}, ${m.nft ?? 'nft ?'}; commit ${m.commit ?? '?'}; load average at start ${(m.loadavgStart as number[]).join(' ')}, at end ${m.loadavgEnd?.join(' ') ?? '?'}; ${m.seconds ?? '?'} s`,
    'a small shared machine: other work may run during the bench (see the load average); figures are medians, ratios are taken within a round.',
    ...r.notes.map((n) => `note: ${n}`),
  ].join('\n');
  return [head, compileSection(r), incrementalSection(r), soakSection(r), applySection(r), wireSection(r.wire), latencySection(r.latency), agentScaleSection(r.agent), memorySection(r.memory)].filter(Boolean).join('\n\n') + '\n';
}
