// The chains of `netpol-nft trace` (controller/trace.ts) as the agent sees them: which must
// go because their tracer ended without removing them. A trace chain is named
// `trace_<expiry>_<pid ns>_<pid>` (compiler/nft/names.ts traceChain): past its expiry it goes;
// before, it goes when the tracer ran in the agent's own pid namespace (`kubectl exec` into
// the agent's container) and its pid is gone. A tracer in another pid namespace (on the host)
// cannot be seen from here: its chain lives until its expiry, at most the trace's duration
// plus a few seconds.
import { existsSync, readlinkSync } from 'node:fs';
import { batchJson } from '../compiler/index.js';
import { parseTraceChain } from '../compiler/nft/names.js';
import type { NftPort } from './nft.js';

/** The pid namespace of this process (its inode), 0 when unknown. */
export function pidNamespace(): number {
  try {
    return Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Trace chains of `table` in a `nft -j list chains` listing that must go: expired, or
 *  their tracer was in our pid namespace and is gone. `alive(pid)` says whether a pid of
 *  our namespace lives. */
export function deadTraceChains(listingJson: string, table: string, nowS: number, ownPidNs: number, alive: (pid: number) => boolean): string[] {
  const doc = JSON.parse(listingJson) as { nftables: Record<string, { table?: string; name?: string }>[] };
  const out: string[] = [];
  for (const o of doc.nftables) {
    const c = o.chain;
    if (!c || c.table !== table || typeof c.name !== 'string') continue;
    const t = parseTraceChain(c.name);
    if (!t) continue;
    if (t.expires <= nowS || (ownPidNs !== 0 && t.pidNs === ownPidNs && !alive(t.pid))) out.push(c.name);
  }
  return out.sort();
}

export const pidAlive = (pid: number) => existsSync(`/proc/${pid}`);

/** Deletes the trace chains that must go (see deadTraceChains); returns their names. */
export async function reapTraceChains(nft: NftPort, table: string, nowS: number, listing?: string): Promise<string[]> {
  const json = listing ?? (await nft.list('inet', table, 'chains'));
  if (json === undefined) return [];
  const dead = deadTraceChains(json, table, nowS, pidNamespace(), pidAlive);
  if (dead.length) await nft.apply(batchJson({ nftables: dead.map((name) => ({ delete: { chain: { family: 'inet', table, name } } })) }));
  return dead;
}

