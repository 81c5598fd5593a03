// An in-test Kubernetes API server: real HTTP on 127.0.0.1, speaking the list/watch protocol
// for pods, namespaces, networkpolicies, nodes and clusternetworkpolicies (a custom resource,
// whose CRD can be absent: `crdInstalled`) well enough for the real @kubernetes/client-node.
//
// What it models (and why each piece is here):
// - one global, monotonically increasing resourceVersion shared by every kind, as etcd does;
//   lists carry it in `metadata.resourceVersion`, objects in theirs;
// - paginated lists (`limit` / `continue`), the continue token pinned to the list's snapshot;
// - watches from a resourceVersion: every event after it, then live events, as JSON lines on a
//   chunked response; `resourceVersion` absent or "0" starts with synthetic ADDED events;
// - a bounded history: a watch (or a continue token) older than the compaction point gets
//   410 Gone, as an ERROR event carrying a Status (what the real watch cache does) or as an
//   HTTP 410 response (`goneAs: 'http'`, what etcd-backed watches do);
// - BOOKMARK events to watchers that asked for them (`allowWatchBookmarks=true`);
// - field selectors (`a.b=v`, `a.b!=v`, comma = AND) on lists and watches; on a watch an
//   object that stops matching arrives as DELETED and one that starts matching as ADDED, as
//   the real watch cache does;
// - faults on demand: cut every watch, refuse connections, stall streams (a dead TCP peer).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export type Kind = 'pod' | 'namespace' | 'networkpolicy' | 'clusternetworkpolicy' | 'node';

interface ResourceInfo {
  readonly kind: string;
  readonly apiVersion: string;
  readonly path: string;
  readonly namespaced: boolean;
}

export const RESOURCES: Readonly<Record<Kind, ResourceInfo>> = {
  pod: { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', namespaced: true },
  namespace: { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', namespaced: false },
  networkpolicy: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', path: '/apis/networking.k8s.io/v1/networkpolicies', namespaced: true },
  clusternetworkpolicy: { kind: 'ClusterNetworkPolicy', apiVersion: 'policy.networking.k8s.io/v1alpha2', path: '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies', namespaced: false },
  node: { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', namespaced: false },
};

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEvent {
  readonly rv: number;
  readonly kind: Kind;
  readonly type: EventType;
  readonly object: KubeObject;
  /** The object before this event (for field-selector transitions). */
  readonly prev: KubeObject | undefined;
}

type FieldSelector = (o: KubeObject) => boolean;

/** `status.phase!=Succeeded,spec.nodeName=n1` -> predicate; throws on what it cannot read. */
export function parseFieldSelector(sel: string | undefined): FieldSelector {
  if (!sel) return () => true;
  const terms = sel.split(',').map((t) => {
    const m = /^([A-Za-z0-9.]+)(!=|==|=)(.*)$/.exec(t.trim());
    if (!m) throw new Error(`bad field selector term ${JSON.stringify(t)}`);
    const [, path, op, value] = m as unknown as [string, string, string, string];
    return (o: KubeObject) => {
      let v: unknown = o;
      for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
      const s = v === undefined || v === null ? '' : String(v);
      return op === '!=' ? s !== value : s === value;
    };
  });
  return (o) => terms.every((t) => t(o));
}

export interface KubeObject {
  kind?: string;
  apiVersion?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RequestLogEntry {
  readonly method: string;
  readonly kind: Kind | undefined;
  readonly path: string;
  readonly watch: boolean;
  readonly query: Readonly<Record<string, string>>;
}

interface Watcher {
  readonly kind: Kind;
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
  readonly matches: FieldSelector;
  stalled: boolean;
}

interface ContinueState {
  readonly rv: number;
  readonly items: readonly KubeObject[];
  readonly offset: number;
}

export interface FakeKubeApiOptions {
  /** How a too-old resourceVersion is refused: an ERROR event in a 200 stream (default) or HTTP 410. */
  goneAs?: 'event' | 'http';
}

const clone = <T>(o: T): T => structuredClone(o);

function keyOf(kind: Kind, o: KubeObject): string {
  return RESOURCES[kind].namespaced ? `${o.metadata.namespace ?? 'default'}/${o.metadata.name}` : o.metadata.name;
}

export class FakeKubeApi {
  private server: Server | undefined;
  private port = 0;
  private rv = 1;
  /** Watches from below this resourceVersion (and continue tokens older than it) get 410. */
  private compactedBelow = 0;
  private readonly objects: Record<Kind, Map<string, KubeObject>> = { pod: new Map(), namespace: new Map(), networkpolicy: new Map(), clusternetworkpolicy: new Map(), node: new Map() };
  /** False: the ClusterNetworkPolicy CRD is not installed (its path answers 404, as a real
   *  API server does for an unknown resource). Installing it later is `crdInstalled = true`;
   *  removing it also removes its objects. */
  private crd = true;
  private history: HistoryEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly continues = new Map<string, ContinueState>();
  private nextToken = 1;
  private paused = false;
  private readonly failures: { kind: Kind; watch: boolean; code: number; times: number }[] = [];
  goneAs: 'event' | 'http';

  get crdInstalled(): boolean {
    return this.crd;
  }

  set crdInstalled(v: boolean) {
    if (this.crd === v) return;
    if (!v) {
      for (const o of [...this.objects.clusternetworkpolicy.values()]) this.delete('clusternetworkpolicy', o);
      // A real API server ends the watches of a resource whose CRD goes away.
      for (const w of [...this.watchers]) if (w.kind === 'clusternetworkpolicy') w.res.end();
    }
    this.crd = v;
  }
  /** Every request, in arrival order, for assertions. */
  readonly requests: RequestLogEntry[] = [];

  constructor(opts: FakeKubeApiOptions = {}) {
    this.goneAs = opts.goneAs ?? 'event';
  }

  async start(): Promise<void> {
    await this.listen(0);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A client configuration pointing at this server over plain HTTP. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'tester', token: 'test-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'tester' }],
      currentContext: 'fake',
    });
    return kc;
  }

  async close(): Promise<void> {
    this.dropConnections({ abrupt: true });
    await this.unlisten();
  }

  // --- state changes -------------------------------------------------------------------

  /** The current resourceVersion (the last one handed out). */
  resourceVersion(): number {
    return this.rv;
  }

  add(kind: Kind, obj: KubeObject): KubeObject {
    const k = keyOf(kind, obj);
    if (this.objects[kind].has(k)) throw new Error(`fake api: ${kind} ${k} already exists`);
    return this.record(kind, 'ADDED', obj);
  }

  update(kind: Kind, obj: KubeObject): KubeObject {
    const k = keyOf(kind, obj);
    if (!this.objects[kind].has(k)) throw new Error(`fake api: ${kind} ${k} does not exist`);
    return this.record(kind, 'MODIFIED', obj);
  }

  /** Adds or updates. */
  apply(kind: Kind, obj: KubeObject): KubeObject {
    return this.objects[kind].has(keyOf(kind, obj)) ? this.update(kind, obj) : this.add(kind, obj);
  }

  delete(kind: Kind, ref: { metadata: { name: string; namespace?: string } }): void {
    const k = keyOf(kind, ref as KubeObject);
    const cur = this.objects[kind].get(k);
    if (!cur) throw new Error(`fake api: ${kind} ${k} does not exist`);
    this.record(kind, 'DELETED', cur);
  }

  /** Current objects of a kind (as a client would list them). */
  list(kind: Kind): KubeObject[] {
    return [...this.objects[kind].values()].map(clone);
  }

  private record(kind: Kind, type: EventType, input: KubeObject): KubeObject {
    const info = RESOURCES[kind];
    const rv = ++this.rv;
    const obj = clone(input);
    obj.kind = info.kind;
    obj.apiVersion = info.apiVersion;
    if (info.namespaced) obj.metadata.namespace ??= 'default';
    obj.metadata.resourceVersion = String(rv);
    const k = keyOf(kind, obj);
    const prev = this.objects[kind].get(k);
    if (type === 'DELETED') this.objects[kind].delete(k);
    else this.objects[kind].set(k, obj);
    const ev: HistoryEvent = { rv, kind, type, object: obj, prev };
    this.history.push(ev);
    for (const w of this.watchers) if (w.kind === kind) this.deliver(w, ev);
    return clone(obj);
  }

  /** An event as one watcher sees it through its field selector. */
  private deliver(w: Watcher, ev: HistoryEvent): void {
    const was = ev.prev !== undefined && ev.type !== 'ADDED' && w.matches(ev.prev);
    const is = ev.type !== 'DELETED' && w.matches(ev.object);
    if (ev.type === 'DELETED') {
      if (was) this.send(w, { type: 'DELETED', object: ev.object });
    } else if (is) this.send(w, { type: was ? 'MODIFIED' : 'ADDED', object: ev.object });
    else if (was) this.send(w, { type: 'DELETED', object: ev.object });
  }

  // --- faults and controls -------------------------------------------------------------

  /** Ends every open watch stream: cleanly (the chunked response ends, as when the API
   *  server's watch timeout expires or it shuts down), or with `abrupt` by destroying every
   *  connection (a load balancer or a network cut: the client sees "Premature close"). */
  dropConnections(opts: { abrupt?: boolean } = {}): void {
    for (const w of this.watchers) {
      if (opts.abrupt) w.res.destroy();
      else w.res.end();
    }
    this.watchers.clear();
    if (!opts.abrupt) return;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Forgets the history: every resourceVersion handed out so far becomes too old, so the
   *  next watch from one of them (or a continue token) gets 410 Gone. Open streams go on. */
  compactHistory(): void {
    this.rv++;
    this.compactedBelow = this.rv;
    this.history = [];
    this.continues.clear();
  }

  /** A BOOKMARK with the current resourceVersion to every watcher that asked for bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const info = RESOURCES[w.kind];
      this.send(w, { type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Open streams stop delivering anything (a peer that died without closing the
   *  connection); new watches work. */
  stall(): void {
    for (const w of this.watchers) w.stalled = true;
  }

  /** Refuses connections (the port stops listening) and cuts every open one. */
  async pause(): Promise<void> {
    if (this.paused) return;
    this.paused = true;
    this.dropConnections({ abrupt: true });
    await this.unlisten();
  }

  async resume(): Promise<void> {
    if (!this.paused) return;
    await this.listen(this.port);
    this.paused = false;
  }

  /** The next `times` list (or watch) requests for `kind` get HTTP `code` with a Status. */
  failNext(kind: Kind, opts: { watch?: boolean; code?: number; times?: number } = {}): void {
    this.failures.push({ kind, watch: opts.watch ?? false, code: opts.code ?? 500, times: opts.times ?? 1 });
  }

  /** An ERROR event (a Status with `code`) on every open watch of `kind`, then the stream
   *  ends, as the API server does when a watch fails on its side. */
  sendError(kind: Kind, code = 500, message = 'internal error'): void {
    for (const w of [...this.watchers]) {
      if (w.kind !== kind) continue;
      this.send(w, { type: 'ERROR', object: statusObject(code, 'InternalError', message) });
      w.res.end();
      this.watchers.delete(w);
    }
  }

  /** Open watch streams per kind (not counting stalled ones). */
  openWatches(kind?: Kind): number {
    let n = 0;
    for (const w of this.watchers) if (!w.stalled && (kind === undefined || w.kind === kind)) n++;
    return n;
  }

  // --- HTTP ----------------------------------------------------------------------------

  private listen(port: number): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        this.port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  private unlisten(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams.entries());
    const kind = (Object.keys(RESOURCES) as Kind[]).find((k) => RESOURCES[k].path === url.pathname);
    const watch = query.watch === 'true' || query.watch === '1';
    this.requests.push({ method: req.method ?? '', kind, path: url.pathname, watch, query });
    if (req.method !== 'GET' || !kind || (kind === 'clusternetworkpolicy' && !this.crd)) {
      this.status(res, 404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`);
      return;
    }
    const f = this.failures.find((x) => x.kind === kind && x.watch === watch && x.times > 0);
    if (f) {
      f.times--;
      this.status(res, f.code, 'InternalError', `injected failure ${f.code}`);
      return;
    }
    if (watch) this.watch(kind, query, res);
    else this.listPage(kind, query, res);
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(statusObject(code, reason, message)));
  }

  /** The request's field selector, or undefined after answering 400 for one we cannot read. */
  private fieldSelector(query: Record<string, string>, res: ServerResponse): FieldSelector | undefined {
    try {
      return parseFieldSelector(query.fieldSelector);
    } catch (e) {
      this.status(res, 400, 'BadRequest', (e as Error).message);
      return undefined;
    }
  }

  private listPage(kind: Kind, query: Record<string, string>, res: ServerResponse): void {
    const info = RESOURCES[kind];
    let state: ContinueState;
    if (query.continue) {
      const c = this.continues.get(query.continue);
      if (!c) {
        this.status(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
        return;
      }
      this.continues.delete(query.continue);
      state = c;
    } else {
      const matches = this.fieldSelector(query, res);
      if (!matches) return;
      const items = [...this.objects[kind].values()].filter(matches).sort((a, b) => (keyOf(kind, a) < keyOf(kind, b) ? -1 : 1));
      state = { rv: this.rv, items, offset: 0 };
    }
    const limit = query.limit ? Number(query.limit) : 0;
    const end = limit > 0 ? Math.min(state.items.length, state.offset + limit) : state.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(state.rv) };
    if (end < state.items.length) {
      const token = `c${this.nextToken++}`;
      this.continues.set(token, { ...state, offset: end });
      metadata.continue = token;
      metadata.remainingItemCount = state.items.length - end;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata, items: state.items.slice(state.offset, end) }));
  }

  private watch(kind: Kind, query: Record<string, string>, res: ServerResponse): void {
    const matches = this.fieldSelector(query, res);
    if (!matches) return;
    const from = query.resourceVersion && query.resourceVersion !== '0' ? Number(query.resourceVersion) : undefined;
    if (from !== undefined && (!Number.isInteger(from) || from < this.compactedBelow)) {
      const message = `too old resource version: ${query.resourceVersion} (${this.compactedBelow})`;
      if (this.goneAs === 'http') {
        this.status(res, 410, 'Expired', message);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.end(JSON.stringify({ type: 'ERROR', object: statusObject(410, 'Expired', message) }) + '\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { kind, res, bookmarks: query.allowWatchBookmarks === 'true', matches, stalled: false };
    if (from === undefined) {
      for (const o of this.objects[kind].values()) if (matches(o)) this.send(w, { type: 'ADDED', object: o });
    } else {
      for (const ev of this.history) if (ev.kind === kind && ev.rv > from) this.deliver(w, ev);
    }
    this.watchers.add(w);
    const timeout = Number(query.timeoutSeconds);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    timer?.unref();
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      this.watchers.delete(w);
    });
  }

  private send(w: Watcher, ev: { type: string; object: unknown }): void {
    if (w.stalled || w.res.destroyed) return;
    w.res.write(JSON.stringify(ev) + '\n');
  }
}

function statusObject(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}
