// The matrix as people and programs read it: text (the truth-table style of our e2e suite),
// JSON, each cell's `explain` text, and the what-if diff between two states.
import { explainPair, explanationText, type PairEnd } from './explain.js';
import { matrixOfIndex, type Matrix, type MatrixOptions, type PortColumn, type Step, type Verdict } from './matrix.js';
import { indexCluster } from './ir.js';
import { ipFamily, type Cluster } from './model.js';
import type { NodeInfo } from './nodes.js';

/** Above this many cells, JSON lists the allowed cells only, and text lists the allowed
 *  pairs instead of grids. */
export const FULL_LISTING_CELLS = 250_000;
/** Grids up to this many entities; beyond, one line per allowed pair. */
export const GRID_ENTITIES = 40;

const mark = (v: Verdict) => (v === true ? '.' : v === false ? 'X' : v === 'some' ? '~' : v === 'self' ? '-' : ' ');

/** The letter of the step a cell is credited to (matrix.ts cellStep); none for the default. */
export const STEP_LETTER: Record<Step, string> = { Admin: 'A', NetworkPolicy: 'N', Baseline: 'B', default: '' };

/** `the Admin tier`, `NetworkPolicy`, `the Baseline tier`, `no step (default allow)`. */
export function stepText(s: Step): string {
  return s === 'default' ? 'no step (default allow)' : s === 'NetworkPolicy' ? 'NetworkPolicy' : `the ${s} tier`;
}

/** A cell of the text grid: its mark, and with tiers the letter of the step that decided. */
function cellMark(m: Matrix, s: number, d: number, c: number): string {
  const v = m.verdict(s, d, c);
  const st = m.steps(s, d, c);
  return mark(v) + (st ? STEP_LETTER[st.cell] : '');
}

function header(m: Matrix): string {
  const pods = m.entities.reduce((n, e) => n + e.pods.length, 0);
  const what = m.by === 'pod' ? `${pods} pods` : `${m.entities.length} ${m.by === 'workload' ? 'workloads' : 'namespaces'} (${pods} pods)`;
  const fam = m.family ? `IPv${m.family}` : 'IPv4 (IPv6 for pairs without IPv4 on both ends)';
  return `netpol-nft matrix: ${what}, ${fam}, rows: from, columns: to`;
}

export function matrixText(m: Matrix, gridEntities = GRID_ENTITIES): string {
  const lines = [header(m)];
  if (m.by !== 'pod') {
    lines.push('', m.by === 'workload' ? 'workloads (pods the policies treat alike):' : 'namespaces:');
    const w = Math.max(...m.entities.map((e) => e.id.length), 4);
    for (const e of m.entities) {
      const labels = Object.entries(e.labels).filter(([k]) => m.by !== 'namespace' || k !== 'kubernetes.io/metadata.name').map(([k, v]) => `${k}=${v}`).join(',');
      lines.push(`  ${e.id.padEnd(w)}  ${String(e.pods.length).padStart(5)} pod${e.pods.length === 1 ? ' ' : 's'}${labels ? `  ${labels}` : ''}`);
    }
  }
  if (m.entities.length <= gridEntities) {
    lines.push('', `. allowed  X denied  ${m.by === 'namespace' ? '~ some pairs allowed  ' : ''}- a pod and itself (never filtered)  (blank: no address family in common)`);
    if (m.tiered && m.by !== 'namespace') lines.push('decided by:  A the Admin tier  N NetworkPolicy  B the Baseline tier  (no letter: no step decides, the default allows)');
    const w = Math.max(3, ...m.entities.map((e) => e.id.length));
    m.columns.forEach((c, ci) => {
      lines.push('', c.other ? `${c.label} (any port no policy names; probed on ${c.port})` : c.label, `${' '.repeat(w)} ${m.entities.map((e) => e.id.padEnd(w)).join(' ')}`.trimEnd());
      m.entities.forEach((e, s) => {
        lines.push(`${e.id.padEnd(w)} ${m.entities.map((_, d) => cellMark(m, s, d, ci).padEnd(w)).join(' ')}`.trimEnd());
      });
    });
  } else {
    lines.push('', `allowed pairs, with the ports they are allowed on (every pair not listed is denied on ${m.columns.map((c) => c.label).join(', ')}):`);
    for (const [s, d, cols] of allowedPairs(m)) {
      lines.push(`  ${m.entities[s]!.id} -> ${m.entities[d]!.id}: ${cols.map((c) => `${m.columns[c]!.label}${m.verdict(s, d, c) === 'some' ? ' (some pods)' : ''}`).join(' ')}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Every (from, to) pair with at least one allowed column, in order. */
export function allowedPairs(m: Matrix): [number, number, number[]][] {
  const out: [number, number, number[]][] = [];
  for (let s = 0; s < m.entities.length; s++) {
    const per = new Map<number, number[]>();
    m.columns.forEach((_, c) => {
      for (const d of m.reachable(s, c)) {
        const l = per.get(d);
        if (l) l.push(c);
        else per.set(d, [c]);
      }
    });
    for (const d of [...per.keys()].sort((a, b) => a - b)) out.push([s, d, per.get(d)!]);
  }
  return out;
}

export interface JsonCell {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: string;
  readonly allowed: boolean | 'some';
  /** A port no policy names (the cell holds for every such port). */
  readonly other?: true;
  /** A pod and itself: never filtered. */
  readonly self?: true;
  /** With ClusterNetworkPolicies: the step the cell is credited to, and each side's. */
  readonly decidedBy?: Step;
  readonly egress?: Step;
  readonly ingress?: Step;
}

export function matrixJson(m: Matrix, fullListing = FULL_LISTING_CELLS): Record<string, unknown> {
  const total = m.entities.length ** 2 * m.columns.length;
  const full = total <= fullListing;
  const cells: JsonCell[] = [];
  const cell = (s: number, d: number, c: number, v: Verdict) => {
    if (v === 'none') return;
    const col = m.columns[c]!;
    const st = m.steps(s, d, c);
    cells.push({
      from: m.entities[s]!.id, to: m.entities[d]!.id, port: col.port, protocol: col.protocol,
      allowed: v === 'self' ? true : v, ...(col.other ? { other: true as const } : {}), ...(v === 'self' ? { self: true as const } : {}),
      ...(st ? { decidedBy: st.cell, egress: st.egress, ingress: st.ingress } : {}),
    });
  };
  if (full) {
    for (let s = 0; s < m.entities.length; s++) for (let d = 0; d < m.entities.length; d++) m.columns.forEach((_, c) => cell(s, d, c, m.verdict(s, d, c)));
  } else {
    for (const [s, d, cols] of allowedPairs(m)) for (const c of cols) cell(s, d, c, m.verdict(s, d, c));
  }
  return {
    by: m.by,
    family: m.family ?? null,
    tiered: m.tiered,
    columns: m.columns.map((c) => ({ protocol: c.protocol, port: c.port, label: c.label, ...(c.other ? { other: true } : {}) })),
    entities: m.entities.map((e) => ({ id: e.id, namespace: e.namespace, pods: e.pods.map((p) => `${p.namespace}/${p.name}`), labels: e.labels })),
    // "all": every pair with a common address family is a cell; "allowed": only allowed
    // cells are listed (a large matrix), every cell not listed is denied.
    listed: full ? 'all' : 'allowed',
    cells,
  };
}

/** The representatives' explanation of one cell (workloads: any pod stands for all). */
export function cellExplanation(m: Matrix, s: number, d: number, c: number, nodes: readonly NodeInfo[] = []): string {
  const col = m.columns[c]!;
  const v = m.verdict(s, d, c);
  const a = m.entities[s]!, b = m.entities[d]!;
  if (v === 'self') return `${a.id} -> ${b.id} ${col.protocol}/${col.port}: ALLOWED\n  a pod reaching itself never leaves its own network namespace: never filtered\n`;
  if (v === 'none') return `${a.id} -> ${b.id}: no address family in common\n`;
  if (m.by === 'namespace') return `${a.id} -> ${b.id} ${col.label}: ${v === true ? 'ALLOWED for every pair' : v === false ? 'DENIED for every pair' : 'allowed for some pairs of pods'}\n  (explanations are per pod pair: use --by workload or --by pod)\n`;
  const src = a.pods.find((p) => p !== b.pods[0]) ?? a.pods[0]!;
  const dst = b.pods.find((p) => p !== src)!;
  const fam = m.family ?? ([4, 6] as const).find((f) => src.ips.some((i) => ipFamily(i) === f) && dst.ips.some((i) => ipFamily(i) === f))!;
  const end = (p: typeof src): PairEnd => ({ ip: p.ips.find((i) => ipFamily(i) === fam)!, pod: p });
  const text = explanationText(explainPair(m.index, end(src), end(dst), col.port, col.protocol, nodes));
  const stands = m.by === 'workload' && (a.pods.length > 1 || b.pods.length > 1) ? `(${src.namespace}/${src.name} and ${dst.namespace}/${dst.name} stand for ${a.id} and ${b.id})\n` : '';
  return stands + (col.other ? text.replace(/^/, `[${col.label}: any port no policy names] `) : text);
}

// --- what-if ------------------------------------------------------------------------------

export interface Change {
  readonly from: string;
  readonly to: string;
  readonly column: PortColumn;
  readonly change: 'opened' | 'closed';
  /** The sides whose answer changed, and why, in the words of `explain`. */
  readonly because: string;
  /** With ClusterNetworkPolicies in either state: the step credited with the cell, before and
   *  after (matrix.ts cellStep). */
  readonly decidedBy?: { readonly before: Step; readonly after: Step };
}

export interface WhatIf {
  readonly before: Matrix;
  readonly after: Matrix;
  readonly changes: readonly Change[];
}

/** Matrices of two states grouped alike (label keys and ipBlocks of both), and every cell
 *  whose verdict differs, with the rule responsible on the side that changed. */
export function whatIf(before: Cluster, after: Cluster, opts: MatrixOptions = {}, nodes: readonly NodeInfo[] = []): WhatIf {
  const ib = indexCluster(before), ia = indexCluster(after);
  const mb = matrixOfIndex(ib, opts, [ia]), ma = matrixOfIndex(ia, opts, [ib]);
  const ids = (m: Matrix) => m.entities.map((e) => e.id).join('\n');
  if (ids(mb) !== ids(ma) || mb.columns.map((c) => c.label).join() !== ma.columns.map((c) => c.label).join()) {
    throw new Error('what-if: the two states do not group alike (pods differ between them)');
  }
  const changes: Change[] = [];
  const n = mb.entities.length;
  for (let s = 0; s < n; s++) {
    ma.columns.forEach((col, c) => {
      const was = new Set(mb.reachable(s, c)), now = new Set(ma.reachable(s, c));
      const touched = [...new Set([...was, ...now])].filter((d) => was.has(d) !== now.has(d)).sort((x, y) => x - y);
      for (const d of touched) {
        const opened = now.has(d);
        const sb = mb.steps(s, d, c), sa = ma.steps(s, d, c);
        changes.push({
          from: ma.entities[s]!.id, to: ma.entities[d]!.id, column: col, change: opened ? 'opened' : 'closed', because: reason(mb, ma, s, d, c, nodes),
          ...(sb && sa ? { decidedBy: { before: sb.cell, after: sa.cell } } : {}),
        });
      }
    });
  }
  const pos = new Map(ma.entities.map((e, i) => [e.id, i]));
  const colPos = new Map(ma.columns.map((c, i) => [c, i]));
  changes.sort((x, y) => pos.get(x.from)! - pos.get(y.from)! || pos.get(x.to)! - pos.get(y.to)! || colPos.get(x.column)! - colPos.get(y.column)!);
  return { before: mb, after: ma, changes };
}

function reason(mb: Matrix, ma: Matrix, s: number, d: number, c: number, nodes: readonly NodeInfo[]): string {
  if (ma.by === 'namespace') return 'some pod pairs changed (use --by workload for the rules)';
  const side = (t: string) => {
    const lines = t.split('\n');
    const pick = (prefix: string) => lines.find((l) => l.trimStart().startsWith(prefix))?.replace(/^\s*\S+\s+at \S+:\s+(allowed|DENIED)\s+/, '') ?? '';
    return { egress: pick('egress'), ingress: pick('ingress') };
  };
  const b = side(cellExplanation(mb, s, d, c, nodes)), a = side(cellExplanation(ma, s, d, c, nodes));
  const parts: string[] = [];
  for (const dir of ['egress', 'ingress'] as const) if (a[dir] !== b[dir]) parts.push(`${dir}: ${a[dir]} (was: ${b[dir]})`);
  return parts.join('; ');
}

export function whatIfText(w: WhatIf): string {
  if (!w.changes.length) return 'no verdict changes\n';
  const opened = w.changes.filter((c) => c.change === 'opened').length;
  const lines = [`${w.changes.length} verdict${w.changes.length === 1 ? '' : 's'} change: ${opened} opened, ${w.changes.length - opened} closed`];
  // One line per pair and reason: the ports it holds for, together.
  for (let i = 0; i < w.changes.length;) {
    const c = w.changes[i]!;
    const cols = [c.column.label];
    let j = i + 1;
    for (; j < w.changes.length; j++) {
      const x = w.changes[j]!;
      if (x.from !== c.from || x.to !== c.to || x.change !== c.change || x.because !== c.because || x.decidedBy?.after !== c.decidedBy?.after || x.decidedBy?.before !== c.decidedBy?.before) break;
      cols.push(x.column.label);
    }
    const by = c.decidedBy ? ` [${stepText(c.decidedBy.after)}; was ${stepText(c.decidedBy.before)}]` : '';
    lines.push(`${c.change.padEnd(6)}  ${c.from} -> ${c.to} ${cols.join(' ')}${by}: ${c.because}`);
    i = j;
  }
  return lines.join('\n') + '\n';
}

export function whatIfJson(w: WhatIf): Record<string, unknown> {
  return {
    changed: w.changes.length > 0,
    changes: w.changes.map((c) => ({ from: c.from, to: c.to, port: c.column.port, protocol: c.column.protocol, ...(c.column.other ? { other: true } : {}), change: c.change, allowed: c.change === 'opened', because: c.because, ...(c.decidedBy ? { decidedBy: c.decidedBy } : {}) })),
  };
}
