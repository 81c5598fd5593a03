// The agent on the real kernel, driven through its file source: every scenario rewrites the
// source folder, lets the agent sync, and ends with the kernel's table equal to what
// `netpol-nft compile` gives for the same folder (both listed and normalised).
import { expect } from 'chai';
import type { FileSource } from '../../controller/file-source.js';
import type { AgentHandle } from '../../controller/run.js';
import { Netns, requireKernel } from '../helpers/kernel.js';
import { blankGeneration, expectedListing, flag, metricValue, nftWrapper, ns, pod, policy, removeLeftovers, removeRoot, RUN, scratchRoot, settle, SourceDir, startTestAgent, waitFor, type LogLine } from './harness.js';

describe('agent: reconcile loop on the real kernel (file source)', function () {
  this.timeout(120_000);
  let root: string;
  let node: Netns, scratch: Netns;
  let src: SourceDir;
  let h: AgentHandle | undefined;
  let logs: LogLine[];
  let nft: ReturnType<typeof nftWrapper>;

  const kernel = () => blankGeneration(node.listTable('inet', 'netpol_nft'));
  const expected = () => expectedListing(scratch, src.dir);
  const agent = () => h!;

  // The cluster: x/a and x/b on this node, y/c elsewhere.
  const nsX = ns('x', { team: 'blue' });
  const nsY = ns('y', { team: 'red' });
  const a = pod('x/a', ['192.0.2.10', '2001:db8::a'], { ports: [{ name: 'http', containerPort: 80 }] });
  const b = pod('x/b', '192.0.2.11');
  const c = pod('y/c', '192.0.2.20', { node: 'node-2' });
  const web = policy('x/web', {
    podSelector: { matchLabels: { app: 'a' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }, { namespaceSelector: { matchLabels: { team: 'blue' } } }], ports: [{ port: 'http' }] }],
  });

  before(async function () {
    requireKernel(this);
    removeLeftovers();
    root = scratchRoot();
    node = Netns.create(`${RUN}node`);
    scratch = Netns.create(`${RUN}scratch`);
    nft = nftWrapper(root, node.name);
    src = new SourceDir(root);
    src.put(nsX, nsY, a, b, c, web);
    // What an earlier run (or anyone) left: the first sync must adopt and replace it.
    node.nftApplyText('table inet netpol_nft {\n  chain leftover { type filter hook forward priority 0; policy accept; }\n}\n');
    const t = await startTestAgent(src.dir, nft.path, ['--resync-interval', '300ms']);
    h = t.handle;
    logs = t.logs;
  });

  after(async () => {
    await h?.stop();
    node?.delete();
    scratch?.delete();
    if (root) removeRoot(root);
  });

  it('starts with the existing objects: the first sync is a full replace of what was there', async () => {
    await agent().runner.idle();
    expect(agent().agent.ready()).to.equal(true);
    expect(kernel()).to.not.include('leftover');
    expect(kernel()).to.equal(expected());
    const full = (await agent().metrics.syncDuration.get()).values.find((v) => v.metricName === 'netpol_nft_sync_duration_seconds_count' && v.labels.type === 'full');
    expect(full?.value).to.be.at.least(1);
  });

  it('adds, changes and deletes a pod', async () => {
    const d = pod('x/d', '192.0.2.12', { labels: { app: 'b' } });
    src.put(d);
    await settle(agent());
    expect(kernel()).to.include('192.0.2.12').and.equal(expected());
    expect(logs.some((l) => l.msg === 'sync applied' && JSON.stringify(l.changes).includes('add pod x/d')), 'the log names the object').to.equal(true);
    src.put(pod('x/d', '192.0.2.12', { labels: { app: 'a' } })); // now selected by x/web
    await settle(agent());
    expect(kernel()).to.equal(expected());
    src.remove(d);
    await settle(agent());
    expect(kernel()).to.not.include('192.0.2.12');
    expect(kernel()).to.equal(expected());
    const partial = (await agent().metrics.syncDuration.get()).values.find((v) => v.metricName === 'netpol_nft_sync_duration_seconds_count' && v.labels.type === 'partial');
    expect(partial?.value, 'changes after the first sync are diffs').to.be.at.least(3);
  });

  it('relabels a namespace: the peer sets a namespace selector touches follow', async () => {
    const before = kernel();
    expect(before).to.not.include('192.0.2.20'); // y is red, not a peer of x/web yet
    src.put(ns('y', { team: 'blue' }));
    await settle(agent());
    expect(kernel()).to.include('192.0.2.20').and.equal(expected());
    src.put(nsY);
    await settle(agent());
    expect(kernel()).to.not.include('192.0.2.20');
    expect(kernel()).to.equal(expected());
  });

  it('adds, changes and deletes a namespace and a policy', async () => {
    const nsZ = ns('z', { team: 'blue' });
    const e = pod('z/e', '192.0.2.30', { node: 'node-2' });
    src.put(nsZ, e);
    await settle(agent());
    expect(kernel()).to.include('192.0.2.30').and.equal(expected());
    const deny = policy('x/deny-egress', { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Egress'] });
    src.put(deny);
    await settle(agent());
    expect(kernel()).to.include('drop_eg_x_b').and.equal(expected());
    src.put(policy('x/deny-egress', { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }] }));
    await settle(agent());
    expect(kernel()).to.include('203.0.113.0').and.equal(expected());
    src.remove(deny);
    await settle(agent());
    expect(kernel()).to.not.include('drop_eg_x_b');
    expect(kernel()).to.equal(expected());
    src.remove(nsZ, e);
    await settle(agent());
    expect(kernel()).to.not.include('192.0.2.30');
    expect(kernel()).to.equal(expected());
  });

  it('a pod IP reused by another pod right after the first one ends belongs to the new pod only', async () => {
    // x/b (a peer of x/web) ends; z/q on another node, in a namespace x/web does not select,
    // gets its address at once.
    const nsQ = ns('q');
    src.put(pod('x/b', '192.0.2.11', { phase: 'Succeeded' }), nsQ, pod('q/q', '192.0.2.11', { node: 'node-2', labels: { app: 'q' } }));
    await settle(agent());
    expect(kernel(), 'no set, map or counter keeps the address of the ended pod').to.not.include('192.0.2.11');
    expect(kernel()).to.equal(expected());
    src.remove(b);
    await settle(agent());
    expect(kernel()).to.equal(expected());
    // And back: the address goes to a local pod selected by x/web.
    src.remove(pod('q/q', '192.0.2.11'));
    src.put(pod('x/b2', '192.0.2.11', { labels: { app: 'a' } }));
    await settle(agent());
    expect(kernel()).to.include('192.0.2.11').and.equal(expected());
  });

  it('keeps the last good rules while nft fails, then converges once it recovers', async () => {
    const good = kernel();
    const failuresBefore = (await metricValue(agent(), 'netpol_nft_sync_failures_total', { stage: 'apply' })) ?? 0;
    flag(nft.fail, true);
    try {
      src.put(policy('x/web', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ ports: [{ port: 8080 }] }] }));
      (agent().source as FileSource).rescan();
      await waitFor('two failed attempts', () => agent().runner.consecutiveFailures() >= 2);
      expect(kernel(), 'one transaction: nothing half-applied').to.equal(good);
      expect(await metricValue(agent(), 'netpol_nft_sync_failures_total', { stage: 'apply' })).to.be.greaterThan(failuresBefore);
      const err = logs.find((l) => l.level === 50 && String(l.msg).startsWith('sync failed at apply'));
      expect(err, 'the failure is logged').to.not.equal(undefined);
    } finally {
      flag(nft.fail, false);
    }
    await agent().runner.idle();
    expect(agent().runner.consecutiveFailures()).to.equal(0);
    expect(kernel()).to.include('8080').and.equal(expected());
  });

  it('a malformed policy among good ones: logged by name, counted invalid, its pods fail closed, the agent runs on', async () => {
    const invalidBefore = await metricValue(agent(), 'netpol_nft_network_policies', { state: 'invalid' });
    expect(invalidBefore).to.equal(0);
    src.put(policy('x/bad', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ ipBlock: { cidr: '198.51.100.0/99' } }] }] }));
    src.put(pod('x/b', '192.0.2.13'));
    await settle(agent());
    expect(await metricValue(agent(), 'netpol_nft_network_policies', { state: 'invalid' })).to.equal(1);
    expect(await metricValue(agent(), 'netpol_nft_network_policies', { state: 'valid' })).to.equal(1);
    expect(logs.some((l) => l.level === 40 && String(l.msg).startsWith('networkpolicy x/bad'))).to.equal(true);
    const listing = kernel();
    expect(listing).to.include('drop_in_x_b'); // isolated for ingress, nothing allowed
    expect(listing).to.not.include('198.51.100');
    expect(listing).to.equal(expected());
    // Still alive and applying.
    src.put(pod('x/f', '192.0.2.14', { labels: { app: 'b' } }));
    await settle(agent());
    expect(kernel()).to.include('192.0.2.14').and.equal(expected());
  });

  it('restores the table when it is deleted by hand (drift check)', async () => {
    const want = expected();
    node.exec('nft', ['delete', 'table', 'inet', 'netpol_nft']);
    expect(kernel()).to.equal('');
    await waitFor('the drift check to restore the table', () => kernel() === want);
    // The agent records the listing right after its transaction; let it finish before the
    // next test edits the table by hand (an edit inside that window would be recorded).
    await agent().runner.idle();
    expect(logs.some((l) => String(l.msg).includes('deleted behind our back'))).to.equal(true);
    expect(await metricValue(agent(), 'netpol_nft_sync_failures_total', { stage: 'verify' })).to.be.at.least(1);
  });

  it('replaces the table when a chain is added by hand (drift check)', async () => {
    const want = expected();
    node.exec('nft', ['add', 'chain', 'inet', 'netpol_nft', 'intruder']);
    expect(kernel()).to.not.equal(want);
    await waitFor('the drift check to replace the table', () => kernel() === want).catch((e) => {
      console.log(logs.slice(-10));
      throw e;
    });
    await agent().runner.idle();
    expect(logs.some((l) => String(l.msg).includes('changed behind our back'))).to.equal(true);
  });

  it('repairs a rule added by hand at the periodic full resync', async () => {
    // The cheap drift check sees chains, not rules; every 10th check replaces the table whole.
    const want = expected();
    node.exec('nft', ['add', 'rule', 'inet', 'netpol_nft', 'input', 'ip', 'saddr', '192.0.2.99', 'drop']);
    expect(kernel()).to.not.equal(want);
    await waitFor('the periodic full resync to replace the table', () => kernel() === want);
    await agent().runner.idle();
  });

  it('notices changes through the folder watcher alone', async () => {
    src.put(pod('x/g', '192.0.2.15', { labels: { app: 'b' } }));
    await waitFor('the watcher to pick up x/g', () => kernel().includes('192.0.2.15'));
    await agent().runner.idle();
    expect(kernel()).to.equal(expected());
  });
});
