// Every metric the agent exports, in one place, on an injected prom-client Registry.
// Base units in names, `_total` on counters, histograms for durations, and never a pod IP
// in a label (IPs are reused; namespace/pod names are what a human looks for).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import type { LocalPod, RuleCounter } from '../compiler/index.js';
import type { ResourceAction, ResourceKind } from './source.js';
import { span } from './spans.js';

export type SyncType = 'full' | 'partial';
export type FailureStage = 'compile' | 'apply' | 'verify' | 'owner';
export type ObjectType = 'chain' | 'rule' | 'set' | 'element';
export type Isolation = 'none' | 'ingress' | 'egress' | 'both';

/** Reads the named counters: name -> packets/bytes counted SINCE THE PREVIOUS READ (the agent
 *  reads them through `nft reset counters`, see NftPort.list), with the local pods whose drop
 *  counters they are and the policy rules whose rule counters they are (--policy-rule-counters);
 *  undefined when unavailable (no table yet). */
export type DropCounterReader = () => Promise<{ counters: Map<string, { packets: number; bytes: number }>; pods: readonly LocalPod[]; rules?: readonly RuleCounter[] } | undefined>;

/** The labels of the drop metrics: one series per local pod and direction, or per namespace
 *  and direction (bounded by the node's namespaces rather than its pods). */
export type DropMetricsBy = 'pod' | 'namespace';

export interface MetricsOptions {
  /** Node.js process metrics (default true). */
  readonly defaultMetrics?: boolean;
  readonly dropMetricsBy?: DropMetricsBy;
  /** A scrape reuses a drop-counter read younger than this (default 5 s). */
  readonly dropReadMaxAgeMs?: number;
  /** How long a scrape waits for a fresh read before it answers with the totals it has
   *  (the read goes on and serves the next scrape; default 300 ms). */
  readonly dropReadWaitMs?: number;
  /** Export netpol_nft_policy_rule_connections_total (the agent's --policy-rule-counters;
   *  default false: the metric is not registered). */
  readonly policyRuleCounters?: boolean;
  /** Monotonic milliseconds (tests). */
  readonly now?: () => number;
}

type RuleLabel = 'namespace' | 'policy' | 'direction' | 'rule';

type Totals = { packets: number; bytes: number };
const DIRECTIONS = ['ingress', 'egress'] as const;

/** A metric whose exposition text the agent writes itself: renderSliced (health.ts) calls it
 *  instead of prom-client's formatting, for the same bytes. The drop metrics hold one series
 *  per local pod and direction (5,000 at L): prom-client built a value object per series and
 *  formatted its labels at every scrape (37-94 ms of the event loop at L, with its GC). */
export const OWN_TEXT = Symbol('netpol-nft: own exposition text');
export interface OwnText {
  [OWN_TEXT]?: () => Promise<string>;
}

/** prom-client's escaping (lib/registry.js): HELP text and names. */
const escapeText = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
/** prom-client's escaping of a label value. */
const escapeLabel = (s: string) => escapeText(s).replace(/"/g, '\\"');
/** prom-client's formatting of a sample value (lib/util.js getValueAsString). */
const valueText = (v: number) => (Number.isNaN(v) ? 'Nan' : !Number.isFinite(v) ? (v < 0 ? '-Inf' : '+Inf') : `${v}`);
/** The `{name="value",...}` of one series, labels in their object's order (as prom-client). */
export const labelText = (labels: Record<string, string>) => `{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;

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
  readonly clusterNetworkPolicies: Gauge<'tier' | 'state'>;
  readonly clusterNetworkPolicyTies: Gauge<'tier'>;
  readonly localPods: Gauge<'isolation'>;
  readonly kubernetesEvents: Counter<'kind' | 'action'>;
  readonly watchRestarts: Counter<'kind' | 'reason'>;
  readonly sourceErrors: Counter<'reason'>;
  readonly sourceFilesFailing: Gauge;
  readonly droppedPackets: Counter<'namespace' | 'pod' | 'direction'>;
  readonly droppedBytes: Counter<'namespace' | 'pod' | 'direction'>;
  readonly buildInfo: Gauge<'version' | 'nodejs_version'>;
  readonly dropCounterReads: Histogram<'result'>;
  readonly httpRejected: Counter<'reason'>;
  /** Connections each policy rule allowed (only with the policyRuleCounters option). */
  readonly policyRuleConnections: Counter<RuleLabel> | undefined;
  readonly dropLogLines: Counter;
  readonly dropLogMonitorFailures: Counter<'reason'>;
  readonly foreignWriter: Gauge;
  readonly conntrackClears: Counter<'result'>;
  readonly verdictCache: Gauge;
  readonly dropMetricsBy: DropMetricsBy;
  private dropReader: DropCounterReader | undefined;
  /** The read in flight (never more than one). */
  private dropRead: Promise<void> | undefined;
  private dropReadAt = -Infinity;
  /** Drops counted so far, by series key (pod or namespace, and direction). */
  private readonly dropTotals = new Map<string, Totals>();
  /** This node's pods as last compiled: which series exist. */
  private pods: readonly LocalPod[] = [];
  /** The drop series those pods call for (key -> labels), for the pods they were made from. */
  private wanted: { pods: readonly LocalPod[]; series: ReadonlyMap<string, Record<string, string>> } | undefined;
  /** The drop series as exported: their labels (and those as exposition text) and the totals
   *  they show, in the order prom-client holds them (a series that ends and starts again
   *  goes last, in both). */
  private readonly exported = new Map<string, { labels: Record<string, string>; text: string; packets: number; bytes: number }>();
  /** Per list of local pods (the engine keeps one until a pod changes): counter name -> series key. */
  private readonly seriesOf = new WeakMap<readonly LocalPod[], Map<string, string>>();
  private readonly dropHelp: { packets: string; bytes: string };
  /** Reads added to the totals so far, and the pods and reads the exported series last
   *  followed (dropSeries has nothing to do until either changes). */
  private reads = 0;
  private seriesDone: { pods: readonly LocalPod[]; reads: number } | undefined;
  /** Connections counted so far, by rule counter name. */
  private readonly ruleTotals = new Map<string, number>();
  /** The rule counters of the table as last applied: which rule series exist. */
  private rules: readonly RuleCounter[] = [];
  private readonly now: () => number;
  private readonly dropReadMaxAgeMs: number;
  private readonly dropReadWaitMs: number;

  constructor(readonly registry: Registry, opts: MetricsOptions = {}) {
    this.dropMetricsBy = opts.dropMetricsBy ?? 'pod';
    this.now = opts.now ?? (() => performance.now());
    this.dropReadMaxAgeMs = opts.dropReadMaxAgeMs ?? 5000;
    this.dropReadWaitMs = opts.dropReadWaitMs ?? 300;
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
    this.clusterNetworkPolicies = new Gauge({
      name: 'netpol_nft_cluster_network_policies', labelNames: ['tier', 'state'], registers,
      help: 'ClusterNetworkPolicies known, by tier and state: valid, invalid (fail closed), unsupported (valid, with parts not enforced: domainNames peers); tier "none": not even tier, priority and subject usable.',
    });
    this.clusterNetworkPolicyTies = new Gauge({
      name: 'netpol_nft_cluster_network_policy_ties', labelNames: ['tier'], registers,
      help: 'Groups of ClusterNetworkPolicies with equal priority in one tier (ordered by name; the API leaves that order to the implementation).',
    });
    for (const tier of ['Admin', 'Baseline']) {
      for (const state of ['valid', 'invalid', 'unsupported']) this.clusterNetworkPolicies.set({ tier, state }, 0);
      this.clusterNetworkPolicyTies.set({ tier }, 0);
    }
    this.localPods = new Gauge({ name: 'netpol_nft_local_pods', help: 'Active pods on this node by isolation.', labelNames: ['isolation'], registers });
    this.kubernetesEvents = new Counter({ name: 'netpol_nft_kubernetes_events_total', help: 'Changes received from the cluster source.', labelNames: ['kind', 'action'], registers });
    this.watchRestarts = new Counter({ name: 'netpol_nft_watch_restarts_total', help: 'Watches that ended and were restarted.', labelNames: ['kind', 'reason'], registers });
    this.sourceErrors = new Counter({ name: 'netpol_nft_source_errors_total', help: 'Files of --source that could not be read (reason="read") or parsed (reason="parse"), once per content; their last good objects stay in force.', labelNames: ['reason'], registers });
    for (const r of ['read', 'parse'] as const) this.sourceErrors.inc({ reason: r }, 0);
    this.sourceFilesFailing = new Gauge({ name: 'netpol_nft_source_files_failing', help: 'Files and folders of --source that cannot be read or parsed now (/readyz fails while any does).', registers });
    const self = this;
    const per = this.dropMetricsBy === 'pod' ? 'local pod' : 'namespace (of local pods)';
    const labelNames = this.dropMetricsBy === 'pod' ? (['namespace', 'pod', 'direction'] as const) : (['namespace', 'direction'] as const);
    // Both drop metrics collect at the same scrape: the first one refreshes, both export.
    this.droppedPackets = new Counter({
      name: 'netpol_nft_dropped_packets_total', help: `Packets dropped by policy, per ${per} and direction.`,
      labelNames, registers,
      async collect() { await self.exportDrops(); },
    });
    this.droppedBytes = new Counter({
      name: 'netpol_nft_dropped_bytes_total', help: `Bytes dropped by policy, per ${per} and direction.`,
      labelNames, registers,
      async collect() { await self.exportDrops(); },
    });
    this.dropHelp = { packets: `Packets dropped by policy, per ${per} and direction.`, bytes: `Bytes dropped by policy, per ${per} and direction.` };
    Object.assign(this.droppedPackets, { [OWN_TEXT]: () => this.dropText('packets') } satisfies OwnText);
    Object.assign(this.droppedBytes, { [OWN_TEXT]: () => this.dropText('bytes') } satisfies OwnText);
    this.dropCounterReads = new Histogram({
      name: 'netpol_nft_drop_counters_read_duration_seconds', help: 'One read of the drop counters from the kernel (nft reset counters), by result.',
      labelNames: ['result'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers,
    });
    this.httpRejected = new Counter({
      name: 'netpol_nft_http_connections_rejected_total', help: 'Connections to /metrics, /healthz, /readyz closed by the listener limits (limit: too many in all; client_limit: too many from one address; timeout: headers or request too slow, or idle).',
      labelNames: ['reason'], registers,
    });
    this.policyRuleConnections = opts.policyRuleCounters
      ? new Counter({
        name: 'netpol_nft_policy_rule_connections_total',
        help: 'Connections each policy rule allowed on this node (first packets: once per connection, and at most once more after each ruleset change); namespace "" and policy "cnp/NAME" for a ClusterNetworkPolicy Accept rule; rule is its index in the direction.',
        labelNames: ['namespace', 'policy', 'direction', 'rule'], registers,
        async collect() { await self.exportRules(); },
      })
      : undefined;
    this.dropLogLines = new Counter({ name: 'netpol_nft_drop_log_lines_total', help: 'Dropped packets written to the drop log (--log-drops; the kernel limits them to its rate per node).', registers });
    this.dropLogMonitorFailures = new Counter({
      name: 'netpol_nft_drop_log_monitor_failures_total', labelNames: ['reason'], registers,
      help: 'Times the drop log\'s `nft monitor trace` child could not start (reason="start") or ended (reason="exit"); it is restarted with backoff.',
    });
    for (const r of ['start', 'exit'] as const) this.dropLogMonitorFailures.inc({ reason: r }, 0);
    this.buildInfo = new Gauge({ name: 'netpol_nft_build_info', help: 'Version of netpol-nft and of Node.js.', labelNames: ['version', 'nodejs_version'], registers });
    this.buildInfo.set({ version: packageVersion(), nodejs_version: process.version }, 1);
    for (const t of ['full', 'partial'] as const) this.syncDuration.zero({ type: t });
    for (const s of ['compile', 'apply', 'verify', 'owner'] as const) this.syncFailures.inc({ stage: s }, 0);
    this.foreignWriter = new Gauge({ name: 'netpol_nft_foreign_writer', help: '1 while the table belongs to another writer (another --owner): this agent does not write it, and /readyz fails.', registers });
    this.conntrackClears = new Counter({ name: 'netpol_nft_conntrack_clears_total', help: 'Passes clearing the verdict-cache stamps of every conntrack entry (at start and before the stamps wrap), by result (ok, failed).', labelNames: ['result'], registers });
    for (const r of ['ok', 'failed'] as const) this.conntrackClears.inc({ result: r }, 0);
    this.verdictCache = new Gauge({ name: 'netpol_nft_verdict_cache', help: 'Stamp number of the verdict cache in force (0: the cache is off, every packet decided).', registers });
    for (const r of ['limit', 'client_limit', 'timeout'] as const) this.httpRejected.inc({ reason: r }, 0);
  }

  /** Where the drop counters come from (the agent: `nft reset counters` + its local pods). */
  setDropReader(r: DropCounterReader): void {
    this.dropReader = r;
  }

  /** The rule counters now in the kernel (after each applied transaction). */
  setRuleCounters(rules: readonly RuleCounter[]): void {
    this.rules = rules;
  }

  /** Reads the counters now, whatever the age of the last read, and waits for it (at most
   *  `maxWaitMs`: a slow nft must not hold a sync): before a full replace, which starts every
   *  counter of the table from 0 again. */
  async readCountersNow(maxWaitMs = 2000): Promise<void> {
    const read = (async () => {
      while (this.dropRead) await this.dropRead;
      this.dropReadAt = -Infinity;
      void this.refreshDrops(0); // starts the read (the one in flight: this.dropRead)
      await this.dropRead;
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([read, new Promise<void>((r) => { timer = setTimeout(r, maxWaitMs); })]).finally(() => clearTimeout(timer));
  }

  /** The series key of one pod's counter in one direction. */
  private dropKey(pod: LocalPod, direction: (typeof DIRECTIONS)[number]): string {
    return this.dropMetricsBy === 'pod' ? `${pod.namespace}\0${pod.name}\0${direction}` : `${pod.namespace}\0\0${direction}`;
  }

  /** Reads the kernel's counters unless a read is younger than dropReadMaxAgeMs; one read at
   *  a time, whoever asks. Waits for it at most dropReadWaitMs: a slow nft must not make a
   *  scrape slow (the totals it has are served, and the read finishes for the next one). */
  refreshDrops(waitMs = this.dropReadWaitMs): Promise<void> {
    if (!this.dropRead && this.now() - this.dropReadAt >= this.dropReadMaxAgeMs) {
      this.dropRead = this.readDrops().finally(() => {
        this.dropReadAt = this.now();
        this.dropRead = undefined;
      });
    }
    if (!this.dropRead) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([this.dropRead, new Promise<void>((r) => { timer = setTimeout(r, waitMs); })]).finally(() => clearTimeout(timer));
  }

  private async readDrops(): Promise<void> {
    const started = this.now();
    let r: Awaited<ReturnType<DropCounterReader>>;
    try {
      r = await this.dropReader?.();
    } catch {
      // A scrape must not fail because nft did: the totals stay as they were.
      this.dropCounterReads.observe({ result: 'error' }, (this.now() - started) / 1000);
      return;
    }
    this.dropCounterReads.observe({ result: 'ok' }, (this.now() - started) / 1000);
    if (!r) return;
    span('drop counters: totals', () => this.addDrops(r));
  }

  private addDrops(r: NonNullable<Awaited<ReturnType<DropCounterReader>>>): void {
    this.reads++;
    // What the kernel counted since the previous read, added to the totals of its series.
    const owner = this.seriesKeys(r.pods);
    for (const [name, c] of r.counters) {
      const key = owner.get(name);
      if (!key) continue; // a counter of a pod that is gone
      const t = this.dropTotals.get(key);
      if (t) {
        t.packets += c.packets;
        t.bytes += c.bytes;
      } else this.dropTotals.set(key, { packets: c.packets, bytes: c.bytes });
    }
    // Series of pods (or namespaces) no longer on this node end; memory stays bounded.
    const now = this.wantedDropSeries(), read = this.seriesKeys(r.pods, true);
    for (const key of this.dropTotals.keys()) if (!now.has(key) && !read.has(key)) this.dropTotals.delete(key);
    // Rule counters: what each counted since the previous read (packets: first packets).
    if (!this.policyRuleConnections) return;
    const rules = new Set((r.rules ?? []).map((x) => x.counter));
    for (const [name, c] of r.counters) if (rules.has(name)) this.ruleTotals.set(name, (this.ruleTotals.get(name) ?? 0) + c.packets);
    for (const x of this.rules) rules.add(x.counter);
    for (const name of this.ruleTotals.keys()) if (!rules.has(name)) this.ruleTotals.delete(name);
  }

  /** One series per rule counter of the table as last applied (0 until counted: the rules
   *  nothing used). */
  private async exportRules(): Promise<void> {
    await this.refreshDrops();
    const m = this.policyRuleConnections!;
    m.reset();
    for (const x of this.rules) m.inc({ namespace: x.namespace, policy: x.policy, direction: x.direction, rule: String(x.rule) }, this.ruleTotals.get(x.counter) ?? 0);
  }

  /** The drop series of this node's pods as last compiled, from the totals (0 until counted). */
  private async exportDrops(): Promise<void> {
    await this.refreshDrops();
    span('metrics: drop series', () => this.dropSeries());
  }

  /** One drop metric's exposition text, as prom-client's Registry writes it (HELP, TYPE, one
   *  line per series in the order it holds them), from each series' label text kept since
   *  the series was created. */
  private async dropText(which: 'packets' | 'bytes'): Promise<string> {
    await this.exportDrops();
    return span('metrics: drop text', () => {
      const name = which === 'packets' ? 'netpol_nft_dropped_packets_total' : 'netpol_nft_dropped_bytes_total';
      const lines = [`# HELP ${escapeText(name)} ${escapeText(this.dropHelp[which])}`, `# TYPE ${escapeText(name)} counter`];
      for (const e of this.exported.values()) lines.push(`${name}${e.text} ${valueText(e[which])}`);
      return lines.join('\n');
    });
  }

  /** Counter name -> series key for a list of pods (`keys`: the keys as a set), once per list. */
  private seriesKeys(pods: readonly LocalPod[]): Map<string, string>;
  private seriesKeys(pods: readonly LocalPod[], keys: true): Set<string>;
  private seriesKeys(pods: readonly LocalPod[], keys = false): Map<string, string> | Set<string> {
    let m = this.seriesOf.get(pods);
    if (!m) {
      m = new Map();
      for (const pod of pods) for (const x of this.podSeries(pod)) m.set(x.counter, x.key);
      this.seriesOf.set(pods, m);
    }
    if (!keys) return m;
    let k = this.seriesKeySets.get(pods);
    if (!k) this.seriesKeySets.set(pods, (k = new Set(m.values())));
    return k;
  }
  private readonly seriesKeySets = new WeakMap<readonly LocalPod[], Set<string>>();

  /** Brings the exported drop series to the totals: a series is created when its pod (or
   *  namespace) appears, removed when it goes, and moved by what it counted since the last
   *  scrape. A scrape then costs what changed, not one prom-client call per series (at 5,000
   *  local pods, rebuilding every series held the event loop for 0.1-0.2 s per scrape). */
  private dropSeries(): void {
    // Both drop metrics ask at each scrape: the second finds nothing new.
    if (this.seriesDone?.pods === this.pods && this.seriesDone.reads === this.reads) return;
    this.seriesDone = { pods: this.pods, reads: this.reads };
    const want = this.wantedDropSeries();
    for (const [key, e] of this.exported) {
      if (want.has(key)) continue;
      this.droppedPackets.remove(e.labels);
      this.droppedBytes.remove(e.labels);
      this.exported.delete(key);
    }
    for (const [key, labels] of want) {
      const t = this.dropTotals.get(key) ?? { packets: 0, bytes: 0 };
      let e = this.exported.get(key);
      if (e && (t.packets < e.packets || t.bytes < e.bytes)) {
        // Its totals started again (the series went and came back between two scrapes).
        this.droppedPackets.remove(e.labels);
        this.droppedBytes.remove(e.labels);
        this.exported.delete(key); // prom-client puts it back last: so does this map
        e = undefined;
      }
      if (!e) {
        e = { labels, text: labelText(labels), packets: 0, bytes: 0 };
        this.exported.set(key, e);
        this.droppedPackets.inc(labels, 0);
        this.droppedBytes.inc(labels, 0);
      }
      if (t.packets !== e.packets) this.droppedPackets.inc(labels, t.packets - e.packets);
      if (t.bytes !== e.bytes) this.droppedBytes.inc(labels, t.bytes - e.bytes);
      e.packets = t.packets;
      e.bytes = t.bytes;
    }
  }

  /** The drop series the pods as last compiled call for: key -> labels (computed once per
   *  list of pods). */
  private wantedDropSeries(): ReadonlyMap<string, Record<string, string>> {
    if (this.wanted?.pods === this.pods) return this.wanted.series;
    const series = new Map<string, Record<string, string>>();
    for (const pod of this.pods) for (const s of this.podSeries(pod)) if (!series.has(s.key)) series.set(s.key, s.labels);
    this.wanted = { pods: this.pods, series };
    return series;
  }

  /** One local pod's drop series (counter, series key, labels), once per LocalPod: the engine
   *  hands over the same entry for a pod no event touched, so a new list of 2,500 pods costs
   *  a lookup per pod, not new keys and labels for each (10-14 ms per scrape at L). */
  private podSeries(pod: LocalPod): readonly { counter: string; key: string; labels: Record<string, string> }[] {
    const known = this.seriesOfPod.get(pod);
    if (known) return known;
    const out: { counter: string; key: string; labels: Record<string, string> }[] = [];
    for (const direction of DIRECTIONS) {
      const counter = pod[direction].counter;
      if (!counter) continue;
      out.push({ counter, key: this.dropKey(pod, direction), labels: this.dropMetricsBy === 'pod' ? { namespace: pod.namespace, pod: pod.name, direction } : { namespace: pod.namespace, direction } });
    }
    this.seriesOfPod.set(pod, out);
    return out;
  }
  private readonly seriesOfPod = new WeakMap<LocalPod, readonly { counter: string; key: string; labels: Record<string, string> }[]>();

  observeSync(type: SyncType, seconds: number): void {
    this.syncDuration.observe({ type }, seconds);
  }

  event(kind: ResourceKind, action: ResourceAction): void {
    this.kubernetesEvents.inc({ kind, action });
  }

  /** Local pods by isolation, from the compiler's view of this node. */
  setLocalPods(pods: readonly LocalPod[]): void {
    this.pods = pods;
    const n: Record<Isolation, number> = { none: 0, ingress: 0, egress: 0, both: 0 };
    for (const p of pods) n[p.ingress.isolated ? (p.egress.isolated ? 'both' : 'ingress') : p.egress.isolated ? 'egress' : 'none']++;
    for (const [k, v] of Object.entries(n)) this.localPods.set({ isolation: k }, v);
  }

  setObjects(counts: Record<ObjectType, number>): void {
    for (const [k, v] of Object.entries(counts)) this.nftablesObjects.set({ type: k }, v);
  }
}
