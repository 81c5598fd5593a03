// Every metric the agent exports, in one place, on an injected prom-client Registry.
// Base units in names, `_total` on counters, histograms for durations, and never a pod IP
// in a label (IPs are reused; namespace/pod names are what a human looks for).
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import type { LocalPod } from '../compiler/index.js';
import type { ResourceAction, ResourceKind } from './source.js';

export type SyncType = 'full' | 'partial';
export type FailureStage = 'compile' | 'apply' | 'verify';
export type ObjectType = 'chain' | 'rule' | 'set' | 'element';
export type Isolation = 'none' | 'ingress' | 'egress' | 'both';

/** Reads the drop counters when scraped: name -> packets/bytes, undefined when unavailable. */
export type DropCounterReader = () => Promise<{ counters: Map<string, { packets: number; bytes: number }>; pods: readonly LocalPod[] } | undefined>;

/** The version in our package.json: one level up from controller/, two from dist/controller/;
 *  walk up rather than guess. */
function packageVersion(): string {
  for (let url = new URL('../package.json', import.meta.url), i = 0; i < 4; url = new URL('../package.json', url), i++) {
    try {
      const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'netpol-nft' && pkg.version) return pkg.version;
    } catch {
      // not here: one level up
    }
  }
  return 'unknown';
}

export class Metrics {
  readonly syncDuration: Histogram<'type'>;
  readonly syncFailures: Counter<'stage'>;
  readonly syncLastTimestamp: Gauge;
  readonly programmingDuration: Histogram<'kind'>;
  readonly transactionOperations: Histogram;
  readonly nftablesObjects: Gauge<'type'>;
  readonly networkPolicies: Gauge<'state'>;
  readonly localPods: Gauge<'isolation'>;
  readonly kubernetesEvents: Counter<'kind' | 'action'>;
  readonly watchRestarts: Counter<'kind' | 'reason'>;
  readonly droppedPackets: Counter<'namespace' | 'pod' | 'direction'>;
  readonly droppedBytes: Counter<'namespace' | 'pod' | 'direction'>;
  readonly buildInfo: Gauge<'version' | 'nodejs_version'>;
  private dropReader: DropCounterReader | undefined;
  private dropRead: Promise<void> | undefined;

  constructor(readonly registry: Registry, opts: { defaultMetrics?: boolean } = {}) {
    const registers = [registry];
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    this.syncDuration = new Histogram({
      name: 'netpol_nft_sync_duration_seconds', help: 'Time of one sync (compile, diff, nft transaction, verification).',
      labelNames: ['type'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
    });
    this.syncFailures = new Counter({ name: 'netpol_nft_sync_failures_total', help: 'Failed syncs by the stage that failed.', labelNames: ['stage'], registers });
    this.syncLastTimestamp = new Gauge({ name: 'netpol_nft_sync_last_timestamp_seconds', help: 'When the kernel last took a sync (Unix time).', registers });
    this.programmingDuration = new Histogram({
      name: 'netpol_nft_network_programming_duration_seconds', help: 'From a change seen by the agent to the kernel holding it.',
      labelNames: ['kind'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
    });
    this.transactionOperations = new Histogram({
      name: 'netpol_nft_nftables_transaction_operations', help: 'Objects (elements, rules, chains, sets, maps, counters) touched by one nft transaction.',
      buckets: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144], registers,
    });
    this.nftablesObjects = new Gauge({ name: 'netpol_nft_nftables_objects', help: 'Objects in the table as last applied.', labelNames: ['type'], registers });
    this.networkPolicies = new Gauge({ name: 'netpol_nft_network_policies', help: 'NetworkPolicies known, valid or invalid (invalid ones fail closed).', labelNames: ['state'], registers });
    this.localPods = new Gauge({ name: 'netpol_nft_local_pods', help: 'Active pods on this node by isolation.', labelNames: ['isolation'], registers });
    this.kubernetesEvents = new Counter({ name: 'netpol_nft_kubernetes_events_total', help: 'Changes received from the cluster source.', labelNames: ['kind', 'action'], registers });
    this.watchRestarts = new Counter({ name: 'netpol_nft_watch_restarts_total', help: 'Watches that ended and were restarted.', labelNames: ['kind', 'reason'], registers });
    const self = this;
    this.droppedPackets = new Counter({
      name: 'netpol_nft_dropped_packets_total', help: 'Packets dropped by policy, per local pod and direction (reset when the table is replaced).',
      labelNames: ['namespace', 'pod', 'direction'], registers,
      async collect() { await self.readDrops(); },
    });
    this.droppedBytes = new Counter({
      name: 'netpol_nft_dropped_bytes_total', help: 'Bytes dropped by policy, per local pod and direction (reset when the table is replaced).',
      labelNames: ['namespace', 'pod', 'direction'], registers,
      async collect() { await self.readDrops(); },
    });
    this.buildInfo = new Gauge({ name: 'netpol_nft_build_info', help: 'Version of netpol-nft and of Node.js.', labelNames: ['version', 'nodejs_version'], registers });
    this.buildInfo.set({ version: packageVersion(), nodejs_version: process.version }, 1);
    for (const t of ['full', 'partial'] as const) this.syncDuration.zero({ type: t });
    for (const s of ['compile', 'apply', 'verify'] as const) this.syncFailures.inc({ stage: s }, 0);
  }

  /** Where the drop counters come from (the agent: `nft list counters` + its local pods). */
  setDropReader(r: DropCounterReader): void {
    this.dropReader = r;
  }

  /** Both drop metrics collect at the same scrape: read nft once for the pair. */
  private readDrops(): Promise<void> {
    this.dropRead ??= this.doReadDrops().finally(() => { setImmediate(() => { this.dropRead = undefined; }); });
    return this.dropRead;
  }

  private async doReadDrops(): Promise<void> {
    let r: Awaited<ReturnType<DropCounterReader>>;
    try {
      r = await this.dropReader?.();
    } catch {
      r = undefined; // a scrape must not fail because nft did; the series just go stale
    }
    this.droppedPackets.reset();
    this.droppedBytes.reset();
    if (!r) return;
    for (const pod of r.pods) {
      for (const direction of ['ingress', 'egress'] as const) {
        const name = pod[direction].counter;
        const c = name ? r.counters.get(name) : undefined;
        if (!c) continue;
        const labels = { namespace: pod.namespace, pod: pod.name, direction };
        this.droppedPackets.inc(labels, c.packets);
        this.droppedBytes.inc(labels, c.bytes);
      }
    }
  }

  observeSync(type: SyncType, seconds: number): void {
    this.syncDuration.observe({ type }, seconds);
  }

  event(kind: ResourceKind, action: ResourceAction): void {
    this.kubernetesEvents.inc({ kind, action });
  }

  /** Local pods by isolation, from the compiler's view of this node. */
  setLocalPods(pods: readonly LocalPod[]): void {
    const n: Record<Isolation, number> = { none: 0, ingress: 0, egress: 0, both: 0 };
    for (const p of pods) n[p.ingress.isolated ? (p.egress.isolated ? 'both' : 'ingress') : p.egress.isolated ? 'egress' : 'none']++;
    for (const [k, v] of Object.entries(n)) this.localPods.set({ isolation: k }, v);
  }

  setObjects(counts: Record<ObjectType, number>): void {
    for (const [k, v] of Object.entries(counts)) this.nftablesObjects.set({ type: k }, v);
  }
}
