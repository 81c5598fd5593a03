// Where the Kubernetes source takes its configuration from: an explicit kubeconfig file, the
// in-cluster service account, or the defaults; and the file path end to end over HTTP.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createKubeSource, loadKubeConfig } from '../../controller/kube-source.js';
import { namespace, pod } from '../helpers/kube-api/fixtures.js';
import { FakeKubeApi } from '../helpers/kube-api/server.js';

describe('kube source configuration', function () {
  this.timeout(30_000);
  let dir: string;
  const VARS = ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'KUBECONFIG', 'HOME'] as const;
  const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'npn-kube-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    for (const k of VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  const kubeconfigFile = (server: string) => {
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`);
    return file;
  };

  it('reads --kubeconfig and syncs through it', async () => {
    const api = new FakeKubeApi();
    await api.start();
    api.add('namespace', namespace('x'));
    api.add('pod', pod('x/a', { ips: ['192.0.2.10'] }));
    const source = createKubeSource({ kubeconfig: kubeconfigFile(api.url), logger: { info: () => {}, warn: () => {}, error: () => {} } });
    try {
      await source.start({ onChange: () => {} });
      expect(source.snapshot().cluster.pods.map((p) => p.name)).to.deep.equal(['a']);
      // The file's server was the one asked, once per kind.
      expect(api.requests.filter((r) => !r.watch).map((r) => r.kind).sort()).to.deep.equal(['clusternetworkpolicy', 'namespace', 'networkpolicy', 'node', 'pod']);
    } finally {
      await source.stop();
      await api.close();
    }
  });

  it('uses the in-cluster service account when KUBERNETES_SERVICE_HOST is set', () => {
    process.env.KUBERNETES_SERVICE_HOST = '192.0.2.1';
    process.env.KUBERNETES_SERVICE_PORT = '6443';
    expect(loadKubeConfig().getCurrentCluster()?.server).to.equal('https://192.0.2.1:6443');
  });

  it('an explicit file wins over the in-cluster account', () => {
    process.env.KUBERNETES_SERVICE_HOST = '192.0.2.1';
    process.env.KUBERNETES_SERVICE_PORT = '6443';
    expect(loadKubeConfig({ kubeconfig: kubeconfigFile('https://198.51.100.7:6443') }).getCurrentCluster()?.server).to.equal('https://198.51.100.7:6443');
  });

  it('says what is missing when there is no configuration at all (instead of trying localhost:8080)', function () {
    if (existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
      process.stderr.write('      SKIPPED: this test runs in a pod; its service account is a configuration\n');
      this.skip();
    }
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBECONFIG;
    process.env.HOME = dir; // empty: no ~/.kube/config
    expect(() => loadKubeConfig()).to.throw(/no Kubernetes configuration found/);
  });

  it('takes $KUBECONFIG by default', () => {
    delete process.env.KUBERNETES_SERVICE_HOST;
    process.env.KUBECONFIG = kubeconfigFile('https://203.0.113.5:6443');
    expect(loadKubeConfig().getCurrentCluster()?.server).to.equal('https://203.0.113.5:6443');
  });

  it('names a missing file', () => {
    expect(() => loadKubeConfig({ kubeconfig: join(dir, 'nope') })).to.throw(/kubeconfig .*nope/);
  });
});
