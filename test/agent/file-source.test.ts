// The folder source: one event per object that really changed, a bad file keeps the last good
// state, and the watch coalesces bursts (timers on a fake clock).
import { writeFileSync } from 'node:fs';
import { expect } from 'chai';
import { changes, FileSource } from '../../controller/file-source.js';
import type { SourceEvent } from '../../controller/source.js';
import { FakeClock } from './fake-clock.js';
import { ns, pod, policy, removeRoot, scratchRoot, SourceDir } from './harness.js';

describe('agent: file source', () => {
  let root: string;
  let src: SourceDir;
  let fs: FileSource;
  let events: SourceEvent[];
  let errors: string[];
  const clock = new FakeClock();

  beforeEach(async () => {
    root = scratchRoot();
    src = new SourceDir(root);
    src.put(ns('x'), pod('x/a', '192.0.2.10'), policy('x/p', { podSelector: {} }));
    events = [];
    errors = [];
    fs = new FileSource({ dir: src.dir, clock, pollMs: 0 });
    await fs.start({ onChange: (e) => events.push(e), onError: (m) => errors.push(m) });
  });

  afterEach(async () => {
    await fs.stop();
    removeRoot(root);
  });

  it('lists everything at start, stamped with the clock', () => {
    expect(fs.synced()).to.equal(true);
    expect(events.map((e) => `${e.kind} ${e.action}`).sort()).to.deep.equal(['namespace add', 'networkpolicy add', 'pod add']);
    expect(events.every((e) => e.seenAt === clock.now())).to.equal(true);
    expect(fs.snapshot().cluster.pods.map((p) => p.name)).to.deep.equal(['a']);
  });

  it('reports only what changed: update, add, delete; nothing for an untouched rewrite', async () => {
    events.length = 0;
    src.put(pod('x/a', '192.0.2.10')); // same content
    expect(fs.rescan()).to.equal(0);
    src.put(pod('x/a', '192.0.2.11'), pod('x/b', '192.0.2.12'));
    src.remove(policy('x/p', {}));
    expect(fs.rescan()).to.equal(2);
    // A removed file's objects wait until the removal has been stable for stableMs.
    await clock.advance(1000);
    expect(events.map((e) => `${e.kind} ${e.action} ${e.object}`).sort()).to.deep.equal(['networkpolicy delete x/p', 'pod add x/b', 'pod update x/a']);
  });

  it('ClusterNetworkPolicies and Nodes: one event each, naming the object, with the engine change', async () => {
    events.length = 0;
    const cnp = (priority: number) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'deny-all' }, spec: { tier: 'Admin', priority, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] } });
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { role: 'worker' } }, status: { addresses: [{ type: 'InternalIP', address: '198.51.100.1' }] } };
    src.put(cnp(10), node);
    expect(fs.rescan()).to.equal(2);
    expect(events.map((e) => `${e.kind} ${e.action} ${e.object} ${e.change?.op}`).sort()).to.deep.equal(['clusternetworkpolicy add deny-all upsert', 'node add n1 upsert']);
    events.length = 0;
    src.put(cnp(20));
    src.remove(node);
    expect(fs.rescan()).to.equal(1);
    // A removed file's objects wait until the removal has been stable for stableMs.
    await clock.advance(1000);
    expect(events.map((e) => `${e.kind} ${e.action} ${e.object} ${e.change?.op}`).sort()).to.deep.equal(['clusternetworkpolicy update deny-all upsert', 'node delete n1 delete']);
    expect(fs.snapshot().cluster.clusterPolicies?.map((p) => (p.spec as { priority: number }).priority)).to.deep.equal([20]);
  });

  it('reports a document that stops parsing, with its problem in the snapshot', () => {
    events.length = 0;
    src.raw('broken.yaml', 'kind: Pod\nmetadata: [unclosed\n');
    expect(fs.rescan()).to.equal(1);
    expect(fs.snapshot().problems.map((p) => p.kind)).to.deep.equal(['document']);
    expect(fs.snapshot().cluster.pods).to.have.length(1);
  });

  it('keeps the objects of a file caught half-written, and reports the problem', async () => {
    const file = `${src.dir}/networkpolicy-x-p.json`;
    writeFileSync(file, '{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPol');
    fs.rescan();
    expect(fs.snapshot().cluster.policies.map((p) => p.name)).to.deep.equal(['p']);
    expect(fs.snapshot().problems.map((p) => p.kind)).to.deep.equal(['document']);
    // Fixed (here: deleted), the policy goes for real, once the removal has been stable.
    src.remove(policy('x/p', {}));
    fs.rescan();
    await clock.advance(1000);
    expect(fs.snapshot().cluster.policies).to.deep.equal([]);
    expect(fs.snapshot().problems).to.deep.equal([]);
  });

  it('keeps the last good state when the folder cannot be read', () => {
    removeRoot(root);
    expect(fs.rescan()).to.equal(0);
    expect(errors.some((m) => m.includes('cannot read'))).to.equal(true);
    expect(fs.snapshot().cluster.pods).to.have.length(1);
  });

  it('refuses to start on a folder it cannot read (an empty cluster would open every pod)', async () => {
    const missing = new FileSource({ dir: `${root}/does-not-exist`, clock, pollMs: 0 });
    let err: unknown;
    await missing.start({ onChange: () => {} }).catch((e: unknown) => { err = e; });
    expect(String(err)).to.include('cannot read');
    expect(missing.synced()).to.equal(false);
  });

  it('diffs clusters object by object', () => {
    const c1 = { namespaces: [{ name: 'x', labels: {} }], pods: [], policies: [] };
    const c2 = { namespaces: [{ name: 'x', labels: { a: 'b' } }], pods: [], policies: [{ namespace: 'x', name: 'p', spec: {} }] };
    expect(changes(c1, c2)).to.deep.equal([
      { kind: 'namespace', action: 'update', object: 'namespace x' },
      { kind: 'networkpolicy', action: 'add', object: 'networkpolicy x/p' },
    ]);
  });

  it('polls when asked to, on the injected clock', async () => {
    const polled = new FileSource({ dir: src.dir, clock, pollMs: 1000, watch: false });
    const seen: SourceEvent[] = [];
    await polled.start({ onChange: (e) => seen.push(e) });
    seen.length = 0;
    src.put(pod('x/c', '192.0.2.13'));
    await clock.advance(999);
    expect(seen).to.have.length(0);
    await clock.advance(1);
    expect(seen.map((e) => `${e.kind} ${e.action}`)).to.deep.equal(['pod add']);
    await clock.advance(5000);
    expect(seen).to.have.length(1);
    await polled.stop();
  });
});
