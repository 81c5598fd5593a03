// An in-memory nftables table that applies batches the way nft does, strictly: a batch is
// atomic (all or nothing), and it refuses what the kernel refuses — an object that is not
// there (flush, delete, elements of a missing set, a rule in a missing chain, a jump to a
// missing chain), deleting an element that is absent, deleting a set a rule still refers
// to, deleting a chain a map still jumps to, a counter a counter map still names — and,
// stricter than nft, adding an element that is already there (our batches never mean to).
// `dump()` gives a canonical text of the table so that two tables compare as strings.
import type { Batch } from '../../compiler/index.js';

interface Chain { base?: unknown; rules: { expr: unknown; comment?: string }[] }
interface Container { kind: 'set' | 'map'; shape: string; elems: Map<string, unknown> }
interface State { exists: boolean; chains: Map<string, Chain>; containers: Map<string, Container>; counters: Set<string> }

const keyOf = (kind: 'set' | 'map', e: unknown) => (kind === 'map' ? JSON.stringify((e as [unknown, unknown])[0]) : JSON.stringify(e));
const valueOf = (kind: 'set' | 'map', e: unknown) => (kind === 'map' ? (e as [unknown, unknown])[1] : e);

export class MemTable {
  private s: State = { exists: false, chains: new Map(), containers: new Map(), counters: new Set() };

  constructor(readonly table = 'netpol_nft') {}

  static of(b: Batch, table = 'netpol_nft'): MemTable {
    const t = new MemTable(table);
    t.apply(b);
    return t;
  }

  /** Applies a batch atomically; throws (and keeps the old state) on the first refusal. */
  apply(b: Batch): void {
    const s = clone(this.s);
    b.nftables.forEach((cmd, i) => {
      try {
        this.one(s, cmd as Record<string, Record<string, Record<string, any>>>);
      } catch (e) {
        throw new Error(`command ${i} ${JSON.stringify(cmd).slice(0, 300)}: ${(e as Error).message}`);
      }
    });
    this.s = s;
  }

  private one(s: State, cmd: Record<string, Record<string, Record<string, any>>>): void {
    const [verb, body] = Object.entries(cmd)[0]!;
    const [what, o] = Object.entries(body)[0]!;
    if (what === 'table') {
      if (verb === 'add') s.exists = true;
      else if (verb === 'delete') {
        if (!s.exists) throw new Error('No such file or directory: table');
        Object.assign(s, { exists: false, chains: new Map(), containers: new Map(), counters: new Set() });
      } else throw new Error(`${verb} table not modelled`);
      return;
    }
    if (!s.exists) throw new Error(`No such file or directory: table for ${what}`);
    const name = o.name as string;
    const refersTo = (set: string) => [...s.chains.values()].some((c) => c.rules.some((r) => JSON.stringify(r.expr).includes(`"@${set}"`)));
    switch (`${verb} ${what}`) {
      case 'add chain':
        if (!s.chains.has(name)) s.chains.set(name, { base: o.hook ? { type: o.type, hook: o.hook, prio: o.prio, policy: o.policy } : undefined, rules: [] });
        return;
      case 'flush chain': {
        const c = s.chains.get(name);
        if (!c) throw new Error(`No such file or directory: chain ${name}`);
        c.rules = [];
        return;
      }
      case 'delete chain': {
        const c = s.chains.get(name);
        if (!c) throw new Error(`No such file or directory: chain ${name}`);
        if (c.rules.length) throw new Error(`Device or resource busy: chain ${name} has rules`);
        for (const [mn, m] of s.containers) for (const v of m.elems.values()) if (JSON.stringify(v).includes(`"target":${JSON.stringify(name)}`)) throw new Error(`Device or resource busy: map ${mn} jumps to chain ${name}`);
        s.chains.delete(name);
        return;
      }
      case 'add counter':
        s.counters.add(name);
        return;
      case 'delete counter':
        if (!s.counters.has(name)) throw new Error(`No such file or directory: counter ${name}`);
        for (const [mn, m] of s.containers) for (const v of m.elems.values()) if (v === name) throw new Error(`Device or resource busy: map ${mn} names counter ${name}`);
        s.counters.delete(name);
        return;
      case 'add set': case 'add map': {
        const shape = JSON.stringify([o.type, o.flags ?? [], o.map ?? null]);
        let c = s.containers.get(name);
        if (c && c.shape !== shape) throw new Error(`File exists: ${what} ${name} with another type`);
        if (!c) s.containers.set(name, (c = { kind: what as 'set' | 'map', shape, elems: new Map() }));
        this.addElems(s, c, name, o.elem ?? []);
        return;
      }
      case 'delete set': case 'delete map': {
        if (!s.containers.has(name)) throw new Error(`No such file or directory: ${what} ${name}`);
        if (refersTo(name)) throw new Error(`Device or resource busy: a rule refers to ${name}`);
        s.containers.delete(name);
        return;
      }
      case 'add element': {
        const c = s.containers.get(name);
        if (!c) throw new Error(`No such file or directory: set ${name}`);
        this.addElems(s, c, name, o.elem);
        return;
      }
      case 'delete element': {
        const c = s.containers.get(name);
        if (!c) throw new Error(`No such file or directory: set ${name}`);
        for (const e of o.elem as unknown[]) {
          const k = c.kind === 'map' ? JSON.stringify(e) : keyOf(c.kind, e);
          if (!c.elems.delete(k)) throw new Error(`No such file or directory: element ${k} of ${name}`);
        }
        return;
      }
      case 'add rule': {
        const c = s.chains.get(o.chain);
        if (!c) throw new Error(`No such file or directory: chain ${o.chain}`);
        for (const m of JSON.stringify(o.expr).matchAll(/"@([^"]+)"/g)) if (!s.containers.has(m[1]!)) throw new Error(`No such file or directory: rule refers to ${m[1]}`);
        c.rules.push({ expr: o.expr, ...(o.comment ? { comment: o.comment } : {}) });
        return;
      }
      default:
        throw new Error(`${verb} ${what} not modelled`);
    }
  }

  private addElems(s: State, c: Container, name: string, elems: unknown[]): void {
    for (const e of elems) {
      const k = keyOf(c.kind, e);
      if (c.elems.has(k)) throw new Error(`File exists: element ${k} of ${name}`);
      const v = valueOf(c.kind, e);
      if (c.kind === 'map') {
        const target = (v as { jump?: { target?: string } })?.jump?.target;
        if (target !== undefined && !s.chains.has(target)) throw new Error(`No such file or directory: map ${name} jumps to chain ${target}`);
        if (typeof v === 'string' && !s.counters.has(v)) throw new Error(`No such file or directory: map ${name} names counter ${v}`);
      }
      c.elems.set(k, v);
    }
  }

  /** The table as canonical text (sorted), for comparisons. */
  dump(opts: { withoutChain?: string } = {}): string {
    if (!this.s.exists) return '(no table)';
    const lines: string[] = [];
    for (const n of [...this.s.counters].sort()) lines.push(`counter ${n}`);
    for (const n of [...this.s.containers.keys()].sort()) {
      const c = this.s.containers.get(n)!;
      lines.push(`${c.kind} ${n} ${c.shape}`);
      for (const k of [...c.elems.keys()].sort()) lines.push(`  ${k}${c.kind === 'map' ? ` : ${JSON.stringify(c.elems.get(k))}` : ''}`);
    }
    for (const n of [...this.s.chains.keys()].sort()) {
      if (n === opts.withoutChain) continue;
      const c = this.s.chains.get(n)!;
      lines.push(`chain ${n} ${JSON.stringify(c.base ?? null)}`);
      for (const r of c.rules) lines.push(`  ${JSON.stringify(r.expr)}${r.comment ? ` # ${r.comment}` : ''}`);
    }
    return lines.join('\n');
  }
}

function clone(s: State): State {
  return {
    exists: s.exists,
    chains: new Map([...s.chains].map(([k, c]) => [k, { base: c.base, rules: [...c.rules] }])),
    containers: new Map([...s.containers].map(([k, c]) => [k, { kind: c.kind, shape: c.shape, elems: new Map(c.elems) }])),
    counters: new Set(s.counters),
  };
}
