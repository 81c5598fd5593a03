// The real CLI process: `run` ends cleanly on SIGTERM in the middle of a sync and leaves the
// rules in force; `cleanup` removes the table and is idempotent; bad flags exit 2.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Netns, requireKernel } from '../helpers/kernel.js';
import { blankGeneration, expectedListing, flag, nftWrapper, ns, pod, policy, removeLeftovers, removeRoot, RUN, scratchRoot, SourceDir, waitFor } from './harness.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const cli = (args: string[]) => ['--import', 'tsx', 'controller/cli.ts', ...args];

function runCli(args: string[]) {
  return spawnSync(process.execPath, cli(args), { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
}

describe('agent: the netpol-nft process (run, SIGTERM, cleanup)', function () {
  this.timeout(120_000);
  let root: string;
  let node: Netns, scratch: Netns;
  let src: SourceDir;
  let nft: ReturnType<typeof nftWrapper>;
  let child: ChildProcess | undefined;

  before(function () {
    requireKernel(this);
    removeLeftovers();
    root = scratchRoot();
    node = Netns.create(`${RUN}cli-node`);
    scratch = Netns.create(`${RUN}cli-scratch`);
    nft = nftWrapper(root, node.name, 3);
    src = new SourceDir(root);
    src.put(ns('x'), pod('x/a', '192.0.2.10'), policy('x/deny', { podSelector: {} }));
  });

  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    node?.delete();
    scratch?.delete();
    if (root) removeRoot(root);
  });

  it('rejects bad flags with exit code 2 and a message naming the flag', () => {
    const r = runCli(['run', '--node', 'n1', '--source', 'x', '--debounce', 'soon']);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('--debounce soon');
    const r2 = runCli(['run', '--source', 'x']);
    expect(r2.status).to.equal(2);
    expect(r2.stderr).to.include('--node');
  });

  it('exits 0 on SIGTERM during a sync and leaves the table in force', async () => {
    child = spawn(process.execPath, cli(['run', '--node', 'node-1', '--source', src.dir, '--nft-path', nft.path, '--conntrack-path', join(dirname(nft.path), 'conntrack.sh'), '--metrics-address', '127.0.0.1:0', '--log-level', 'debug']), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: { msg?: string }[] = [];
    let stderr = '';
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as { msg?: string });
    });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));

    await waitFor('the first sync', () => lines.some((l) => l.msg === 'first sync applied: table in force'), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}; stderr: ${stderr}`);
    });
    // Slow nft down, make a change, and stop the agent while nft is busy with it.
    flag(nft.slow, true);
    const applying = () => lines.filter((l) => l.msg === 'applying').length;
    const before = applying();
    src.put(pod('x/b', '192.0.2.11'));
    await waitFor('the sync of x/b to start', () => applying() > before, 30_000);
    child.kill('SIGTERM');
    const code = await exited;
    flag(nft.slow, false);
    expect(code, stderr).to.equal(0);
    expect(lines.some((l) => l.msg === 'stopped')).to.equal(true);
    // The sync in flight finished (one transaction) and the table stayed: it is what the
    // `compile` command prints for the same folder.
    const compiled = runCli(['compile', '--cluster', src.dir, '--node', 'node-1']);
    expect(compiled.status, compiled.stderr).to.equal(0);
    scratch.nftApply(compiled.stdout);
    const want = blankGeneration(scratch.listTable('inet', 'netpol_nft'));
    expect(want).to.include('192.0.2.11').and.equal(expectedListing(scratch, src.dir));
    expect(blankGeneration(node.listTable('inet', 'netpol_nft'))).to.equal(want);
  });

  it('cleanup removes the table, and succeeds again when it is already gone', () => {
    expect(node.listTable('inet', 'netpol_nft')).to.not.equal('');
    const r = runCli(['cleanup', '--nft-path', nft.path]);
    expect(r.status, r.stderr).to.equal(0);
    expect(node.listTable('inet', 'netpol_nft')).to.equal('');
    const again = runCli(['cleanup', '--nft-path', nft.path]);
    expect(again.status, again.stderr).to.equal(0);
    expect(node.listTable('inet', 'netpol_nft')).to.equal('');
  });

  it('cleanup leaves other tables alone', () => {
    node.nftApplyText('table inet other {\n  chain c { }\n}\n');
    const r = runCli(['cleanup', '--nft-path', nft.path]);
    expect(r.status, r.stderr).to.equal(0);
    expect(node.listTable('inet', 'other')).to.not.equal('');
  });
});
