// The smallest batch that turns the table holding `prev` into `next`, in one transaction,
// from two whole Ruleset values (the agent uses the engine's element store instead; this
// stays for tests and tools that hold two rulesets).
//
// Order inside the batch (each step only refers to what the steps before it left):
//   1. add new chains (empty), counters, sets and maps (with their elements);
//   2. flush chains whose rules change, or that go away, or that use a set being re-created;
//   3. delete elements that go (map elements jumping to dying chains included);
//   4. delete sets and maps that go or change type (no rule refers to them any more);
//   5. re-create sets and maps whose type or flags changed;
//   6. add elements that come;
//   7. delete chains and counters that go;
//   8. add the rules of new and changed chains.
// Deleting an element that is not there fails the whole batch, so `prev` must be what the
// kernel really holds: the agent diffs against what it last applied and verified, and falls
// back to a full replace after any failure.
import { ruleRefs } from './nft/ir.js';
import { elemKey, fullBatch, mapObj, ruleObj, setObj, chainObj, type Batch, type ChainDef, type Command, type MapDef, type Ruleset, type SetDef } from './nft.js';

const byName = <T extends { name: string }>(xs: readonly T[]) => new Map(xs.map((x) => [x.name, x]));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

type Container = SetDef | MapDef;
/** Map keys are addresses (strings): they need no JSON. */
const keyOf = (e: unknown) => (typeof e === 'string' ? e : elemKey(e));
const containerKey = (c: Container, e: unknown) => ('map' in c ? keyOf((e as [unknown, unknown])[0]) : elemKey(e));
/** A map element's value: a counter name or a verdict, compared without JSON when it can be. */
export const mapValueKey = (v: unknown): string => {
  if (typeof v === 'string') return v;
  const target = (v as { jump?: { target?: unknown } } | null)?.jump?.target;
  return typeof target === 'string' ? `jump ${target}` : JSON.stringify(v);
};
const shapeOf = (c: Container) => JSON.stringify(['map' in c ? c.map : 'set', c.type, 'flags' in c ? c.flags : []]);

/** Elements that go and come between two values of one set or map. */
function elementChanges(p: Container, c: Container): { gone: unknown[]; come: unknown[] } {
  const before = new Map(p.elems.map((e) => [containerKey(p, e), e]));
  const after = new Map(c.elems.map((e) => [containerKey(c, e), e]));
  const gone: unknown[] = [], come: unknown[] = [];
  for (const [k, e] of before) {
    const n = after.get(k);
    if (n === undefined) gone.push(e);
    else if ('map' in c ? mapValueKey((e as [unknown, unknown])[1]) !== mapValueKey((n as [unknown, unknown])[1]) : !same(e, n)) {
      gone.push(e); // a map element whose verdict changed
      come.push(n);
    }
  }
  for (const [k, e] of after) if (!before.has(k)) come.push(e);
  return { gone, come };
}

export interface DiffStats {
  readonly operations: number;
}

export function diffBatch(prev: Ruleset, next: Ruleset): Batch {
  if (prev.family !== next.family || prev.table !== next.table) return fullBatch(next);
  const ref = { family: next.family, table: next.table };
  const cmds: Command[] = [];

  const pc = byName(prev.chains), nc = byName(next.chains);
  // A base chain whose hook changed cannot be altered in place: replace everything.
  for (const [name, c] of nc) {
    const p = pc.get(name);
    if (p && !same(p.base, c.base)) return fullBatch(next);
  }

  const prevC: Container[] = [...prev.sets, ...prev.maps], nextC: Container[] = [...next.sets, ...next.maps];
  const pcn = byName(prevC), ncn = byName(nextC);
  const recreated = new Set<string>();
  for (const [name, c] of ncn) {
    const p = pcn.get(name);
    if (p && shapeOf(p) !== shapeOf(c)) recreated.add(name);
  }
  const usesRecreated = (c: ChainDef) => recreated.size > 0 && c.rules.some((r) => [...ruleRefs(r).sets].some((s) => recreated.has(s)));

  // 1. new objects
  for (const c of next.chains) if (!pc.has(c.name)) cmds.push({ add: { chain: chainObj(next, c) } });
  const prevCounters = new Set(prev.counters), nextCounters = new Set(next.counters);
  for (const n of next.counters) if (!prevCounters.has(n)) cmds.push({ add: { counter: { ...ref, name: n } } });
  const addContainer = (c: Container, withElems: boolean) =>
    cmds.push('map' in c ? { add: { map: mapObj(next, c, withElems) } } : { add: { set: setObj(next, c, withElems) } });
  for (const c of nextC) if (!pcn.has(c.name)) addContainer(c, true);

  // 2. flush chains that change or go
  const rebuilt: ChainDef[] = [];
  for (const p of prev.chains) {
    const c = nc.get(p.name);
    if (!c || (c !== p && !same([p.rules, p.comments], [c.rules, c.comments])) || usesRecreated(c)) {
      if (p.rules.length) cmds.push({ flush: { chain: { ...ref, name: p.name } } });
      if (c) rebuilt.push(c);
    }
  }

  // 3. elements that go; 6. elements that come
  const adds: Command[] = [];
  for (const c of nextC) {
    const p = pcn.get(c.name);
    if (!p || p === c || recreated.has(c.name)) continue; // the same object: unchanged
    const { gone, come } = elementChanges(p, c);
    if (gone.length) cmds.push({ delete: { element: { ...ref, name: c.name, elem: 'map' in c ? gone.map((e) => (e as [unknown])[0]) : gone } } });
    if (come.length) adds.push({ add: { element: { ...ref, name: c.name, elem: come } } });
  }

  // 4. containers that go or change shape
  for (const p of prevC) {
    if (!ncn.has(p.name) || recreated.has(p.name)) cmds.push('map' in p ? { delete: { map: { ...ref, name: p.name } } } : { delete: { set: { ...ref, name: p.name } } });
  }
  // 5. re-created containers, then 6. new elements
  for (const c of nextC) if (recreated.has(c.name)) addContainer(c, true);
  cmds.push(...adds);

  // 7. chains and counters that go
  for (const p of prev.chains) if (!nc.has(p.name)) cmds.push({ delete: { chain: { ...ref, name: p.name } } });
  for (const n of prev.counters) if (!nextCounters.has(n)) cmds.push({ delete: { counter: { ...ref, name: n } } });

  // 8. rules of new and changed chains
  for (const c of next.chains) if (!pc.has(c.name)) rebuilt.push(c);
  for (const c of rebuilt) for (const [i, r] of c.rules.entries()) cmds.push({ add: { rule: ruleObj(next, c.name, r, c.comments?.[i]) } });

  return { nftables: cmds };
}

/** The objects a command of ours can name (limit objects for named limits). */
export type NftObject = 'table' | 'chain' | 'rule' | 'set' | 'map' | 'element' | 'counter' | 'limit';

/** The number of objects a batch touches: each element, rule, chain, set, map, counter or
 *  limit (a set or map added with its elements counts them too). */
export function batchOperations(b: Batch): number {
  let n = 0;
  for (const cmd of b.nftables) {
    const body = Object.values(cmd)[0]!;
    const [what, o] = Object.entries(body)[0]! as [NftObject, { elem?: unknown[] }];
    const elems = Array.isArray(o.elem) ? o.elem.length : 0;
    switch (what) {
      case 'element': n += elems; break;
      case 'set': case 'map': n += 1 + elems; break;
      case 'table': case 'chain': case 'rule': case 'counter': case 'limit': n += 1; break;
      default: {
        const unknown: never = what;
        throw new Error(`batchOperations: a command on ${JSON.stringify(unknown)}, which we never make`);
      }
    }
  }
  return n;
}
