// A ClusterSource fed from a folder of manifests (`run --source DIR`): for tests, demos and
// nodes without an API server. The folder is watched (fs.watch, recursive where the platform
// allows) with a periodic poll as a fallback, because fs.watch misses events on some file
// systems and editors replace files by rename. Each rescan re-reads everything and compares
// the slim objects with the previous scan, so events name what really changed.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { clusterFromObjects, parseManifestText, type Cluster, type Problem } from '../compiler/index.js';
import { LoadError, manifestFiles } from './load.js';
import type { Clock, Timer } from './runner.js';
import { systemClock } from './runner.js';
import type { ClusterSource, ResourceAction, ResourceKind, SourceEvent, SourceHooks } from './source.js';

export interface FileSourceOptions {
  readonly dir: string;
  readonly clock?: Clock;
  /** Rescan this long after the last watch event (editors write in several steps). */
  readonly coalesceMs?: number;
  /** Rescan this often whatever the watcher says (0: never). */
  readonly pollMs?: number;
  /** Use fs.watch (default true); false leaves the poll alone. */
  readonly watch?: boolean;
}

type Snapshot = { cluster: Cluster; problems: Problem[] };

const EMPTY: Snapshot = { cluster: { namespaces: [], pods: [], policies: [] }, problems: [] };

function keyed(c: Cluster): Map<string, { kind: ResourceKind; json: string }> {
  const m = new Map<string, { kind: ResourceKind; json: string }>();
  for (const n of c.namespaces) m.set(`namespace ${n.name}`, { kind: 'namespace', json: JSON.stringify(n) });
  for (const p of c.pods) m.set(`pod ${p.namespace}/${p.name}`, { kind: 'pod', json: JSON.stringify(p) });
  for (const p of c.policies) m.set(`networkpolicy ${p.namespace}/${p.name}`, { kind: 'networkpolicy', json: JSON.stringify(p) });
  return m;
}

/** What changed between two scans, one event per object. */
export function changes(prev: Cluster, next: Cluster): { kind: ResourceKind; action: ResourceAction; object: string }[] {
  const a = keyed(prev), b = keyed(next);
  const out: { kind: ResourceKind; action: ResourceAction; object: string }[] = [];
  for (const [k, v] of b) {
    const p = a.get(k);
    if (!p) out.push({ kind: v.kind, action: 'add', object: k });
    else if (p.json !== v.json) out.push({ kind: v.kind, action: 'update', object: k });
  }
  for (const [k, v] of a) if (!b.has(k)) out.push({ kind: v.kind, action: 'delete', object: k });
  return out;
}

export class FileSource implements ClusterSource {
  private current: Snapshot = EMPTY;
  private hooks: SourceHooks | undefined;
  private watcher: FSWatcher | undefined;
  private pending: Timer | undefined;
  private poll: Timer | undefined;
  private isSynced = false;
  private stopped = false;
  private readonly clock: Clock;

  constructor(private readonly o: FileSourceOptions) {
    this.clock = o.clock ?? systemClock;
  }

  async start(hooks: SourceHooks): Promise<void> {
    this.hooks = hooks;
    // An unreadable folder at start is fatal: applying an empty cluster would open every pod.
    // Later, a read failure keeps the last good state (see rescan).
    this.load();
    this.rescan();
    this.isSynced = true;
    if (this.o.watch === false) return this.armPoll();
    try {
      this.watcher = watch(this.o.dir, { recursive: true }, () => this.soon());
      this.watcher.on('error', (e) => {
        hooks.onError?.(`watching ${this.o.dir}: ${e.message}; polling only`);
        hooks.onWatchRestart?.('pod', 'error');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (e) {
      hooks.onError?.(`cannot watch ${this.o.dir}: ${(e as Error).message}; polling only`);
    }
    this.armPoll();
  }

  synced(): boolean {
    return this.isSynced;
  }

  snapshot(): Snapshot {
    return this.current;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.pending?.cancel();
    this.poll?.cancel();
  }

  /** Re-reads the folder now and reports what changed; returns the number of changes.
   *  A folder that cannot be read keeps the last good state (and says why). */
  rescan(): number {
    let next: Snapshot;
    try {
      next = this.load();
    } catch (e) {
      this.hooks?.onError?.((e as Error).message);
      return 0;
    }
    const diff = changes(this.current.cluster, next.cluster);
    const problemsChanged = JSON.stringify(next.problems) !== JSON.stringify(this.current.problems);
    this.current = next;
    const seenAt = this.clock.now();
    for (const c of diff) this.hooks?.onChange({ kind: c.kind, action: c.action, seenAt, object: c.object.slice(c.object.indexOf(' ') + 1) } satisfies SourceEvent);
    // A document that stopped parsing (or started again) is news even if no object changed.
    if (!diff.length && problemsChanged) this.hooks?.onChange({ kind: 'networkpolicy', action: 'update', seenAt });
    return diff.length + (problemsChanged && !diff.length ? 1 : 0);
  }

  /** Objects of each file as last parsed without error. */
  private lastGood = new Map<string, unknown[]>();

  /** Like loadCluster, file by file, except that a file which does not parse (an editor
   *  half-way through writing it) keeps the objects it held last time: a policy must not
   *  vanish, opening its pods, because its file was caught mid-write. The problem is still
   *  reported; a file seen broken from the start contributes nothing. */
  private load(): Snapshot {
    const objects: unknown[] = [];
    const problems: Problem[] = [];
    const good = new Map<string, unknown[]>();
    for (const f of manifestFiles(this.o.dir)) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted during the scan
        throw new LoadError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const r = parseManifestText(text, f);
      problems.push(...r.problems);
      const broken = r.problems.some((p) => p.kind === 'document');
      const keep = broken ? this.lastGood.get(f) : undefined;
      const objs = keep ?? r.objects;
      if (!broken || keep) good.set(f, objs);
      objects.push(...objs);
    }
    this.lastGood = good;
    const c = clusterFromObjects(objects);
    return { cluster: c.cluster, problems: [...problems, ...c.problems] };
  }

  private soon(): void {
    if (this.stopped) return;
    this.pending?.cancel();
    this.pending = this.clock.after(this.o.coalesceMs ?? 20, () => {
      this.pending = undefined;
      if (!this.stopped) this.rescan();
    });
  }

  private armPoll(): void {
    const every = this.o.pollMs ?? 2000;
    if (!every || this.stopped) return;
    this.poll = this.clock.after(every, () => {
      if (this.stopped) return;
      this.rescan();
      this.armPoll();
    });
  }
}
