// One kind's list/watch loop (client-go calls this a reflector): list, then watch from the
// list's resourceVersion, resume from the last resourceVersion seen after a watch ends,
// relist on 410 Gone, back off after failures, and restart a watch that went silent.
//
// Why not client-node's ListWatch (makeInformer): it keeps every full object in its
// ObjectCache (a V1Pod is several KB; the compiler needs a few hundred bytes of it), lists
// in one unpaginated request (100,000 pods in one response), cannot ask for bookmarks, stops
// for good on the first error, and reconnects after a close with no delay at all. Wrapping
// it to fix all of that takes more code than this loop, which uses client-node's own pieces:
// the typed list calls (resources.ts) and its `Watch` for the stream.
import type { Problem } from '../../compiler/index.js';
import { objectEvent, type ResourceKind, type SourceHooks } from '../source.js';
import type { Backoff } from './backoff.js';
import type { Resource } from './resources.js';
import { SlimStore } from './store.js';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** The part of client-node's `Watch` this loop uses. */
export interface WatchClient {
  watch(path: string, query: Record<string, unknown>, callback: (type: string, obj: unknown) => void, done: (err: unknown) => void): Promise<AbortController>;
}

export type RestartReason = 'gone' | 'closed' | 'error' | 'timeout';
type WatchEnd = RestartReason | 'stopped';

export interface ReflectorOptions {
  readonly clock: () => number;
  /** Resolves after ms, or early (without throwing) when the signal aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly backoff: Backoff;
  readonly watchClient: WatchClient;
  readonly logger: Logger;
  readonly hooks: () => SourceHooks | undefined;
  /** Items per list page. */
  readonly pageSize: number;
  /** Asked of the server per watch; it ends the watch after that long, we resume. */
  readonly watchTimeoutSeconds: () => number;
  /** A watch that delivers nothing (not even a bookmark) for this long is dead: restart it. */
  readonly idleMs: number;
  /** How often the watchdog looks (real time). */
  readonly checkEveryMs: number;
  /** A list page that takes longer than this is abandoned and retried. */
  readonly listTimeoutMs: number;
}

/** A watch that delivered something or lived this long was healthy: no backoff after it. */
const HEALTHY_MS = 10_000;

export class Reflector<T> {
  readonly store = new SlimStore<T>();
  /** The last resourceVersion seen ('' = must list). */
  resourceVersion = '';
  listed = false;
  /** False while an optional resource's API (a CRD) is not installed. */
  installed = true;
  private readonly stopper = new AbortController();

  constructor(
    private readonly resource: Resource<T>,
    private readonly opts: ReflectorOptions,
  ) {}

  get kind(): ResourceKind {
    return this.resource.kind;
  }

  stop(): void {
    this.stopper.abort();
  }

  /** Runs until stop(); calls onListed once, after the first complete list. */
  async run(onListed: () => void): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      try {
        await this.step(onListed);
      } catch (e) {
        // Only a bug (ours, or a hook that threw) gets here. The loop must outlive it, or
        // this kind would freeze with one log line: start over from a relist, after a pause.
        if (signal.aborted) break;
        this.report(`${this.kind}: unexpected failure, relisting: ${(e as Error).stack ?? e}`);
        this.resourceVersion = '';
        await this.opts.sleep(this.opts.backoff.next(), signal);
      }
    }
  }

  /** One round: list if needed, watch until the watch ends, decide how to go on. */
  private async step(onListed: () => void): Promise<void> {
    if (this.resourceVersion === '') {
      try {
        await this.relist();
      } catch (e) {
        if (this.stopper.signal.aborted) return;
        if (this.resource.optional && httpStatus(e) === 404) return this.absent(onListed);
        const gone = httpStatus(e) === 410;
        this.report(`${this.kind} list failed: ${describeError(e)}`);
        await this.restart(gone ? 'gone' : 'error', false);
        return;
      }
      if (!this.installed) {
        this.installed = true;
        this.opts.logger.info(`${this.resource.optional!.what} is installed now: watching ${this.kind} objects`);
      }
      if (!this.listed) {
        this.listed = true;
        onListed();
      }
    }
    const end = await this.watchOnce();
    if (end.reason === 'stopped') return;
    if (end.reason === 'gone') this.resourceVersion = '';
    await this.restart(end.reason, end.healthy);
  }

  /** An optional resource's API is not installed: no objects of it (an empty store, so that
   *  what a removed CRD held stops being enforced), said once, and the agent runs on; the API
   *  is looked for again every `retryMs`, so that a CRD installed later is picked up. */
  private async absent(onListed: () => void): Promise<void> {
    const o = this.resource.optional!;
    if (this.installed) {
      this.installed = false;
      this.opts.logger.warn(`${o.what} is not installed: no ${this.kind} objects are enforced; looking again every ${Math.round(o.retryMs / 1000)} s`);
    }
    this.resourceVersion = '';
    if (this.store.replaceWith(new SlimStore<T>())) this.opts.hooks()?.onChange({ kind: this.kind, action: 'resync', seenAt: this.opts.clock() });
    if (!this.listed) {
      this.listed = true;
      onListed();
    }
    await this.opts.sleep(o.retryMs, this.stopper.signal);
  }

  private async restart(reason: RestartReason, healthy: boolean): Promise<void> {
    this.opts.hooks()?.onWatchRestart?.(this.kind, reason);
    if (healthy) {
      this.opts.backoff.reset();
      this.opts.logger.info(`${this.kind}: watch ended (${reason}), resuming from resourceVersion ${this.resourceVersion || '(relist)'}`);
      return;
    }
    const ms = this.opts.backoff.next();
    this.opts.logger.info(`${this.kind}: ${reason}, retrying in ${ms} ms (attempt ${this.opts.backoff.attempts})`);
    await this.opts.sleep(ms, this.stopper.signal);
  }

  /** A failure worth a line: through the agent's onError hook when it has one (it logs and
   *  counts), else our own logger; never both, so that one failure is one line. */
  private report(message: string): void {
    const onError = this.opts.hooks()?.onError;
    if (!onError) return this.opts.logger.warn(message);
    try {
      onError(message);
    } catch (e) {
      this.opts.logger.error(`${message} (and the onError hook threw: ${(e as Error).message})`);
    }
  }

  /** Lists every page into a fresh store and swaps it in only once the list is complete:
   *  snapshots taken meanwhile see the old state whole, never half a list. */
  private async relist(): Promise<void> {
    const next = new SlimStore<T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await abortable(this.resource.list(this.opts.pageSize, cont), this.opts.listTimeoutMs, this.stopper.signal, `${this.kind} list page`);
      if (rv === '') rv = page.resourceVersion;
      for (const item of page.items) this.putInto(next, item);
      cont = page.continueToken;
    } while (cont);
    const changed = this.store.replaceWith(next);
    this.resourceVersion = rv;
    this.opts.logger.info(`${this.kind}: listed ${next.size} at resourceVersion ${rv}`);
    if (changed) this.opts.hooks()?.onChange({ kind: this.kind, action: 'resync', seenAt: this.opts.clock() });
  }

  private keyOf(obj: unknown): { ns: string; name: string } | undefined {
    const md = (obj as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
    if (typeof md?.name !== 'string' || md.name === '') return undefined;
    const ns = this.resource.namespaced ? (typeof md.namespace === 'string' && md.namespace ? md.namespace : 'default') : '';
    return { ns, name: md.name };
  }

  private putInto(store: SlimStore<T>, obj: unknown) {
    const key = this.keyOf(obj);
    if (!key) {
      this.report(`${this.kind}: an object without metadata.name was ignored`);
      return undefined;
    }
    return store.put(key.ns, key.name, this.resource.parse(obj));
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: unknown): void {
    let change;
    const key = this.keyOf(obj);
    if (type === 'DELETED') {
      change = key && this.store.delete(key.ns, key.name) ? ('delete' as const) : undefined;
    } else {
      change = this.putInto(this.store, obj);
    }
    if (!change || !key) return;
    // The engine gets the object as the store now holds it; an unreadable one is gone for it.
    const object = this.kind === 'namespace' ? key.name : `${key.ns}/${key.name}`;
    this.opts.hooks()?.onChange({ kind: this.kind, action: change, seenAt: this.opts.clock(), object, change: objectEvent(this.kind, key.ns, key.name, this.store.get(key.ns, key.name)) });
  }

  private watchOnce(): Promise<{ reason: WatchEnd; healthy: boolean }> {
    const { clock, idleMs, checkEveryMs, watchClient } = this.opts;
    const signal = this.stopper.signal;
    return new Promise((resolve) => {
      const startedAt = clock();
      let lastActivity = startedAt;
      let events = 0;
      let finished = false;
      let request: AbortController | undefined;
      let connected = false;
      let watchdog: ReturnType<typeof setInterval> | undefined;
      const finish = (reason: WatchEnd) => {
        if (finished) return;
        finished = true;
        if (watchdog) clearInterval(watchdog);
        signal.removeEventListener('abort', onStop);
        // Aborting makes client-node call `done` again; `finished` makes that a no-op.
        request?.abort();
        resolve({ reason, healthy: events > 0 || clock() - startedAt >= HEALTHY_MS });
      };
      const onStop = () => finish('stopped');
      signal.addEventListener('abort', onStop);
      if (signal.aborted) return finish('stopped');
      watchdog = setInterval(() => {
        if (clock() - lastActivity <= idleMs) return;
        this.report(`${this.kind} watch silent for ${clock() - lastActivity} ms: restarting it`);
        finish('timeout');
      }, checkEveryMs);
      watchdog.unref?.();

      // client-node calls this inside a try/catch that drops any exception without a word
      // ("ignore parse errors"): an exception here would silently lose the event. Catch it
      // ourselves, say so, and relist, which rebuilds the store whatever state it was left in.
      const onEvent = (type: string, obj: unknown) => {
        if (finished) return;
        try {
          handle(type, obj);
        } catch (e) {
          this.report(`${this.kind}: handling a ${type} event failed, relisting: ${(e as Error).stack ?? e}`);
          this.resourceVersion = '';
          finish('error');
        }
      };
      const handle = (type: string, obj: unknown) => {
        lastActivity = clock();
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
          case 'DELETED':
            events++;
            this.apply(type, obj);
            this.advance(obj);
            return;
          case 'BOOKMARK':
            // Only the resourceVersion: nothing changed, and resuming from here skips the
            // events of other kinds that moved the global resourceVersion meanwhile.
            events++;
            this.advance(obj);
            return;
          case 'ERROR': {
            const st = obj as { code?: number; message?: string } | null;
            if (st?.code === 410) return finish('gone');
            this.report(`${this.kind} watch error: ${st?.code ?? '?'} ${st?.message ?? JSON.stringify(obj)}`);
            return finish('error');
          }
          default:
            this.opts.logger.warn(`${this.kind} watch: ignoring event type ${JSON.stringify(type)}`);
        }
      };
      const onDone = (err: unknown) => {
        if (finished) return;
        if (!err) return finish('closed');
        if (httpStatus(err) === 410) return finish('gone');
        // An optional API that went away (its CRD deleted): start over from a list, whose 404
        // tells the reflector so.
        if (this.resource.optional && httpStatus(err) === 404) return finish('gone');
        if (connected) {
          // The stream had started (HTTP 200) and was cut ("Premature close", a reset):
          // the connection closed under us, nothing the server refused.
          this.opts.logger.info(`${this.kind} watch stream cut: ${describeError(err)}`);
          return finish('closed');
        }
        this.report(`${this.kind} watch failed: ${describeError(err)}`);
        finish('error');
      };
      const query = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds(), fieldSelector: this.resource.fieldSelector };
      watchClient.watch(this.resource.path, query, onEvent, onDone).then(
        (c) => {
          request = c;
          connected = true;
          if (finished) c.abort();
        },
        (e) => onDone(e ?? new Error('watch failed')),
      );
    });
  }

  private advance(obj: unknown): void {
    const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
  }

  problems(): Problem[] {
    return [...this.store.problems()];
  }
}

/** The HTTP status of a client-node error: ApiException has `code`, Watch errors `statusCode`. */
export function httpStatus(e: unknown): number | undefined {
  const x = e as { code?: unknown; statusCode?: unknown } | null;
  if (typeof x?.statusCode === 'number') return x.statusCode;
  if (typeof x?.code === 'number') return x.code;
  return undefined;
}

/** One line about an error: ApiException's own message carries every header. */
export function describeError(e: unknown): string {
  const status = httpStatus(e);
  if (status !== undefined) {
    const body = (e as { body?: unknown }).body;
    let msg: unknown = (body as { message?: unknown } | null)?.message;
    if (msg === undefined && typeof body === 'string') {
      try {
        msg = (JSON.parse(body) as { message?: unknown }).message;
      } catch {
        msg = body;
      }
    }
    return `HTTP ${status}${msg ? `: ${String(msg)}` : ''}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Races a promise against a timeout and a stop signal; the loser is abandoned (client-node's
 *  typed calls take no abort signal), which costs at most one idle request. */
function abortable<T>(p: Promise<T>, ms: number, signal: AbortSignal, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(() => reject(new Error(`${what} timed out after ${ms} ms`))), ms);
    const onAbort = () => done(() => reject(new Error('stopped')));
    const done = (f: () => void) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      f();
    };
    signal.addEventListener('abort', onAbort);
    p.then((v) => done(() => resolve(v)), (e) => done(() => reject(e)));
  });
}
