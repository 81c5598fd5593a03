// An index of selectors by the labels they require, so that an object's candidate selectors
// are found from its labels instead of by testing every selector in the cluster. Each
// selector is filed under one requirement it cannot match without: `k In (v…)` under each
// `k=v`, else `k Exists` under `k`, else (only NotIn / DoesNotExist, or empty) in `rest`.
// `candidates(labels)` is a superset of the matching selectors; the caller tests each one.
import type { Selector } from '../selectors.js';

export class SelectorIndex<T> {
  private readonly byValue = new Map<string, Set<T>>();
  private readonly byKey = new Map<string, Set<T>>();
  private readonly rest = new Set<T>();
  private readonly filed = new Map<T, { readonly where: Map<string, Set<T>> | Set<T>; readonly keys: readonly string[] }>();

  add(item: T, sel: Selector): void {
    if (this.filed.has(item)) this.remove(item);
    const inReq = sel.requirements.find((r) => r.operator === 'In');
    const exists = sel.requirements.find((r) => r.operator === 'Exists');
    if (inReq) {
      const keys = [...new Set(inReq.values)].map((v) => `${inReq.key}\0${v}`);
      for (const k of keys) bucket(this.byValue, k).add(item);
      this.filed.set(item, { where: this.byValue, keys });
    } else if (exists) {
      bucket(this.byKey, exists.key).add(item);
      this.filed.set(item, { where: this.byKey, keys: [exists.key] });
    } else {
      this.rest.add(item);
      this.filed.set(item, { where: this.rest, keys: [] });
    }
  }

  remove(item: T): void {
    const f = this.filed.get(item);
    if (!f) return;
    this.filed.delete(item);
    if (f.where instanceof Set) return void f.where.delete(item);
    for (const k of f.keys) {
      const b = f.where.get(k);
      b?.delete(item);
      if (b && !b.size) f.where.delete(k);
    }
  }

  get size(): number {
    return this.filed.size;
  }

  /** The least number of candidates any labels get (the items filed under no label). */
  get unfiled(): number {
    return this.rest.size;
  }

  /** Every item whose selector might match `labels` (each at most once). */
  candidates(labels: Readonly<Record<string, string>>): T[] {
    const out = [...this.rest];
    for (const [k, v] of Object.entries(labels)) {
      const a = this.byValue.get(`${k}\0${v}`);
      if (a) out.push(...a);
      const b = this.byKey.get(k);
      if (b) out.push(...b);
    }
    return out;
  }
}

function bucket<T>(m: Map<string, Set<T>>, k: string): Set<T> {
  let b = m.get(k);
  if (!b) m.set(k, (b = new Set()));
  return b;
}
