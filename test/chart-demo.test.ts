// `npm run demo` (demo/), tested: its helpers, then the real thing on the kernel with two of
// the examples — the matrices it prints, and that it leaves no namespace, process or folder
// behind, whether it ends normally or by Ctrl-C. (Named chart-*.test.ts because the
// packaging owner's test files are test/chart*.test.ts: chart, image and demo.)
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMetrics, total } from '../demo/agent-process.js';
import { eventCount, readExamples, readmeOrder } from '../demo/examples.js';
import { requireKernel } from './helpers/kernel.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

describe('demo helpers', () => {
  it('parses the Prometheus text the agent serves, labels and escapes included', () => {
    const text = [
      '# HELP netpol_nft_dropped_packets_total Packets dropped',
      '# TYPE netpol_nft_dropped_packets_total counter',
      'netpol_nft_dropped_packets_total{namespace="x",pod="a",direction="ingress"} 12',
      'netpol_nft_dropped_packets_total{namespace="x",pod="b",direction="egress"} 3',
      'netpol_nft_build_info{version="0.1.0",nodejs_version="v20.1.0",odd="a\\"b"} 1',
      'netpol_nft_sync_last_timestamp_seconds 1763800000.5',
    ].join('\n');
    const m = parseMetrics(text);
    expect(m).to.have.length(4);
    expect(m[2]!.labels.odd).to.equal('a"b');
    expect(total(m, 'netpol_nft_dropped_packets_total')).to.equal(15);
    expect(total(m, 'netpol_nft_dropped_packets_total', { direction: 'egress' })).to.equal(3);
    expect(total(m, 'netpol_nft_sync_last_timestamp_seconds')).to.equal(1763800000.5);
  });

  it('orders the examples as the README table lists them, unlisted ones last by name', () => {
    const readme = '| File | Effect |\n|---|---|\n| `b.yaml` | one |\n| `a.yaml` | two |\n| `gone.yaml` | three |\n';
    expect(readmeOrder(readme, ['a.yaml', 'z.yaml', 'b.yaml', 'c.yml'])).to.deep.equal(['b.yaml', 'a.yaml', 'c.yml', 'z.yaml']);
    expect(readmeOrder(undefined, ['b.yaml', 'a.yaml'])).to.deep.equal(['a.yaml', 'b.yaml']);
  });

  it('reads every example of policies-examples/ with its leading comment and policy', () => {
    const examples = readExamples(join(repo, 'policies-examples'));
    expect(examples.length).to.be.greaterThan(5);
    for (const ex of examples) {
      expect(ex.description.length, ex.file).to.be.greaterThan(0);
      expect(ex.objects.size, ex.file).to.equal(1);
    }
  });

  it('counts the source events a replacement causes (what the agents must program)', () => {
    const a = new Map([['networkpolicy x/a', '1'], ['networkpolicy x/b', '2']]);
    expect(eventCount(new Map(), a)).to.equal(2);
    expect(eventCount(a, new Map([['networkpolicy x/a', '1'], ['networkpolicy x/c', '3']]))).to.equal(2);
    expect(eventCount(a, new Map([['networkpolicy x/a', '9'], ['networkpolicy x/b', '2']]))).to.equal(1);
    expect(eventCount(a, a)).to.equal(0);
  });
});

/** `command` run without root but as the owner of `dir` (see the test that uses it). */
function withoutRoot(dir: string, command: string[]): [string, string[]] {
  const { uid, gid } = statSync(dir);
  if (uid !== 0) return ['setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', ...command]];
  return ['unshare', ['--user', ...command]];
}

/** Our namespaces, processes and folders still around after the demo. */
function leftovers(): string[] {
  const ns = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.startsWith('npn-demo-'));
  const procs = (spawnSync('pgrep', ['-af', 'cli.ts run --source .*npn-demo-'], { encoding: 'utf8' }).stdout ?? '').trim().split('\n').filter(Boolean);
  const dirs = spawnSync('sh', ['-c', `ls -d ${tmpdir()}/npn-demo-* 2>/dev/null`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  return [...ns, ...procs, ...dirs];
}

function runDemo(examples: string, onOutput?: (out: string, kill: () => void) => void): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(repo, 'demo', 'demo.ts'), '--examples', examples], { cwd: repo, env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    const take = (d: Buffer) => {
      out += d.toString();
      onOutput?.(out, () => p.kill('SIGINT'));
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out }));
  });
}

describe('npm run demo, on the real kernel', function () {
  this.timeout(180_000);
  let examples = '';
  before(function () {
    requireKernel(this);
    expect(leftovers(), 'a demo is already running or left something behind').to.deep.equal([]);
    examples = mkdtempSync(join(tmpdir(), 'npn-demotest-'));
    for (const f of ['default-deny-ingress.yaml', 'port-range.yaml']) cpSync(join(repo, 'policies-examples', f), join(examples, f));
    writeFileSync(join(examples, 'README.md'), '| `port-range.yaml` | first |\n');
  });
  after(() => {
    if (examples) rmSync(examples, { recursive: true, force: true });
  });

  it('prints the matrix before and after each example, the agents metrics, and cleans up', async () => {
    const r = await runDemo(examples);
    expect(r.code, r.out).to.equal(0);
    const out = r.out;
    expect(out).to.contain('no NetworkPolicy: everything is reachable (324/324 probes reached)');
    // README order first: port-range (TCP 80-81 into x allowed, UDP denied), then deny ingress.
    expect(out.indexOf('port-range.yaml')).to.be.lessThan(out.indexOf('default-deny-ingress.yaml'));
    expect(out).to.match(/port-range\.yaml \(276\/324 probes reached\)/);
    expect(out).to.contain('y/a (n2)    ●●··  ●●··  ●●··  ●●●●');
    expect(out).to.match(/default-deny-ingress\.yaml \(228\/324 probes reached\)/);
    expect(out).to.contain('y/a (n2)    ····  ····  ····  ●●●●');
    // The UDP flow opened before any policy is cut by port-range (UDP into x denied).
    expect(out).to.contain('opened before any policy: TCP passes, UDP passes');
    expect(out).to.contain('TCP passes, UDP cut');
    expect(out).to.match(/netpol_nft_dropped_packets_total\{namespace="x",pod="[abc]",direction="ingress"\} [1-9]/);
    expect(out).to.contain('cleaned up');
    expect(leftovers()).to.deep.equal([]);
  });

  it('cleans up everything on Ctrl-C', async () => {
    const r = await runDemo(examples, (out, kill) => {
      if (out.includes('everything is reachable')) kill();
    });
    expect(r.out).to.contain('SIGINT, cleaning up');
    expect(r.code).to.equal(130);
    expect(leftovers()).to.deep.equal([]);
  });

  it('refuses to run without root, saying why, wherever the checkout lies (here: behind a private 0700 folder)', function () {
    // CI tools clone into private temporary folders: a uid other than the checkout's owner
    // cannot even load the demo there. Drop root without changing who owns the files instead:
    // as the checkout's owner when that is not root, else in a new user namespace (uid 65534
    // inside, no capability over the machine's namespaces, the same owner for the files).
    const priv = mkdtempSync(join(tmpdir(), 'npn-demotest-private-'));
    try {
      chmodSync(priv, 0o700);
      const checkout = join(priv, 'checkout');
      symlinkSync(repo, checkout);
      const r = spawnSync(...withoutRoot(repo, [process.execPath, '--import', 'tsx', join(checkout, 'demo', 'demo.ts')]), { cwd: checkout, encoding: 'utf8' });
      if (r.error) this.skip();
      expect(r.stderr).to.contain('not running as root');
      expect(r.status).to.equal(1);
    } finally {
      rmSync(priv, { recursive: true, force: true });
    }
  });
});
