// The verdict cache's stamps (compiler/base.ts): which one each transaction carries, and when
// every connection's stamp must be cleared so that no stamp can become valid again.
//
// A connection that both directions allowed is stamped with the stamp in force, in the bits
// of --ct-mark-mask; its later packets pass on one compare while its stamp equals the stamp
// in force. A packet the cache does not accept loses its stamp before it is decided (so a
// dropped packet leaves 0, never a valid stamp). The safety property:
//
//   a packet passes by the cache only if its stamp was written under the ruleset in force.
//
// Every transaction installs a new ruleset, so it must carry a stamp that no connection holds
// from an earlier ruleset. Nothing anyone writes chooses it (round 1 hashed the ruleset's
// content, and a tenant searched their own policy edits for a ruleset hashing to an old
// stamp). Here a mask of w bits holds N = 2^w - 1 stamps (0 is "none"), taken in turn.
//
// The schedule, and why it is safe. A clearing pass (`conntrack -U --mark 0/MASK`, both
// families) runs while stamp c is in force and nothing else is installed; packets may restamp
// entries behind it, but only with c. So when the pass completes, every stamp is 0 or c. The
// next stamps handed out are c+1, c+2, ... (mod N, skipping 0): N - 1 = 2^w - 2 values, all
// distinct and none equal to c, so each is new when it is installed. Before the value c
// itself (or any value, after N - 1) could come round again, the next pass runs. With c = 0
// (no stamp in force: no table, the cache off) every stamp is 0 after the pass and all N values
// may follow. Passes also run at start, and whenever the table is found in a state we did not
// leave (another writer, a failure), before the next stamp; the stamp in force is read back
// from the table's marker chain (compiler/nft/names.ts) to know c. A table without a marker
// (an older version of the agent, `compile`) has an unknown stamp in force: the next
// transaction runs without the cache (stamp 0), so that nothing stamps any more; the agent
// then clears at once and sends a small second transaction that turns the cache on.
//
// If a pass fails (conntrack missing, a netlink error), that transaction runs with stamp 0:
// the cache's rules are left out and every packet is decided; the next transaction tries the
// pass again. Slower, never open.
import { spawn } from 'node:child_process';
import { stampCount, stampNumber } from '../compiler/base.js';

/** Clears the mask's bits of every conntrack entry's mark, both families. */
export interface ConntrackPort {
  clearMarks(mask: number): Promise<void>;
}

/** `conntrack -U -f ipv4|ipv6 --mark 0/MASK` (conntrack-tools). `command` may carry a prefix
 *  (['ip', 'netns', 'exec', 'x', 'conntrack']) as the nft port does.
 *
 *  conntrack-tools updates entries from inside its dump, and the dump can end part way: with
 *  ENOBUFS ("No buffer space available") past a few hundred entries, and, while entries come
 *  and go under it, with EPROTO ("Protocol error": a reply out of sequence) or EINTR
 *  ("Interrupted system call": the kernel's dump was interrupted). Measured on conntrack
 *  1.4.7 with flows expiring during the pass: ENOBUFS on most attempts, EPROTO now and then.
 *  Entries already clear are skipped, so every attempt gets further: the pass is repeated
 *  until one attempt goes through the whole table (exit 0, or "0 flow entries have been
 *  updated" on a table with nothing left to change, which conntrack reports with exit 1).
 *  Any other failure (no binary, no permission) fails the pass at once. */
const TRANSIENT = /No buffer space available|Protocol error|Interrupted system call/;

export class ConntrackCli implements ConntrackPort {
  constructor(readonly command: readonly string[] = ['conntrack'], private readonly maxAttempts = 1000) {}

  async clearMarks(mask: number): Promise<void> {
    for (const family of ['ipv4', 'ipv6']) {
      for (let attempt = 1; ; attempt++) {
        const { code, stderr } = await run(this.command, ['-U', '-f', family, '--mark', `0/0x${(mask >>> 0).toString(16)}`]);
        if (code === 0 || /\b0 flow entries have been updated/.test(stderr)) break;
        const last = stderr.trim().split('\n').pop() ?? '';
        if (!TRANSIENT.test(stderr) || attempt >= this.maxAttempts) throw new Error(`conntrack -U -f ${family} failed (exit ${code}, attempt ${attempt}): ${last}`);
      }
    }
  }
}

function run(command: readonly string[], args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', (e) => resolve({ code: null, stderr: `cannot run ${command.join(' ')}: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** What the table held when we last read it: its marker chain, if any. */
export interface TableMarker {
  readonly serial: number;
  /** The stamp in force, as it sits in the mark (shifted). */
  readonly stamp: number;
  readonly owner: string;
}

/** One transaction's generation. */
export interface GenerationStep {
  /** The marker chain's serial (one more than the last). */
  readonly serial: number;
  /** The stamp number (1 .. N), or 0: this transaction leaves the cache out. */
  readonly stamp: number;
  /** Why the cache is off for this transaction, when it is and the mask is not 0. */
  readonly cacheOff?: string;
  /** The cache is off only because the stamp in force was unknown: once this transaction is
   *  in (nothing stamps any more), a pass and a stamped transaction may follow at once. */
  readonly followUp?: boolean;
}

export interface GenerationEvents {
  /** A clearing pass ran (error undefined) or failed. */
  pass?(error: string | undefined): void;
}

export class GenerationSchedule {
  /** N: stamps the mask holds (0: mask 0, no cache ever). */
  private readonly n: number;
  /** Stamps that may be issued after the last pass before the next one must run. */
  private readonly perPass: (inForce: number) => number;
  private serial = 0;
  /** The stamp number in force in the kernel; undefined when unknown (a table without a marker). */
  private inForce: number | undefined = 0;
  /** The last non-zero stamp issued or found (the next one follows it). */
  private last = 0;
  /** Stamps left before the next pass (0: a pass is due before the next stamp). */
  private remaining = 0;

  /** @param passEvery tests only: how many stamps a pass allows, to show that a schedule one
   *  longer than the proven one fails (default: N - 1, or N when nothing is in force). */
  constructor(readonly mask: number, private readonly conntrack: ConntrackPort, private readonly events: GenerationEvents = {}, passEvery?: number) {
    this.n = stampCount(mask);
    this.perPass = passEvery !== undefined ? () => passEvery : (c) => (c === 0 ? this.n : this.n - 1);
  }

  /** The table as read back (start, or after anything we did not expect): `marker` is what
   *  it holds, `exists` whether the table has any chain. Unless it is exactly what we last
   *  wrote, the next stamp waits for a pass. */
  adopt(marker: TableMarker | undefined, exists: boolean, owner: string): void {
    if (marker && marker.owner === owner && marker.serial === this.serial && this.serial > 0) return; // ours, as we left it
    this.serial = Math.max(this.serial, marker?.serial ?? 0);
    this.inForce = !exists ? 0 : marker ? stampNumber(this.mask, marker.stamp) : undefined;
    if (this.inForce) this.last = this.inForce;
    this.remaining = 0;
  }

  /** The generation of the next transaction; runs a clearing pass first when one is due. */
  async next(): Promise<GenerationStep> {
    const serial = this.serial + 1;
    if (this.n === 0) return { serial, stamp: 0 };
    if (this.inForce === undefined) return { serial, stamp: 0, cacheOff: 'the table holds no marker chain (written by an older version?): its stamp is unknown', followUp: true };
    if (this.remaining === 0) {
      try {
        await this.conntrack.clearMarks(this.mask);
      } catch (e) {
        const error = (e as Error).message;
        this.events.pass?.(error);
        return { serial, stamp: 0, cacheOff: `clearing the conntrack stamps failed: ${error}` };
      }
      this.events.pass?.(undefined);
      this.remaining = this.perPass(this.inForce);
    }
    return { serial, stamp: (this.last % this.n) + 1 };
  }

  /** The transaction carrying `step` is in the kernel. */
  commit(step: GenerationStep): void {
    this.serial = step.serial;
    this.inForce = step.stamp;
    if (step.stamp !== 0) {
      this.last = step.stamp;
      this.remaining--;
    }
  }

  /** The stamp number in force (0: none or the cache off; undefined: unknown). */
  stampInForce(): number | undefined {
    return this.inForce;
  }
}
