// What one sync does: bring the policy engine up to date with the source, take the engine's
// transaction (the delta since the last commit, or the whole table) and hand it to nft.
//
//  - The engine (compiler/graph/engine.ts) is updated per object event as events arrive
//    (noteChange). A source event without the object (a relist, a source that only says
//    "something changed") makes the next sync reconcile: the snapshot is compared with what
//    the engine holds, key by key, and the differences applied as events, in slices so
//    that the event loop keeps answering (/healthz, watches) while a large list goes in.
//  - The first sync after start is a full replace: it adopts whatever an earlier run left and
//    never leaves a moment without the table.
//  - After any failure, the next attempt is a full replace from the engine's wanted state: a
//    failed batch changes nothing (nft transactions are atomic), but we no longer trust our
//    idea of the kernel's state.
//  - Every transaction carries a new generation (the conntrack-mark stamp, controller/
//    generation.ts): connections decided under an older ruleset are decided again at their
//    next packet, and no stamp can become valid again.
//  - The table names its writer (the marker chain `gen_<serial>_<stamp>_<owner>`). Each
//    transaction replaces our marker, deleting the previous one in the same transaction: if
//    another writer replaced it, the transaction fails as a whole (compare-and-swap). A full
//    sync first reads the chains; a table of another owner is left alone (unless
//    --take-over): an error names the other writer, netpol_nft_foreign_writer is 1 and
//    /readyz fails, and we never flip enforcement back.
//  - The drift check compares the table's chains (names and hooks, from `nft list chains`,
//    whose cost does not grow with set elements) with ours: a missing table or chain means
//    someone changed it behind our back, and the sync is a full replace. Every
//    `fullResyncEvery`-th drift check replaces the table whole anyway, which also repairs what
//    the cheap check cannot see (a rule or an element changed by hand).
//  - Invalid objects are the compiler's business (it fails closed); here they are logged once
//    each, counted, and never stop the agent.
import type { Logger } from 'pino';
import { batchJson, batchOperations, DEFAULT_CT_MARK_MASK, formatProblem, PolicyEngine, type Batch, type ChainDef, type Cluster, type ClusterEvent, type CompileOptions, type LocalPod, type Problem, type RuleCounter, type Ruleset } from '../compiler/index.js';
import { parseGenerationChain } from '../compiler/nft/names.js';
import { GenerationSchedule, type ConntrackPort, type GenerationStep, type TableMarker } from './generation.js';
import type { Metrics, ObjectType, SyncType } from './metrics.js';
import { chainShapes, countersOf, NftError, type NftPort } from './nft.js';
import type { Clock, SyncReason } from './runner.js';
import { begin, slicer, span } from './spans.js';
import { reapTraceChains } from './trace-chains.js';
import type { ClusterSource, ResourceKind, SourceEvent } from './source.js';

export interface AgentOptions {
  readonly source: ClusterSource;
  readonly nft: NftPort;
  readonly compile: CompileOptions;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Every how many drift checks the table is replaced whole regardless (default 10). */
  readonly fullResyncEvery?: number;
  /** Clears the verdict cache's stamps in the conntrack table (controller/generation.ts). */
  readonly conntrack: ConntrackPort;
  /** Replace a table that another owner wrote (default false: refuse and report). */
  readonly takeOver?: boolean;
}

export class SyncError extends Error {
  constructor(readonly stage: 'compile' | 'apply' | 'verify' | 'owner', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const MAX_TRACKED_EVENTS = 10_000;
/** Events applied to the engine between two yields of the event loop, at most; and the
 *  longest a slice runs (agent clock, ms) before it yields, whatever its count. */
const SLICE = 500;
const SLICE_MS = 10;
/** The reconcile's units of work (an object compared or looked up, a few microseconds each)
 *  between two yields of the event loop at most: a `null` of reconcileSteps. */
const RECONCILE_UNITS = 500;

export class Agent {
  private readonly engine: PolicyEngine;
  private readonly generations: GenerationSchedule;
  private generation = 0;
  /** The marker chain the kernel holds, as last read or written (the full batch's guard). */
  private marker: string | undefined;
  /** The other writer while we refuse its table. */
  private foreignOwner: string | undefined;
  /** The chains the kernel holds as far as we know (their shapes, as the drift check compares
   *  them, computed at the check: at 6,000 chains at L, computing them at every sync held the
   *  loop for 16 ms per sync). */
  private appliedChainDefs: readonly ChainDef[] | undefined;
  private appliedShapes: { of: readonly ChainDef[]; shapes: string } | undefined;
  private get appliedChains(): string | undefined {
    const defs = this.appliedChainDefs;
    if (!defs) return undefined;
    if (this.appliedShapes?.of !== defs) this.appliedShapes = { of: defs, shapes: chainShapesOf(defs) };
    return this.appliedShapes.shapes;
  }
  private driftChecks = 0;
  private localPods: readonly LocalPod[] = [];
  /** The policy rules' counters the kernel holds (--policy-rule-counters). */
  private ruleCounters: readonly RuleCounter[] = [];
  private needFull = true;
  /** The engine must be compared with the source's snapshot (start, relist, no object). */
  private needReconcile = true;
  private firstSyncDone = false;
  private knownProblems = new Set<string>();
  /** Changes not yet in a sync, and those in the sync in flight (for the programming-latency
   *  histogram); bounded so that a wedged nft cannot grow memory without limit. */
  private pending: SourceEvent[] = [];
  private syncs = 0;
  /** True from the start of a sync until its batch is committed (or failed): events that
   *  arrive meanwhile wait in `deferred`, since committing would mark them as written. */
  private syncing = false;
  private deferred: ClusterEvent[] = [];

  constructor(private readonly o: AgentOptions) {
    this.engine = new PolicyEngine(o.compile);
    const mask = o.compile.establishedFastPath ? 0 : (o.compile.ctMarkMask ?? DEFAULT_CT_MARK_MASK);
    this.generations = new GenerationSchedule(mask, o.conntrack, {
      pass: (error) => {
        o.metrics.conntrackClears.inc({ result: error === undefined ? 'ok' : 'failed' });
        if (error === undefined) o.logger.info({ mask: `0x${mask.toString(16)}` }, 'cleared the verdict-cache stamps of every conntrack entry (start, or before the stamps wrap)');
        else o.logger.error({ error }, 'could not clear the verdict-cache stamps: this transaction turns the cache off (every packet decided) until a pass succeeds');
      },
    });
    o.metrics.setDropReader(async () => {
      const json = await o.nft.list('inet', this.table, 'counters');
      return json === undefined ? undefined : { counters: countersOf(json), pods: this.localPods, rules: this.ruleCounters };
    });
  }

  get table(): string {
    return this.engine.table;
  }

  /** True once the first full replace is in the kernel, while no other writer holds the
   *  table (/readyz). */
  ready(): boolean {
    return this.firstSyncDone && this.foreignOwner === undefined;
  }

  /** Why /readyz fails beyond "not synced yet", if it does. */
  notReadyReason(): string | undefined {
    return this.foreignOwner === undefined ? undefined : `table inet ${this.table} belongs to another writer (owner ${this.foreignOwner}); not writing it`;
  }

  get owner(): string {
    return this.o.compile.owner ?? '';
  }

  /** How many syncs succeeded (for tests and logs). */
  syncCount(): number {
    return this.syncs;
  }

  /** The ruleset the kernel holds as far as we know (undefined before the first sync). */
  appliedRuleset(): Ruleset | undefined {
    return this.firstSyncDone ? this.engine.ruleset(this.generation) : undefined;
  }

  /** The engine's map from our table's chains and addresses back to policies and pods (for
   *  the drop log; it follows the engine, which may be a sync ahead of the kernel). */
  origins(): { chainInfo: PolicyEngine['chainInfo']; podAt: PolicyEngine['podAt'] } {
    return { chainInfo: (c) => this.engine.chainInfo(c), podAt: (ip) => this.engine.podAt(ip) };
  }

  /** Source hook: count the change and apply it to the engine; the runner decides when to sync. */
  noteChange(e: SourceEvent): void {
    this.o.metrics.event(e.kind, e.action);
    if (this.pending.length < MAX_TRACKED_EVENTS) this.pending.push(e);
    if (!e.change || this.needReconcile) this.needReconcile = true;
    else if (this.syncing) this.deferred.push(e.change);
    else span('event: engine update', () => this.engine.apply(e.change!));
  }

  /** One sync; throws SyncError (already logged and counted) on failure. */
  async sync(reason: SyncReason): Promise<void> {
    const log = this.o.logger;
    if (reason === 'drift' && !this.needFull && this.appliedChainDefs !== undefined) {
      const every = Math.max(1, this.o.fullResyncEvery ?? 10);
      if (++this.driftChecks % every === 0) log.debug('periodic full resync');
      else if (await this.inSync()) return;
      this.needFull = true;
    }
    const events = this.pending;
    this.pending = [];
    const full = this.needFull;
    const type: SyncType = full ? 'full' : 'partial';
    const started = this.o.clock.now();
    let stage: 'compile' | 'apply' | 'owner' = 'compile';
    this.syncing = true;
    try {
      if (full) {
        stage = 'apply'; // a listing through nft
        await this.readTable();
        stage = 'compile';
      }
      let sourceProblems: readonly Problem[];
      if (this.needReconcile) {
        this.needReconcile = false;
        // In no particular order when the source can say so: the reconcile compares key by key.
        const snap = span('source snapshot', () => this.o.source.unsortedSnapshot?.() ?? this.o.source.snapshot());
        sourceProblems = snap.problems;
        await this.reconcile(snap.cluster);
      } else sourceProblems = span('source problems', () => this.o.source.problems?.() ?? this.o.source.snapshot().problems);
      let gauges = begin('problems');
      const tiers = this.engine.tierReport();
      this.reportProblems([...sourceProblems, ...this.engine.problems(), ...tierNotes(tiers)]);
      gauges();
      gauges = begin('policy gauges');
      const count = this.engine.policyCount();
      this.o.metrics.networkPolicies.set({ state: 'valid' }, count.valid);
      this.o.metrics.networkPolicies.set({ state: 'invalid' }, count.invalid);
      for (const tier of ['Admin', 'Baseline'] as const) {
        for (const [state, n] of Object.entries(tiers.policies[tier])) this.o.metrics.clusterNetworkPolicies.set({ tier, state }, n);
        this.o.metrics.clusterNetworkPolicyTies.set({ tier }, tiers.ties[tier].length);
      }
      this.o.metrics.clusterNetworkPolicies.set({ tier: 'none', state: 'invalid' }, tiers.unusable);
      gauges();
      const pods = slicer('local pods slice', yieldLoop);
      for (const _ of this.engine.localPodsSteps(SLICE)) await pods.pause();
      pods.done();
      const localPods = span('local pods', () => this.engine.localPods());
      span('local pod gauges', () => this.o.metrics.setLocalPods(localPods));

      // A generation (and its clearing pass, when one is due) only for a transaction.
      const step: GenerationStep | undefined = full || this.engine.changed() ? await this.generations.next() : undefined;
      if (step?.cacheOff) log.warn({ reason: step.cacheOff }, 'this transaction runs without the verdict cache (every packet decided)');
      const marker = step ? { serial: step.serial, ...(full && this.marker !== undefined ? { guard: this.marker } : {}) } : undefined;
      let batch: Batch | undefined;
      if (step && full) {
        const slices = slicer('full batch slice', yieldLoop);
        batch = await this.engine.fullBatchSliced(step.stamp, slices.pause, marker);
        slices.done();
      } else if (step) batch = span('delta batch', () => this.engine.deltaBatch(step.stamp, marker));
      const ops = batch ? await operationsInSlices(batch) : 0;
      stage = 'apply';
      if (batch && step) {
        log.debug({ reason, type, operations: ops }, 'applying');
        const json = await jsonInSlices(batch);
        // A full replace starts every counter from 0: what they counted since the last
        // scrape is read first (the metrics keep the totals), not lost.
        if (full && this.firstSyncDone) await this.o.metrics.readCountersNow();
        await this.o.nft.apply(json);
        this.o.metrics.transactionOperations.observe(ops);
        this.generation = step.stamp;
        this.generations.commit(step);
        this.marker = this.engine.chains().find((c) => parseGenerationChain(c.name))?.name;
        this.o.metrics.verdictCache.set(step.stamp);
        if (step.followUp) {
          // The table had no marker (an older agent, `compile`): its stamp was unknown, so
          // that transaction left the cache out. Nothing stamps now: clear, and turn it on.
          this.engine.commit();
          const on = await this.generations.next();
          const again = on.stamp !== 0 ? this.engine.deltaBatch(on.stamp, { serial: on.serial }, true) : undefined;
          if (again) {
            await this.o.nft.apply(await jsonInSlices(again));
            this.generation = on.stamp;
            this.generations.commit(on);
            this.marker = this.engine.chains().find((c) => parseGenerationChain(c.name))?.name;
            this.o.metrics.verdictCache.set(on.stamp);
          }
        }
      }
      // From here the kernel holds the engine's wanted table (one transaction: all or none).
      const committing = begin('commit');
      this.engine.commit();
      this.appliedChainDefs = this.engine.chains();
      this.localPods = localPods;
      this.ruleCounters = this.engine.ruleCounters();
      this.o.metrics.setRuleCounters(this.ruleCounters);
      this.needFull = false;
      this.o.metrics.setObjects(this.engine.objectCounts() as Record<ObjectType, number>);
      committing();

      const done = this.o.clock.now();
      this.o.metrics.syncLastTimestamp.set(done / 1000);
      for (const e of events) this.o.metrics.programmingDuration.observe({ kind: e.kind }, Math.max(0, done - e.seenAt) / 1000);
      this.syncs++;
      if (!this.firstSyncDone) {
        this.firstSyncDone = true;
        log.info({ table: this.table, operations: ops, pods: localPods.length, policies: count }, 'first sync applied: table in force');
      } else if (batch) {
        log.info({ reason, type, operations: ops, changes: summarize(events) }, 'sync applied');
      }
    } catch (e) {
      this.needFull = true;
      this.pending = [...events, ...this.pending].slice(0, MAX_TRACKED_EVENTS);
      if (e instanceof SyncError && e.stage === 'owner') throw e; // logged once per writer, counted
      this.o.metrics.syncFailures.inc({ stage });
      const err = e as Error;
      log.error(
        { stage, reason, type, error: err.message, nftError: e instanceof NftError ? { kind: e.kind, detail: e.detail } : undefined },
        `sync failed at ${stage}; the last good ruleset stays in force, retrying with a full replace`,
      );
      throw e instanceof SyncError ? e : new SyncError(stage, err.message, { cause: e });
    } finally {
      // Events that arrived during the sync go into the engine now (the next sync sends them),
      // in slices: a long sync under a burst leaves hundreds. Until the last is in, newer
      // events keep joining the queue (applying one before an older one would reorder them).
      await this.applyDeferred();
      this.syncing = false;
      this.o.metrics.observeSync(type, (this.o.clock.now() - started) / 1000);
    }
  }

  /** Before a full sync: who wrote the table, and which stamp is in force (the chains
   *  listing, whose cost does not grow with set elements). Throws SyncError('owner') when
   *  another owner's marker is there and we may not take over. */
  private async readTable(): Promise<void> {
    const listing = await this.o.nft.list('inet', this.table, 'chains');
    const exists = listing !== undefined && chainShapes(listing, this.table) !== undefined;
    const markers = listing === undefined ? [] : markersOf(listing, this.table);
    const found: TableMarker | undefined = markers.length === 1 ? markers[0] : undefined;
    const other = markers.find((m) => m.owner !== this.owner);
    if (other && !this.o.takeOver) {
      this.o.metrics.syncFailures.inc({ stage: 'owner' });
      this.o.metrics.foreignWriter.set(1);
      if (this.foreignOwner !== other.owner) {
        this.o.logger.error(
          { table: this.table, owner: this.owner, otherOwner: other.owner },
          `table inet ${this.table} is written by another agent (owner ${other.owner}); not writing it (stop the other writer, give one of them another --table, or start this one with --take-over)`,
        );
      }
      this.foreignOwner = other.owner;
      throw new SyncError('owner', `table inet ${this.table} belongs to owner ${other.owner}`);
    }
    if (this.foreignOwner !== undefined || other) this.o.logger.warn({ table: this.table, owner: this.owner, previousOwner: other?.owner ?? this.foreignOwner }, 'taking the table over');
    this.foreignOwner = undefined;
    this.o.metrics.foreignWriter.set(0);
    this.generations.adopt(found, exists, this.owner);
    // Several markers (not ours to explain) or none: no guard; the stamp in force is unknown.
    this.marker = markers.length === 1 ? generationChainName(markers[0]!) : undefined;
  }

  /** Brings the engine to the snapshot: the differences by key, applied in slices. */
  private async reconcile(cluster: Cluster): Promise<void> {
    const slices = slicer('reconcile slice', yieldLoop);
    let n = 0;
    let since = this.o.clock.now();
    for (const ev of this.engine.reconcileSteps(cluster, RECONCILE_UNITS)) {
      if (ev !== null) this.engine.apply(ev);
      // A slice of objects compared (null), SLICE events applied, or SLICE_MS spent.
      if (ev === null || ++n % SLICE === 0 || this.o.clock.now() - since >= SLICE_MS) {
        await slices.pause();
        since = this.o.clock.now();
      }
    }
    slices.done();
  }

  /** The events deferred during a sync, into the engine in order, a slice at a time (SLICE
   *  events or SLICE_MS, whichever comes first). */
  private async applyDeferred(): Promise<void> {
    const slices = slicer('deferred events slice', yieldLoop);
    let since = this.o.clock.now();
    // Events noted during a pause join the same array, behind the others.
    for (let i = 0; i < this.deferred.length; ) {
      this.engine.apply(this.deferred[i++]!);
      if (i < this.deferred.length && (i % SLICE === 0 || this.o.clock.now() - since >= SLICE_MS)) {
        await slices.pause();
        since = this.o.clock.now();
      }
    }
    this.deferred = [];
    slices.done();
  }

  /** Drift check: does the kernel still hold the chains we last applied? */
  private async inSync(): Promise<boolean> {
    let listing: string | undefined;
    try {
      listing = await this.o.nft.list('inet', this.table, 'chains');
    } catch (e) {
      this.o.metrics.syncFailures.inc({ stage: 'verify' });
      this.o.logger.warn({ error: (e as Error).message }, 'drift check could not list the chains; replacing the table');
      return false;
    }
    if (listing !== undefined) await this.reapTraces(listing);
    const have = listing === undefined ? undefined : chainShapes(listing, this.table);
    if (have === this.appliedChains) return true;
    this.o.metrics.syncFailures.inc({ stage: 'verify' });
    this.o.logger.warn({ table: this.table, missing: have === undefined }, have === undefined ? 'table was deleted behind our back; restoring it' : 'table was changed behind our back; replacing it');
    return false;
  }

  /** Deletes the chains of traces that ended without cleaning up (killed, or past their
   *  expiry): see controller/trace.ts. A failure is logged and retried at the next check. */
  private async reapTraces(listing: string): Promise<void> {
    try {
      const dead = await reapTraceChains(this.o.nft, this.table, this.o.clock.now() / 1000, listing);
      if (dead.length) this.o.logger.info({ chains: dead }, 'removed the chains of traces that ended without removing them');
    } catch (e) {
      this.o.metrics.syncFailures.inc({ stage: 'verify' });
      this.o.logger.warn({ error: (e as Error).message }, 'could not remove the chains of ended traces; retrying at the next drift check');
    }
  }

  /** Logs each problem once while it lasts (a sync every second must not repeat them). */
  private reportProblems(problems: readonly Problem[]): void {
    const now = new Set(problems.map(formatProblem));
    for (const p of problems) {
      const text = formatProblem(p);
      if (!this.knownProblems.has(text)) this.o.logger.warn({ object: `${p.kind} ${p.object}`, path: p.path }, text);
    }
    for (const t of this.knownProblems) if (!now.has(t)) this.o.logger.info(`resolved: ${t}`);
    this.knownProblems = now;
  }
}

/** Ties and unsupported parts of ClusterNetworkPolicies, worded as problems: one log line
 *  each when they appear, one when they are resolved. */
function tierNotes(t: ReturnType<PolicyEngine['tierReport']>): Problem[] {
  const out: Problem[] = [];
  for (const tier of ['Admin', 'Baseline'] as const) {
    for (const names of t.ties[tier]) {
      out.push({ kind: 'clusternetworkpolicy', object: names.join(', '), path: 'spec.priority', message: `equal priorities in the ${tier} tier: evaluated by name (${names.join(' before ')}); the API leaves this order to the implementation, so do not rely on it` });
    }
  }
  for (const u of t.unsupported) out.push({ kind: 'clusternetworkpolicy', object: u.policy, path: '', message: `unsupported, not enforced: ${u.what}` });
  return out;
}

/** Marker chains of our table in a `nft -j list chains` listing. */
function markersOf(json: string, table: string): (TableMarker & { readonly name: string })[] {
  const doc = JSON.parse(json) as { nftables: Record<string, { table?: unknown; name?: unknown; family?: unknown }>[] };
  const out: (TableMarker & { name: string })[] = [];
  for (const o of doc.nftables) {
    const c = o.chain;
    if (!c || c.table !== table || c.family !== 'inet' || typeof c.name !== 'string') continue;
    const m = parseGenerationChain(c.name);
    if (m) out.push({ ...m, name: c.name });
  }
  return out;
}

const generationChainName = (m: TableMarker & { readonly name: string }) => m.name;

/** The chains as the drift check compares them with `nft list chains` (controller/nft.ts). */
function chainShapesOf(chains: readonly ChainDef[]): string {
  return chains.map((c) => JSON.stringify([c.name, c.base?.hook ?? null, c.base?.type ?? null, c.base?.prio ?? null, c.base?.policy ?? null])).sort().join('\n');
}

const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

/** A batch as nft's JSON, serialised a few thousand commands at a time so that a large full
 *  batch does not hold the event loop in one JSON.stringify. */
export async function jsonInSlices(b: Batch): Promise<string> {
  if (b.nftables.length <= 500) return span('batch JSON', () => batchJson(b));
  const slices = slicer('batch JSON slice', yieldLoop);
  const parts: string[] = [];
  // A slice ends after 500 commands or 256 KB of JSON: one `add set` of a large set is as
  // much text as hundreds of rules (2,000 commands a slice held the loop for 20-45 ms at L).
  let chars = 0, n = 0;
  for (const c of b.nftables) {
    const s = JSON.stringify(c);
    parts.push(s);
    chars += s.length;
    if (++n >= 500 || chars >= 256 * 1024) {
      n = chars = 0;
      await slices.pause();
    }
  }
  const json = `{"nftables":[${parts.join(',')}]}\n`;
  slices.done();
  return json;
}

/** batchOperations of a batch, counted a few thousand commands at a time (a full batch at L
 *  is 140,000 operations: counting them in one go held the loop for 50-80 ms). */
async function operationsInSlices(b: Batch): Promise<number> {
  if (b.nftables.length <= 2000) return span('count operations', () => batchOperations(b));
  const slices = slicer('count operations slice', yieldLoop);
  let n = 0;
  for (let i = 0; i < b.nftables.length; i += 2000) {
    n += batchOperations({ nftables: b.nftables.slice(i, i + 2000) });
    await slices.pause();
  }
  slices.done();
  return n;
}

/** Changes of one sync for its log line: counts per kind, and the first objects by name. */
function summarize(events: readonly SourceEvent[]): { counts: Partial<Record<ResourceKind, number>>; objects?: string[] } {
  const counts: Partial<Record<ResourceKind, number>> = {};
  for (const e of events) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
  const named = events.filter((e) => e.object).map((e) => `${e.action} ${e.kind} ${e.object}`);
  return named.length ? { counts, objects: named.length > 10 ? [...named.slice(0, 10), `... ${named.length - 10} more`] : named } : { counts };
}
