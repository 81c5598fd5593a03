// Test harness for the agent on the real kernel: a source folder written object by object,
// an nft wrapper script that runs nft inside the test's network namespace (and fails or
// stalls on demand while a flag file exists), an in-process agent, and the yardstick every
// scenario ends with: the kernel's table equals what `compile` gives for the same folder.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { batchJson, compile, fullBatch } from '../../compiler/index.js';
import { parseConfig, type Config, DEFAULT_DROP_LOG } from '../../controller/config.js';
import type { FileSource } from '../../controller/file-source.js';
import { loadCluster } from '../../controller/load.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { Netns, trySh } from '../helpers/kernel.js';

export const PREFIX = 'npn-agent-';
/** This process's namespaces. Several runs of the suite may share the machine (colleagues'
 *  `npm test`); tagging names with the pid keeps one run from deleting another's. */
export const RUN = `${PREFIX}${process.pid}-`;

/** Removes namespaces of our prefix left by runs that are gone (killed), and this run's own;
 *  namespaces of a run still alive are left alone. */
export function removeLeftovers(): void {
  const out = trySh('ip', ['netns', 'list']).stdout ?? '';
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0];
    if (!name?.startsWith(PREFIX)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(PREFIX.length))?.[1]);
    if (pid && pid !== process.pid && alive(pid)) continue;
    trySh('ip', ['netns', 'del', name]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
export const NODE = 'node-1';

type Obj = Record<string, unknown>;

export const ns = (name: string, labels: Record<string, string> = {}): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

export function pod(ref: string, ip: string | string[], opts: { labels?: Record<string, string>; node?: string; phase?: string; ports?: { name: string; containerPort: number; protocol?: string }[] } = {}): Obj {
  const [namespace, name] = ref.split('/');
  const ips = Array.isArray(ip) ? ip : [ip];
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: opts.labels ?? { app: name } },
    spec: { nodeName: opts.node ?? NODE, containers: [{ name: 'c', ports: opts.ports ?? [] }] },
    status: { phase: opts.phase ?? 'Running', podIP: ips[0], podIPs: ips.map((i) => ({ ip: i })) },
  };
}

export function policy(ref: string, spec: Obj): Obj {
  const [namespace, name] = ref.split('/');
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

/** A folder of manifests, one file per object, named after it. */
export class SourceDir {
  readonly dir: string;
  constructor(readonly root: string) {
    this.dir = join(root, 'cluster');
    mkdirSync(this.dir, { recursive: true });
  }

  private file(o: Obj): string {
    const md = o.metadata as { name: string; namespace?: string };
    return join(this.dir, `${String(o.kind).toLowerCase()}-${md.namespace ?? ''}-${md.name}.json`);
  }

  put(...objs: Obj[]): void {
    for (const o of objs) writeFileSync(this.file(o), JSON.stringify(o, null, 1));
  }

  remove(...objs: Obj[]): void {
    for (const o of objs) unlinkSync(this.file(o));
  }

  /** Writes raw text (e.g. a broken document). */
  raw(name: string, text: string): void {
    writeFileSync(join(this.dir, name), text);
  }
}

/** A shell script standing in for nft: runs it in `netns`; fails while `fail` exists,
 *  sleeps `slowSeconds` before applying while `slow` exists. */
export function nftWrapper(root: string, netns: string, slowSeconds = 3): { path: string; fail: string; slow: string } {
  const path = join(root, 'nft.sh'), fail = join(root, 'nft-fail'), slow = join(root, 'nft-slow');
  writeFileSync(
    path,
    `#!/bin/sh
if [ -e '${fail}' ]; then echo "Error: injected failure (flag file present)" >&2; exit 1; fi
if [ -e '${slow}' ]; then case " $* " in *" -f "*) sleep ${slowSeconds};; esac; fi
exec ip netns exec '${netns}' nft "$@"
`,
  );
  chmodSync(path, 0o755);
  // The agent clears verdict-cache stamps with conntrack: in the same namespace, never the host's.
  writeFileSync(join(root, 'conntrack.sh'), `#!/bin/sh\nexec ip netns exec '${netns}' conntrack "$@"\n`);
  chmodSync(join(root, 'conntrack.sh'), 0o755);
  return { path, fail, slow };
}

export const flag = (path: string, on: boolean): void => {
  if (on) writeFileSync(path, '');
  else if (existsSync(path)) unlinkSync(path);
};

export function scratchRoot(): string {
  return mkdtempSync(join(tmpdir(), 'npn-agent-test-'));
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

/** A table listing with the generation stamp (the ct mark value of the forward chain, which
 *  the agent bumps with every transaction) blanked, so that two tables compare by content. */
export function blankGeneration(listing: string): string {
  // nft lists `ct mark set ct mark & ~MASK | GEN` with both constants folded with GEN.
  // The agent's marker chain (gen_<serial>_<stamp>_<owner>) goes too: `compile` writes none.
  return listing.split('\n').filter((l) => !/"name": ?"gen_\d+_/.test(l)).map((l) => (l.includes('"mark"') ? l.replace(/(?<=[:,[])\d+(?=[\]},])/g, 'N') : l)).join('\n');
}

/** What `compile` gives for the folder, loaded into a scratch namespace and listed there
 *  (the generation blanked: compare with `kernel()` through blankGeneration). */
export function expectedListing(scratch: Netns, dir: string, node = NODE, table = 'netpol_nft'): string {
  const { cluster } = loadCluster(dir);
  scratch.nftApply(batchJson(fullBatch(compile(cluster, { node, table, dropLog: DEFAULT_DROP_LOG }).ruleset)));
  return blankGeneration(scratch.listTable('inet', table));
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export async function startTestAgent(sourceDir: string, nftPath: string, extra: string[] = []): Promise<{ handle: AgentHandle; config: Config; logs: LogLine[] }> {
  // --source-stable 0: these scenarios remove files and expect the removal at the next scan
  // (the hold itself is tested in file-source-hostile.test.ts and e2e/bad-input.test.ts).
  const c = parseConfig(['--node', NODE, '--source', sourceDir, '--nft-path', nftPath, '--conntrack-path', join(dirname(nftPath), 'conntrack.sh'), '--metrics-address', '127.0.0.1:0', '--retry-min', '100ms', '--retry-max', '400ms', '--source-stable', '0ms', ...extra], {});
  if (c === 'help') throw new Error('unexpected help');
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s) as LogLine); } });
  const handle = await startAgent(c, { logger });
  await handle.started;
  return { handle, config: c, logs };
}

/** Makes the file source notice the folder now (instead of waiting for fs.watch), then
 *  waits until the runner has applied every pending change. */
export async function settle(h: AgentHandle): Promise<void> {
  (h.source as FileSource).rescan();
  await h.runner.idle();
}

/** Polls `cond` (for what only real time brings: a drift timer, a retry); fails after `ms`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function metricValue(h: AgentHandle, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = await h.metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => String((x.labels as Record<string, unknown>)[k]) === val));
  return v?.value;
}
