// The connectivity matrix as the demo prints it: rows are sources, columns destinations, and
// each cell shows one mark per probe kind (TCP/UDP × port 80/81), so that a policy that opens
// only one port or one protocol is visible at a glance.
import { cellKey, kindKey, POD_IDS, type Observed, type PodId, type ProbeKind, type Topology } from '../test/e2e/topology.js';

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
export const ALLOWED = paint(32, '●');
export const DENIED = paint(31, '·');
export const bold = (s: string) => paint(1, s);
export const dim = (s: string) => paint(2, s);

export function legend(kinds: readonly ProbeKind[]): string {
  return dim(`rows: from, columns: to; each cell = ${kinds.map(kindKey).join(', ')}; ${ALLOWED} reached  ${DENIED} blocked`);
}

export function matrixText(topo: Topology, observed: Observed, kinds: readonly ProbeKind[]): string {
  const w = Math.max(kinds.length, 3) + 2;
  const rowLabel = (id: PodId) => `${id} (${topo.pod(id).node})`.padEnd(11);
  const lines = [' '.repeat(11) + POD_IDS.map((id) => id.padStart(Math.ceil((w + id.length) / 2)).padEnd(w)).join('')];
  for (const from of POD_IDS) {
    let line = rowLabel(from);
    for (const to of POD_IDS) {
      const marks = kinds.map((k) => (observed.get(cellKey(from, to, k)) ? ALLOWED : DENIED)).join('');
      const pad = w - kinds.length;
      line += ' '.repeat(Math.floor(pad / 2)) + marks + ' '.repeat(Math.ceil(pad / 2));
    }
    lines.push(line);
  }
  return lines.join('\n');
}

/** How many cells were reached, out of how many probed. */
export function reachedCount(observed: Observed): { reached: number; probed: number } {
  let reached = 0;
  for (const v of observed.values()) if (v) reached++;
  return { reached, probed: observed.size };
}
