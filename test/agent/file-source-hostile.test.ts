// The folder source against hostile and clumsy folders (issue: bad files never freeze or open
// a node): a bad file keeps its last good objects and is reported by name while the rest keeps
// flowing; a file rewritten in place keeps its objects until it is stable; devices, FIFOs and
// huge files are refused without being read; unchanged files are not read again and their
// objects keep their identity; an empty folder at start is not a cluster.
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FileSource, type FileErrorReason } from '../../controller/file-source.js';
import type { SourceEvent } from '../../controller/source.js';
import { FakeClock } from './fake-clock.js';
import { ns, pod, policy, removeRoot, scratchRoot, SourceDir } from './harness.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const yamlOf = (...objs: object[]) => objs.map((o) => JSON.stringify(o)).join('\n---\n') + '\n';
const ALIAS_BOMB = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`), 'kind: NetworkPolicy'].join('\n') + '\n';

describe('agent: file source against hostile folders', () => {
  let root: string;
  let src: SourceDir;
  let fs: FileSource;
  let events: SourceEvent[];
  let fileErrors: [FileErrorReason, string][];
  const clock = new FakeClock();
  const deny = policy('x/deny', { podSelector: {} });
  const policies = () => fs.snapshot().cluster.policies.map((p) => `${p.namespace}/${p.name}`);
  const failing = () => fs.failing().map((p) => p.object);

  beforeEach(async () => {
    root = scratchRoot();
    src = new SourceDir(root);
    src.put(ns('x'), pod('x/a', '192.0.2.10'));
    src.raw('policies.yaml', yamlOf(deny, policy('x/other', { podSelector: { matchLabels: { app: 'a' } } })));
    events = [];
    fileErrors = [];
    fs = new FileSource({ dir: src.dir, clock, pollMs: 0, watch: false, maxFileBytes: 64 * 1024, onFileError: (r, p) => fileErrors.push([r, p]) });
    await fs.start({ onChange: (e) => events.push(e) });
  });

  afterEach(async () => {
    await fs.stop();
    removeRoot(root);
  });

  for (const [what, make] of [
    ['an alias bomb', (f: string) => writeFileSync(f, ALIAS_BOMB)],
    ['a dangling symbolic link', (f: string) => { unlinkSync(f); symlinkSync(join(root, 'gone.yaml'), f); }],
    ['a link to /dev/zero', (f: string) => { unlinkSync(f); symlinkSync('/dev/zero', f); }],
    ['a file over the size cap', (f: string) => writeFileSync(f, yamlOf(deny) + `# ${'x'.repeat(70 * 1024)}\n`)],
    ['a FIFO', (f: string) => { unlinkSync(f); if (spawnSync('mkfifo', [f]).status !== 0) throw new Error('mkfifo failed'); }],
    ['a List nested 20,000 deep', (f: string) => writeFileSync(f, '{"kind":"List","items":['.repeat(20000) + ']}'.repeat(20000))],
  ] as const) {
    it(`${what}: the file keeps its last good objects, is reported by name and counted; other files still flow`, async () => {
      const file = join(src.dir, 'policies.yaml');
      make(file);
      fs.rescan();
      expect(policies()).to.deep.equal(['x/deny', 'x/other']);
      expect(failing()).to.deep.equal([file]);
      expect(fs.snapshot().problems.map((p) => p.object)).to.include(file);
      expect(fileErrors.map(([, p]) => p)).to.deep.equal([file]);
      // Not frozen: a change elsewhere arrives.
      events.length = 0;
      src.put(pod('x/b', '192.0.2.11'));
      fs.rescan();
      expect(events.map((e) => `${e.action} ${e.kind} ${e.object}`)).to.deep.equal(['add pod x/b']);
      expect(fileErrors, 'counted once, not at every scan').to.have.length(1);
      // Fixed: read again, the failure is gone.
      try { unlinkSync(file); } catch { /* gone */ }
      writeFileSync(file, yamlOf(deny));
      fs.rescan();
      await clock.advance(1000);
      expect(failing()).to.deep.equal([]);
      expect(policies()).to.deep.equal(['x/deny']);
    });
  }

  it('a file truncated while being rewritten keeps its objects until it is stable; a rewrite in time changes nothing', async () => {
    const file = join(src.dir, 'policies.yaml');
    events.length = 0;
    truncateSync(file, 0);
    fs.rescan();
    writeFileSync(file, yamlOf(deny)); // truncated at a document boundary: parses, one object fewer
    fs.rescan();
    await clock.advance(999);
    expect(policies()).to.deep.equal(['x/deny', 'x/other']);
    writeFileSync(file, yamlOf(deny, policy('x/other', { podSelector: { matchLabels: { app: 'a' } } })));
    fs.rescan();
    await clock.advance(5000);
    expect(policies()).to.deep.equal(['x/deny', 'x/other']);
    expect(events, 'nothing was ever deleted').to.deep.equal([]);
  });

  it('a file cut short inside a document, into a valid but weaker policy, is held until stable too', async () => {
    const text = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: both\n  namespace: x\nspec:\n  podSelector: {}\n  policyTypes:\n  - Ingress\n  - Egress\n';
    const file = join(src.dir, 'both.yaml');
    writeFileSync(file, text);
    fs.rescan();
    const isolates = () => (fs.snapshot().cluster.policies.find((p) => p.name === 'both')!.spec as { policyTypes: string[] }).policyTypes;
    expect(isolates()).to.deep.equal(['Ingress', 'Egress']);
    writeFileSync(file, text.slice(0, text.indexOf('  - Egress')));
    fs.rescan();
    await clock.advance(999);
    expect(isolates(), 'the cut-short version is not in force yet').to.deep.equal(['Ingress', 'Egress']);
    await clock.advance(1);
    expect(isolates(), 'stable: it is what the writer meant').to.deep.equal(['Ingress']);
  });

  it('a file that really lost an object drops it once stable for stableMs (one event)', async () => {
    events.length = 0;
    writeFileSync(join(src.dir, 'policies.yaml'), yamlOf(deny));
    fs.rescan();
    await clock.advance(999);
    expect(policies()).to.deep.equal(['x/deny', 'x/other']);
    await clock.advance(1);
    expect(policies()).to.deep.equal(['x/deny']);
    expect(events.map((e) => `${e.action} ${e.kind} ${e.object}`)).to.deep.equal(['delete networkpolicy x/other']);
  });

  it('reads only files whose stamp changed; unchanged objects keep their identity across re-reads', () => {
    const before = fs.snapshot().cluster;
    const reads = fs.reads;
    expect(fs.rescan()).to.equal(0);
    expect(fs.reads, 'nothing changed: nothing read').to.equal(reads);
    src.put(pod('x/b', '192.0.2.11'));
    fs.rescan();
    expect(fs.reads, 'one new file: one read').to.equal(reads + 1);
    // The same content written again (new mtime): read, but its objects stay the same objects.
    writeFileSync(join(src.dir, 'policies.yaml'), yamlOf(deny, policy('x/other', { podSelector: { matchLabels: { app: 'a' } } })));
    fs.rescan();
    const after = fs.snapshot().cluster;
    expect(after.policies[0]).to.equal(before.policies[0]);
    expect(after.policies[1]).to.equal(before.policies[1]);
    expect(after.pods.find((p) => p.name === 'a')).to.equal(before.pods[0]);
    expect(after.namespaces[0]).to.equal(before.namespaces[0]);
  });

  it('a file broken from the start gives what can be read of it (its other pods stay isolated)', () => {
    src.raw('more.yaml', yamlOf(pod('x/c', '192.0.2.13')) + '---\nkind: Pod\nmetadata: [unclosed\n');
    fs.rescan();
    expect(fs.snapshot().cluster.pods.map((p) => p.name)).to.deep.equal(['a', 'c']);
    expect(failing()).to.deep.equal([`${join(src.dir, 'more.yaml')} document 2`]);
  });

  it('an object whose name cannot be read makes its file unreadable: the last good objects stay', () => {
    const file = join(src.dir, 'policies.yaml');
    writeFileSync(file, yamlOf(deny, { ...policy('x/other', { podSelector: {} }), metadata: { name: { oops: 1 }, namespace: 'x' } }));
    fs.rescan();
    expect(policies()).to.deep.equal(['x/deny', 'x/other']);
    expect(fs.snapshot().problems.map((p) => p.object)).to.include(`${file} object 2 (networkpolicy x/<unnamed>)`);
    writeFileSync(file, yamlOf(deny, { ...policy('x/other', { podSelector: {} }), kind: ['NetworkPolicy'] }));
    fs.rescan();
    expect(policies(), 'a kind that is not text: the same').to.deep.equal(['x/deny', 'x/other']);
  });

  it('.json goes through JSON.parse: YAML that is not JSON in a .json file is a problem', () => {
    src.raw('not-json.json', 'kind: Namespace\nmetadata: {name: y}\n');
    fs.rescan();
    expect(fs.snapshot().cluster.namespaces.map((n) => n.name)).to.deep.equal(['x']);
    expect(failing()).to.deep.equal([join(src.dir, 'not-json.json')]);
  });

  it('an unreadable subfolder keeps the objects of its files, and is reported', async () => {
    const sub = join(src.dir, 'sub');
    mkdirSync(sub);
    writeFileSync(join(sub, 'p.yaml'), yamlOf(policy('x/sub', { podSelector: {} })));
    fs.rescan();
    expect(policies()).to.include('x/sub');
    // Root reads any folder whatever its mode: a link to itself (ELOOP) cannot be read either.
    removeRoot(sub);
    symlinkSync(sub, sub);
    fs.rescan();
    await clock.advance(5000);
    expect(policies()).to.include('x/sub');
    expect(failing()).to.deep.equal([sub]);
    // A folder that is really gone takes its files' objects with it (after the stable wait).
    unlinkSync(sub);
    fs.rescan();
    await clock.advance(1000);
    expect(policies()).to.not.include('x/sub');
    expect(failing()).to.deep.equal([]);
  });

  it('a FIFO never blocks the scan (checked in a child process, which a hang cannot take down with it)', () => {
    const dir = join(root, 'fifo');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ns.yaml'), yamlOf(ns('x')));
    expect(spawnSync('mkfifo', [join(dir, 'pipe.yaml')]).status).to.equal(0);
    const code = `import { loadCluster } from './controller/load.ts'; const r = loadCluster(${JSON.stringify(dir)}); console.log(JSON.stringify({ ns: r.cluster.namespaces.length, problems: r.problems.map((p) => p.message) }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, 'the scan hung on the FIFO').to.equal(null);
    expect(JSON.parse(r.stdout)).to.deep.equal({ ns: 1, problems: ['not a regular file (a FIFO): not read'] });
  });
});

describe('agent: file source on an empty folder at start', () => {
  let root: string;
  let src: SourceDir;
  const clock = new FakeClock();
  beforeEach(() => {
    root = scratchRoot();
    src = new SourceDir(root);
  });
  afterEach(() => removeRoot(root));

  it('does not report itself synced (so nothing replaces the table in force) until objects appear', async () => {
    const fs = new FileSource({ dir: src.dir, clock, pollMs: 1000, watch: false });
    const notes: string[] = [];
    let started = false;
    const start = fs.start({ onChange: () => {}, onError: (m) => notes.push(m) }).then(() => { started = true; });
    await clock.advance(3000);
    expect(started).to.equal(false);
    expect(fs.synced()).to.equal(false);
    expect(notes.join('\n')).to.contain('--allow-empty-source');
    src.put(ns('x'));
    await clock.advance(1000);
    await start;
    expect(started).to.equal(true);
    expect(fs.synced()).to.equal(true);
    expect(fs.snapshot().cluster.namespaces).to.have.length(1);
    await fs.stop();
  });

  it('a folder whose only file does not parse is as empty', async () => {
    src.raw('broken.yaml', 'kind: [\n');
    const fs = new FileSource({ dir: src.dir, clock, pollMs: 0, watch: false });
    let started = false;
    void fs.start({ onChange: () => {} }).then(() => { started = true; });
    await clock.advance(10);
    expect(started).to.equal(false);
    await fs.stop();
  });

  it('starts at once with allowEmpty', async () => {
    const fs = new FileSource({ dir: src.dir, clock, pollMs: 0, watch: false, allowEmpty: true });
    await fs.start({ onChange: () => {} });
    expect(fs.synced()).to.equal(true);
    await fs.stop();
  });
});
