// A ClusterSource fed from a folder of manifests (`run --source DIR`): for tests, demos, GitOps
// folders and nodes without an API server. The folder is watched (fs.watch, recursive where
// the platform allows) with a periodic poll as a fallback, because fs.watch misses events on
// some file systems and editors replace files by rename.
//
// A folder is input anyone with write access to it controls, and files are caught half-way
// through being written. Each scan therefore treats every file on its own:
//  - a file is re-read only when its stamp (inode, size, mtime, ctime) changed; the slim
//    objects of unchanged files, and unchanged objects of changed files, stay the same
//    objects from scan to scan (what the compile cache keys on);
//  - a file that cannot be read (permissions, a dangling link, not a regular file, above the
//    size cap) or does not parse keeps the objects it last gave (a file broken from the
//    start gives what can be read of it), and is reported by name (`failing()`, the
//    source-errors metric, /readyz) until it reads again;
//  - a file that loses objects or gets shorter (rewritten in place, truncated, emptied,
//    removed) keeps what it had until it has stayed the same for `stableMs`: a writer caught
//    between truncating and writing must not delete or cut short its policies, even for
//    70 ms. Writers should write a temporary file and rename it over the old one;
//  - at start, a folder with no object at all is not reported synced (so the agent does not
//    replace the table in force with an empty one) unless `allowEmpty` says it is meant.
import { watch, type FSWatcher } from 'node:fs';
import { clusterFromObjects, sortCluster, type Cluster, type ClusterEvent, type ClusterPolicyInfo, type NamespaceInfo, type PodInfo, type PolicyInfo, type Problem } from '../compiler/index.js';
import type { NodeInfo } from '../compiler/nodes.js';
import { DEFAULT_MAX_FILE_BYTES, listManifests, parseManifestFile, readManifestFile } from './load.js';
import type { Clock, Timer } from './runner.js';
import { systemClock } from './runner.js';
import { objectEvent, type ClusterSource, type ResourceAction, type ResourceKind, type SourceEvent, type SourceHooks } from './source.js';

export interface FileSourceOptions {
  readonly dir: string;
  readonly clock?: Clock;
  /** Rescan this long after the last watch event (editors write in several steps). */
  readonly coalesceMs?: number;
  /** Rescan this often whatever the watcher says (0: never). */
  readonly pollMs?: number;
  /** Use fs.watch (default true); false leaves the poll alone. */
  readonly watch?: boolean;
  /** A file that lost objects must stay unchanged this long before they go (default 1 s). */
  readonly stableMs?: number;
  /** Files larger than this are not read (default 16 MiB). */
  readonly maxFileBytes?: number;
  /** Start (report synced) on a folder that holds no object at all (default false: wait). */
  readonly allowEmpty?: boolean;
  /** Called once per failed read of a file (or folder): 'read' it could not be read,
   *  'parse' a document in it did not parse. For the source-errors metric. */
  readonly onFileError?: (reason: FileErrorReason, path: string) => void;
}

export type FileErrorReason = 'read' | 'parse';

type Snapshot = { cluster: Cluster; problems: Problem[] };
type Slim = NamespaceInfo | PodInfo | PolicyInfo | ClusterPolicyInfo | NodeInfo;

const EMPTY: Snapshot = { cluster: { namespaces: [], pods: [], policies: [] }, problems: [] };

/** JSON of each slim object, computed once per object (unchanged objects keep their identity). */
const jsonOf = new WeakMap<object, string>();
function json(o: object): string {
  let j = jsonOf.get(o);
  if (j === undefined) jsonOf.set(o, (j = JSON.stringify(o)));
  return j;
}

function keyed(c: Cluster): Map<string, { kind: ResourceKind; obj: Slim }> {
  const m = new Map<string, { kind: ResourceKind; obj: Slim }>();
  for (const n of c.namespaces) m.set(`namespace ${n.name}`, { kind: 'namespace', obj: n });
  for (const p of c.pods) m.set(`pod ${p.namespace}/${p.name}`, { kind: 'pod', obj: p });
  for (const p of c.policies) m.set(`networkpolicy ${p.namespace}/${p.name}`, { kind: 'networkpolicy', obj: p });
  for (const p of c.clusterPolicies ?? []) m.set(`clusternetworkpolicy ${p.name}`, { kind: 'clusternetworkpolicy', obj: p });
  for (const n of c.nodes ?? []) m.set(`node ${n.name}`, { kind: 'node', obj: n });
  return m;
}

/** What changed between two scans, one event per object. */
export function changes(prev: Cluster, next: Cluster): { kind: ResourceKind; action: ResourceAction; object: string }[] {
  const a = keyed(prev), b = keyed(next);
  const out: { kind: ResourceKind; action: ResourceAction; object: string }[] = [];
  for (const [k, v] of b) {
    const p = a.get(k);
    if (!p) out.push({ kind: v.kind, action: 'add', object: k });
    else if (p.obj !== v.obj && json(p.obj) !== json(v.obj)) out.push({ kind: v.kind, action: 'update', object: k });
  }
  for (const [k, v] of a) if (!b.has(k)) out.push({ kind: v.kind, action: 'delete', object: k });
  return out;
}

/** The engine's events for the objects `changes` names: each one's form in `c`, or its deletion. */
function changesOf(c: Cluster, diff: readonly { kind: ResourceKind; object: string }[]): ClusterEvent[] {
  if (!diff.length) return [];
  const byKey = new Map<string, unknown>([
    ...c.namespaces.map((n) => [`namespace ${n.name}`, n] as const),
    ...c.pods.map((p) => [`pod ${p.namespace}/${p.name}`, p] as const),
    ...c.policies.map((p) => [`networkpolicy ${p.namespace}/${p.name}`, p] as const),
    ...(c.clusterPolicies ?? []).map((p) => [`clusternetworkpolicy ${p.name}`, p] as const),
    ...(c.nodes ?? []).map((n) => [`node ${n.name}`, n] as const),
  ]);
  return diff.map((d) => {
    const object = d.object.slice(d.object.indexOf(' ') + 1);
    const slash = object.indexOf('/');
    const clusterScoped = d.kind === 'namespace' || d.kind === 'clusternetworkpolicy' || d.kind === 'node';
    const [ns, name] = clusterScoped ? ['', object] : [object.slice(0, slash), object.slice(slash + 1)];
    return objectEvent(d.kind, ns, name, byKey.get(d.object));
  });
}

/** What one file gives: its slim objects (in file order) and the problems of its objects. */
interface Contribution {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly PolicyInfo[];
  readonly clusterPolicies: readonly ClusterPolicyInfo[];
  readonly nodes: readonly NodeInfo[];
  readonly problems: readonly Problem[];
}

const NOTHING: Contribution = { namespaces: [], pods: [], policies: [], clusterPolicies: [], nodes: [], problems: [] };

const keysOf = (c: Contribution) => [
  ...c.namespaces.map((n) => `namespace ${n.name}`), ...c.pods.map((p) => `pod ${p.namespace}/${p.name}`), ...c.policies.map((p) => `networkpolicy ${p.namespace}/${p.name}`),
  ...c.clusterPolicies.map((p) => `clusternetworkpolicy ${p.name}`), ...c.nodes.map((n) => `node ${n.name}`),
];

interface FileState {
  /** Stamp of the content last read (undefined: never read successfully, or gone). */
  stamp?: string;
  /** What the file contributes to the cluster now. */
  held: Contribution;
  /** Why the file is not read as it is now: unreadable, or a document that does not parse. */
  failure?: Problem[];
  /** Stamp of the content that failed (read again only once it changes). */
  failedStamp?: string;
  /** Read whole at least once. */
  everGood?: boolean;
  /** Size in bytes of the content in force. */
  heldSize?: number;
  /** A newer content that loses objects (or is shorter), waiting to be stable: its stamp,
   *  since when, what it gives, its size. */
  shrink?: { stamp: string | undefined; since: number; next: Contribution; size: number };
}

export class FileSource implements ClusterSource {
  private current: Snapshot = EMPTY;
  private hooks: SourceHooks | undefined;
  private watcher: FSWatcher | undefined;
  private pending: Timer | undefined;
  private poll: Timer | undefined;
  private confirm: Timer | undefined;
  private isSynced = false;
  private stopped = false;
  private readonly clock: Clock;
  private files = new Map<string, FileState>();
  private folderFailures: Problem[] = [];
  private waitingForObjects: (() => void) | undefined;
  /** Files read so far (unchanged files are not read again). */
  reads = 0;

  constructor(private readonly o: FileSourceOptions) {
    this.clock = o.clock ?? systemClock;
  }

  async start(hooks: SourceHooks): Promise<void> {
    this.hooks = hooks;
    // An unreadable folder at start is fatal: applying an empty cluster would open every pod.
    // Later, a read failure keeps the last good state (see rescan).
    this.scan(true);
    this.rescan();
    const watching = this.o.watch !== false;
    if (watching) {
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
    }
    this.armPoll();
    if (this.o.allowEmpty || this.objectCount() > 0) {
      this.isSynced = true;
      return;
    }
    // A git-sync or ConfigMap mount not yet in place looks like an empty folder: replacing the
    // table in force with an empty cluster would open every pod of the node. Wait for objects.
    hooks.onError?.(`${this.o.dir} holds no Namespace, Pod or NetworkPolicy: waiting for some before the first sync (the table in force stays); --allow-empty-source starts on an empty folder`);
    await new Promise<void>((resolve) => { this.waitingForObjects = resolve; });
  }

  synced(): boolean {
    return this.isSynced;
  }

  snapshot(): Snapshot {
    return this.current;
  }

  /** Files (and folders) that cannot be read or parsed now, with why: their last good
   *  objects are in force. Empty when all is well. */
  failing(): Problem[] {
    const out = [...this.folderFailures];
    for (const f of this.files.values()) if (f.failure) out.push(...f.failure);
    return out;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.pending?.cancel();
    this.poll?.cancel();
    this.confirm?.cancel();
    this.waitingForObjects?.();
  }

  /** Re-reads what changed in the folder now and reports what changed; returns the number
   *  of changes. A folder that cannot be read keeps the last good state (and says why). */
  rescan(): number {
    let next: Snapshot;
    try {
      next = this.scan(false);
    } catch (e) {
      this.hooks?.onError?.((e as Error).message);
      return 0;
    }
    const diff = changes(this.current.cluster, next.cluster);
    const problemsChanged = JSON.stringify(next.problems) !== JSON.stringify(this.current.problems);
    if (!diff.length && !problemsChanged) return 0;
    this.current = next;
    const seenAt = this.clock.now();
    // Each event carries the object as it now is (or its deletion), so the engine applies it
    // without comparing the whole cluster.
    const events = changesOf(next.cluster, diff);
    diff.forEach((c, i) => this.hooks?.onChange({ kind: c.kind, action: c.action, seenAt, object: c.object.slice(c.object.indexOf(' ') + 1), change: events[i] } satisfies SourceEvent));
    // A document that stopped parsing (or started again) is news even if no object changed.
    if (!diff.length && problemsChanged) this.hooks?.onChange({ kind: 'networkpolicy', action: 'update', seenAt });
    if (this.waitingForObjects && this.objectCount() > 0) {
      this.isSynced = true;
      const go = this.waitingForObjects;
      this.waitingForObjects = undefined;
      go();
    }
    return diff.length + (problemsChanged && !diff.length ? 1 : 0);
  }

  private objectCount(): number {
    const c = this.current.cluster;
    return c.namespaces.length + c.pods.length + c.policies.length + (c.clusterPolicies?.length ?? 0) + (c.nodes?.length ?? 0);
  }

  /** One pass over the folder: updates each file's state, returns the snapshot they make.
   *  Throws (LoadError) only when the folder itself cannot be listed. */
  private scan(first: boolean): Snapshot {
    const now = this.clock.now();
    const stableMs = this.o.stableMs ?? 1000;
    const listing = listManifests(this.o.dir);
    const failedDirs = listing.failed.filter((f) => !/\.(ya?ml|json)$/.test(f.path));
    this.folderFailures = [];
    const seen = new Set<string>();
    let waitUntil: number | undefined;
    const previous = keyed(this.current.cluster);

    const readFile = (path: string): { next: Contribution; failure?: Problem[]; size: number } | 'gone' => {
      this.reads++;
      const r = readManifestFile(path, this.o.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
      if ('error' in r) {
        if (r.gone) return 'gone';
        this.o.onFileError?.('read', path);
        return { next: NOTHING, failure: [{ kind: 'document', object: path, path: '', message: `${r.error}; its last good objects are kept` }], size: 0 };
      }
      const p = parseManifestFile(path, r.text);
      const c = clusterFromObjects(p.objects, p.objects.map((_, i) => (p.objects.length > 1 ? `${path} object ${i + 1}` : path)));
      // A document that does not parse, or an object that cannot be placed (its kind or name
      // unreadable): the file as it is now cannot be trusted to say what it holds.
      const docProblems = [...p.problems, ...c.problems].filter((x) => x.kind === 'document');
      if (docProblems.length) this.o.onFileError?.('parse', path);
      const next: Contribution = {
        namespaces: c.cluster.namespaces.map((n) => same(previous, `namespace ${n.name}`, n)),
        pods: c.cluster.pods.map((x) => same(previous, `pod ${x.namespace}/${x.name}`, x)),
        policies: c.cluster.policies.map((x) => same(previous, `networkpolicy ${x.namespace}/${x.name}`, x)),
        clusterPolicies: (c.cluster.clusterPolicies ?? []).map((x) => same(previous, `clusternetworkpolicy ${x.name}`, x)),
        nodes: (c.cluster.nodes ?? []).map((x) => same(previous, `node ${x.name}`, x)),
        problems: [...p.problems, ...c.problems].filter((x) => x.kind !== 'document'),
      };
      const size = Buffer.byteLength(r.text);
      return docProblems.length ? { next, failure: docProblems.map((d) => ({ ...d, message: `${d.message}; the file's last good objects are kept` })), size } : { next, size };
    };

    for (const f of listing.files) {
      seen.add(f.path);
      let st = this.files.get(f.path);
      if (!st) this.files.set(f.path, (st = { held: NOTHING }));
      if (st.shrink && st.shrink.stamp === f.stamp) {
        // Unchanged since it lost objects: once stable long enough, the loss is real.
        if (now - st.shrink.since >= stableMs) {
          st.held = st.shrink.next;
          st.heldSize = st.shrink.size;
          st.stamp = f.stamp;
          st.shrink = undefined;
        } else waitUntil = Math.min(waitUntil ?? Infinity, st.shrink.since + stableMs);
        continue;
      }
      if (st.failure ? st.failedStamp === f.stamp : st.stamp === f.stamp && !st.shrink) continue; // unchanged: not read again
      const r = readFile(f.path);
      if (r === 'gone') {
        seen.delete(f.path);
        continue;
      }
      if (r.failure) {
        // Keep what the file gave last; read it again only once it changes. A file never read
        // whole before gives what can be read of it (as `compile` does): its other objects
        // still isolate their pods.
        if (st.stamp === undefined && !st.everGood) {
          st.held = r.next;
          st.heldSize = r.size;
        }
        st.failure = r.failure;
        st.failedStamp = f.stamp;
        st.shrink = undefined;
        continue;
      }
      st.failure = undefined;
      st.failedStamp = undefined;
      st.everGood = true;
      // Lost objects, or shorter than what is in force: a file truncated while being
      // rewritten in place parses into fewer objects, or into objects cut short.
      const lost = keysOf(st.held).some((k) => !keysOf(r.next).includes(k)) || (st.heldSize !== undefined && r.size < st.heldSize);
      if (lost && !first && stableMs > 0) {
        st.shrink = { stamp: f.stamp, since: st.shrink?.stamp === f.stamp ? st.shrink.since : now, next: r.next, size: r.size };
        waitUntil = Math.min(waitUntil ?? Infinity, st.shrink.since + stableMs);
        continue;
      }
      st.held = r.next;
      st.heldSize = r.size;
      st.stamp = f.stamp;
      st.shrink = undefined;
    }

    // Files no longer listed: gone for real, or under a folder that could not be read.
    for (const [path, st] of this.files) {
      if (seen.has(path)) continue;
      const under = failedDirs.find((d) => path.startsWith(d.path + '/'));
      if (under) continue; // its folder is unreadable: keep what it gave (reported below)
      const gone = listing.failed.find((d) => d.path === path);
      if (gone) continue; // a dangling link now: handled as a failure below
      if (!keysOf(st.held).length) {
        this.files.delete(path);
        continue;
      }
      if (first) {
        this.files.delete(path);
        continue;
      }
      // Removed: the same wait as any loss (an editor may move the old file away first).
      if (!st.shrink || st.shrink.stamp !== undefined) st.shrink = { stamp: undefined, since: now, next: NOTHING, size: 0 };
      if (now - st.shrink.since >= stableMs) this.files.delete(path);
      else waitUntil = Math.min(waitUntil ?? Infinity, st.shrink.since + stableMs);
    }
    for (const d of listing.failed) {
      const st = this.files.get(d.path);
      const p: Problem = { kind: 'document', object: d.path, path: '', message: `${d.message}; ${st ? "the file's" : 'its'} last good objects are kept` };
      if (st) {
        if (!st.failure || st.failedStamp !== undefined) this.o.onFileError?.('read', d.path);
        st.failure = [p];
        st.failedStamp = undefined; // no stamp to compare: read again once it is listed
      } else {
        if (!this.previousFolderFailures.has(d.path)) this.o.onFileError?.('read', d.path);
        this.folderFailures.push(p);
      }
    }
    this.previousFolderFailures = new Set(listing.failed.map((d) => d.path));
    if (waitUntil !== undefined && !this.stopped && this.hooks) this.confirmAt(waitUntil);
    return this.assemble();
  }

  private previousFolderFailures = new Set<string>();

  /** The cluster the files make now, in file order (the last definition of an object wins
   *  and is reported), sorted as the compiler wants it. */
  private assemble(): Snapshot {
    const namespaces = new Map<string, NamespaceInfo>(), pods = new Map<string, PodInfo>(), policies = new Map<string, PolicyInfo>();
    const clusterPolicies = new Map<string, ClusterPolicyInfo>(), nodes = new Map<string, NodeInfo>();
    const problems: Problem[] = [];
    const paths = [...this.files.keys()].sort();
    for (const path of paths) {
      const st = this.files.get(path)!;
      if (st.failure) problems.push(...st.failure);
      const c = st.held;
      problems.push(...c.problems);
      const put = <T>(m: Map<string, T>, k: string, v: T, kind: Problem['kind']) => {
        if (m.has(k)) problems.push({ kind, object: k, path: '', message: 'defined more than once; the last one read is used' });
        m.set(k, v);
      };
      for (const n of c.namespaces) put(namespaces, n.name, n, 'namespace');
      for (const p of c.pods) put(pods, `${p.namespace}/${p.name}`, p, 'pod');
      for (const p of c.policies) put(policies, `${p.namespace}/${p.name}`, p, 'networkpolicy');
      for (const p of c.clusterPolicies) put(clusterPolicies, p.name, p, 'clusternetworkpolicy');
      for (const n of c.nodes) put(nodes, n.name, n, 'node');
    }
    problems.push(...this.folderFailures);
    const cluster: Cluster = {
      namespaces: [...namespaces.values()], pods: [...pods.values()], policies: [...policies.values()],
      ...(clusterPolicies.size ? { clusterPolicies: [...clusterPolicies.values()] } : {}),
      ...(nodes.size ? { nodes: [...nodes.values()] } : {}),
    };
    return { cluster: sortCluster(cluster), problems };
  }

  /** A rescan when a held loss is due to be confirmed. */
  private confirmAt(at: number): void {
    this.confirm?.cancel();
    this.confirm = this.clock.after(Math.max(0, at - this.clock.now()), () => {
      this.confirm = undefined;
      if (!this.stopped) this.rescan();
    });
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

/** The previous object under `key` when it says the same: unchanged objects keep identity. */
function same<T extends object>(previous: Map<string, { obj: Slim }>, key: string, v: T): T {
  const p = previous.get(key)?.obj;
  return p !== undefined && p !== v && json(p) === json(v) ? (p as T) : v;
}
