// `run`'s configuration: defaults in one place, flags over environment, all errors at once.
import { expect } from 'chai';
import { ConfigError, DEFAULTS, parseConfig, parseDuration, resolveKubeconfig } from '../../controller/config.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const c = parseConfig(argv, env);
  if (c === 'help') throw new Error('help');
  return c;
};

describe('agent: configuration', () => {
  it('takes the defaults, and the node from NODE_NAME', () => {
    const c = parse(['--source', 'dir'], { NODE_NAME: 'node-7' });
    expect(c).to.deep.include({
      node: 'node-7', source: 'dir', table: DEFAULTS.table, ctMarkMask: DEFAULTS.ctMarkMask, establishedFastPath: false, antiSpoofing: true, podCidrs: [],
      debounceMs: 10, maxSyncDelayMs: 1000, retryMinMs: 500, retryMaxMs: 30_000, resyncIntervalMs: 60_000, healthTimeoutMs: 120_000,
      logLevel: 'info', nftPath: 'nft', dropMetricsBy: 'pod',
    });
    expect(c.metricsAddress).to.deep.equal({ host: '0.0.0.0', port: 9743 });
  });

  it('prefers flags to the environment and parses durations, masks and addresses', () => {
    const c = parse(
      ['--node', 'n1', '--source', 'd', '--min-sync-interval', '20ms', '--max-sync-delay', '2s', '--resync-interval', '5m', '--ct-mark-mask', '0xff000000',
        '--metrics-address', '[::1]:0', '--log-level', 'debug', '--nft-path', '/x/nft', '--established-fast-path', '--table', 'np2'],
      { NODE_NAME: 'other', LOG_LEVEL: 'warn', NFT_PATH: '/y/nft' },
    );
    expect(c).to.deep.include({ node: 'n1', debounceMs: 20, maxSyncDelayMs: 2000, resyncIntervalMs: 300_000, ctMarkMask: 0xff000000, logLevel: 'debug', nftPath: '/x/nft', establishedFastPath: true, table: 'np2' });
    expect(c.metricsAddress).to.deep.equal({ host: '::1', port: 0 });
    expect(parse(['--node', 'n', '--source', 'd'], { LOG_LEVEL: 'warn', NFT_PATH: '/y/nft' })).to.deep.include({ logLevel: 'warn', nftPath: '/y/nft' });
  });

  it('takes --drop-metrics-by pod|namespace, and an IPv6 address without brackets (the downward API gives status.hostIP so)', () => {
    expect(parse(['--node', 'n', '--source', 'd', '--drop-metrics-by', 'namespace']).dropMetricsBy).to.equal('namespace');
    expect(() => parse(['--node', 'n', '--source', 'd', '--drop-metrics-by', 'node'])).to.throw(ConfigError, '--drop-metrics-by node: pod or namespace');
    expect(parse(['--node', 'n', '--source', 'd', '--metrics-address', '2001:db8::7:9743']).metricsAddress).to.deep.equal({ host: '2001:db8::7', port: 9743 });
    expect(parse(['--node', 'n', '--source', 'd', '--metrics-address', '192.0.2.7:9743']).metricsAddress).to.deep.equal({ host: '192.0.2.7', port: 9743 });
    expect(parse(['--node', 'n', '--source', 'd', '--metrics-address', ':9743']).metricsAddress).to.deep.equal({ host: '0.0.0.0', port: 9743 });
  });

  it('--owner: run-<hostname> by default (never the chart\'s release name), checked; --take-over off; --table checked like compile\'s', () => {
    const c = parse(['--source', 'dir', '--node', 'n']);
    expect(c.owner).to.match(/^run-[A-Za-z0-9_.-]+$/);
    expect(c).to.include({ takeOver: false, conntrackPath: 'conntrack' });
    expect(parse(['--source', 'dir', '--node', 'n', '--owner', 'netpol-nft', '--take-over', '--conntrack-path', '/x/ct'], { CONNTRACK_PATH: '/y' })).to.include({ owner: 'netpol-nft', takeOver: true, conntrackPath: '/x/ct' });
    expect(() => parse(['--source', 'dir', '--node', 'n', '--owner', 'a b'])).to.throw(ConfigError, /--owner "a b": letters, digits/);
    expect(() => parse(['--source', 'dir', '--node', 'n', '--table', 'x;flush ruleset'])).to.throw(ConfigError, /--table "x;flush ruleset": letters, digits and _/);
  });

    it('reports every problem at once', () => {
    let err: unknown;
    try {
      parse(['--source', 'd', '--debounce', 'soon', '--ct-mark-mask', '0x0f0f', '--metrics-address', 'nowhere', '--log-level', 'loud']);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    const m = (err as Error).message;
    for (const part of ['--node', '--debounce soon', '--ct-mark-mask 0x0f0f', '--metrics-address nowhere', '--log-level']) expect(m).to.include(part);
  });

  it('refuses a conntrack-mark mask the compiler would refuse (too narrow), and accepts 0 (no verdict cache)', () => {
    expect(() => parse(['--node', 'n', '--source', 'd', '--ct-mark-mask', '0x0000000f'])).to.throw(ConfigError, '--ct-mark-mask 0x0000000f');
    expect(parse(['--node', 'n', '--source', 'd', '--ct-mark-mask', '0']).ctMarkMask).to.equal(0);
  });

  it('refuses a max delay shorter than the debounce, and a backoff upside down', () => {
    expect(() => parse(['--node', 'n', '--source', 'd', '--debounce', '2s', '--max-sync-delay', '1s'])).to.throw(ConfigError, '--max-sync-delay');
    expect(() => parse(['--node', 'n', '--source', 'd', '--retry-min', '2s', '--retry-max', '1s'])).to.throw(ConfigError, '--retry-max');
  });

  it('parses durations', () => {
    expect([parseDuration('50ms'), parseDuration('1.5s'), parseDuration('2m'), parseDuration('1h'), parseDuration('250'), parseDuration('x')]).to.deep.equal([50, 1500, 120_000, 3_600_000, 250, undefined]);
  });

  it('finds the kubeconfig: the flag, in-cluster, $KUBECONFIG, then ~/.kube/config', () => {
    expect(resolveKubeconfig('/a', { KUBERNETES_SERVICE_HOST: '10.0.0.1' })).to.equal('/a');
    expect(resolveKubeconfig(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBECONFIG: '/b' })).to.equal(undefined);
    expect(resolveKubeconfig(undefined, { KUBECONFIG: '/b' })).to.equal('/b');
    expect(resolveKubeconfig(undefined, { HOME: '/nonexistent-home' })).to.equal(undefined);
  });

  it('answers --help', () => {
    expect(parseConfig(['--help'], {})).to.equal('help');
  });
});
