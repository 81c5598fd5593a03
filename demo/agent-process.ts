// One netpol-nft agent per demo node, run as the real CLI (`netpol-nft run --source DIR`)
// in the root network namespace: its nft calls go through a wrapper script that runs nft
// inside the node's namespace, and its /metrics, /healthz and /readyz listen on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, openSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Prometheus text format, the subset prom-client writes: `name{k="v",...} value`. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of every sample of `name` whose labels include `match`. */
export function total(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/** A free loopback TCP port (asked of the kernel, then released for the agent to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface AgentOptions {
  readonly node: string;
  /** The node's network namespace: where nft must run. */
  readonly netns: string;
  readonly sourceDir: string;
  /** Where the wrapper script and the agent's log go. */
  readonly workDir: string;
  readonly repoRoot: string;
  readonly port: number;
  /** Pass --established-fast-path: established connections skip the policy checks. */
  readonly establishedFastPath?: boolean;
}

export class AgentProcess {
  readonly logFile: string;
  private exited: Promise<number | null>;

  private constructor(readonly o: AgentOptions, private readonly proc: ChildProcess, logFile: string) {
    this.logFile = logFile;
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  static start(o: AgentOptions): AgentProcess {
    const wrapper = join(o.workDir, `nft-${o.node}`);
    // The agent hands nft a batch file path; `ip netns exec` keeps the file system, so the
    // path stays valid inside the node's namespace.
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${o.netns}' nft "$@"\n`);
    chmodSync(wrapper, 0o755);
    // conntrack (the agent clears verdict-cache stamps with it) in the node's namespace too.
    const conntrack = join(o.workDir, `conntrack-${o.node}`);
    writeFileSync(conntrack, `#!/bin/sh\nexec ip netns exec '${o.netns}' conntrack "$@"\n`);
    chmodSync(conntrack, 0o755);
    const logFile = join(o.workDir, `agent-${o.node}.log`);
    const fd = openSync(logFile, 'a');
    const proc = spawn(
      process.execPath,
      [
        '--import', 'tsx', join(o.repoRoot, 'controller', 'cli.ts'), 'run',
        '--source', o.sourceDir, '--node', o.node, '--nft-path', wrapper, '--conntrack-path', conntrack,
        '--metrics-address', `127.0.0.1:${o.port}`,
        // A demo wants each change in the kernel at once and no drift checks in the way.
        '--debounce', '20ms', '--max-sync-delay', '200ms', '--resync-interval', '10m',
        ...(o.establishedFastPath ? ['--established-fast-path'] : []),
      ],
      { cwd: o.repoRoot, stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    return new AgentProcess(o, proc, logFile);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async get(path: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`http://127.0.0.1:${this.o.port}${path}`, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, text: await res.text() };
  }

  /** Resolves once /readyz answers 200 (first full ruleset in the kernel). */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`agent ${this.o.node} exited (code ${this.proc.exitCode}); see ${this.logFile}`);
      const r = await this.get('/readyz').catch(() => undefined);
      if (r?.status === 200) return;
      if (Date.now() > deadline) throw new Error(`agent ${this.o.node} not ready after ${timeoutMs / 1000}s; see ${this.logFile}`);
      await sleep(100);
    }
  }

  async metrics(): Promise<Sample[]> {
    return parseMetrics((await this.get('/metrics')).text);
  }

  /** SIGTERM (the agent leaves its table in force and exits 0), SIGKILL if it lingers. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.proc.exitCode;
    this.proc.kill('SIGTERM');
    const code = await Promise.race([this.exited, sleep(5000).then(() => 'late' as const)]);
    if (code !== 'late') return code;
    this.proc.kill('SIGKILL');
    return this.exited;
  }

  /** For exit handlers, which cannot wait. */
  killNow(): void {
    if (this.running) this.proc.kill('SIGKILL');
  }
}
