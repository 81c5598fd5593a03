// What one sync does: snapshot the source, compile, diff against what the kernel was last
// seen to hold, apply one batch (one nft transaction).
//
//  - The first sync after start is a full replace: it adopts whatever an earlier run left and
//    never leaves a moment without the table.
//  - After any failure, the next attempt is a full replace: a failed batch changes nothing
//    (nft transactions are atomic), but we no longer trust our idea of the kernel's state.
//  - The drift check compares the table's chains (names and hooks, from `nft list chains`,
//    whose cost does not grow with set elements) with the ruleset: a missing table or chain
//    means someone changed it behind our back, and the sync is a full replace. Every
//    `fullResyncEvery`-th drift check replaces the table whole anyway, which also repairs what
//    the cheap check cannot see (a rule or an element changed by hand). Listing the whole
//    table instead would cost seconds at 60,000 elements (nft fetches every element).
//  - Invalid objects are the compiler's business (it fails closed); here they are logged once
//    each, counted, and never stop the agent.
//  - One CompileCache lives as long as the agent: a change costs what it touches.
import type { Logger } from 'pino';
import { batchJson, batchOperations, compile, CompileCache, diffBatch, formatProblem, fullBatch, type CompileOptions, type LocalPod, type Problem, type Ruleset } from '../compiler/index.js';
import type { Metrics, ObjectType, SyncType } from './metrics.js';
import { chainShapes, countersOf, NftError, type NftPort } from './nft.js';
import type { Clock, SyncReason } from './runner.js';
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
}

export class SyncError extends Error {
  constructor(readonly stage: 'compile' | 'apply' | 'verify', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const MAX_TRACKED_EVENTS = 10_000;

export class Agent {
  private applied: Ruleset | undefined;
  private readonly cache = new CompileCache();
  private driftChecks = 0;
  private localPods: readonly LocalPod[] = [];
  private needFull = true;
  private firstSyncDone = false;
  private knownProblems = new Set<string>();
  /** Changes not yet in a sync, and those in the sync in flight (for the programming-latency
   *  histogram); bounded so that a wedged nft cannot grow memory without limit. */
  private pending: SourceEvent[] = [];
  private syncs = 0;

  constructor(private readonly o: AgentOptions) {
    o.metrics.setDropReader(async () => {
      const json = await o.nft.list('inet', this.table, 'counters');
      return json === undefined ? undefined : { counters: countersOf(json), pods: this.localPods };
    });
  }

  get table(): string {
    return this.o.compile.table ?? 'netpol_nft';
  }

  /** True once the first full replace is in the kernel (/readyz). */
  ready(): boolean {
    return this.firstSyncDone;
  }

  /** How many syncs succeeded (for tests and logs). */
  syncCount(): number {
    return this.syncs;
  }

  /** The ruleset the kernel holds as far as we know (undefined before the first sync). */
  appliedRuleset(): Ruleset | undefined {
    return this.applied;
  }

  /** Source hook: count and remember the change; the runner decides when to sync. */
  noteChange(e: SourceEvent): void {
    this.o.metrics.event(e.kind, e.action);
    if (this.pending.length < MAX_TRACKED_EVENTS) this.pending.push(e);
  }

  /** One sync; throws SyncError (already logged and counted) on failure. */
  async sync(reason: SyncReason): Promise<void> {
    const log = this.o.logger;
    if (reason === 'drift' && !this.needFull && this.applied) {
      const every = Math.max(1, this.o.fullResyncEvery ?? 10);
      if (++this.driftChecks % every === 0) log.debug('periodic full resync');
      else if (await this.inSync()) return;
      this.needFull = true;
    }
    const events = this.pending;
    this.pending = [];
    const full = this.needFull || !this.applied;
    const type: SyncType = full ? 'full' : 'partial';
    const started = this.o.clock.now();
    let stage: 'compile' | 'apply' = 'compile';
    try {
      const snap = this.o.source.snapshot();
      const r = compile(snap.cluster, this.o.compile, this.cache);
      this.reportProblems([...snap.problems, ...r.problems]);
      this.o.metrics.networkPolicies.set({ state: 'valid' }, r.policyCount.valid);
      this.o.metrics.networkPolicies.set({ state: 'invalid' }, r.policyCount.invalid);
      this.o.metrics.setLocalPods(r.localPods);

      const batch = full ? fullBatch(r.ruleset) : diffBatch(this.applied!, r.ruleset);
      const ops = batchOperations(batch);
      stage = 'apply';
      if (batch.nftables.length > 0) {
        log.debug({ reason, type, operations: ops }, 'applying');
        await this.o.nft.apply(batchJson(batch));
        this.o.metrics.transactionOperations.observe(ops);
      }
      // From here the kernel holds r.ruleset (one transaction: all of it or, on failure, none).
      this.applied = r.ruleset;
      this.localPods = r.localPods;
      this.needFull = false;
      this.o.metrics.setObjects(countObjects(r.ruleset));

      const done = this.o.clock.now();
      this.o.metrics.syncLastTimestamp.set(done / 1000);
      for (const e of events) this.o.metrics.programmingDuration.observe({ kind: e.kind }, Math.max(0, done - e.seenAt) / 1000);
      this.syncs++;
      if (!this.firstSyncDone) {
        this.firstSyncDone = true;
        log.info({ table: this.table, operations: ops, pods: r.localPods.length, policies: r.policyCount }, 'first sync applied: table in force');
      } else if (batch.nftables.length > 0) {
        log.info({ reason, type, operations: ops, changes: summarize(events) }, 'sync applied');
      }
    } catch (e) {
      this.needFull = true;
      this.pending = [...events, ...this.pending].slice(0, MAX_TRACKED_EVENTS);
      this.o.metrics.syncFailures.inc({ stage });
      const err = e as Error;
      log.error(
        { stage, reason, type, error: err.message, nftError: e instanceof NftError ? { kind: e.kind, detail: e.detail } : undefined },
        `sync failed at ${stage}; the last good ruleset stays in force, retrying with a full replace`,
      );
      throw e instanceof SyncError ? e : new SyncError(stage, err.message, { cause: e });
    } finally {
      this.o.metrics.observeSync(type, (this.o.clock.now() - started) / 1000);
    }
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
    const have = listing === undefined ? undefined : chainShapes(listing, this.table);
    const want = this.applied!.chains.map((c) => JSON.stringify([c.name, c.base?.hook ?? null, c.base?.type ?? null, c.base?.prio ?? null, c.base?.policy ?? null])).sort().join('\n');
    if (have === want) return true;
    this.o.metrics.syncFailures.inc({ stage: 'verify' });
    this.o.logger.warn({ table: this.table, missing: have === undefined }, have === undefined ? 'table was deleted behind our back; restoring it' : 'table was changed behind our back; replacing it');
    return false;
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

function countObjects(rs: Ruleset): Record<ObjectType, number> {
  return {
    chain: rs.chains.length,
    rule: rs.chains.reduce((n, c) => n + c.rules.length, 0),
    set: rs.sets.length + rs.maps.length,
    element: rs.sets.reduce((n, s) => n + s.elems.length, 0) + rs.maps.reduce((n, m) => n + m.elems.length, 0),
  };
}

/** Changes of one sync for its log line: counts per kind, and the first objects by name. */
function summarize(events: readonly SourceEvent[]): { counts: Partial<Record<ResourceKind, number>>; objects?: string[] } {
  const counts: Partial<Record<ResourceKind, number>> = {};
  for (const e of events) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
  const named = events.filter((e) => e.object).map((e) => `${e.action} ${e.kind} ${e.object}`);
  return named.length ? { counts, objects: named.length > 10 ? [...named.slice(0, 10), `... ${named.length - 10} more`] : named } : { counts };
}
