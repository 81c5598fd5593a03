// The slim store: what the agent keeps of one kind of object. Only the compiler's slim form
// (PodInfo, NamespaceInfo, PolicyInfo from compiler/model.ts) is kept, never the API object,
// keyed by namespace then name (a nested map: the name string is shared with the slim object
// instead of a second "ns/name" string per pod). An object the compiler cannot read is kept
// as a Problem under the same key, so that a later good version replaces it and a delete
// removes it; one read best-effort (compiler/model.ts) is kept as a value with its problem.
import type { ParseResult, Problem } from '../../compiler/index.js';

export type StoreChange = 'add' | 'update' | 'delete';

export class SlimStore<T> {
  private values = new Map<string, Map<string, T>>();
  private bad = new Map<string, Map<string, Problem>>();
  private count = 0;
  /** Bumped on every change, so that readers can cache what they derive from the store. */
  version = 0;

  get size(): number {
    return this.count;
  }

  /** Stores the parsed form of an object; undefined when nothing the compiler reads changed
   *  (a pod's status conditions churn constantly and must not cause a sync). */
  put(ns: string, name: string, r: ParseResult<T>): StoreChange | undefined {
    const oldValue = this.values.get(ns)?.get(name);
    const oldProblem = oldValue === undefined ? this.bad.get(ns)?.get(name) : undefined;
    const existed = oldValue !== undefined || oldProblem !== undefined;
    if (r.ok) {
      // A best-effort value (an object the API server would refuse, read as far as it can be)
      // is kept, and its first problem beside it, so that it is still reported.
      const note = r.problems?.[0];
      const oldNote = this.bad.get(ns)?.get(name);
      if (oldValue !== undefined && deepEqual(oldValue, r.value) && deepEqual(oldNote, note)) return undefined;
      if (note) setIn(this.bad, ns, name, note);
      else if (oldNote) removeFrom(this.bad, ns, name);
      setIn(this.values, ns, name, r.value);
    } else {
      if (oldProblem && deepEqual(oldProblem, r.problem)) return undefined;
      if (oldValue !== undefined) removeFrom(this.values, ns, name);
      setIn(this.bad, ns, name, r.problem);
    }
    if (!existed) this.count++;
    this.version++;
    return existed ? 'update' : 'add';
  }

  /** The readable value under a key (undefined when absent or unreadable). */
  get(ns: string, name: string): T | undefined {
    return this.values.get(ns)?.get(name);
  }

  delete(ns: string, name: string): boolean {
    const hadValue = removeFrom(this.values, ns, name), hadProblem = removeFrom(this.bad, ns, name);
    if (!hadValue && !hadProblem) return false;
    this.count--;
    this.version++;
    return true;
  }

  /** Becomes `next` (the result of a full list) and says whether anything differs: after a
   *  relist the store equals the list, so deletions missed while disconnected are gone. */
  replaceWith(next: SlimStore<T>): boolean {
    const changed = !this.sameAs(next);
    this.values = next.values;
    this.bad = next.bad;
    this.count = next.count;
    if (changed) this.version++;
    return changed;
  }

  *items(): IterableIterator<T> {
    for (const m of this.values.values()) yield* m.values();
  }

  *problems(): IterableIterator<Problem> {
    for (const m of this.bad.values()) yield* m.values();
  }

  private sameAs(o: SlimStore<T>): boolean {
    if (this.count !== o.count) return false;
    for (const [ns, m] of this.values) {
      for (const [name, v] of m) {
        const w = o.values.get(ns)?.get(name);
        if (w === undefined || !deepEqual(v, w)) return false;
      }
    }
    for (const [ns, m] of this.bad) {
      for (const [name, p] of m) {
        const q = o.bad.get(ns)?.get(name);
        if (q === undefined || !deepEqual(p, q)) return false;
      }
    }
    return true;
  }
}

function setIn<V>(m: Map<string, Map<string, V>>, ns: string, name: string, v: V): void {
  let inner = m.get(ns);
  if (!inner) m.set(ns, (inner = new Map()));
  inner.set(name, v);
}

function removeFrom<V>(m: Map<string, Map<string, V>>, ns: string, name: string): boolean {
  const inner = m.get(ns);
  if (!inner?.delete(name)) return false;
  if (inner.size === 0) m.delete(ns);
  return true;
}

/** Structural equality of JSON-like values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
