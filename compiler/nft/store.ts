// The element store (as kube-proxy's nftables mode keeps one): what the table should hold
// (`wanted`), and, for whatever changed since the last commit, what it held before (the
// state last handed to nft). From the two come the full batch (the whole table, one
// transaction) and the delta batch (only what changed, in the order nft needs).
//
// Invariant: written = wanted with every recorded "before" value put back. A value is recorded
// the first time a key is touched after a commit, so recording costs what the change costs,
// and a change undone before the commit (a pod deleted and re-added) cancels out.
import type { BaseHook, Batch, ChainDef, Command, LimitDef, MapDef, Ruleset, SetDef } from '../nft.js';
import { elemKey, fullBatch, limitObj, ruleObj } from '../nft.js';

type Shape = { readonly kind: 'set'; readonly type: SetDef['type']; readonly flags: readonly string[] } | { readonly kind: 'map'; readonly type: MapDef['type']; readonly map: MapDef['map'] };

interface Container {
  readonly shape: Shape;
  /** Set: element key -> element. Map: key (an address) -> value (a chain or counter name). */
  readonly elems: Map<string, unknown>;
}

const ABSENT = undefined;
const shapeKey = (s: Shape | undefined) => (s ? JSON.stringify(s) : '');
const sameChain = (a: ChainDef, b: ChainDef) => a === b || JSON.stringify([a.base, a.rules, a.comments]) === JSON.stringify([b.base, b.rules, b.comments]);

export class ElementStore {
  private readonly containers = new Map<string, Container>();
  private readonly chainDefs = new Map<string, ChainDef>();
  private readonly counters = new Set<string>();
  /** Named limits: set once, before the first batch (they never change, so only the full
   *  batch writes them). */
  private readonly limits = new Map<string, LimitDef>();
  /** Rules of all chains, elements of all sets and maps: kept as they change (counts() is read
   *  after every transaction; walking 6,000 chains and their sets took 9 ms at L). */
  private ruleCount = 0;
  private elemCount = 0;
  // What was written, for what changed since the last commit.
  private containerBefore = new Map<string, Shape | undefined>();
  private elemBefore = new Map<string, Map<string, unknown>>();
  private chainBefore = new Map<string, ChainDef | undefined>();
  private counterBefore = new Map<string, boolean>();

  // ---------------------------------------------------------------- containers

  private touchContainer(name: string): void {
    if (!this.containerBefore.has(name)) this.containerBefore.set(name, this.containers.get(name)?.shape);
  }

  /** Creates a set or map unless it exists with that shape (a new shape replaces it). */
  define(name: string, shape: Shape): void {
    const c = this.containers.get(name);
    if (c && shapeKey(c.shape) === shapeKey(shape)) return;
    if (c) this.drop(name);
    this.touchContainer(name);
    this.containers.set(name, { shape, elems: new Map() });
  }

  has(name: string): boolean {
    return this.containers.has(name);
  }

  /** Removes a set or map with its elements. */
  drop(name: string): void {
    const c = this.containers.get(name);
    if (!c) return;
    const existedBefore = this.containerBefore.has(name) ? this.containerBefore.get(name) !== ABSENT : true;
    this.touchContainer(name);
    if (existedBefore) {
      // Remember every element as written, in case the container comes back in this round.
      const before = this.elemBefore.get(name);
      const written = new Map(c.elems);
      if (before) for (const [k, v] of before) v === ABSENT ? written.delete(k) : written.set(k, v);
      const all = new Map<string, unknown>();
      for (const [k, v] of written) all.set(k, v);
      this.elemBefore.set(name, all);
    } else this.elemBefore.delete(name);
    this.elemCount -= c.elems.size;
    this.containers.delete(name);
  }

  private touchElem(name: string, c: Container, key: string): void {
    if (this.containerBefore.get(name) === ABSENT && this.containerBefore.has(name)) return; // new this round: added whole
    let m = this.elemBefore.get(name);
    if (!m) this.elemBefore.set(name, (m = new Map()));
    if (!m.has(key)) m.set(key, c.elems.get(key));
  }

  private container(name: string): Container {
    const c = this.containers.get(name);
    if (!c) throw new Error(`element store: no set or map ${name}`);
    return c;
  }

  /** Puts an element (set: key -> element; map: key -> value). */
  put(name: string, key: string, value: unknown): void {
    const c = this.container(name);
    if (c.elems.get(key) === value) return;
    this.touchElem(name, c, key);
    if (!c.elems.has(key)) this.elemCount++;
    c.elems.set(key, value);
  }

  /** Removes an element (no-op when absent). */
  remove(name: string, key: string): void {
    const c = this.container(name);
    if (!c.elems.has(key)) return;
    this.touchElem(name, c, key);
    this.elemCount--;
    c.elems.delete(key);
  }

  size(name: string): number {
    return this.containers.get(name)?.elems.size ?? 0;
  }

  // ---------------------------------------------------------------- chains and counters

  /** Defines a named limit (before the first batch: see `limits`). */
  defineLimit(l: LimitDef): void {
    this.limits.set(l.name, l);
  }

  setChain(c: ChainDef): void {
    const old = this.chainDefs.get(c.name);
    if (old && sameChain(old, c)) return;
    if (!this.chainBefore.has(c.name)) this.chainBefore.set(c.name, old);
    this.ruleCount += c.rules.length - (old?.rules.length ?? 0);
    this.chainDefs.set(c.name, c);
  }

  dropChain(name: string): void {
    if (!this.chainDefs.has(name)) return;
    if (!this.chainBefore.has(name)) this.chainBefore.set(name, this.chainDefs.get(name));
    this.ruleCount -= this.chainDefs.get(name)!.rules.length;
    this.chainDefs.delete(name);
  }

  chains(): ChainDef[] {
    return [...this.chainDefs.values()];
  }

  counts(): { chain: number; rule: number; set: number; element: number } {
    return { chain: this.chainDefs.size, rule: this.ruleCount, set: this.containers.size, element: this.elemCount };
  }

  chain(name: string): ChainDef | undefined {
    return this.chainDefs.get(name);
  }

  addCounter(name: string): void {
    if (this.counters.has(name)) return;
    if (!this.counterBefore.has(name)) this.counterBefore.set(name, false);
    this.counters.add(name);
  }

  dropCounter(name: string): void {
    if (!this.counters.has(name)) return;
    if (!this.counterBefore.has(name)) this.counterBefore.set(name, true);
    this.counters.delete(name);
  }

  // ---------------------------------------------------------------- output

  /** The wanted table as a Ruleset value (sorted by name; elements sorted unless `unsorted`,
   *  which nft does not need: the agent's full batch skips that work). */
  ruleset(table: string, unsorted = false): Ruleset {
    const sets: SetDef[] = [], maps: MapDef[] = [];
    for (const name of [...this.containers.keys()].sort()) {
      const c = this.containers.get(name)!;
      if (c.shape.kind === 'set') sets.push({ name, type: c.shape.type, flags: c.shape.flags, elems: unsorted ? [...c.elems.values()] : sortedElems(c) });
      else maps.push({ name, type: c.shape.type, map: c.shape.map, elems: mapElems(c, unsorted ? [...c.elems.keys()] : [...c.elems.keys()].sort()) });
    }
    const chains = [...this.chainDefs.keys()].sort().map((n) => this.chainDefs.get(n)!);
    const limits = [...this.limits.keys()].sort().map((n) => this.limits.get(n)!);
    return { family: 'inet', table, chains, counters: [...this.counters].sort(), ...(limits.length ? { limits } : {}), sets, maps };
  }

  /** `guard`: a chain that must exist for the transaction to apply (deleted right after the
   *  first `add table`, before the table is replaced): a compare-and-swap on the table. */
  fullBatch(table: string, guard?: string): Batch {
    const b = fullBatch(this.ruleset(table, true));
    if (guard === undefined) return b;
    return { nftables: [b.nftables[0]!, { delete: { chain: { family: 'inet', table, name: guard } } }, ...b.nftables.slice(1)] };
  }

  /** fullBatch built a slice at a time: `pause` is awaited after every few thousand objects,
   *  so that a large table does not hold the caller's event loop in one step. The same
   *  commands as fullBatch (the compiler stays free of timers: the caller says how to pause). */
  async fullBatchSliced(table: string, pause: () => Promise<void>, every = 4000, guard?: string): Promise<Batch> {
    const ref = { family: 'inet' as const, table };
    const cmds: Command[] = [
      { add: { table: { family: 'inet', name: table } } },
      ...(guard === undefined ? [] : [{ delete: { chain: { ...ref, name: guard } } }]),
      { delete: { table: { family: 'inet', name: table } } },
      { add: { table: { family: 'inet', name: table } } },
    ];
    let work = 0;
    const step = async (n = 1) => {
      work += n;
      if (work >= every) { work = 0; await pause(); }
    };
    const chainNames = [...this.chainDefs.keys()].sort();
    for (const n of chainNames) {
      cmds.push({ add: { chain: chainObj(ref, this.chainDefs.get(n)!) } });
      await step();
    }
    for (const n of [...this.counters].sort()) {
      cmds.push({ add: { counter: { ...ref, name: n } } });
      await step();
    }
    for (const n of [...this.limits.keys()].sort()) cmds.push({ add: { limit: limitObj(ref, this.limits.get(n)!) } });
    const names = [...this.containers.keys()].sort();
    for (const kind of ['set', 'map'] as const) for (const name of names) {
      const c = this.containers.get(name)!;
      if (c.shape.kind !== kind) continue;
      const o: Record<string, unknown> = { ...ref, name, type: c.shape.type };
      if (c.shape.kind === 'set' && c.shape.flags.length) o.flags = c.shape.flags;
      if (c.shape.kind === 'map') o.map = c.shape.map;
      if (c.elems.size) o.elem = c.shape.kind === 'set' ? [...c.elems.values()] : mapElems(c, [...c.elems.keys()]);
      cmds.push(kind === 'set' ? { add: { set: o } } : { add: { map: o } });
      await step(1 + c.elems.size);
    }
    for (const n of chainNames) {
      const c = this.chainDefs.get(n)!;
      for (const [i, r] of c.rules.entries()) cmds.push({ add: { rule: ruleObj(ref, n, r, c.comments?.[i]) } });
      await step(c.rules.length);
    }
    return { nftables: cmds };
  }

  /** True when the wanted table differs from the written one. */
  changed(): boolean {
    for (const [n, b] of this.chainBefore) {
      const now = this.chainDefs.get(n);
      if (!b || !now || !sameChain(b, now)) return true;
    }
    for (const [n, b] of this.counterBefore) if (b !== this.counters.has(n)) return true;
    for (const [n, b] of this.containerBefore) if (shapeKey(b) !== shapeKey(this.containers.get(n)?.shape)) return true;
    for (const [n, m] of this.elemBefore) {
      const c = this.containers.get(n);
      if (!c) continue;
      for (const [k, v] of m) if (!sameValue(v, c.elems.get(k))) return true;
    }
    return false;
  }

  /** The transaction that turns the written table into the wanted one (see the order below),
   *  or undefined when nothing changed.
   *
   *  SMALL_CACHE: before it sends a batch, nft 1.0 fills a cache whose extent depends on the
   *  commands (src/cache.c, nft_cache_evaluate). `add element` and `delete element` ask for
   *  every chain, set and named object of every table AND the elements of every
   *  non-concatenated interval set, anonymous ones included (one netlink dump each, and the
   *  kernel finds each set by a walk of the table's set list: at L, 408 anonymous ipBlock sets
   *  among 7,500 cost most of a 0.2-0.8 s run); `add set`/`add map` ask for the tables only
   *  (about 10 ms at L). So added elements travel inside `add set`/`add map` with the
   *  container's declaration, which adds them to the existing set exactly as `add element`
   *  would (the kernel checks that the declaration matches). Deletions have no such form. */
  deltaBatch(table: string): Batch | undefined {
    if (!this.changed()) return undefined;
    const ref = { family: 'inet' as const, table };
    const head: Command[] = [], flush: Command[] = [], delElems: Command[] = [], delContainers: Command[] = [], reAdd: Command[] = [], addElems: Command[] = [], delTail: Command[] = [], rules: Command[] = [];
    const containerObj = (name: string, c: Container, withElems: boolean | unknown[]): Command => {
      const elems = Array.isArray(withElems) ? withElems : withElems ? (c.shape.kind === 'set' ? sortedElems(c) : mapElems(c, [...c.elems.keys()].sort())) : [];
      const o: Record<string, unknown> = { ...ref, name, type: c.shape.type };
      if (c.shape.kind === 'set' && c.shape.flags.length) o.flags = c.shape.flags;
      if (c.shape.kind === 'map') o.map = c.shape.map;
      if (elems.length) o.elem = elems;
      return c.shape.kind === 'set' ? { add: { set: o } } : { add: { map: o } };
    };
    // 1. new chains (empty), counters, sets and maps (whole); 2. flush chains that change or go.
    for (const n of [...this.chainBefore.keys()].sort()) {
      const b = this.chainBefore.get(n), now = this.chainDefs.get(n);
      if (!b && now) head.push({ add: { chain: chainObj(ref, now) } });
      if (b && (!now || !sameChain(b, now)) && b.rules.length) flush.push({ flush: { chain: { ...ref, name: n } } });
      if (now && (!b || !sameChain(b, now))) for (const [i, r] of now.rules.entries()) rules.push({ add: { rule: ruleObj(ref, n, r, now.comments?.[i]) } });
      if (b && !now) delTail.push({ delete: { chain: { ...ref, name: n } } });
    }
    for (const n of [...this.counterBefore.keys()].sort()) {
      const b = this.counterBefore.get(n)!, now = this.counters.has(n);
      if (!b && now) head.push({ add: { counter: { ...ref, name: n } } });
      if (b && !now) delTail.push({ delete: { counter: { ...ref, name: n } } });
    }
    const names = new Set([...this.containerBefore.keys(), ...this.elemBefore.keys()]);
    for (const n of [...names].sort()) {
      const hadShape = this.containerBefore.has(n) ? this.containerBefore.get(n) : this.containers.get(n)?.shape;
      const c = this.containers.get(n);
      if (!hadShape && c) { head.push(containerObj(n, c, true)); continue; }
      if (hadShape && !c) { delContainers.push({ delete: { [hadShape.kind]: { ...ref, name: n } } }); continue; }
      if (!hadShape || !c) continue;
      if (shapeKey(hadShape) !== shapeKey(c.shape)) {
        delContainers.push({ delete: { [hadShape.kind]: { ...ref, name: n } } });
        reAdd.push(containerObj(n, c, true));
        continue;
      }
      const before = this.elemBefore.get(n);
      if (!before) continue;
      const gone: unknown[] = [], come: unknown[] = [];
      for (const k of [...before.keys()].sort()) {
        const was = before.get(k), is = c.elems.get(k);
        if (sameValue(was, is)) continue;
        if (was !== ABSENT) gone.push(c.shape.kind === 'set' ? was : k);
        if (is !== ABSENT) come.push(c.shape.kind === 'set' ? is : mapElem(c, k, is));
      }
      if (gone.length) delElems.push({ delete: { element: { ...ref, name: n, elem: gone } } });
      // New elements go in as `add set`/`add map` with its declaration (unchanged, so nft
      // only adds them), not `add element`: see SMALL_CACHE above deltaBatch. Not into an
      // interval set: nft merges and checks new intervals against the elements it fetched,
      // which it does not fetch for `add set` (podcidr4/6 change with the Node's pod CIDRs,
      // rarely; the shared ipBlock sets are made whole and never change).
      const interval = c.shape.kind === 'set' && c.shape.flags.includes('interval');
      if (come.length) addElems.push(interval ? { add: { element: { ...ref, name: n, elem: come } } } : containerObj(n, c, come));
    }
    // The order: each step refers only to what the steps before it left in place.
    return { nftables: [...head, ...flush, ...delElems, ...delContainers, ...reAdd, ...addElems, ...delTail, ...rules] };
  }

  /** nft took the last batch: the wanted table is now the written one. */
  commit(): void {
    this.containerBefore = new Map();
    this.elemBefore = new Map();
    this.chainBefore = new Map();
    this.counterBefore = new Map();
  }
}

const sameValue = (a: unknown, b: unknown) => a === b || (a !== ABSENT && b !== ABSENT && typeof a === 'object' && elemKey(a) === elemKey(b));

function sortedElems(c: Container): unknown[] {
  return [...c.elems.entries()].map(([k, e]) => [elemKey(e), e] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, e]) => e);
}

function mapElem(c: Container, k: string, v: unknown): readonly [unknown, unknown] {
  return c.shape.kind === 'map' && c.shape.map === 'verdict' ? [k, { jump: { target: v } }] : [k, v];
}

function mapElems(c: Container, keys: readonly string[]): (readonly [unknown, unknown])[] {
  return keys.map((k) => mapElem(c, k, c.elems.get(k)));
}

function chainObj(ref: { family: 'inet'; table: string }, c: ChainDef): Record<string, unknown> {
  return c.base ? { ...ref, name: c.name, ...(c.base as BaseHook) } : { ...ref, name: c.name };
}
