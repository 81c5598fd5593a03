// Expected verdicts, written by hand from the NetworkPolicy semantics, and the truth table
// printed when the kernel disagrees. Never computed by the code under test.
//
//   expectAll().deny('*', 'x/a').allow('x/b', 'x/a', { ports: [80], protos: ['tcp'] })
//
// Selectors: 'x/a' one pod, 'x/*' a namespace, '*/a' a pod name in every namespace, '*' all;
// an array is the union. Later calls override earlier ones on the cells they cover.
// A pod reaching itself is always allowed (loopback, see Expect.get).
import { POD_IDS, SERVED_PORTS, cellKey, kindKey, type Family, type Observed, type PodId, type ProbeKind, type Proto } from './topology.js';

export type Sel = string | readonly string[];
export interface On { readonly ports?: readonly number[]; readonly protos?: readonly Proto[]; readonly families?: readonly Family[] }

export function pods(sel: Sel): PodId[] {
  const list = typeof sel === 'string' ? [sel] : sel;
  const out = new Set<PodId>();
  for (const s of list) {
    const [ns, name] = s === '*' ? ['*', '*'] : s.split('/');
    const hit = POD_IDS.filter((id) => {
      const [ins, iname] = id.split('/');
      return (ns === '*' || ns === ins) && (name === '*' || name === iname);
    });
    if (!hit.length) throw new Error(`selector ${s} matches no pod of the model`);
    hit.forEach((h) => out.add(h));
  }
  return [...out];
}

const ALL_PROTOS: readonly Proto[] = ['tcp', 'udp'];
const ALL_FAMILIES: readonly Family[] = [4, 6];

export class Expect {
  private readonly overrides = new Map<string, boolean>();
  private constructor(private readonly base: boolean) {}

  static allowAll(): Expect { return new Expect(true); }
  static denyAll(): Expect { return new Expect(false); }

  allow(from: Sel, to: Sel, on: On = {}): this { return this.set(from, to, on, true); }
  deny(from: Sel, to: Sel, on: On = {}): this { return this.set(from, to, on, false); }

  private set(from: Sel, to: Sel, on: On, v: boolean): this {
    for (const f of pods(from)) for (const t of pods(to))
      for (const port of on.ports ?? SERVED_PORTS) for (const proto of on.protos ?? ALL_PROTOS) for (const family of on.families ?? ALL_FAMILIES)
        this.overrides.set(cellKey(f, t, { port, proto, family }), v);
    return this;
  }

  /** A pod reaching itself never leaves its own network namespace, so no CNI can filter
   *  it: like upstream's `AllowLoopback`, self cells are always expected to pass. */
  get(from: PodId, to: PodId, k: ProbeKind): boolean {
    if (from === to) return true;
    return this.overrides.get(cellKey(from, to, k)) ?? this.base;
  }
}

export const allowAll = () => Expect.allowAll();
export const denyAll = () => Expect.denyAll();

/** The probe kinds of a case: ports × protocols × families. */
export function kinds(ports: readonly number[] = SERVED_PORTS, protos: readonly Proto[] = ALL_PROTOS, families: readonly Family[] = [4]): ProbeKind[] {
  return families.flatMap((family) => protos.flatMap((proto) => ports.map((port) => ({ port, proto, family }))));
}

export interface Mismatch { readonly from: PodId; readonly to: PodId; readonly kind: ProbeKind; readonly expected: boolean }

export function compare(expect: Expect, observed: Observed, ks: readonly ProbeKind[]): Mismatch[] {
  const out: Mismatch[] = [];
  for (const kind of ks) for (const from of POD_IDS) for (const to of POD_IDS) {
    const seen = observed.get(cellKey(from, to, kind));
    if (seen === undefined) continue;
    const exp = expect.get(from, to, kind);
    if (seen !== exp) out.push({ from, to, kind, expected: exp });
  }
  return out;
}

export const LEGEND = 'rows: from, columns: to;  . allowed as expected  X denied as expected  ! expected allow but blocked  ? expected deny but passed';

/** One grid per probe kind that has a mismatch (or every kind with `all`). */
export function truthTable(expect: Expect, observed: Observed, ks: readonly ProbeKind[], all = false): string {
  const lines: string[] = [LEGEND];
  for (const kind of ks) {
    let bad = false;
    const rows: string[] = [];
    for (const from of POD_IDS) {
      const marks = POD_IDS.map((to) => {
        const seen = observed.get(cellKey(from, to, kind));
        if (seen === undefined) return ' ';
        const exp = expect.get(from, to, kind);
        if (seen !== exp) bad = true;
        return exp ? (seen ? '.' : '!') : seen ? '?' : 'X';
      });
      rows.push(`${from.padEnd(5)} ${marks.map((m) => m.padEnd(3)).join(' ').trimEnd()}`);
    }
    if (!bad && !all) continue;
    lines.push('', `${kindKey(kind)}${bad ? '  <-- MISMATCH' : ''}`, `      ${POD_IDS.map((p) => p.padEnd(3)).join(' ')}`, ...rows);
  }
  return lines.join('\n');
}
