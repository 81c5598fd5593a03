// An in-memory nft, for tests that must run without root: it applies the JSON batches the
// compiler writes (`fullBatch`, `diffBatch`) to tables held in memory, all or nothing, and
// refuses what nft 1.0.6 on a 6.x kernel refuses, with the same first line of stderr, so
// that a batch mistake fails here as it would on a node. It implements the agent's NftPort.
//
// What nft refuses (each point was tried with the real nft in a network namespace; the
// agreement is checked by test/ruleset/fake-nft-kernel.test.ts):
//  - deleting a table, chain, set, map, counter or element that is not there, twice in one
//    batch included (ENOENT), and anything that refers to a missing object: an element of a
//    missing set, a rule in a missing chain, a rule naming a missing set, map or counter, a
//    verdict that jumps to a missing chain, a counter-map element naming a missing counter;
//  - deleting what something still uses (EBUSY): a set or map a rule names, a chain a rule or
//    a map element jumps to, a counter a rule or a counter-map element names. A chain that is
//    not jumped to may be deleted with its rules;
//  - `create` of anything already there, `add` of a map element whose key is there with
//    another value, `add` of a set, map or chain already there with another type, flags or
//    hook (EEXIST / EOPNOTSUPP). `add` of an element already there (same key, same value) is
//    accepted and changes nothing, as nft does;
//  - intervals: a prefix or range in a set without `flags interval`; in an interval set of one
//    field, an element overlapping another one (touching is fine; identical is a no-op); in a
//    concatenated interval set, an element whose first or last point lies inside another
//    element (this is exactly the kernel's check: a box that straddles another one with both
//    corners outside it is accepted, as the kernel accepts it); a range whose end is below its
//    start. Deleting from a concatenated interval set removes the element holding the first
//    point of the one named (the kernel does not compare the ends);
//  - elements of the wrong shape for the set's type (an IPv6 address in an IPv4 set, a plain
//    value in a concatenated set, a concatenation of the wrong length, a port above 65535, a
//    map element in a set or the reverse); a rule that matches a set or map of another type
//    (`ip6 saddr @a_v4_set`), or uses a set as a verdict map.
// `strict: true` adds one check nft does not make: adding an element that is already there.
// A diff that does so is harmless to the kernel but shows that its idea of the kernel's state
// was wrong; the no-root diff tests use it.
//
// `list()` prints what `nft -j list table|chains` prints for the same state, so that
// normalizeListing(fake listing) equals the kernel's normalized listing; for 'counters' it
// prints the counters and zeroes them, as `nft -j reset counters` does (see NftPort.list).
import type { Batch } from '../../compiler/index.js';
import { classifyNftError, NftError, type NftPort } from '../../controller/nft.js';
import { normalizeListing } from '../../compiler/listing.js';
import { stmtFromJson, type Stmt } from '../../compiler/nft/ir.js';
import {
  chainListing, ERRNO, FIELDS, inside, listedStatements, overlaps, parseElem, refuse, Refused, setListing, elemText,
  type ChainObj, type Elem, type Field, type Obj, type SetObj, type Table,
} from './fake-nft-values.js';

export interface FakeNftOptions {
  /** Also refuse adding an element that is already there (nft accepts it). */
  readonly strict?: boolean;
}

export class FakeNft implements NftPort {
  private tables = new Map<string, Table>();
  private handle = 0;
  /** Every batch applied successfully, in order (tests look at their shape). */
  readonly batches: Batch[] = [];
  /** Set to make the next apply() calls fail as an unreachable nft would. */
  failing = false;

  /** Sets and chains this batch made or copied: its own to change. */
  private owned = new WeakSet<object>();

  constructor(private readonly opts: FakeNftOptions = {}) {}

  private ownSet(t: Table, s: SetObj): SetObj {
    if (this.owned.has(s)) return s;
    const copy = { ...s, elems: new Map(s.elems) };
    t.sets.set(s.name, copy);
    this.owned.add(copy);
    return copy;
  }

  private ownChain(t: Table, c: ChainObj): ChainObj {
    if (this.owned.has(c)) return c;
    const copy = { ...c, rules: [...c.rules] };
    t.chains.set(c.name, copy);
    this.owned.add(copy);
    return copy;
  }

  // ---------------------------------------------------------------- the port

  async apply(batchJson: string): Promise<void> {
    if (this.failing) throw new NftError('failed', 'fake nft: injected failure', 1);
    this.applyBatch(JSON.parse(batchJson) as Batch);
  }

  async list(family: string, table: string, what: 'table' | 'counters' | 'chains' = 'table'): Promise<string | undefined> {
    const json = this.listJson(family, table, what);
    // The port reads counters as NftCli does, through `nft reset counters`: what was counted
    // since the previous read, then zero.
    if (what === 'counters') for (const c of this.tables.get(`${family} ${table}`)?.counters.values() ?? []) { c.packets = 0; c.bytes = 0; }
    return json;
  }

  // ---------------------------------------------------------------- for tests

  /** Applies a batch synchronously; throws NftError (classified as NftCli would) when nft
   *  would refuse it, and then nothing has changed. */
  applyBatch(batch: Batch): void {
    const saved = this.tables, savedHandle = this.handle;
    // Copy on write: the tables are copied shallowly, a set's elements or a chain's rules only
    // when the batch changes them, so a batch costs what it touches.
    this.tables = new Map([...saved].map(([k, t]) => [k, cloneTable(t)]));
    this.owned = new WeakSet();
    try {
      batch.nftables.forEach((cmd, i) => {
        try {
          this.command(cmd as Obj);
        } catch (e) {
          if (e instanceof Refused) throw new Refused(`${e.message} [command ${i}: ${JSON.stringify(cmd).slice(0, 300)}]`);
          throw e;
        }
      });
    } catch (e) {
      this.tables = saved;
      this.handle = savedHandle;
      if (e instanceof Refused) throw new NftError(classifyNftError(e.message), e.message, 1);
      throw e;
    }
    this.batches.push(batch);
  }

  /** The state as `nft -j list …` prints it; undefined when the table does not exist. */
  listJson(family: string, table: string, what: 'table' | 'counters' | 'chains' = 'table'): string | undefined {
    const out: Obj[] = [{ metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } }];
    if (what === 'chains') {
      for (const t of this.tables.values()) if (t.family === family) for (const c of t.chains.values()) out.push({ chain: chainListing(t, c) });
      return JSON.stringify({ nftables: out });
    }
    const t = this.tables.get(`${family} ${table}`);
    if (!t) return undefined;
    out.push({ table: { family, name: table, handle: t.handle } });
    for (const c of t.counters.values()) out.push({ counter: { family, name: c.name, table, handle: c.handle, packets: c.packets, bytes: c.bytes } });
    if (what === 'counters') return JSON.stringify({ nftables: out });
    for (const l of t.limits.values()) out.push({ limit: { family, name: l.name, table, handle: l.handle, rate: l.rate, per: l.per, burst: l.burst } });
    for (const s of t.sets.values()) out.push({ [s.kind]: setListing(t, s) });
    for (const c of t.chains.values()) {
      out.push({ chain: chainListing(t, c) });
      for (const r of c.rules) out.push({ rule: { family, table, chain: c.name, handle: r.handle, ...(r.comment !== undefined ? { comment: r.comment } : {}), expr: listedStatements(r.expr) } });
    }
    return JSON.stringify({ nftables: out });
  }

  /** The table as the kernel tests compare it (normalizeListing), '' when it does not exist. */
  dump(table = 'netpol_nft', family = 'inet'): string {
    const json = this.listJson(family, table);
    return json === undefined ? '' : normalizeListing(json);
  }

  /** Gives a named counter values, as traffic would (for metrics tests). */
  setCounter(name: string, packets: number, bytes: number, table = 'netpol_nft', family = 'inet'): void {
    const c = this.tables.get(`${family} ${table}`)?.counters.get(name);
    if (!c) throw new Error(`fake nft: no counter ${name}`);
    c.packets = packets;
    c.bytes = bytes;
  }

  // ---------------------------------------------------------------- commands

  private command(cmd: Obj): void {
    const verbs = Object.keys(cmd);
    if (verbs.length !== 1) refuse('Error: syntax error', `a command has one verb, got ${verbs.join(', ') || 'none'}`);
    const verb = verbs[0]!;
    const body = cmd[verb] as Obj;
    const kinds = Object.keys(body ?? {});
    if (kinds.length !== 1) refuse('Error: syntax error', `${verb} needs one object`);
    const kind = kinds[0]!;
    const o = body[kind] as Obj;
    switch (`${verb} ${kind}`) {
      case 'add table': case 'create table': return this.addTable(o, verb === 'create');
      case 'delete table': return this.deleteTable(o);
      case 'add chain': case 'create chain': return this.addChain(o, verb === 'create');
      case 'flush chain': return this.flushChain(this.chain(o, o.name), this.table(o));
      case 'delete chain': return this.deleteChain(o);
      case 'add rule': return this.addRule(o);
      case 'add counter': case 'create counter': return this.addCounter(o, verb === 'create');
      case 'delete counter': return this.deleteCounter(o);
      case 'add limit': case 'create limit': return this.addLimit(o, verb === 'create');
      case 'delete limit': return this.deleteLimit(o);
      case 'add set': case 'create set': case 'add map': case 'create map': return this.addSet(o, kind as 'set' | 'map', verb === 'create');
      case 'delete set': case 'delete map': return this.deleteSet(o, kind as 'set' | 'map');
      case 'flush set': case 'flush map': return this.flushSet(this.set(o, o.name, kind as 'set' | 'map'), this.table(o));
      case 'add element': case 'create element': return this.addElements(o, verb === 'create');
      case 'delete element': return this.deleteElements(o);
      default: throw new Error(`fake nft: "${verb} ${kind}" is not implemented; teach test/helpers/fake-nft.ts what nft does with it`);
    }
  }

  private table(o: Obj): Table {
    const t = this.tables.get(`${o.family} ${o.table ?? o.name}`);
    if (!t) return refuse(`Error: No such file or directory; table ${o.family} ${o.table ?? o.name}`, `table ${o.family} ${o.table ?? o.name} does not exist`);
    return t;
  }
  private chain(o: Obj, name: string): ChainObj {
    const c = this.table(o).chains.get(name);
    if (!c) return refuse(ERRNO.ENOENT, `chain ${name} does not exist`);
    return c;
  }
  private set(o: Obj, name: string, kind?: 'set' | 'map'): SetObj {
    const s = this.table(o).sets.get(name);
    if (!s || (kind && s.kind !== kind)) return refuse(`Error: No such file or directory; ${kind ?? 'set'} ${name}`, `${kind ?? 'set'} ${name} does not exist`);
    return s;
  }

  private addTable(o: Obj, create: boolean): void {
    const k = `${o.family} ${o.name}`;
    if (this.tables.has(k)) {
      if (create) refuse(ERRNO.EEXIST, `table ${k} exists`);
      return;
    }
    this.tables.set(k, { family: o.family, name: o.name, handle: ++this.handle, chains: new Map(), sets: new Map(), counters: new Map(), limits: new Map(), refs: new Map() });
  }

  private deleteTable(o: Obj): void {
    this.table(o);
    this.tables.delete(`${o.family} ${o.name}`);
  }

  private addChain(o: Obj, create: boolean): void {
    const t = this.table(o);
    const base = o.hook === undefined ? undefined : { type: o.type, hook: o.hook, prio: o.prio, policy: o.policy };
    const old = t.chains.get(o.name);
    if (old) {
      if (create) refuse(ERRNO.EEXIST, `chain ${o.name} exists`);
      if (base && JSON.stringify(base) !== JSON.stringify(old.base)) refuse(ERRNO.EOPNOTSUPP, `chain ${o.name} exists with another hook`);
      return;
    }
    const c: ChainObj = { name: o.name, base, handle: ++this.handle, rules: [] };
    t.chains.set(o.name, c);
    this.owned.add(c);
  }

  private flushChain(chain: ChainObj, t: Table): void {
    const c = this.ownChain(t, chain);
    for (const r of c.rules) for (const ref of r.refs) unref(t, ref);
    c.rules = [];
  }

  private deleteChain(o: Obj): void {
    const t = this.table(o), c = this.chain(o, o.name);
    if (used(t, `chain:${c.name}`)) refuse(ERRNO.EBUSY, `chain ${c.name} is still jumped to`);
    this.flushChain(c, t);
    t.chains.delete(c.name);
  }

  private addCounter(o: Obj, create: boolean): void {
    const t = this.table(o);
    if (t.counters.has(o.name)) {
      if (create) refuse(ERRNO.EEXIST, `counter ${o.name} exists`);
      return;
    }
    t.counters.set(o.name, { name: o.name, handle: ++this.handle, packets: 0, bytes: 0 });
  }

  private addLimit(o: Obj, create: boolean): void {
    const t = this.table(o);
    if (!Number.isInteger(o.rate) || o.rate < 1 || !['second', 'minute', 'hour', 'day'].includes(o.per)) refuse(ERRNO.EINVAL, `limit ${o.name}: rate ${JSON.stringify(o.rate)}/${JSON.stringify(o.per)}`);
    const old = t.limits.get(o.name);
    if (old && create) refuse(ERRNO.EEXIST, `limit ${o.name} exists`);
    t.limits.set(o.name, { name: o.name, handle: old?.handle ?? ++this.handle, rate: o.rate, per: o.per, burst: o.burst ?? 5 });
  }

  private deleteLimit(o: Obj): void {
    const t = this.table(o);
    if (!t.limits.has(o.name)) refuse(`Error: No such file or directory; obj ${o.name}`, `limit ${o.name} does not exist`);
    if (used(t, `limit:${o.name}`)) refuse(ERRNO.EBUSY, `limit ${o.name} is still used`);
    t.limits.delete(o.name);
  }

  private deleteCounter(o: Obj): void {
    const t = this.table(o);
    if (!t.counters.has(o.name)) refuse(`Error: No such file or directory; obj ${o.name}`, `counter ${o.name} does not exist`);
    if (used(t, `counter:${o.name}`)) refuse(ERRNO.EBUSY, `counter ${o.name} is still used`);
    t.counters.delete(o.name);
  }

  private addSet(o: Obj, kind: 'set' | 'map', create: boolean): void {
    const t = this.table(o);
    const types = typeof o.type === 'string' ? [o.type] : Array.isArray(o.type) ? (o.type as unknown[]) : [];
    const bad = types.find((x) => !FIELDS.includes(x as Field));
    if (!types.length || bad !== undefined) refuse('Error: unknown datatype', `${kind} ${o.name}: type ${JSON.stringify(o.type)} is not one the fake knows (${FIELDS.join(', ')})`);
    if (kind === 'map' && o.map !== 'verdict' && o.map !== 'counter') throw new Error(`fake nft: map type ${JSON.stringify(o.map)} is not implemented`);
    const flags = (o.flags ?? []) as string[];
    // What the fake does not model must not be modelled wrongly: say so instead.
    const unknown = [...Object.keys(o).filter((k) => !['family', 'table', 'name', 'type', 'flags', 'elem', 'map'].includes(k)), ...flags.filter((f) => f !== 'interval')];
    if (unknown.length) throw new Error(`fake nft: ${kind} ${o.name}: ${unknown.join(', ')} is not implemented; teach test/helpers/fake-nft.ts what nft does with it`);
    const old = t.sets.get(o.name);
    if (old) {
      if (create) refuse(ERRNO.EEXIST, `${kind} ${o.name} exists`);
      const same = old.kind === kind && JSON.stringify(old.type) === JSON.stringify(o.type) && JSON.stringify(old.flags) === JSON.stringify(flags) && old.map === o.map;
      if (!same) refuse(ERRNO.EEXIST, `${old.kind} ${o.name} exists with another type, flags or map kind`);
    } else {
      const fresh: SetObj = { kind, name: o.name, type: o.type, fields: types as Field[], flags, ...(kind === 'map' ? { map: o.map } : {}), handle: ++this.handle, elems: new Map() };
      t.sets.set(o.name, fresh);
      this.owned.add(fresh);
    }
    if (o.elem !== undefined) this.insert(t, t.sets.get(o.name)!, o.elem, false);
  }

  private deleteSet(o: Obj, kind: 'set' | 'map'): void {
    const t = this.table(o), s = this.set(o, o.name, kind);
    if (used(t, `set:${s.name}`)) refuse(ERRNO.EBUSY, `${kind} ${s.name} is still used by a rule`);
    this.flushSet(s, t);
    t.sets.delete(s.name);
  }

  private flushSet(set: SetObj, t: Table): void {
    const s = this.ownSet(t, set);
    for (const e of s.elems.values()) for (const r of valueRefs(s, e.value)) unref(t, r);
    s.elems = new Map();
  }

  private addElements(o: Obj, create: boolean): void {
    const t = this.table(o);
    if (!t.sets.has(o.name)) refuse(`Error: No such file or directory; set ${o.name}`, `set ${o.name} does not exist`);
    this.insert(t, t.sets.get(o.name)!, o.elem, create);
  }

  private insert(t: Table, set: SetObj, raw: unknown, create: boolean): void {
    const s = this.ownSet(t, set);
    if (!Array.isArray(raw)) refuse('Error: syntax error', `${s.name}: elem must be a list`);
    const interval = s.flags.includes('interval');
    const fresh: Elem[] = [];
    for (const r of raw as unknown[]) {
      const e = parseElem(s, r);
      const old = s.elems.get(e.key);
      if (old) {
        if (s.kind === 'map' && JSON.stringify(old.value) !== JSON.stringify(e.value)) refuse(ERRNO.EEXIST, `${s.name}: ${elemText(s, e)} is there with another value`);
        if (create) refuse(ERRNO.EEXIST, `${s.name}: ${elemText(s, e)} is already there`);
        if (this.opts.strict) refuse(ERRNO.EEXIST, `${s.name}: ${elemText(s, e)} is already there (strict: nft would accept it, but the diff thought it absent)`);
        continue;
      }
      if (interval && s.fields.length === 1) {
        // nft checks one-field intervals in user space against what the set holds, and the
        // elements of the same command against each other.
        for (const x of [...s.elems.values(), ...fresh]) {
          if (x.key !== e.key && overlaps(x.fields[0]!, e.fields[0]!)) {
            refuse(fresh.includes(x) ? 'Error: conflicting intervals specified' : 'Error: interval overlaps with an existing one', `${s.name}: ${elemText(s, e)} overlaps ${elemText(s, x)}`);
          }
        }
      } else if (interval) {
        // The kernel's concatenated-interval check: the new element's first or last point
        // must not lie inside another element.
        for (const x of s.elems.values()) {
          if (inside(e.fields.map((f) => f[0]), x) || inside(e.fields.map((f) => f[1]), x)) refuse(ERRNO.EEXIST, `${s.name}: ${elemText(s, e)} overlaps ${elemText(s, x)}`);
        }
      }
      for (const ref of valueRefs(s, e.value)) {
        const [what, name] = ref.split(':') as ['chain' | 'counter', string];
        if (!(what === 'chain' ? t.chains : t.counters).has(name)) refuse(ERRNO.ENOENT, `${s.name}: ${elemText(s, e)} refers to missing ${what} ${name}`);
        addRef(t, ref);
      }
      s.elems.set(e.key, e);
      if (interval) fresh.push(e);
    }
  }

  private deleteElements(o: Obj): void {
    const t = this.table(o);
    if (!t.sets.has(o.name)) refuse(`Error: No such file or directory; set ${o.name}`, `set ${o.name} does not exist`);
    const s = this.ownSet(t, t.sets.get(o.name)!);
    if (!Array.isArray(o.elem)) refuse('Error: syntax error', `${s.name}: elem must be a list`);
    for (const r of o.elem as unknown[]) {
      // A map element is deleted by its key; nft ignores a value given with it.
      const key = s.kind === 'map' && Array.isArray(r) ? r[0] : r;
      const e = parseElem(s, s.kind === 'map' ? [key, undefined] : key, true);
      // In a concatenated interval set the kernel deletes the element that holds the first
      // point of the one named, whatever its end (tried on 6.x).
      const old = s.fields.length > 1 && s.flags.includes('interval')
        ? [...s.elems.values()].find((x) => inside(e.fields.map((f) => f[0]), x))
        : s.elems.get(e.key);
      if (!old) refuse(s.flags.includes('interval') ? 'Error: element does not exist' : ERRNO.ENOENT, `${s.name}: ${elemText(s, e)} is not in the set`);
      for (const ref of valueRefs(s, old!.value)) unref(t, ref);
      s.elems.delete(old!.key);
    }
  }

  private addRule(o: Obj): void {
    const t = this.table(o);
    if (!t.chains.has(o.chain)) return refuse(`Error: No such file or directory; chain ${o.chain}`, `chain ${o.chain} does not exist`);
    const c = this.ownChain(t, t.chains.get(o.chain)!);
    if (!Array.isArray(o.expr)) refuse('Error: syntax error', 'a rule needs expr');
    const unknown = Object.keys(o).filter((k) => !['family', 'table', 'chain', 'expr', 'comment'].includes(k));
    if (unknown.length) throw new Error(`fake nft: rule ${unknown.join(', ')} is not implemented; teach test/helpers/fake-nft.ts what nft does with it`);
    const refs: string[] = [];
    for (const stmt of o.expr as Obj[]) ruleRefs(t, stmt, refs);
    for (const r of refs) addRef(t, r);
    c.rules.push({ expr: o.expr, ...(typeof o.comment === 'string' ? { comment: o.comment } : {}), handle: ++this.handle, refs });
  }
}

// ------------------------------------------------------------------ references

const addRef = (t: Table, ref: string) => t.refs.set(ref, (t.refs.get(ref) ?? 0) + 1);
function unref(t: Table, ref: string): void {
  const n = (t.refs.get(ref) ?? 0) - 1;
  if (n > 0) t.refs.set(ref, n);
  else t.refs.delete(ref);
}
const used = (t: Table, ref: string) => (t.refs.get(ref) ?? 0) > 0;

/** What a map element's value uses: the chain a verdict jumps to, the counter it names. */
function valueRefs(s: SetObj, v: unknown): string[] {
  if (s.kind !== 'map' || v === undefined) return [];
  if (s.map === 'counter') return [`counter:${v as string}`];
  const target = (v as Obj).jump?.target ?? (v as Obj).goto?.target;
  return typeof target === 'string' ? [`chain:${target}`] : [];
}

/** The type of a match's left side, when the fake knows it. */
function exprType(e: unknown): string | string[] | undefined {
  const o = e as Obj;
  if (!o || typeof o !== 'object') return undefined;
  if (o.payload) {
    const { protocol, field } = o.payload;
    if ((protocol === 'ip' || protocol === 'ip6') && (field === 'saddr' || field === 'daddr')) return protocol === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
    if (field === 'sport' || field === 'dport') return 'inet_service';
    return undefined;
  }
  if (o.meta?.key === 'l4proto') return 'inet_proto';
  if (o.meta?.key === 'mark' || o.ct?.key === 'mark') return 'mark';
  if (Array.isArray(o.concat)) {
    const parts = o.concat.map(exprType);
    return parts.every((p: unknown) => typeof p === 'string') ? (parts as string[]) : undefined;
  }
  return undefined;
}

/** Checks the objects a statement names and collects them as references. */
function ruleRefs(t: Table, stmt: Obj, refs: string[]): void {
  const [k, v] = Object.entries(stmt)[0] ?? [];
  const named = (ref: unknown, want: 'set' | 'verdict' | 'counter', left: unknown) => {
    if (typeof ref !== 'string' || !ref.startsWith('@')) return;
    const name = ref.slice(1);
    const s = t.sets.get(name);
    if (!s) return refuse(`Error: No such file or directory; set ${name}`, `a rule names missing set ${name}`);
    if (want !== 'set' && (s.kind !== 'map' || s.map !== want)) refuse(want === 'verdict' ? 'Error: Expression is not a map' : ERRNO.EINVAL, `${name} is not a ${want} map`);
    const lt = exprType(left);
    if (lt !== undefined && JSON.stringify(typeof s.type === 'string' ? s.type : [...s.type]) !== JSON.stringify(lt)) {
      refuse(`Error: datatype mismatch, expected ${JSON.stringify(s.type)}, expression has type ${JSON.stringify(lt)}`, `${name} holds ${JSON.stringify(s.type)}`);
    }
    refs.push(`set:${name}`);
  };
  const target = (name: unknown) => {
    if (!t.chains.has(name as string)) refuse(ERRNO.ENOENT, `a rule jumps to missing chain ${String(name)}`);
    refs.push(`chain:${name as string}`);
  };
  switch (k) {
    case 'match': return named(v.right, 'set', v.left);
    case 'vmap': return named(v.data, 'verdict', v.key);
    case 'counter':
      if (typeof v === 'string') {
        if (!t.counters.has(v)) refuse(ERRNO.ENOENT, `a rule names missing counter ${v}`);
        refs.push(`counter:${v}`);
      } else if (v && v.map) named(v.map.data, 'counter', v.map.key);
      return;
    case 'jump': case 'goto': return target(v.target);
    case 'limit':
      if (typeof v === 'string') {
        // A named limit (the drop log's): it must exist, and is then in use.
        if (!t.limits.has(v)) refuse(ERRNO.ENOENT, `a rule names missing limit ${v}`);
        refs.push(`limit:${v}`);
        return;
      }
      return void stmtOrRefuse(stmt);
    default:
      // Any other statement must be one nft knows; ours are the nft IR's (compiler/nft/ir.ts).
      return void stmtOrRefuse(stmt);
  }
}

function stmtOrRefuse(stmt: Obj): Stmt {
  try {
    return stmtFromJson(stmt);
  } catch (e) {
    return refuse('Error: syntax error', (e as Error).message);
  }
}

function cloneTable(t: Table): Table {
  return {
    ...t,
    chains: new Map(t.chains),
    sets: new Map(t.sets),
    counters: new Map(t.counters),
    limits: new Map(t.limits),
    refs: new Map(t.refs),
  };
}
