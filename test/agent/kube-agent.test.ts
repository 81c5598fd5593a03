// End to end: the real agent (`startAgent`, wired as `netpol-nft run --kubeconfig FILE`) on
// the in-test API server, applying to the real kernel in a network namespace. After each
// round of changes — including a watch cut and a 410 Gone with changes made meanwhile — the
// kernel's table must equal what `compile` gives for the server's objects, loaded into a
// scratch namespace and listed the same way.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { batchJson, clusterFromObjects, compile, fullBatch } from '../../compiler/index.js';
import { parseConfig, DEFAULT_DROP_LOG } from '../../controller/config.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { Netns, removeNamespaces, requireKernel } from '../helpers/kernel.js';
import { namespace, pod, policy, waitFor } from '../helpers/kube-api/fixtures.js';
import { FakeKubeApi } from '../helpers/kube-api/server.js';
import { blankGeneration } from './harness.js';

const PREFIX = 'npn-kube-';
const NODE = 'node-1';

describe('agent on the Kubernetes API (fake API server, real client-node, real nft)', function () {
  this.timeout(120_000);
  let root: string | undefined;
  let node: Netns | undefined, scratch: Netns | undefined;
  let api: FakeKubeApi | undefined;
  let h: AgentHandle | undefined;

  before(async function () {
    requireKernel(this);
    removeNamespaces(PREFIX);
    root = mkdtempSync(join(tmpdir(), PREFIX));
    node = Netns.create(`${PREFIX}node`);
    scratch = Netns.create(`${PREFIX}scratch`);
    api = new FakeKubeApi();
    await api.start();
    api.add('namespace', namespace('x', { team: 'blue' }));
    api.add('namespace', namespace('y', { team: 'red' }));
    api.add('pod', pod('x/a', { labels: { app: 'a' }, ips: ['192.0.2.10', '2001:db8::a'], ports: [{ name: 'http', containerPort: 80 }] }));
    api.add('pod', pod('x/b', { labels: { app: 'b' }, ips: ['192.0.2.11'] }));
    api.add('pod', pod('y/c', { labels: { app: 'c' }, ips: ['192.0.2.20'], node: 'node-2' }));
    api.add('networkpolicy', policy('x/web', {
      podSelector: { matchLabels: { app: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }, { namespaceSelector: { matchLabels: { team: 'red' } } }], ports: [{ port: 'http' }] }],
    }));

    const kubeconfig = join(root, 'kubeconfig');
    writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
current-context: fake
`);
    const nft = join(root, 'nft.sh');
    writeFileSync(nft, `#!/bin/sh\nexec ip netns exec '${node.name}' nft "$@"\n`);
    chmodSync(nft, 0o755);
    const conntrack = join(root, 'conntrack.sh');
    writeFileSync(conntrack, `#!/bin/sh\nexec ip netns exec '${node.name}' conntrack "$@"\n`);
    chmodSync(conntrack, 0o755);
    const config = parseConfig(['--node', NODE, '--kubeconfig', kubeconfig, '--nft-path', nft, '--conntrack-path', conntrack, '--metrics-address', '127.0.0.1:0', '--retry-min', '100ms', '--retry-max', '400ms'], {});
    if (config === 'help') throw new Error('unexpected help');
    h = await startAgent(config, { logger: pino({ level: process.env.NPN_DEBUG ? 'debug' : 'silent' }) });
  });

  after(async () => {
    await h?.stop();
    await api?.close();
    node?.delete();
    scratch?.delete();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The server's objects compiled for this node, applied in the scratch namespace, listed. */
  function expected(): string {
    const { cluster } = clusterFromObjects([...api!.list('namespace'), ...api!.list('pod'), ...api!.list('networkpolicy')]);
    scratch!.nftApply(batchJson(fullBatch(compile(cluster, { node: NODE, dropLog: DEFAULT_DROP_LOG }).ruleset)));
    return blankGeneration(scratch!.listTable('inet', 'netpol_nft'));
  }

  let last = '';
  async function kernelMatches(what: string): Promise<void> {
    const want = expected();
    expect(want, 'the expected table').to.contain('netpol_nft');
    // Every round changes the ruleset, so a kernel that kept the old one cannot pass.
    expect(want, `${what} changes the ruleset`).to.not.equal(last);
    last = want;
    try {
      await waitFor(what, () => blankGeneration(node!.listTable('inet', 'netpol_nft')) === want, 30_000);
    } catch (e) {
      expect(blankGeneration(node!.listTable('inet', 'netpol_nft')), what).to.equal(want);
      throw e;
    }
  }

  const restarts = async (reason: string) => {
    const m = await h!.metrics.registry.getSingleMetric('netpol_nft_watch_restarts_total')?.get();
    return (m?.values ?? []).filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
  };

  it('starts from the listed objects', async () => {
    await kernelMatches('the first sync');
    expect(node!.listTable('inet', 'netpol_nft')).to.contain('192.0.2.10');
  });

  it('follows changes that arrive by watch', async () => {
    api!.add('pod', pod('x/d', { labels: { app: 'a' }, ips: ['192.0.2.12'], ports: [{ name: 'http', containerPort: 8080 }] }));
    api!.update('namespace', namespace('y', { team: 'green' }));
    api!.add('networkpolicy', policy('x/egress', { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }] }));
    await kernelMatches('the watched changes');
  });

  it('loses nothing across a watch cut with changes made while disconnected', async () => {
    await waitFor('watches open', () => api!.openWatches() >= 3);
    await api!.pause();
    api!.delete('pod', pod('x/b'));
    api!.add('pod', pod('x/e', { labels: { app: 'b' }, ips: ['192.0.2.11'] })); // b's address, reused
    api!.update('networkpolicy', policy('x/web', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }] }] }));
    await api!.resume();
    await kernelMatches('the changes made during the cut');
    expect(await restarts('error') + (await restarts('closed'))).to.be.greaterThan(0);
  });

  it('relists after 410 Gone and keeps no stale object', async () => {
    await waitFor('watches open', () => api!.openWatches() >= 3);
    await api!.pause();
    api!.delete('pod', pod('x/a'));
    api!.delete('networkpolicy', policy('x/egress', {}));
    api!.add('pod', pod('x/f', { labels: { app: 'a' }, ips: ['192.0.2.10'] })); // a's address, reused
    api!.update('namespace', namespace('x', { team: 'blue', env: 'prod' }));
    api!.compactHistory();
    await api!.resume();
    await kernelMatches('the relisted state');
    expect(await restarts('gone')).to.be.at.least(3);
    const snap = h!.source.snapshot();
    expect(snap.cluster.pods.map((p) => `${p.namespace}/${p.name}`)).to.not.include('x/a');
    expect(snap.cluster.policies.map((p) => p.name)).to.deep.equal(['web']);
  });
});
