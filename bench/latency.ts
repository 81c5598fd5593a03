// Event to enforcement: from a pod change arriving at the agent to the kernel holding it,
// under a steady churn of pod events, at M (20, 100 and 500 events/s) and L (100 and 1,000).
//
// The real agent runs in-process (controller/run.ts startAgent: Agent + SyncRunner with the
// default debounce and maximum delay, NftCli) against a network namespace the benchmark owns.
// Changes arrive through an in-memory ClusterSource, the way a watch delivers them (the file
// source re-reads its whole folder on each change: at M that alone takes seconds, measured and
// reported separately as `fileSourceRescanMs`).
//
// How an event's enforcement time is found: every churn event carries a sequence number. The
// agent applies events to its engine as they arrive; each sync is recorded, at its start,
// with the highest sequence delivered before it; the kernel holds an event once the nft
// transaction of the first sync that started after it has been applied (or, when the change
// needed no kernel change, once that sync ended). Latency = that moment - the moment the event was handed to the agent. The agent's
// own histogram (netpol_nft_network_programming_duration_seconds) measures until after its
// post-apply listing; ours stops at the apply.
import { ConntrackCli } from '../controller/generation.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { batchOperations, sortCluster, type Batch, type Cluster, type PodInfo, type Problem } from '../compiler/index.js';
import { parseConfig } from '../controller/config.js';
import { loadCluster } from '../controller/load.js';
import { parseGenerationChain } from '../compiler/nft/names.js';
import { NftCli, type NftPort } from '../controller/nft.js';
import { compileOptionsOf, startAgent } from '../controller/run.js';
import type { ClusterSource, SourceEvent, SourceHooks } from '../controller/source.js';
import { Netns } from '../test/helpers/kernel.js';
import { compile, type Ruleset } from '../compiler/index.js';
import { BENCH_NODE, generate, generateCluster, SIZES, syntheticIp, WIRE_PAIR, type SizeName } from './generate.js';
import { median, percentile } from './stats.js';
import { WIRE_PREFIX } from './wire.js';

export type LatencyResult =
  | { measured: false; reason: string }
  | {
      measured: true;
      method: string;
      seconds: number;
      fileSourceRescanMs?: number;
      rates: RateResult[];
    };

export interface RateResult {
  size: SizeName; rate: number; events: number; enforced: number;
  /** After the churn: the table the agent last applied equals a fresh compile of the final
   *  state (sets, maps, counters, group chains; the forward chain's generation aside). */
  finalMatchesCompile: boolean;
  /** The agent's event loop during the churn: the longest delay (perf_hooks.monitorEventLoopDelay). */
  longestStallMs: number; p50Ms: number; p99Ms: number; maxMs: number; syncs: number;
  /** Syncs during the churn that replaced the whole table, and syncs that failed. */
  fullSyncs: number; failedSyncs: number;
  /** Median transaction size (batchOperations) of the syncs that applied a batch. */
  opsPerSync: number;
  /** Medians over the syncs that applied a batch. */
  syncParts: { compileDiffMs: number; applyMs: number; afterApplyMs: number };
}

const SEQ = 'bench-seq';

/** Worker thread: posts {seq, at} at `rate` per second for `seconds` (at: absolute ms). */
const TICKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { rate, seconds } = workerData;
const abs = () => performance.timeOrigin + performance.now();
const t0 = abs();
let seq = 0;
const tick = () => {
  const el = abs() - t0;
  if (el >= seconds * 1000) { parentPort.postMessage('done'); parentPort.close(); return; }
  const due = Math.floor((el / 1000) * rate);
  while (seq < due) { seq++; parentPort.postMessage({ seq, at: abs() }); }
  setTimeout(tick, 1);
};
tick();
`;

/** The cluster as a watch cache would hold it: base objects plus the churn pods, by key. */
class MemorySource implements ClusterSource {
  private hooks: SourceHooks | undefined;
  readonly churn = new Map<string, PodInfo>();
  constructor(private readonly base: Cluster) {}
  problems(): Problem[] { return []; }
  async start(hooks: SourceHooks): Promise<void> { this.hooks = hooks; }
  synced(): boolean { return true; }
  snapshot(): { cluster: Cluster; problems: Problem[] } {
    return { cluster: sortCluster({ ...this.base, pods: [...this.base.pods, ...this.churn.values()] }), problems: [] };
  }
  async stop(): Promise<void> {}
  change(key: string, pod: PodInfo | undefined): void {
    const action = pod ? (this.churn.has(key) ? 'update' : 'add') : 'delete';
    // The namespace of a deleted pod is the one it had (pool pods never passed through here).
    const was = this.churn.get(key);
    if (pod) this.churn.set(key, pod);
    else this.churn.delete(key);
    const [namespace, name] = pod ? [pod.namespace, pod.name] : [was!.namespace, key];
    // The object rides with the event, as a watch delivers it: the agent applies it to its
    // policy engine at once and never re-reads the whole state.
    this.hooks?.onChange({ kind: 'pod', action, seenAt: Date.now(), object: `${namespace}/${name}`, change: pod ? { kind: 'pod', op: 'upsert', pod } : { kind: 'pod', op: 'delete', namespace, name } } satisfies SourceEvent);
  }
}

/** Churn pods: prod namespaces, backend or frontend tier, so that they are peers of rules on
 *  the bench node (the wire pair's `pair-egress-prod` selects prod backends) and a change is
 *  usually a set element added or removed. A quarter of them live on the bench node. */
function churnPod(i: number, seq: number, prodNamespaces: readonly string[], tier: string): PodInfo {
  return {
    namespace: prodNamespaces[i % prodNamespaces.length]!, name: `churn-${i}`, nodeName: i % 4 === 0 ? BENCH_NODE : 'node-01',
    labels: { app: `churn-${i % 50}`, tier, [SEQ]: String(seq) }, ips: [syntheticIp(2_000_000 + i)], phase: 'Running', hostNetwork: false,
    namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'grpc', protocol: 'TCP', port: 9000 }],
  };
}

async function runRate(size: SizeName, base: Cluster, prodNs: readonly string[], ns: Netns, workDir: string, rate: number, seconds: number): Promise<RateResult> {
  const source = new MemorySource(base);
  const POOL = 400;
  for (let i = 0; i < POOL; i++) source.churn.set(`churn-${i}`, churnPod(i, 0, prodNs, 'backend'));
  const now = () => performance.now();
  const snaps: { maxSeq: number; taken: number; applyStart?: number; applied?: number; ended?: number; full?: boolean; failed?: boolean; ops?: number }[] = [];
  let current = -1;
  // The agent applies each event to its engine as it arrives and reads the source once per
  // sync, at its start (problems()): every event delivered before that moment is in that
  // sync's transaction (events arriving during a sync wait for the next one).
  let delivered = 0;
  const mark = () => {
    snaps.push({ maxSeq: delivered, taken: now() });
    current = snaps.length - 1;
  };
  const wrapped: ClusterSource = {
    start: (h) => source.start(h), synced: () => source.synced(), stop: () => source.stop(),
    snapshot: () => {
      mark();
      return source.snapshot();
    },
    problems: () => {
      mark();
      return source.problems();
    },
  };
  const cli = new NftCli(['ip', 'netns', 'exec', ns.name, 'nft']);
  const nft: NftPort = {
    apply: async (json) => {
      const i = current;
      snaps[i]!.applyStart ??= now();
      // A full replace deletes the table first; an incremental batch never does.
      snaps[i]!.full = /"delete":\s*\{\s*"table"/.test(json.slice(0, 400));
      snaps[i]!.ops = batchOperations(JSON.parse(json) as Batch);
      await cli.apply(json);
      snaps[i]!.applied ??= now();
    },
    list: (f, t, w) => cli.list(f, t, w),
  };
  const config = parseConfig(['--source', workDir, '--node', BENCH_NODE, '--metrics-address', '127.0.0.1:0']);
  if (config === 'help') throw new Error('unexpected help');
  const handle = await startAgent(config, { logger: pino({ level: 'silent' }), source: wrapped, nft, conntrack: new ConntrackCli(['ip', 'netns', 'exec', ns.name, 'conntrack']) });
  const agent = handle.agent;
  const sync = agent.sync.bind(agent);
  agent.sync = async (reason) => {
    try {
      await sync(reason);
    } catch (e) {
      if (current >= 0) snaps[current]!.failed = true;
      throw e;
    } finally {
      const i = current;
      if (i >= 0) snaps[i]!.ended ??= now();
    }
  };
  const events: { seq: number; at: number }[] = [];
  let finalMatchesCompile = false, longestStallMs = NaN;
  const present = new Set([...source.churn.keys()]);
  const apply = (seq: number) => {
    const i = (seq * 7) % POOL, key = `churn-${i}`;
    // Alternate: relabel (the tier flips), then delete or re-create. A delete carries no
    // label: it counts as enforced once a later labelled event is (snapshots are in order).
    if (seq % 2 === 0 || !present.has(key)) {
      source.change(key, churnPod(i, seq, prodNs, seq % 4 < 2 ? 'frontend' : 'backend'));
      present.add(key);
    } else {
      source.change(key, undefined);
      present.delete(key);
    }
  };
  try {
    // The first sync (a full replace at start: tens of seconds at L on a loaded machine) is
    // not part of the figure.
    for (let i = 0; i < 6000 && !agent.ready(); i++) await new Promise((r) => setTimeout(r, 50));
    if (!agent.ready()) throw new Error('the agent did not become ready in 300 s');
    // The changes happen on another thread, on time, whatever the agent's event loop is doing
    // (a compile blocks it): a change waits for the agent as a watch event waits in its socket.
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    let last = 0;
    await new Promise<void>((resolve, reject) => {
      const w = new Worker(TICKER, { eval: true, workerData: { rate, seconds } });
      w.on('message', (m: { seq: number; at: number } | 'done') => {
        if (m === 'done') return;
        apply(m.seq);
        delivered = m.seq;
        events.push({ seq: m.seq, at: m.at - performance.timeOrigin });
        last = m.seq;
      });
      w.on('error', reject);
      w.on('exit', () => resolve());
    });
    // A last labelled event, so that every earlier one is followed by one the snapshots see.
    const fence = last + 2 - (last % 2); // even: a relabel
    apply(fence);
    delivered = fence;
    events.push({ seq: fence, at: now() });
    const deadline = now() + 60_000;
    while (now() < deadline && !snaps.some((s) => s.maxSeq >= fence && (s.applied ?? s.ended) !== undefined)) await new Promise((r) => setTimeout(r, 20));
    loopDelay.disable();
    longestStallMs = loopDelay.max / 1e6;
    // Compiled with the agent's own options (the drop log's trace marks, its owner, …).
    finalMatchesCompile = sameTable(agent.appliedRuleset(), compile(source.snapshot().cluster, compileOptionsOf(config)).ruleset);
  } finally {
    await handle.stop();
  }
  const lat: number[] = [];
  for (const e of events.slice(0, -1)) {
    const s = snaps.find((x) => x.maxSeq >= e.seq && (x.applied ?? x.ended) !== undefined);
    if (s) lat.push((s.applied ?? s.ended)! - e.at);
  }
  // Where a sync's time goes (syncs that applied something): compile + diff (snapshot to
  // apply), the nft transaction, and what follows it (the agent lists the table to verify).
  const applied = snaps.slice(1).filter((x) => x.applyStart !== undefined && x.applied !== undefined && x.ended !== undefined);
  const med = (f: (x: (typeof applied)[number]) => number) => median(applied.map(f));
  return {
    size, rate, finalMatchesCompile, longestStallMs, events: events.length - 1, enforced: lat.length, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), maxMs: Math.max(...lat), syncs: snaps.length,
    // The first sync (the full replace at start) is not a failure nor part of the churn.
    fullSyncs: snaps.slice(1).filter((x) => x.full).length, failedSyncs: snaps.filter((x) => x.failed).length,
    opsPerSync: med((x) => x.ops ?? 0),
    syncParts: { compileDiffMs: med((x) => x.applyStart! - x.taken), applyMs: med((x) => x.applied! - x.applyStart!), afterApplyMs: med((x) => x.ended! - x.applied!) },
  };
}

/** Pod events per second at each size (the goals: 100/s at M and L, 1,000/s at L). */
const RATES: Partial<Record<SizeName, number[]>> = { M: [20, 100, 500], L: [100, 1000] };

export async function measureLatency(workDir: string, quick: boolean, log: (s: string) => void, sizes: readonly SizeName[] = ['M']): Promise<LatencyResult> {
  const seconds = quick ? 4 : 15;
  const ns = Netns.create(`${WIRE_PREFIX}agent`);
  const rates: RateResult[] = [];
  try {
    for (const size of sizes.filter((s) => RATES[s])) {
      const { cluster, gen } = generateCluster(SIZES[size], { wirePair: true });
      const prodNs = gen.teamNamespaces.filter((n) => n.env === 'prod').map((n) => n.name).filter((n) => n !== WIRE_PAIR.namespace);
      for (const rate of RATES[size]!) {
        log(`event to enforcement at ${size}, ${rate} events/s...`);
        rates.push(await runRate(size, cluster, prodNs, ns, workDir, rate, seconds));
      }
    }
  } finally {
    ns.delete();
  }
  // What the file source (`run --source DIR`) would add: one rescan of the M cluster as files.
  let fileSourceRescanMs: number | undefined, fileMB = 0;
  if (!quick) {
    const dir = join(workDir, 'file-source-m');
    mkdirSync(dir, { recursive: true });
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: generate(SIZES.M, { wirePair: true }).objects });
    fileMB = text.length / 1e6;
    writeFileSync(join(dir, 'cluster.json'), text);
    const t = performance.now();
    loadCluster(dir);
    fileSourceRescanMs = performance.now() - t;
  }
  return {
    measured: true, seconds, fileSourceRescanMs, rates,
    method: `agent in-process (default debounce and max delay), changes through an in-memory source as a watch delivers them; ${seconds} s of churn per rate; `
      + 'p50/p99 from the change handed to the agent to `nft -j -f` returning for the first transaction that contains it.'
      + (fileSourceRescanMs !== undefined ? ` The file source would add a rescan of the whole folder per change batch: ${Math.round(fileSourceRescanMs)} ms at M (one ${fileMB.toFixed(1)} MB JSON file, parsed by controller/load.ts through the YAML parser).` : ''),
  };
}

/** The same table, the generation stamp aside: sets, maps, counters and every chain but the
 *  base chains (whose rules carry the generation). */
function sameTable(a: Ruleset | undefined, b: Ruleset): boolean {
  if (!a) return false;
  // The agent's marker chain (gen_<serial>_<stamp>_<owner>) is the agent's own, not compile's.
  const view = (r: Ruleset) => JSON.stringify([r.sets, r.maps, r.counters, r.chains.filter((c) => !c.base && !parseGenerationChain(c.name))]);
  return view(a) === view(b);
}
