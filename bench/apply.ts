// Kernel apply time: `nft -j -f FILE` inside a network namespace the benchmark owns, for the
// full ruleset and for each incremental batch on top of it. The time is the whole command
// (process start included), as the agent pays it. Loading rules sends no packet, so the
// 10.x pod addresses of the generated clusters are fine here.
import { spawnSync } from 'node:child_process';
import type { Netns } from '../test/helpers/kernel.js';
import type { CompileChildResult } from './compile-child.js';
import { median, ms } from './stats.js';

export interface ApplyResult {
  size: string;
  fullMs: number[];
  changes: { name: string; ms: number[]; operations: number; error?: string }[];
  /** Median incremental apply over median full apply, per change (same run). */
  ratios: number[];
}

function nftFile(ns: Netns, file: string): { ms: number; error?: string } {
  const t = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'nft', '-j', '-f', file], { encoding: 'utf8' });
  const took = ms(process.hrtime.bigint() - t);
  return r.status === 0 ? { ms: took } : { ms: took, error: (r.stderr || `exit ${r.status}`).trim().split('\n').slice(0, 3).join(' | ') };
}

export function measureApply(ns: Netns, c: CompileChildResult, fullRuns: number, changeRuns: number): ApplyResult {
  const fullMs: number[] = [];
  for (let i = 0; i < fullRuns; i++) {
    const r = nftFile(ns, c.full.file);
    if (r.error) throw new Error(`full ruleset ${c.size} does not load: ${r.error}`);
    fullMs.push(r.ms);
  }
  const changes: ApplyResult['changes'] = [];
  for (const ch of c.changes) {
    const times: number[] = [];
    let error: string | undefined;
    for (let i = 0; i < changeRuns && !error; i++) {
      const r = nftFile(ns, ch.file);
      if (r.error) { error = r.error; break; }
      times.push(r.ms);
      // Back to the base ruleset for the next run (and the next change): the reverse diff.
      const u = nftFile(ns, ch.reverseFile);
      if (u.error) {
        // Fall back to a full load, as the agent would after any failure.
        error = `reverse batch failed: ${u.error}`;
        nftFile(ns, c.full.file);
      }
    }
    changes.push({ name: ch.name, ms: times, operations: ch.operations, ...(error ? { error } : {}) });
  }
  const full = median(fullMs);
  return { size: c.size, fullMs, changes, ratios: changes.map((x) => median(x.ms) / full) };
}
