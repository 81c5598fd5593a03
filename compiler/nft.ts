// A ruleset is a value: the table's chains, counters, sets and maps, sorted by name, their
// elements sorted and unique. From it come the batches handed to `nft -j -f -` (a full
// replace here, a diff in diff.ts) and a text rendering for humans (`nft -f` accepts it too).

import { exprFromJson, exprText, ruleJson, stmtFromJson, stmtText, type Json, type Rule } from './nft/ir.js';

/** A rule: typed IR statements (nft/ir.ts); JSON is made from them in the batches below. */
export type { Rule } from './nft/ir.js';
/** The nft JSON object of a command (a chain, a set, a rule…). Statements and expressions
 *  are the IR's `Stmt` and `Expr` (nft/build.ts makes them). */
export type JsonObj = { readonly [k: string]: unknown };

export interface BaseHook {
  readonly type: 'filter';
  readonly hook: 'forward' | 'input';
  readonly prio: number;
  readonly policy: 'accept';
}

export interface ChainDef {
  readonly name: string;
  readonly base?: BaseHook;
  readonly rules: readonly Rule[];
  /** Rule comments, by rule index (nft keeps them with the rule: `comment "x/a ingress[0]"`). */
  readonly comments?: readonly (string | undefined)[];
}

export interface SetDef {
  readonly name: string;
  readonly type: string | readonly string[];
  readonly flags: readonly string[];
  readonly elems: readonly unknown[];
}

export interface MapDef {
  readonly name: string;
  readonly type: string | readonly string[];
  readonly map: 'verdict' | 'counter';
  readonly elems: readonly (readonly [unknown, unknown])[];
}

/** A named `limit` object (a token bucket rules share: `limit name "drop_log"`). */
export interface LimitDef {
  readonly name: string;
  readonly rate: number;
  readonly per: 'second' | 'minute' | 'hour' | 'day';
  readonly burst: number;
}

export interface Ruleset {
  readonly family: 'inet';
  readonly table: string;
  readonly chains: readonly ChainDef[];
  readonly counters: readonly string[];
  /** Named limits (absent: none). */
  readonly limits?: readonly LimitDef[];
  readonly sets: readonly SetDef[];
  readonly maps: readonly MapDef[];
}

export type Command = { readonly [verb: string]: { readonly [object: string]: unknown } };
export interface Batch {
  readonly nftables: readonly Command[];
}

/** A stable text key for an element, used for sorting, dedup and diffs. */
export const elemKey = (e: unknown): string => JSON.stringify(e);

export function sortUniqueElems<T>(elems: readonly T[], key: (e: T) => string = elemKey): T[] {
  const m = new Map<string, T>();
  for (const e of elems) m.set(key(e), e);
  return [...m.keys()].sort().map((k) => m.get(k)!);
}

const ref = (rs: { family: 'inet'; table: string }) => ({ family: rs.family, table: rs.table });
const tableRef = (rs: Ruleset) => ({ family: rs.family, name: rs.table });

export function chainObj(rs: Ruleset, c: ChainDef): JsonObj {
  return c.base ? { ...ref(rs), name: c.name, ...c.base } : { ...ref(rs), name: c.name };
}
export function setObj(rs: Ruleset, s: SetDef, withElems = true): JsonObj {
  const o: Record<string, unknown> = { ...ref(rs), name: s.name, type: s.type };
  if (s.flags.length) o.flags = s.flags;
  if (withElems && s.elems.length) o.elem = s.elems;
  return o;
}
export function mapObj(rs: Ruleset, m: MapDef, withElems = true): JsonObj {
  const o: Record<string, unknown> = { ...ref(rs), name: m.name, type: m.type, map: m.map };
  if (withElems && m.elems.length) o.elem = m.elems;
  return o;
}
export function limitObj(rs: { family: string; table: string }, l: LimitDef): JsonObj {
  return { family: rs.family, table: rs.table, name: l.name, rate: l.rate, per: l.per, burst: l.burst };
}
export function ruleObj(rs: { family: 'inet'; table: string }, chain: string, r: Rule, comment?: string): JsonObj {
  return comment ? { ...ref(rs), chain, expr: ruleJson(r), comment } : { ...ref(rs), chain, expr: ruleJson(r) };
}

/** The whole table in one transaction: add + delete + add clears whatever was there (and
 *  works when nothing was), then chains, counters, sets, maps (whose elements jump to the
 *  chains), rules. nft applies it atomically: there is no moment without the table. */
export function fullBatch(rs: Ruleset): Batch {
  const cmds: Command[] = [
    { add: { table: tableRef(rs) } },
    { delete: { table: tableRef(rs) } },
    { add: { table: tableRef(rs) } },
    ...rs.chains.map((c) => ({ add: { chain: chainObj(rs, c) } })),
    ...rs.counters.map((n) => ({ add: { counter: { ...ref(rs), name: n } } })),
    ...(rs.limits ?? []).map((l) => ({ add: { limit: limitObj(rs, l) } })),
    ...rs.sets.map((s) => ({ add: { set: setObj(rs, s) } })),
    ...rs.maps.map((m) => ({ add: { map: mapObj(rs, m) } })),
    ...rs.chains.flatMap((c) => c.rules.map((r, i) => ({ add: { rule: ruleObj(rs, c.name, r, c.comments?.[i]) } }))),
  ];
  return { nftables: cmds };
}

/** Deletes our table (for `cleanup`); `add` first so that it works when the table is absent. */
export function deleteTableBatch(family: 'inet', table: string): Batch {
  return { nftables: [{ add: { table: { family, name: table } } }, { delete: { table: { family, name: table } } }] };
}

export function batchJson(b: Batch): string {
  return JSON.stringify(b) + '\n';
}

// ---------------------------------------------------------------- text rendering

export function ruleText(r: Rule, comment?: string): string {
  return r.map(stmtText).join(' ') + (comment ? ` comment ${JSON.stringify(comment)}` : '');
}

function elemText(e: unknown): string {
  if (Array.isArray(e)) {
    const v = e[1] as Record<string, any> | string;
    const vt = typeof v === 'string' ? JSON.stringify(v) : 'jump' in v ? `jump ${v.jump.target}` : 'goto' in v ? `goto ${v.goto.target}` : exprText(exprFromJson(v));
    return `${exprText(exprFromJson(e[0]))} : ${vt}`;
  }
  return exprText(exprFromJson(e));
}

const typeText = (t: string | readonly string[]) => (typeof t === 'string' ? t : t.join(' . '));

/** Renders a batch as an nft script (`nft -f -` accepts it), one command a line. */
export function batchText(b: Batch): string {
  const lines: string[] = [];
  for (const cmd of b.nftables) {
    const [verb, body] = Object.entries(cmd)[0]!;
    const [what, o] = Object.entries(body)[0]! as [string, Record<string, any>];
    const t = `${o.family} ${o.table ?? o.name}`;
    switch (what) {
      case 'table': lines.push(`${verb} table ${o.family} ${o.name}`); break;
      case 'chain': lines.push(o.hook ? `${verb} chain ${t} ${o.name} { type ${o.type} hook ${o.hook} priority ${o.prio}; policy ${o.policy}; }` : `${verb} chain ${t} ${o.name}`); break;
      case 'counter': lines.push(`${verb} counter ${t} ${o.name}`); break;
      case 'limit': lines.push(verb === 'add' ? `${verb} limit ${t} ${o.name} { rate ${o.rate}/${o.per} burst ${o.burst} packets }` : `${verb} limit ${t} ${o.name}`); break;
      case 'set': case 'map': {
        if (verb !== 'add') { lines.push(`${verb} ${what} ${t} ${o.name}`); break; }
        const parts = [what === 'map' ? `type ${typeText(o.type)} : ${o.map};` : `type ${typeText(o.type)};`];
        if (o.flags?.length) parts.push(`flags ${o.flags.join(', ')};`);
        if (o.elem?.length) parts.push(`elements = { ${o.elem.map(elemText).join(', ')} }`);
        lines.push(`${verb} ${what} ${t} ${o.name} { ${parts.join(' ')} }`);
        break;
      }
      case 'element': lines.push(`${verb} element ${t} ${o.name} { ${o.elem.map(elemText).join(', ')} }`); break;
      case 'rule': lines.push(`${verb} rule ${t} ${o.chain} ${ruleText((o.expr as Json[]).map(stmtFromJson), o.comment)}`); break;
      default: throw new Error(`cannot render ${verb} ${what}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** The ruleset as `nft list table` would print it, for `compile --output text`. */
export function rulesetText(rs: Ruleset): string {
  const out: string[] = [`table ${rs.family} ${rs.table} {`];
  for (const n of rs.counters) out.push(`\tcounter ${n} {\n\t}`, '');
  // nft lists a burst of 5 (its default) as nothing.
  for (const l of rs.limits ?? []) out.push(`\tlimit ${l.name} {`, `\t\trate ${l.rate}/${l.per}${l.burst !== 5 ? ` burst ${l.burst} packets` : ''}`, '\t}', '');
  for (const s of rs.sets) {
    out.push(`\tset ${s.name} {`, `\t\ttype ${typeText(s.type)}`);
    if (s.flags.length) out.push(`\t\tflags ${s.flags.join(',')}`);
    if (s.elems.length) out.push(`\t\telements = { ${s.elems.map(elemText).join(',\n\t\t\t     ')} }`);
    out.push('\t}', '');
  }
  for (const m of rs.maps) {
    out.push(`\tmap ${m.name} {`, `\t\ttype ${typeText(m.type)} : ${m.map}`);
    if (m.elems.length) out.push(`\t\telements = { ${m.elems.map(elemText).join(',\n\t\t\t     ')} }`);
    out.push('\t}', '');
  }
  for (const c of rs.chains) {
    out.push(`\tchain ${c.name} {`);
    if (c.base) out.push(`\t\ttype ${c.base.type} hook ${c.base.hook} priority ${c.base.prio}; policy ${c.base.policy};`);
    for (const [i, r] of c.rules.entries()) out.push(`\t\t${ruleText(r, c.comments?.[i])}`);
    out.push('\t}', '');
  }
  if (out[out.length - 1] === '') out.pop();
  out.push('}');
  return out.join('\n') + '\n';
}
