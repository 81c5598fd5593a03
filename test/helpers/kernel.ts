// Shared by every test that touches the real kernel: one gate (root + nft + ip), and a small
// network-namespace wrapper whose names carry a per-suite prefix so that suites never touch
// each other's namespaces, and leftovers of a killed run are found and removed.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listingRuleset, normalizeListing } from '../../compiler/listing.js';
import type { Ruleset } from '../../compiler/index.js';

export { normalizeListing };

let warned = false;

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const tool of ['nft', 'ip']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  const probe = spawnSync('ip', ['netns', 'add', 'npn-probe-gate']);
  spawnSync('ip', ['netns', 'del', 'npn-probe-gate']);
  if (probe.status !== 0) return `cannot create network namespaces: ${probe.stderr.toString().trim()}`;
  return undefined;
}

/** Call in a `before` hook: in CI a missing kernel fails the suite; elsewhere it skips loudly. */
export function requireKernel(ctx: Mocha.Context): void {
  const why = kernelUnavailable();
  if (!why) return;
  if (process.env.CI) throw new Error(`kernel tests cannot run in CI: ${why}`);
  if (!warned) {
    warned = true;
    process.stderr.write(`\n\x1b[1;33m*** SKIPPING REAL-KERNEL TESTS: ${why}. Run as root with nftables installed to prove the rules. ***\x1b[0m\n\n`);
  }
  ctx.skip();
}

export function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 512 * 1024 * 1024 });
}

export function trySh(cmd: string, args: readonly string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
}

export class Netns {
  private constructor(readonly name: string) {}

  /** Creates a namespace (removing a leftover of the same name first), loopback up. */
  static create(name: string): Netns {
    trySh('ip', ['netns', 'del', name]);
    sh('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    ns.exec('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  exec(cmd: string, args: readonly string[], input?: string): string {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  tryExec(cmd: string, args: readonly string[], input?: string): SpawnSyncReturns<string> {
    return trySh('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  /** `nft -j -f` with the batch in a temporary file (nft opens /dev/stdin, which fails on
   *  the socketpair Node gives a child as stdin); throws with nft's message on failure. */
  nftApply(batchJson: string, extraArgs: readonly string[] = []): void {
    this.nftFile(batchJson, [...extraArgs, '-j']);
  }

  /** `nft -f` with an nft script (text syntax). */
  nftApplyText(script: string, extraArgs: readonly string[] = []): void {
    this.nftFile(script, extraArgs);
  }

  private nftFile(content: string, args: readonly string[]): void {
    const dir = mkdtempSync(join(tmpdir(), 'npn-batch-'));
    try {
      const file = join(dir, 'batch');
      writeFileSync(file, content);
      const r = this.tryExec('nft', [...args, '-f', file]);
      if (r.status !== 0) throw new Error(`nft -j -f failed in ${this.name}: ${r.stderr.trim()}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** `nft -j list table`, normalised: handles and counter values dropped, so that two
   *  tables with the same content compare equal as strings. */
  listTable(family: string, table: string): string {
    const r = this.tryExec('nft', ['-j', 'list', 'table', family, table]);
    if (r.status !== 0) {
      if (/No such file or directory/.test(r.stderr)) return ''; // no such table
      throw new Error(`nft list table ${family} ${table} failed in ${this.name}: ${r.stderr.trim()}`);
    }
    return normalizeListing(r.stdout);
  }

  /** `nft -j list table` read back into a Ruleset with IR rules (compiler/listing.ts), to
   *  compare with what was compiled (`rulesetKey`); undefined when there is no such table. */
  listRuleset(family: 'inet', table: string): Ruleset | undefined {
    const r = this.tryExec('nft', ['-j', 'list', 'table', family, table]);
    if (r.status !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new Error(`nft list table ${family} ${table} failed in ${this.name}: ${r.stderr.trim()}`);
    }
    return listingRuleset(r.stdout, table, family);
  }

  delete(): void {
    trySh('ip', ['netns', 'del', this.name]);
  }
}

/** Removes every namespace whose name starts with `prefix` (leftovers of a killed run). */
export function removeNamespaces(prefix: string): void {
  const out = trySh('ip', ['netns', 'list']).stdout ?? '';
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0];
    if (name && name.startsWith(prefix)) trySh('ip', ['netns', 'del', name]);
  }
}

/** One scratch network namespace for the enclosing mocha suite: made in `before` (after
 *  `requireKernel`, and after removing what an interrupted run left under `prefix`), deleted
 *  in `after`. Returns a getter for it. */
export function useScratchNetns(prefix: string, suffix = 'a'): () => Netns {
  let ns: Netns | undefined;
  before(function () {
    requireKernel(this);
    removeNamespaces(prefix);
    ns = Netns.create(`${prefix}${suffix}`);
  });
  after(() => ns?.delete());
  return () => {
    if (!ns) throw new Error('the scratch namespace is made in before()');
    return ns;
  };
}
