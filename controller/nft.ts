// The one seam between the agent and the kernel: the `nft` command line. Everything before
// it is pure (a batch is a value); everything here is a subprocess with stdin and stderr.
// The batch goes through an unlinked temporary file (see runWithFile). Tests point `command` at a wrapper script (`ip netns exec NAME nft "$@"`, or one that fails
// on demand), so the same code runs against a network namespace.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchText, type Batch } from '../compiler/index.js';
import { normalizeListing } from '../compiler/listing.js';
import { parseTraceChain } from '../compiler/nft/names.js';
import { span } from './spans.js';

export { normalizeListing };

/** What the agent needs from nft, and nothing more. */
export interface NftPort {
  /** Applies one JSON batch (`nft -j -f -`) as one transaction; throws NftError on failure.
   *
   *  What even a one-element batch costs on a large table: before it sends anything, nft 1.0.6
   *  fills a cache whose extent is the union of what each command asks for (src/cache.c,
   *  nft_cache_evaluate; the same for JSON and text input):
   *  - `add set`/`add map` (with elements), `add chain`, `add counter`: the tables only;
   *  - `add rule`, and any `delete`: every chain, set (anonymous ones included) and named
   *    object of every table;
   *  - `add element` and `delete element`: that, plus the elements of every non-concatenated
   *    interval set, anonymous ones included: one netlink dump per set, and the kernel finds
   *    each set by walking the table's list of sets. At L (6,460 chains, 2,478 named and
   *    5,002 anonymous sets of which 408 are ipBlock interval sets, 4,770 counters) that part
   *    is most of the cost: one element added took 0.2 s of CPU that way against none as an
   *    `add map`, and about 0.05 s for an `add rule`.
   *  So the element store sends added elements inside `add set`/`add map` (ElementStore.
   *  deltaBatch); a batch with rules (every one: the forward chain carries the generation)
   *  still pays the chain, set and object dumps, and one that deletes elements the interval
   *  sets' elements too. */
  apply(batchJson: string): Promise<void>;
  /** `nft -j list table FAMILY TABLE`; `list chains FAMILY` (every table's chains, without
   *  rules); or, for 'counters', the table's named counters READ AND ZEROED (`nft -j reset
   *  counters table FAMILY TABLE`): each call returns what was counted since the previous one.
   *  Undefined when the table does not exist.
   *
   *  Why a reset: nft 1.0 fills its cache before any command, and what it fetches depends on
   *  the command (nftables src/cache.c, nft_cache_evaluate): `list counters` and `list counter
   *  NAME` fetch the whole ruleset, every element of every set included (one netlink dump per
   *  set: 0.35-0.7 s at M, seconds at L), `-t` (terse) does not change that; `list chains`
   *  fetches tables and chains; `reset` fetches tables only, then dumps the counter objects
   *  and nothing else. The kernel zeroes each counter by subtracting what it reported, so no
   *  packet counted between the dump and the zeroing is lost. The caller keeps the totals. */
  list(family: string, table: string, what?: 'table' | 'counters' | 'chains'): Promise<string | undefined>;
}

export type NftErrorKind =
  | 'not-installed' // the binary could not be started
  | 'permission' // not root / no CAP_NET_ADMIN
  | 'not-found' // an object the batch refers to is missing
  | 'exists' // an object the batch adds is already there
  | 'syntax' // nft refused the input itself
  | 'failed'; // anything else

/** A failed nft run, classified from its stderr (like knftables' error.go). */
export class NftError extends Error {
  constructor(
    readonly kind: NftErrorKind,
    readonly stderr: string,
    readonly exitCode: number | null,
    /** For a failed JSON batch: what `nft -c -f -` says about the same batch as text, which
     *  carries a line and column (JSON input reports `internal:0:0-0`). */
    readonly detail?: string,
  ) {
    super(`nft ${kind}: ${firstLine(stderr) || `exit code ${exitCode}`}`);
  }
}

const firstLine = (s: string) => s.split('\n').map((l) => l.trim()).find((l) => l) ?? '';

export function classifyNftError(stderr: string): NftErrorKind {
  if (/Operation not permitted|Permission denied/i.test(stderr)) return 'permission';
  if (/No such file or directory|does not exist/i.test(stderr)) return 'not-found';
  if (/File exists/i.test(stderr)) return 'exists';
  if (/syntax error|unexpected|Invalid|JSON/i.test(stderr)) return 'syntax';
  return 'failed';
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command args`; resolves with the exit code (never rejects on a non-zero exit),
 *  rejects with NftError('not-installed') when it cannot be started. `inputFd` becomes the
 *  child's fd 3. */
function run(command: readonly string[], args: readonly string[], inputFd?: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // spawn() returns once the child has exec'd (libuv forks and waits for it): the main
    // thread is off the CPU meanwhile, longer when the child waits to be scheduled.
    const child = span('nft: spawn', () => spawn(command[0]!, [...command.slice(1), ...args], { stdio: inputFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', inputFd] }));
    const out: Buffer[] = [], err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new NftError('not-installed', `cannot run ${command.join(' ')}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, null)));
    child.on('close', (code) => resolve(span('nft: output to text', () => ({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }))));
  });
}

/** nft reads `-f -` by opening /dev/stdin, which fails (ENXIO) on the socketpair Node gives a
 *  child as stdin. The input goes through a temporary file that is unlinked the moment it is
 *  created, before anything is written to it: nft opens it as /dev/fd/3 (its own descriptor,
 *  inherited), so a killed agent leaves no batch file behind (they were 3.8 MB each at M).
 *  It is written a slice at a time from libuv's thread pool: encoding and writing a full
 *  batch at L (9 MB) in one synchronous step held the event loop for 50-170 ms. */
async function runWithFile(command: readonly string[], args: readonly string[], content: string): Promise<RunResult> {
  const path = join(tmpdir(), `netpol-nft-batch-${process.pid}-${randomBytes(8).toString('hex')}`);
  const file = await open(path, 'wx+', 0o600);
  try {
    await unlink(path);
    let pos = 0;
    for (let i = 0; i < content.length; ) {
      let end = Math.min(content.length, i + FILE_SLICE);
      // Never between the two halves of a surrogate pair (each would encode as U+FFFD).
      if (end < content.length && /[\ud800-\udbff]/.test(content[end - 1]!)) end++;
      const buf = span('nft: encode a batch file slice', () => Buffer.from(content.slice(i, end), 'utf8'));
      for (let off = 0; off < buf.length; ) {
        const { bytesWritten } = await file.write(buf, off, buf.length - off, pos);
        off += bytesWritten;
        pos += bytesWritten;
      }
      i = end;
    }
    return await run(command, [...args, '/dev/fd/3'], file.fd);
  } finally {
    await file.close();
  }
}

/** Characters of a batch encoded and written per step (about 1 MB). */
const FILE_SLICE = 1 << 20;

export class NftCli implements NftPort {
  /** @param command the nft binary, possibly behind a prefix (e.g. ['ip','netns','exec','x','nft']). */
  constructor(readonly command: readonly string[] = ['nft']) {}

  async apply(batchJson: string): Promise<void> {
    const r = await runWithFile(this.command, ['-j', '-f'], batchJson);
    if (r.code === 0) return;
    throw new NftError(classifyNftError(r.stderr), r.stderr.trim(), r.code, await this.explain(batchJson));
  }

  /** Re-runs a failed JSON batch as text in check mode to learn where it failed. Best effort:
   *  a batch that cannot be rendered, or a check that passes, gives undefined. */
  private async explain(batchJson: string): Promise<string | undefined> {
    let text: string;
    try {
      text = batchText(JSON.parse(batchJson) as Batch);
    } catch {
      return undefined;
    }
    try {
      const r = await runWithFile(this.command, ['-c', '-f'], text);
      return r.code === 0 ? undefined : r.stderr.trim();
    } catch {
      return undefined;
    }
  }

  async list(family: string, table: string, what: 'table' | 'counters' | 'chains' = 'table'): Promise<string | undefined> {
    // See NftPort.list: the counters are read through `reset`, whose cache fill is the tables
    // only (a listing would fetch every set element first).
    const args = what === 'table' ? ['-j', 'list', 'table', family, table] : what === 'counters' ? ['-j', 'reset', 'counters', 'table', family, table] : ['-j', 'list', 'chains', family];
    const r = await run(this.command, args);
    if (r.code === 0) return r.stdout;
    const kind = classifyNftError(r.stderr);
    if (kind === 'not-found') return undefined;
    throw new NftError(kind, r.stderr.trim(), r.code);
  }
}

type Listing = { nftables: Record<string, Record<string, unknown>>[] };

/** Named counters of a listing (or of a `reset counters` read): name -> packets and bytes. */
export function countersOf(json: string): Map<string, { packets: number; bytes: number }> {
  return span('drop counters: parse', () => parseCounters(json));
}

function parseCounters(json: string): Map<string, { packets: number; bytes: number }> {
  const doc = JSON.parse(json) as Listing;
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const o of doc.nftables) {
    const c = o.counter as { name?: unknown; packets?: unknown; bytes?: unknown } | undefined;
    if (c && typeof c.name === 'string') out.set(c.name, { packets: Number(c.packets ?? 0), bytes: Number(c.bytes ?? 0) });
  }
  return out;
}

/** Our table's chains as `nft -j list chains` shows them, reduced to what defines them
 *  (name and, for base chains, the hook), sorted: undefined when the table has none. */
export function chainShapes(json: string, table: string): string | undefined {
  const doc = JSON.parse(json) as Listing;
  const out: string[] = [];
  for (const o of doc.nftables) {
    const c = o.chain as { table?: unknown; name?: unknown; hook?: unknown; type?: unknown; prio?: unknown; policy?: unknown } | undefined;
    if (!c || c.table !== table) continue;
    // A running `netpol-nft trace` adds a chain of its own (controller/trace.ts): not drift.
    if (typeof c.name === 'string' && parseTraceChain(c.name)) continue;
    out.push(JSON.stringify([c.name, c.hook ?? null, c.type ?? null, c.prio ?? null, c.policy ?? null]));
  }
  return out.length ? out.sort().join('\n') : undefined;
}
