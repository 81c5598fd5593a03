// The Kubernetes source against an in-test API server over real HTTP, through the real
// @kubernetes/client-node: initial list, every kind of change, watch cuts, 410 Gone,
// bookmarks, refused connections, silent watches and malformed objects.
import { expect } from 'chai';
import { clusterFromObjects, compile, formatProblem, resolveAddressClaims, sortCluster } from '../../compiler/index.js';
import { createKubeSource, type KubeSource } from '../../controller/kube-source.js';
import { deepEqual } from '../../controller/kube/store.js';
import type { SourceEvent } from '../../controller/source.js';
import { namespace, pod, policy, waitFor } from '../helpers/kube-api/fixtures.js';
import { FakeKubeApi, type Kind, type KubeObject } from '../helpers/kube-api/server.js';

interface Harness {
  api: FakeKubeApi;
  source: KubeSource;
  events: SourceEvent[];
  restarts: { kind: string; reason: string }[];
  errors: string[];
  sleeps: number[];
  warns: string[];
  clock: { now: number };
}

const harnesses: Harness[] = [];

async function setup(seed: (api: FakeKubeApi) => void = () => {}, opts: { goneAs?: 'event' | 'http'; pageSize?: number; startPaused?: boolean; noCrd?: boolean } = {}): Promise<Harness> {
  const api = new FakeKubeApi({ goneAs: opts.goneAs });
  if (opts.noCrd) api.crdInstalled = false;
  await api.start();
  seed(api);
  if (opts.startPaused) await api.pause();
  const clock = { now: 1_700_000_000_000 };
  const h: Harness = { api, source: undefined as unknown as KubeSource, events: [], restarts: [], errors: [], sleeps: [], warns: [], clock };
  h.source = createKubeSource({
    kubeConfig: api.kubeConfig(),
    clock: () => clock.now,
    backoff: { minMs: 5, maxMs: 40 },
    random: () => 1, // no jitter: the schedule is exactly 5, 10, 20, 40, 40, ...
    // Real (short) sleeps, recorded: the test asserts the schedule, never elapsed time.
    sleep: (ms, signal) => {
      h.sleeps.push(ms);
      return new Promise((r) => {
        const t = setTimeout(r, ms);
        signal.addEventListener('abort', () => (clearTimeout(t), r()));
      });
    },
    watch: { timeoutSeconds: 3600, idleMs: 60_000, checkEveryMs: 20 },
    pageSize: opts.pageSize ?? 2,
    logger: { info: () => {}, warn: (m) => h.warns.push(m), error: (m) => h.errors.push(m) },
    crdRetryMs: 30,
  });
  harnesses.push(h);
  return h;
}

function startSource(h: Harness): Promise<void> {
  return h.source.start({
    onChange: (e) => h.events.push(e),
    onWatchRestart: (kind, reason) => h.restarts.push({ kind, reason }),
    onError: (m) => h.errors.push(m),
  });
}

const finished = (o: KubeObject) => ['Succeeded', 'Failed'].includes((o.status as { phase?: string } | undefined)?.phase ?? '');

/** What the server holds, read the way `compile --cluster` reads manifests; finished pods
 *  left out, as the source asks the server to (they take no part in policy). */
function expected(api: FakeKubeApi) {
  return clusterFromObjects([...api.list('namespace'), ...api.list('pod').filter((o) => !finished(o)), ...api.list('networkpolicy'), ...(api.crdInstalled ? api.list('clusternetworkpolicy') : []), ...api.list('node')]);
}

function inSync(h: Harness): boolean {
  return deepEqual(h.source.snapshot(), expected(h.api));
}

async function waitInSync(h: Harness, what: string): Promise<void> {
  try {
    await waitFor(what, () => inSync(h));
  } catch (e) {
    expect(h.source.snapshot(), what).to.deep.equal(expected(h.api));
    throw e;
  }
  // What the agent reconciles from: the same objects and problems, in no particular order.
  const u = h.source.unsortedSnapshot!();
  expect({ cluster: sortCluster(u.cluster), problems: u.problems }, `${what}: unsortedSnapshot`).to.deep.equal(h.source.snapshot());
}

/** Waits until every kind has an open watch (so that later changes arrive as events). */
async function waitWatching(h: Harness): Promise<void> {
  await waitFor('a watch on every kind', () => (['pod', 'namespace', 'networkpolicy', 'clusternetworkpolicy', 'node'] as Kind[]).every((k) => h.api.openWatches(k) >= 1));
}

function seedSmall(api: FakeKubeApi): void {
  api.add('namespace', namespace('x', { team: 'a' }));
  api.add('namespace', namespace('y', { team: 'b' }));
  api.add('pod', pod('x/a', { labels: { app: 'a' }, ips: ['192.0.2.10', '2001:db8::10'], ports: [{ name: 'http', containerPort: 8080 }] }));
  api.add('pod', pod('x/b', { labels: { app: 'b' }, ips: ['192.0.2.11'], node: 'node-2' }));
  api.add('pod', pod('y/c', { labels: { app: 'c' }, ips: ['198.51.100.12'] }));
  api.add('networkpolicy', policy('x/allow-from-y', {
    podSelector: { matchLabels: { app: 'a' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 'http' }] }],
    egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } }], ports: [{ protocol: 'UDP', port: 53 }] }],
  }));
}

describe('kube source (fake API server, real client-node over HTTP)', function () {
  this.timeout(60_000);

  afterEach(async () => {
    for (const h of harnesses.splice(0)) {
      await h.source.stop();
      await h.api.close();
    }
  });

  it('lists existing objects into a snapshot equal to clusterFromObjects of the same objects', async () => {
    const h = await setup(seedSmall);
    expect(h.source.synced()).to.equal(false);
    await startSource(h);
    expect(h.source.synced()).to.equal(true);
    const snap = h.source.snapshot();
    expect(snap).to.deep.equal(expected(h.api));
    expect(snap.cluster.pods).to.have.length(3);
    // Paginated: pageSize 2 means the three pods took two list requests.
    const podLists = h.api.requests.filter((r) => r.kind === 'pod' && !r.watch);
    expect(podLists.map((r) => r.query.continue ?? '')).to.have.length(2);
    // The listed policy keeps its peers (typed client objects name `from` `_from`): it
    // compiles exactly like the manifest does.
    const viaSource = compile(snap.cluster, { node: 'node-1' });
    const viaManifest = compile(expected(h.api).cluster, { node: 'node-1' });
    expect(viaSource.ruleset).to.deep.equal(viaManifest.ruleset);
    expect(JSON.stringify(snap.cluster.policies[0]!.spec)).to.contain('"from"').and.not.contain('_from');
  });

  it('follows add, update and delete of every kind, and reports each as a change', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    h.events.length = 0;

    h.api.add('namespace', namespace('z'));
    h.api.add('pod', pod('z/d', { labels: { app: 'd' }, ips: ['198.51.100.20'] }));
    h.api.add('networkpolicy', policy('z/deny', { podSelector: {} }));
    await waitInSync(h, 'adds');

    h.api.update('pod', pod('z/d', { labels: { app: 'd', tier: 'web' }, ips: ['198.51.100.20'] }));
    h.api.update('networkpolicy', policy('z/deny', { podSelector: { matchLabels: { tier: 'web' } } }));
    h.api.update('namespace', namespace('z', { env: 'prod' }));
    await waitInSync(h, 'updates');

    h.api.delete('networkpolicy', policy('z/deny', {}));
    h.api.delete('pod', pod('z/d'));
    h.api.delete('namespace', namespace('z'));
    await waitInSync(h, 'deletes');

    const seen = h.events.map((e) => `${e.kind}:${e.action}`);
    // Each kind has its own stream: order holds within a kind, not across kinds.
    expect([...seen].sort()).to.deep.equal([
      'namespace:add', 'namespace:delete', 'namespace:update', 'networkpolicy:add', 'networkpolicy:delete', 'networkpolicy:update', 'pod:add', 'pod:delete', 'pod:update',
    ]);
    expect(h.events.every((e) => e.seenAt === h.clock.now)).to.equal(true);
  });

  it('does not report updates that change nothing the compiler reads (status churn)', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    h.events.length = 0;
    const noisy = pod('x/a', { labels: { app: 'a' }, ips: ['192.0.2.10', '2001:db8::10'], ports: [{ name: 'http', containerPort: 8080 }] });
    (noisy.status as { conditions: unknown[] }).conditions = [{ type: 'Ready', status: 'False' }];
    noisy.metadata.annotations = { changed: 'yes' };
    h.api.update('pod', noisy);
    // A real change after the noise: once it is in, the noise has been processed too.
    h.api.update('pod', pod('x/b', { labels: { app: 'b2' }, ips: ['192.0.2.11'], node: 'node-2' }));
    await waitInSync(h, 'the real change');
    expect(h.events.map((e) => `${e.kind}:${e.action}`)).to.deep.equal(['pod:update']);
  });

  it('re-evaluates a namespace relabel', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    h.api.update('namespace', namespace('y', { team: 'c' }));
    await waitInSync(h, 'the relabel');
    const y = h.source.snapshot().cluster.namespaces.find((n) => n.name === 'y')!;
    expect(y.labels).to.deep.equal({ team: 'c', 'kubernetes.io/metadata.name': 'y' });
  });

  it('drops a pod whose IP is reused by another pod right after it ends', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    h.api.update('pod', pod('x/b', { labels: { app: 'b' }, ips: ['192.0.2.11'], node: 'node-2', phase: 'Succeeded' }));
    h.api.delete('pod', pod('x/b'));
    h.api.add('pod', pod('y/new', { labels: { app: 'new' }, ips: ['192.0.2.11'] }));
    await waitInSync(h, 'the IP handover');
    const holders = h.source.snapshot().cluster.pods.filter((p) => p.ips.includes('192.0.2.11')).map((p) => `${p.namespace}/${p.name}`);
    expect(holders).to.deep.equal(['y/new']);
  });

  it('keeps creation times through list and watch, so the newer of two pods claiming an address owns it', async () => {
    const h = await setup((api) => {
      seedSmall(api);
      api.update('pod', pod('x/b', { labels: { app: 'b' }, ips: ['192.0.2.11'], node: 'node-2', created: '2026-01-01T00:00:00Z' }));
    });
    await startSource(h);
    await waitWatching(h);
    // x/b has ended but the API still shows it running; y/new, on the same node, already has
    // its address. The source keeps both claims: its readers settle them (the engine per node,
    // with the union of same-node claimants' isolation; explain cluster-wide: claims.test.ts).
    h.api.add('pod', pod('y/new', { ips: ['192.0.2.11'], node: 'node-2', created: '2026-01-02T00:00:00Z' }));
    await waitInSync(h, 'the newer pod');
    const pods = h.source.snapshot().cluster.pods;
    expect(pods.find((p) => p.name === 'b')!.created).to.equal('2026-01-01T00:00:00.000Z'); // listed (typed Date)
    expect(pods.find((p) => p.name === 'new')!.created).to.equal('2026-01-02T00:00:00.000Z'); // watched (string)
    expect(pods.filter((p) => p.ips.includes('192.0.2.11')).map((p) => p.name)).to.deep.equal(['b', 'new']);
    expect(resolveAddressClaims(pods).filter((p) => p.ips.includes('192.0.2.11')).map((p) => p.name), 'the newer owns it').to.deep.equal(['new']);
  });

  it('never loads finished pods, and drops a pod the moment it finishes (same ruleset as with them)', async () => {
    const h = await setup((api) => {
      seedSmall(api);
      api.add('pod', pod('x/job-done', { labels: { app: 'a' }, ips: ['192.0.2.40'], phase: 'Succeeded' }));
    });
    await startSource(h);
    await waitWatching(h);
    expect(h.source.snapshot().cluster.pods.map((p) => p.name)).to.deep.equal(['a', 'b', 'c']);
    expect(h.api.requests.filter((r) => r.kind === 'pod').every((r) => r.query.fieldSelector === 'status.phase!=Succeeded,status.phase!=Failed')).to.equal(true);
    h.events.length = 0;
    h.api.update('pod', pod('x/b', { labels: { app: 'b' }, ips: ['192.0.2.11'], node: 'node-2', phase: 'Failed' }));
    await waitFor('x/b to leave', () => !h.source.snapshot().cluster.pods.some((p) => p.name === 'b'));
    expect(h.events.map((e) => `${e.kind}:${e.action}`)).to.deep.equal(['pod:delete']);
    await waitInSync(h, 'without finished pods');
    const all = clusterFromObjects([...h.api.list('namespace'), ...h.api.list('pod'), ...h.api.list('networkpolicy')]);
    for (const node of ['node-1', 'node-2']) {
      expect(compile(h.source.snapshot().cluster, { node }).ruleset, node).to.deep.equal(compile(all.cluster, { node }).ruleset);
    }
  });

  it('resumes after a watch cut without relisting, losing no change made while disconnected', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    const listsBefore = h.api.requests.filter((r) => !r.watch).length;
    await h.api.pause();
    h.api.delete('pod', pod('x/a'));
    h.api.update('pod', pod('y/c', { labels: { app: 'c', v: '2' }, ips: ['198.51.100.12'] }));
    h.api.add('pod', pod('y/e', { ips: ['198.51.100.13'] }));
    h.api.update('namespace', namespace('x', { team: 'z' }));
    h.api.delete('networkpolicy', policy('x/allow-from-y', {}));
    await h.api.resume();
    await waitInSync(h, 'the changes made while disconnected');
    expect(h.api.requests.filter((r) => !r.watch).length, 'no relist').to.equal(listsBefore);
    const reasons = new Set(h.restarts.map((r) => r.reason));
    expect([...reasons], JSON.stringify(h.restarts)).to.satisfy((rs: string[]) => rs.every((r) => r === 'closed' || r === 'error'));
    expect(h.restarts.map((r) => r.kind)).to.include.members(['pod', 'namespace', 'networkpolicy']);

    // Streams ended by the server, cleanly then abruptly, with a change right after each.
    for (const [i, abrupt] of [false, true].entries()) {
      await waitWatching(h);
      h.restarts.length = 0;
      h.api.dropConnections({ abrupt });
      h.api.add('pod', pod(`y/f${i}`, { ips: [`198.51.100.${30 + i}`] }));
      await waitInSync(h, `the change after a ${abrupt ? 'abrupt' : 'clean'} cut`);
      await waitFor('five restarts (one per kind)', () => h.restarts.length >= 5);
      expect(h.restarts.map((r) => r.reason)).to.deep.equal(['closed', 'closed', 'closed', 'closed', 'closed']);
    }
    expect(h.api.requests.filter((r) => !r.watch).length, 'still no relist').to.equal(listsBefore);
  });

  for (const goneAs of ['event', 'http'] as const) {
    it(`relists after 410 Gone (${goneAs === 'event' ? 'ERROR event' : 'HTTP 410'}) and keeps no stale object`, async () => {
      const h = await setup(seedSmall, { goneAs });
      await startSource(h);
      await waitWatching(h);
      h.events.length = 0;
      await h.api.pause();
      h.api.delete('pod', pod('x/a'));
      h.api.delete('namespace', namespace('y'));
      h.api.add('pod', pod('x/g', { ips: ['192.0.2.10'] }));
      h.api.update('networkpolicy', policy('x/allow-from-y', { podSelector: {}, ingress: [] }));
      h.api.compactHistory();
      await h.api.resume();
      await waitInSync(h, 'the relist');
      for (const kind of ['pod', 'namespace', 'networkpolicy']) {
        expect(h.restarts, kind).to.deep.include({ kind, reason: 'gone' });
      }
      expect(h.events.filter((e) => e.action === 'resync').map((e) => e.kind).sort()).to.deep.equal(['namespace', 'networkpolicy', 'pod']);
      expect(h.source.synced()).to.equal(true);
      const names = h.source.snapshot().cluster.pods.map((p) => `${p.namespace}/${p.name}`);
      expect(names).to.not.include('x/a');
    });
  }

  it('ClusterNetworkPolicies and Nodes: watched; without the CRD the source syncs, says so once, and picks the CRD up when it is installed (and drops its objects when it goes)', async () => {
    const cnp = (name: string, priority: number): KubeObject => ({ metadata: { name }, spec: { tier: 'Admin', priority, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] } });
    const node = (name: string, ip: string): KubeObject => ({ metadata: { name, labels: { role: 'worker' } }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
    const h = await setup((api) => {
      seedSmall(api);
      api.add('node', node('node-1', '198.51.100.1'));
    }, { noCrd: true });
    await startSource(h);
    expect(h.source.synced(), 'synced without the CRD').to.equal(true);
    await waitInSync(h, 'the first lists');
    expect(h.source.snapshot().cluster.nodes?.map((n) => n.name)).to.deep.equal(['node-1']);
    expect(h.source.status().find((s) => s.kind === 'clusternetworkpolicy')?.installed).to.equal(false);
    // Looked for again (every 30 ms here), said once.
    await waitFor('three looks for the CRD', () => h.api.requests.filter((r) => r.kind === 'clusternetworkpolicy' && !r.watch).length >= 3);
    expect(h.warns.filter((m) => /ClusterNetworkPolicy CRD .* is not installed/.test(m)), h.warns.join('\n')).to.have.length(1);

    h.api.crdInstalled = true;
    h.api.add('clusternetworkpolicy', cnp('deny-all', 10));
    await waitInSync(h, 'the CRD installed, its first object listed');
    expect(h.source.snapshot().cluster.clusterPolicies?.map((p) => p.name)).to.deep.equal(['deny-all']);
    expect(h.source.status().find((s) => s.kind === 'clusternetworkpolicy')?.installed).to.equal(true);
    // Then watched: changes arrive as events naming the object.
    await waitWatching(h);
    h.events.length = 0;
    h.api.update('clusternetworkpolicy', cnp('deny-all', 20));
    h.api.update('node', node('node-1', '198.51.100.2'));
    await waitInSync(h, 'a priority change and a node address change');
    expect(h.events.map((e) => e.change?.kind)).to.include.members(['clusternetworkpolicy', 'node']);

    // The CRD removed: its objects are gone for us too (said once more).
    h.api.crdInstalled = false;
    await waitInSync(h, 'the CRD removed');
    expect(h.source.snapshot().cluster.clusterPolicies).to.equal(undefined);
    await waitFor('the source to notice the CRD is gone', () => h.source.status().find((s) => s.kind === 'clusternetworkpolicy')?.installed === false);
    expect(h.warns.filter((m) => /is not installed/.test(m))).to.have.length(2);
    expect(h.errors, 'a missing CRD is not an error').to.deep.equal([]);
  });

  it('advances the resourceVersion on BOOKMARK events without counting a change', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    h.api.add('namespace', namespace('other')); // moves the global resourceVersion past the pods'
    await waitInSync(h, 'the namespace');
    const podRv = h.source.status().find((s) => s.kind === 'pod')!.resourceVersion;
    h.events.length = 0;
    h.api.sendBookmarks();
    const target = String(h.api.resourceVersion());
    expect(podRv).to.not.equal(target);
    await waitFor('the pod watch to take the bookmark', () => h.source.status().find((s) => s.kind === 'pod')!.resourceVersion === target);
    expect(h.events).to.deep.equal([]);
    // The next pod watch resumes from the bookmark's resourceVersion.
    const mark = h.api.requests.length;
    h.api.dropConnections();
    await waitFor('a new pod watch', () => h.api.requests.slice(mark).find((r) => r.kind === 'pod' && r.watch));
    const rewatch = h.api.requests.slice(mark).find((r) => r.kind === 'pod' && r.watch)!;
    expect(rewatch.query.resourceVersion).to.equal(target);
    expect(rewatch.query.allowWatchBookmarks).to.equal('true');
  });

  it('backs off (capped) while the server refuses connections, then recovers', async () => {
    const h = await setup(seedSmall, { startPaused: true });
    const started = startSource(h);
    await waitFor('at least 5 refused attempts per kind', () => h.sleeps.length >= 25);
    expect(h.source.synced()).to.equal(false);
    expect(h.source.snapshot().cluster.pods).to.deep.equal([]);
    await h.api.resume();
    await started;
    await waitInSync(h, 'recovery');
    // Five kinds back off independently; each one's schedule doubles from 5 up to 40.
    expect(Math.max(...h.sleeps)).to.equal(40);
    expect(h.sleeps.filter((ms) => ms === 5).length).to.be.at.most(5 + 5); // one start per kind (+ a later watch failure)
    for (const ms of h.sleeps) expect([5, 10, 20, 40]).to.include(ms);
    expect(h.restarts.every((r) => r.reason === 'error')).to.equal(true);
    expect(h.errors.some((m) => /ECONNREFUSED/.test(m))).to.equal(true);
  });

  it('retries failed lists and failed watches (HTTP 500, an ERROR event) and resumes', async () => {
    const h = await setup(seedSmall);
    h.api.failNext('pod', { code: 500, times: 2 });
    h.api.failNext('networkpolicy', { watch: true, code: 503, times: 1 });
    await startSource(h);
    await waitWatching(h);
    expect(h.source.snapshot()).to.deep.equal(expected(h.api));
    expect(h.restarts.filter((r) => r.kind === 'pod')).to.deep.equal([{ kind: 'pod', reason: 'error' }, { kind: 'pod', reason: 'error' }]);
    expect(h.restarts).to.deep.include({ kind: 'networkpolicy', reason: 'error' });
    expect(h.errors.some((m) => /^pod list failed: HTTP 500: injected failure 500/.test(m)), h.errors.join('\n')).to.equal(true);
    expect(h.errors.some((m) => /^networkpolicy watch failed: HTTP 503/.test(m)), h.errors.join('\n')).to.equal(true);

    const lists = h.api.requests.filter((r) => !r.watch).length;
    h.restarts.length = 0;
    h.api.sendError('namespace', 500, 'etcd is sad');
    h.api.add('namespace', namespace('after-error'));
    await waitInSync(h, 'the change after the ERROR event');
    expect(h.restarts).to.deep.equal([{ kind: 'namespace', reason: 'error' }]);
    expect(h.errors.some((m) => /namespace watch error: 500 etcd is sad/.test(m))).to.equal(true);
    expect(h.api.requests.filter((r) => !r.watch).length, 'resumed, not relisted').to.equal(lists);
  });

  it('does not lose an event when handling it throws (client-node would swallow it): relists', async () => {
    const h = await setup(seedSmall);
    let boom = true;
    await h.source.start({
      onChange: (e) => {
        h.events.push(e);
        if (boom && e.kind === 'pod' && e.action === 'add') {
          boom = false;
          throw new Error('agent hook failed');
        }
      },
      onWatchRestart: (kind, reason) => h.restarts.push({ kind, reason }),
      onError: (m) => h.errors.push(m),
    });
    await waitWatching(h);
    h.api.add('pod', pod('x/first', { ips: ['192.0.2.60'] }));
    h.api.add('pod', pod('x/second', { ips: ['192.0.2.61'] }));
    await waitInSync(h, 'both pods');
    expect(h.errors.some((m) => /pod: handling a ADDED event failed, relisting: Error: agent hook failed/.test(m))).to.equal(true);
    expect(h.restarts).to.deep.include({ kind: 'pod', reason: 'error' });
    expect(h.api.requests.filter((r) => r.kind === 'pod' && !r.watch && !r.query.continue).length, 'a relist').to.equal(2);
  });

  it('outlives a hook that throws outside a watch event (the loop relists instead of dying)', async () => {
    const h = await setup(seedSmall);
    let boom = true;
    await h.source.start({
      onChange: (e) => h.events.push(e),
      onWatchRestart: (kind, reason) => {
        h.restarts.push({ kind, reason });
        if (boom && kind === 'namespace') {
          boom = false;
          throw new Error('restart hook failed');
        }
      },
      onError: (m) => h.errors.push(m),
    });
    await waitWatching(h);
    h.api.dropConnections();
    h.api.add('namespace', namespace('later'));
    await waitInSync(h, 'the namespace after the hook failure');
    expect(h.errors.some((m) => /namespace: unexpected failure, relisting: Error: restart hook failed/.test(m))).to.equal(true);
  });

  it('restarts a watch that went silent (watchdog) and catches up', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    h.api.stall(); // open streams deliver nothing more, as if the peer died
    h.api.add('pod', pod('x/late', { ips: ['192.0.2.50'] }));
    expect(inSync(h)).to.equal(false);
    h.clock.now += 61_000; // past idleMs with nothing received
    await waitInSync(h, 'the watchdog restart');
    expect(h.restarts).to.deep.include({ kind: 'pod', reason: 'timeout' });
  });

  it('reports malformed objects as problems naming them and keeps the rest', async () => {
    const h = await setup((api) => {
      seedSmall(api);
      api.add('pod', pod('x/bad-ip', { ips: ['192.0.2.300'] }));
      api.add('namespace', { metadata: { name: 'bad-ns', labels: { n: 5 as unknown as string } } });
    });
    await startSource(h);
    const snap = h.source.snapshot();
    // Kept best-effort (an invalid pod stays isolated by its namespace's policies), reported.
    expect(snap.cluster.pods.map((p) => p.name)).to.deep.equal(['a', 'b', 'bad-ip', 'c']);
    expect(snap.cluster.namespaces.find((n) => n.name === 'bad-ns')?.labels.n).to.equal('5');
    expect(snap.problems.map(formatProblem)).to.deep.equal([
      'namespace bad-ns: metadata.labels.n: must be a string: 5 read as "5"',
      'pod x/bad-ip: status.podIPs[0].ip: "192.0.2.300" is not an IP address',
    ]);
    // A bad object arriving by watch, then fixed.
    await waitWatching(h);
    h.api.add('pod', pod('y/bad2', { ips: ['not-an-ip'] }));
    await waitFor('the second problem', () => h.source.snapshot().problems.length === 3);
    h.api.update('pod', pod('y/bad2', { ips: ['198.51.100.99'] }));
    await waitFor('the fix', () => h.source.snapshot().problems.length === 2);
    expect(h.source.snapshot().cluster.pods.map((p) => p.name)).to.include('bad2');
  });

  it('stop() closes every watch, and a start() still waiting for its lists rejects', async () => {
    const h = await setup(seedSmall);
    await startSource(h);
    await waitWatching(h);
    await h.source.stop();
    await waitFor('no open watch', () => h.api.openWatches() === 0);

    const h2 = await setup(seedSmall, { startPaused: true });
    const started = startSource(h2);
    await waitFor('a refused attempt', () => h2.sleeps.length >= 1);
    await h2.source.stop();
    let err: Error | undefined;
    await started.catch((e: Error) => (err = e));
    expect(err?.message).to.match(/stopped before the initial lists/);
  });
});
