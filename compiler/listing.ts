// The kernel's view of our table (`nft -j list table`), read back.
//
// `listingRuleset` parses a listing into a Ruleset value whose rules are typed IR
// (nft/ir.ts), the same kind of value the compiler makes; `rulesetKey` gives both the same
// canonical text (objects sorted by name, set and map elements sorted, anonymous sets inside
// rules sorted: the kernel lists interval sets of concatenations in insertion order and
// anonymous sets in hash order, which says nothing), so "what the kernel holds == what we
// compiled" is one string comparison of IR values.
//
// `normalizeListing` reduces a listing to what defines it, for comparing two listings (two
// tables, or the in-memory fake and the kernel): handles, counter values and the metainfo
// header dropped, objects and elements sorted, rules read into the IR when they are ours.
// Used by the agent's drift check and by the tests.
import type { BaseHook, ChainDef, MapDef, Ruleset, SetDef } from './nft.js';
import { elemKey } from './nft.js';
import { exprJson, IrParseError, stmtFromJson, stmtJson, type Expr, type Rule, type Stmt } from './nft/ir.js';

type Obj = Record<string, unknown>;

const isNum = (e: Expr): e is { kind: 'value'; value: number } => e.kind === 'value' && typeof e.value === 'number';
const sortedJson = (xs: readonly unknown[]) => xs.map((e) => JSON.stringify(e)).sort().map((e) => JSON.parse(e) as unknown);

/** An anonymous set's elements in a fixed order (recursively), so that two equal sets compare equal. */
function canonExpr(e: Expr): Expr {
  switch (e.kind) {
    case 'set': return { kind: 'set', elems: e.elems.map(canonExpr).map((x) => [JSON.stringify(exprJson(x)), x] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, x]) => x) };
    case 'concat': return { kind: 'concat', items: e.items.map(canonExpr) };
    case 'binop': {
      const left = canonExpr(e.left), right = canonExpr(e.right);
      // nft keeps `x & A | B` as a mask and an xor, and lists it as `x & (A | B) | B` (the
      // same bits): read both as the latter.
      if (e.op === '|' && left.kind === 'binop' && left.op === '&' && isNum(left.right) && isNum(right)) {
        return { ...e, left: { ...left, right: { kind: 'value', value: (left.right.value | right.value) >>> 0 } }, right };
      }
      return { ...e, left, right };
    }
    default: return e;
  }
}

function canonStmt(s: Stmt): Stmt {
  switch (s.kind) {
    case 'match': return { ...s, left: canonExpr(s.left), right: canonExpr(s.right) };
    case 'mangle': return { ...s, value: canonExpr(s.value) };
    default: return s;
  }
}

const L4: readonly unknown[] = ['tcp', 'udp', 'sctp'];

/** A rule in the form nft lists it: the statements canonical, and `meta l4proto P` followed
 *  by a match on `th PORT` read as `P PORT` (nft folds the protocol match into the payload's
 *  dependency and lists `udp dport 53` for `meta l4proto udp th dport 53`). */
export function canonRule(r: Rule): Rule {
  const out: Stmt[] = [];
  for (let i = 0; i < r.length; i++) {
    const s = canonStmt(r[i]!), next = r[i + 1];
    if (s.kind === 'match' && s.op === '==' && s.left.kind === 'meta' && s.left.key === 'l4proto' && s.right.kind === 'value' && L4.includes(s.right.value)
      && next?.kind === 'match' && next.left.kind === 'payload' && next.left.protocol === 'th') {
      out.push(canonStmt({ ...next, left: { ...next.left, protocol: s.right.value as 'tcp' | 'udp' | 'sctp' } }));
      i++;
    } else out.push(s);
  }
  return out;
}

/** A listed rule's statements as IR; undefined when one of them is not ours (a rule someone
 *  else put in our table: kept as listed, so it differs from anything we compile). */
function listedRule(expr: unknown): Rule | undefined {
  if (!Array.isArray(expr)) return undefined;
  try {
    return canonRule(expr.map(stmtFromJson));
  } catch (e) {
    if (e instanceof IrParseError) return undefined;
    throw e;
  }
}

export function normalizeListing(json: string): string {
  const doc = JSON.parse(json) as { nftables?: Obj[] };
  const items = (doc.nftables ?? []).filter((o) => !('metainfo' in o)).map((o) => {
    const [k, v] = Object.entries(o)[0]!;
    const { handle: _h, packets: _p, bytes: _b, ...rest } = v as Obj;
    if (Array.isArray(rest.elem)) rest.elem = sortedJson(rest.elem);
    if (k === 'rule') {
      const ir = listedRule(rest.expr);
      // Not ours: counter values dropped, anonymous sets sorted, as JSON.
      rest.expr = ir ? ir.map(stmtJson) : JSON.parse(JSON.stringify(rest.expr, (key, val) => {
        if (key === 'packets' || key === 'bytes') return undefined;
        if (key === 'set' && Array.isArray(val)) return sortedJson(val);
        return val;
      }));
    }
    return JSON.stringify({ [k]: rest });
  });
  return items.sort().join('\n');
}

/** The table `table` of a listing as a Ruleset (rules as IR, in the order listed). Throws
 *  when a rule is not one the IR knows: such a table is not one we compiled. */
export function listingRuleset(json: string, table: string, family: 'inet' = 'inet'): Ruleset {
  const doc = JSON.parse(json) as { nftables?: Obj[] };
  const chains = new Map<string, { base?: BaseHook; rules: Rule[]; comments: (string | undefined)[] }>();
  const counters: string[] = [], sets: SetDef[] = [], maps: MapDef[] = [];
  for (const o of doc.nftables ?? []) {
    const [k, v] = Object.entries(o)[0]! as [string, Obj];
    if (k === 'metainfo' || v.family !== family || (v.table ?? v.name) !== table) continue;
    const name = v.name as string;
    switch (k) {
      case 'table': break;
      case 'chain': {
        const c = chains.get(name) ?? { rules: [], comments: [] };
        if (v.hook) c.base = { type: v.type as 'filter', hook: v.hook as BaseHook['hook'], prio: v.prio as number, policy: v.policy as 'accept' };
        chains.set(name, c);
        break;
      }
      case 'rule': {
        const chain = v.chain as string;
        const c = chains.get(chain) ?? { rules: [], comments: [] };
        chains.set(chain, c);
        c.rules.push((v.expr as unknown[]).map(stmtFromJson));
        c.comments.push(v.comment as string | undefined);
        break;
      }
      case 'counter': counters.push(name); break;
      // Named limit objects are not part of a Ruleset yet (rules may name one: `limitRef`);
      // whoever adds them to Ruleset reads them here.
      case 'limit': break;
      case 'set': sets.push({ name, type: v.type as SetDef['type'], flags: (v.flags as string[] | undefined) ?? [], elems: (v.elem as unknown[] | undefined) ?? [] }); break;
      case 'map': maps.push({ name, type: v.type as MapDef['type'], map: v.map as MapDef['map'], elems: (v.elem as [unknown, unknown][] | undefined) ?? [] }); break;
      default: throw new Error(`listing of table ${family} ${table}: ${k} ${name} is not an object we make`);
    }
  }
  const chainDefs: ChainDef[] = [...chains].map(([name, c]) => ({ name, ...(c.base ? { base: c.base } : {}), rules: c.rules, comments: c.comments }));
  return { family, table, chains: chainDefs, counters, sets, maps };
}

/** JSON with object keys sorted: IR values equal as data give equal text. */
const stableJson = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));

/** A canonical text of a Ruleset (its rules as IR values, not as the JSON they become): two rulesets holding the same (chains with the same rules
 *  in the same order, the same sets, maps, counters and elements) give the same text. */
export function rulesetKey(rs: Ruleset): string {
  const byName = <T extends { name: string }>(xs: readonly T[]) => [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const lines: string[] = [`table ${rs.family} ${rs.table}`];
  for (const c of byName(rs.chains)) {
    lines.push(`chain ${c.name} ${JSON.stringify(c.base ?? null)}`);
    for (const [i, r] of c.rules.entries()) lines.push(`  ${stableJson(canonRule(r))} ${JSON.stringify(c.comments?.[i] ?? null)}`);
  }
  for (const n of [...rs.counters].sort()) lines.push(`counter ${n}`);
  for (const s of byName(rs.sets)) lines.push(`set ${s.name} ${JSON.stringify([s.type, [...s.flags].sort()])} ${s.elems.map(elemKey).sort().join(' ')}`);
  for (const m of byName(rs.maps)) lines.push(`map ${m.name} ${JSON.stringify([m.type, m.map])} ${m.elems.map(elemKey).sort().join(' ')}`);
  return lines.join('\n');
}
