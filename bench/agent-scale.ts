// The agent at scale, as a scraper and a kubelet see it (issue "the agent answers at scale"):
// the real agent in-process (controller/run.ts startAgent, real nft in a network namespace
// the benchmark owns), the cluster held by an in-memory source as a watch cache would hold it.
//
//   node --import tsx --expose-gc bench/agent-scale.ts SIZE NETNS
//
// Runs in its own process per size (bench/run.ts), so that RSS belongs to one size. Prints one
// line `##RESULT <json>`. What it measures:
//  - the longest event-loop stall (perf_hooks.monitorEventLoopDelay) during the first (full)
//    sync, and during pod churn at 100 events/s;
//  - /metrics latency, median and max over 20 scrapes made during that churn by a client on
//    another thread (as Prometheus is another process: the agent's busy loop must not delay
//    the clock that measures it), the series per scrape, and the drop series per pod and per
//    namespace;
//  - RSS (and V8 heap) after the first sync and after 1,000 single-pod changes, each after a
//    full GC;
//  - where each stall over 50 ms came from (bench/stalls.ts): run-queue wait, GC pauses, the
//    agent's named synchronous spans, other code; beside a baseline: this process idle for
//    IDLE_SECONDS before the agent starts, and an idle process running beside each phase;
//  - one read of the drop counters: `nft -j reset counters` (what the agent does) against
//    `nft -j list counters` (what it did before), on the same table in the same run.
import { ConntrackCli } from '../controller/generation.js';
import { spawn, spawnSync } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { sortCluster, type Cluster, type PodInfo, type Problem } from '../compiler/index.js';
import { parseConfig } from '../controller/config.js';
import { NftCli } from '../controller/nft.js';
import { startAgent } from '../controller/run.js';
import type { ClusterSource, SourceEvent, SourceHooks } from '../controller/source.js';
import { BENCH_NODE, generateCluster, SIZES, syntheticIp, WIRE_PAIR, type SizeName } from './generate.js';
import { fmtMB, fmtMs, fmtNum, fmtRatio, median, table } from './stats.js';
import { IDLE_PROBE, StallProbe, STALL_MS, type IdleProbeResult, type PhaseStalls } from './stalls.js';

export interface AgentScaleResult {
  size: SizeName;
  localPods: number;
  firstSyncMs: number;
  /** Longest event-loop stall, ms. */
  stallFullSyncMs: number;
  stallChurnMs: number;
  scrapeMs: number[];
  scrapeFailures: number;
  /** Status (or error) of each failed scrape. */
  scrapeErrors: string[];
  /** Scrapes answered from the last page because the main thread was busy. */
  scrapesStale: number;
  seriesPerScrape: number;
  dropSeries: { byPod: number; byNamespace: number };
  churnEvents: number;
  churnSeconds: number;
  rssAfterFirstSync: number;
  rssAfterChurn: number;
  heapAfterFirstSync: number;
  heapAfterChurn: number;
  /** process.memoryUsage() at both moments (after a full GC), and V8's spaces (committed). */
  memory: { afterFirstSync: NodeJS.MemoryUsage & { spaces: Record<string, number> }; afterChurn: NodeJS.MemoryUsage & { spaces: Record<string, number> } };
  /** Median of 3 runs each, same table, same run. */
  counterReadMs: { reset: number; list: number };
  /** The agent's own histogram (netpol_nft_drop_counters_read_duration_seconds), mean: wall
   *  time on its event loop, so it includes waiting for a busy loop, not only nft. */
  agentCounterReadMs: number;
  /** Stall attribution per phase: idle (before the agent starts), first sync, churn. */
  stalls: (PhaseStalls & { idleBeside?: IdleProbeResult })[];
}

const IDLE_SECONDS = 10;

/** An idle process beside the agent, for one phase (see IDLE_PROBE). */
function idleBeside(): { stop: () => Promise<IdleProbeResult | undefined> } {
  const child = spawn(process.execPath, ['-e', IDLE_PROBE], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  return {
    stop: async () => {
      child.stdin.end();
      await exited;
      try {
        return JSON.parse(out) as IdleProbeResult;
      } catch {
        return undefined;
      }
    },
  };
}

const CHURN_RATE = 100;
const CHURN_EVENTS = 1000;
const SCRAPES = 20;

const memory = () => ({ ...process.memoryUsage(), spaces: Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.physical_space_size])) });

const gc = (globalThis as { gc?: () => void }).gc;
const fullGc = () => { gc?.(); gc?.(); };

/** Churn events on another thread, on time whatever the agent's loop does (see latency.ts). */
const TICKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { rate, count } = workerData;
let t0 = 0;
let seq = 0;
parentPort.once('message', () => { t0 = performance.now(); tick(); });
const tick = () => {
  const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * rate));
  while (seq < due) { seq++; parentPort.postMessage(seq); }
  if (seq >= count) { parentPort.postMessage('done'); return; }
  setTimeout(tick, 2);
};
`;

/** Scrapes /metrics `count` times, one every `everyMs`, timing each on this thread. */
const SCRAPER = `
const { parentPort, workerData } = require('node:worker_threads');
const { count, everyMs } = workerData;
parentPort.once('message', async (url) => {
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    try {
      const r = await fetch(url);
      const body = await r.text();
      const ms = performance.now() - t;
      const lines = body.split('\\n');
      parentPort.postMessage({ ms, status: r.status, stale: r.headers.has('x-netpol-nft-stale-seconds'),
        series: lines.filter((l) => l && !l.startsWith('#')).length,
        drops: lines.filter((l) => l.startsWith('netpol_nft_dropped_packets_total{')).map((l) => l.slice(0, l.lastIndexOf('}') + 1)) });
    } catch (e) {
      parentPort.postMessage({ ms: performance.now() - t, status: 0, error: String(e) });
    }
    await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (performance.now() - t))));
  }
  parentPort.postMessage('done'); // the receiver ends this thread (fetch's keep-alive sockets would keep it alive)
});
`;

interface Scrape { ms: number; status: number; stale?: boolean; series?: number; drops?: string[]; error?: string }

class MemorySource implements ClusterSource {
  private hooks: SourceHooks | undefined;
  readonly churn = new Map<string, PodInfo>();
  constructor(private readonly base: Cluster) {}
  async start(hooks: SourceHooks): Promise<void> { this.hooks = hooks; }
  synced(): boolean { return true; }
  snapshot(): { cluster: Cluster; problems: Problem[] } {
    return { cluster: sortCluster({ ...this.base, pods: [...this.base.pods, ...this.churn.values()] }), problems: [] };
  }
  /** As the Kubernetes source: the objects in no order, for the agent's reconcile. */
  unsortedSnapshot(): { cluster: Cluster; problems: Problem[] } {
    return { cluster: { ...this.base, pods: [...this.base.pods, ...this.churn.values()] }, problems: [] };
  }
  /** As the Kubernetes source: the problems alone, without building a snapshot. */
  problems(): Problem[] { return []; }
  async stop(): Promise<void> {}
  change(key: string, pod: PodInfo | undefined): void {
    const action = pod ? (this.churn.has(key) ? 'update' : 'add') : 'delete';
    const was = this.churn.get(key);
    if (pod) this.churn.set(key, pod);
    else this.churn.delete(key);
    const namespace = pod?.namespace ?? was!.namespace;
    // The object rides with the event, as the Kubernetes source delivers it: the agent applies
    // it to its engine at once (without it, every sync would reconcile the whole snapshot).
    this.hooks?.onChange({
      kind: 'pod', action, seenAt: Date.now(), object: `${namespace}/${key}`,
      change: pod ? { kind: 'pod', op: 'upsert', pod } : { kind: 'pod', op: 'delete', namespace, name: key },
    } satisfies SourceEvent);
  }
}

/** A churn pod: a prod backend or frontend (peers of rules on the bench node), a quarter of
 *  them local (so that local pods, their counters and their drop series come and go too). */
function churnPod(i: number, prodNs: readonly string[], tier: string): PodInfo {
  return {
    namespace: prodNs[i % prodNs.length]!, name: `churn-${i}`, nodeName: i % 4 === 0 ? BENCH_NODE : 'node-01',
    labels: { app: `churn-${i % 50}`, tier }, ips: [syntheticIp(2_000_000 + i)], phase: 'Running', hostNetwork: false,
    namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  };
}

function timeNft(netns: string, args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const r = spawnSync('ip', ['netns', 'exec', netns, 'nft', ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`nft ${args.join(' ')}: ${r.stderr}`);
    times.push(performance.now() - t);
  }
  return median(times);
}

const progress = (s: string) => process.stderr.write(`agent-scale: ${s}\n`);

export async function measureAgentScale(size: SizeName, netns: string): Promise<AgentScaleResult> {
  const { cluster, gen } = generateCluster(SIZES[size], { wirePair: true });
  (gen.objects as unknown[]).length = 0;
  const prodNs = gen.teamNamespaces.filter((n) => n.env === 'prod').map((n) => n.name).filter((n) => n !== WIRE_PAIR.namespace);
  const source = new MemorySource(cluster);
  const POOL = 400;
  for (let i = 0; i < POOL; i++) source.churn.set(`churn-${i}`, churnPod(i, prodNs, 'backend'));
  const config = parseConfig(['--source', 'unused', '--node', BENCH_NODE, '--metrics-address', '127.0.0.1:0'], {});
  if (config === 'help') throw new Error('unexpected help');

  // The client threads exist from the start (a thread's own memory is then part of both RSS
  // figures, not of the growth); they wait for a message to begin.
  const scrapes: Scrape[] = [];
  const scraperWorker = new Worker(SCRAPER, { eval: true, workerData: { count: SCRAPES, everyMs: (CHURN_EVENTS / CHURN_RATE) * 1000 / SCRAPES } });
  const scraper = new Promise<void>((resolve, reject) => {
    scraperWorker.on('message', (m: Scrape | 'done') => (m === 'done' ? void scraperWorker.terminate() : scrapes.push(m)));
    scraperWorker.on('error', reject);
    scraperWorker.on('exit', () => resolve());
  });
  let events = 0;
  let onTick: (seq: number) => void = () => {};
  const tickerWorker = new Worker(TICKER, { eval: true, workerData: { rate: CHURN_RATE, count: CHURN_EVENTS } });
  const ticker = new Promise<void>((resolve, reject) => {
    tickerWorker.on('message', (seq: number | 'done') => (seq === 'done' ? void tickerWorker.terminate() : onTick(seq)));
    tickerWorker.on('error', reject);
    tickerWorker.on('exit', () => resolve());
  });
  // The baseline: this process with nothing to do, and an idle process beside it.
  const probe = new StallProbe();
  const phases: AgentScaleResult['stalls'] = [];
  probe.start();
  let beside = idleBeside();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  phases.push({ ...probe.phase('idle (before the agent)'), idleBeside: await beside.stop() });
  beside = idleBeside();
  probe.reset();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  const h = await startAgent(config, { logger: pino({ level: 'silent' }), source, nft: new NftCli(['ip', 'netns', 'exec', netns, 'nft']), conntrack: new ConntrackCli(['ip', 'netns', 'exec', netns, 'conntrack']) });
  try {
    await h.started;
    await h.runner.idle();
    if (!h.agent.ready()) throw new Error('the first sync failed');
    const firstSyncMs = performance.now() - t0;
    progress(`${size}: first sync in ${Math.round(firstSyncMs)} ms; churn...`);
    const stallFullSyncMs = loop.max / 1e6;
    phases.push({ ...probe.phase('first sync'), idleBeside: await beside.stop() });
    // One scrape before the churn, as Prometheus has made many by then: the listener keeps
    // the last page, which it serves when the main thread is busy.
    for (let i = 0; ; i++) {
      const warm = await fetch(`http://127.0.0.1:${h.port}/metrics`);
      await warm.text();
      if (warm.status === 200) break;
      if (i === 5) throw new Error(`first scrape: ${warm.status}`);
    }
    fullGc();
    const afterFirst = memory();
    const localPods = h.agent.appliedRuleset() ? (await h.metrics.localPods.get()).values.reduce((n, v) => n + v.value, 0) : 0;

    // Churn: 1,000 single-pod changes at 100/s (relabel, then delete or re-create, in turn),
    // with 20 scrapes spread over it.
    loop.reset();
    beside = idleBeside();
    probe.reset();
    const present = new Set(source.churn.keys());
    const churnStart = performance.now();
    scraperWorker.postMessage(`http://127.0.0.1:${h.port}/metrics`);
    onTick = (seq) => {
      const i = (seq * 7) % POOL, key = `churn-${i}`;
      if (seq % 2 === 0 || !present.has(key)) {
        source.change(key, churnPod(i, prodNs, seq % 4 < 2 ? 'frontend' : 'backend'));
        present.add(key);
      } else {
        source.change(key, undefined);
        present.delete(key);
      }
      events++;
    };
    tickerWorker.postMessage('go');
    await Promise.all([ticker, scraper]);
    progress(`${size}: ${events} changes sent, waiting for the agent to apply them...`);
    await h.runner.idle();
    const churnSeconds = (performance.now() - churnStart) / 1000;
    const stallChurnMs = loop.max / 1e6;
    loop.disable();
    phases.push({ ...probe.phase('churn'), idleBeside: await beside.stop() });
    probe.stop();
    fullGc();
    const afterChurn = memory();

    const ok = scrapes.filter((s) => s.status === 200);
    const drops = ok.at(-1)?.drops ?? [];
    const byNamespace = new Set(drops.map((l) => `${/namespace="([^"]*)"/.exec(l)?.[1]}/${/direction="([^"]*)"/.exec(l)?.[1]}`)).size;
    const reads = (await h.metrics.dropCounterReads.get()).values as { metricName?: string; labels: Record<string, unknown>; value: number }[];
    const readSum = reads.filter((v) => v.metricName?.endsWith('_sum')).reduce((n, v) => n + v.value, 0);
    const readCount = reads.filter((v) => v.metricName?.endsWith('_count')).reduce((n, v) => n + v.value, 0);
    return {
      size, localPods, firstSyncMs, stallFullSyncMs, stallChurnMs,
      scrapeMs: ok.map((s) => s.ms), scrapeFailures: scrapes.length - ok.length, scrapeErrors: scrapes.filter((x) => x.status !== 200).map((x) => x.error ?? String(x.status)), scrapesStale: ok.filter((s) => s.stale).length,
      seriesPerScrape: median(ok.map((s) => s.series ?? 0)),
      dropSeries: { byPod: drops.length, byNamespace },
      churnEvents: events, churnSeconds,
      rssAfterFirstSync: afterFirst.rss, rssAfterChurn: afterChurn.rss, heapAfterFirstSync: afterFirst.heapUsed, heapAfterChurn: afterChurn.heapUsed,
      counterReadMs: { reset: timeNft(netns, ['-j', 'reset', 'counters', 'table', 'inet', 'netpol_nft']), list: timeNft(netns, ['-j', 'list', 'counters', 'table', 'inet', 'netpol_nft']) },
      agentCounterReadMs: readCount ? (readSum / readCount) * 1000 : NaN,
      stalls: phases,
      memory: { afterFirstSync: afterFirst, afterChurn },
    };
  } finally {
    probe.stop();
    await scraperWorker.terminate();
    await tickerWorker.terminate();
    await h.stop();
  }
}

export function agentScaleSection(rs: readonly AgentScaleResult[] | undefined, notes: readonly string[] = []): string {
  if (!rs?.length && !notes.length) return '';
  const goal = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const rows = [['size', 'local pods', 'first sync', 'longest stall: full sync / churn (goal <= 50 ms)', '/metrics median / max (goal <= 1 s at L)', 'stale / failed scrapes', 'series per scrape', 'drop series by pod / by namespace', 'RSS after first sync / after 1,000 changes (goal <= +10 %)', 'heap after', 'counter read: reset / list']];
  for (const r of rs ?? []) {
    const growth = r.rssAfterChurn / r.rssAfterFirstSync - 1;
    const maxScrape = Math.max(...r.scrapeMs);
    rows.push([
      r.size, fmtNum(r.localPods), fmtMs(r.firstSyncMs),
      `${fmtMs(r.stallFullSyncMs)} / ${fmtMs(r.stallChurnMs)} ${goal(Math.max(r.stallFullSyncMs, r.stallChurnMs) <= 50)}`,
      `${fmtMs(median(r.scrapeMs))} / ${fmtMs(maxScrape)}${r.size === 'L' ? ` ${goal(maxScrape <= 1000)}` : ''}`,
      `${r.scrapesStale} / ${r.scrapeFailures}`,
      fmtNum(r.seriesPerScrape), `${fmtNum(r.dropSeries.byPod)} / ${fmtNum(r.dropSeries.byNamespace)}`,
      `${fmtMB(r.rssAfterFirstSync)} / ${fmtMB(r.rssAfterChurn)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(0)} %) ${goal(growth <= 0.1)}`,
      `${fmtMB(r.heapAfterFirstSync)} → ${fmtMB(r.heapAfterChurn)}`,
      `${fmtMs(r.counterReadMs.reset)} / ${fmtMs(r.counterReadMs.list)} (${fmtRatio(r.counterReadMs.list / r.counterReadMs.reset)}x)`,
    ]);
  }
  return [
    '## The agent at scale: /metrics, event-loop stalls, memory under churn',
    table(rows),
    `Agent in-process with real nft; ${fmtNum(CHURN_EVENTS)} single-pod changes at ${CHURN_RATE} events/s, ${SCRAPES} scrapes of /metrics spread over them, timed by a client on another thread.`,
    'Stalls: perf_hooks.monitorEventLoopDelay max. RSS and heap after a full GC. Counter read: one `nft -j reset counters` (what the agent does) vs `nft -j list counters` on the same table, median of 3.',
    ...notes,
    memorySection(rs ?? []),
    stallSection(rs ?? []),
  ].join('\n');
}

const fmtStat = (k: string, s: { count: number; maxMs: number }) => `${k} ${s.count} (max ${fmtMs(s.maxMs)})`;
const top = <T>(m: Record<string, T>, by: (t: T) => number, n: number) => Object.entries(m).sort((a, b) => by(b[1]) - by(a[1])).slice(0, n);

/** What the RSS is made of: V8's heap (committed, by space), memory outside it that V8
 *  knows of (external: buffers, strings' backing stores), and the rest (code, threads' stacks
 *  and heaps of the worker threads — the listener's and this bench's two clients —, malloc). */
function memorySection(rs: readonly AgentScaleResult[]): string {
  const rows = [['size', 'moment', 'RSS', 'V8 heap committed (used)', 'of which new space', 'external (array buffers)', 'rest']];
  for (const r of rs) {
    if (!r.memory) continue;
    for (const [moment, m] of [['after first sync', r.memory.afterFirstSync], ['after 1,000 changes', r.memory.afterChurn]] as const) {
      rows.push([r.size, moment, fmtMB(m.rss), `${fmtMB(m.heapTotal)} (${fmtMB(m.heapUsed)})`, fmtMB(m.spaces.new_space ?? 0), `${fmtMB(m.external)} (${fmtMB(m.arrayBuffers)})`, fmtMB(m.rss - m.heapTotal - m.external)]);
    }
  }
  return rows.length > 1 ? ['', '### What the RSS is made of', table(rows)].join('\n') : '';
}

/** Where the stalls came from, per size and phase (bench/stalls.ts). */
function stallSection(rs: readonly AgentScaleResult[]): string {
  const withStalls = rs.filter((r) => r.stalls?.length);
  if (!withStalls.length) return '';
  const rows = [['size', 'phase', 'longest stall (idle process beside)', `stalls > ${STALL_MS} ms (idle beside)`, 'by cause: count (longest)', 'longest stall minus its run-queue wait: held by', 'main thread: run-queue wait / CPU', 'longest GC pause by kind', 'longest named spans']];
  const worst: string[] = [];
  for (const r of withStalls) {
    for (const p of r.stalls) {
      rows.push([
        r.size, `${p.phase}, ${p.seconds.toFixed(0)} s`,
        `${fmtMs(p.maxDelayMs)} (${p.idleBeside ? fmtMs(p.idleBeside.maxMs) : '?'})`,
        `${p.stallCount} (${p.idleBeside?.stalls ?? '?'})`,
        top(p.byCause, (s) => s.count, 5).map(([k, s]) => fmtStat(k, s)).join('; ') || '-',
        p.stallCount ? `${fmtMs(p.longestOwn.ms)}: ${p.longestOwn.holder}` : '-',
        `${fmtMs(p.waitMs)} / ${fmtMs(p.cpuMs)}`,
        top(p.gc, (s) => s.maxMs, 3).map(([k, s]) => `${k} ${fmtMs(s.maxMs)} (${s.count}x)`).join('; ') || '-',
        top(p.spans, (s) => s.maxMs, 3).map(([k, s]) => `${k} ${fmtMs(s.maxMs)} (${s.count}x)`).join('; ') || '-',
      ]);
      for (const s of p.stalls.slice(0, 3)) {
        worst.push(`- ${r.size} ${p.phase}: ${fmtMs(s.ms)}: ${s.cause}${s.cause !== s.holder ? `; held by ${s.holder}` : ''} (run-queue wait ${fmtMs(s.waitMs)}, CPU ${fmtMs(s.cpuMs)}, GC ${fmtMs(s.gcMs)}${s.span ? `, ${s.span} ${fmtMs(s.spanMs)}` : ''})`);
      }
    }
  }
  return [
    '',
    `### Where the stalls over ${STALL_MS} ms come from`,
    table(rows),
    `A stall: a 10 ms timer on the main thread late by more than ${STALL_MS} ms. Its cause is the largest share of its window: run-queue wait of the main thread (/proc schedstat: runnable, not running), a GC pause (perf_hooks 'gc'), one of the agent's named synchronous spans (controller/spans.ts, GC excluded), other code on the CPU, or blocked off the CPU. "Idle beside": a process doing nothing, running during the same phase. The idle phase is this process before the agent starts.`,
    'Worst stalls:',
    ...worst,
  ].join('\n');
}

// Standalone: the child process bench/run.ts starts per size.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [size, netns] = process.argv.slice(2);
  if (!size || !(size in SIZES) || !netns) throw new Error('usage: agent-scale.ts SIZE NETNS');
  const r = await measureAgentScale(size as SizeName, netns);
  process.stdout.write(`##RESULT ${JSON.stringify(r)}\n`);
  process.exit(0);
}
