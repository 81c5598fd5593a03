// Metrics and health of a running agent, scraped over HTTP, after real packets were dropped:
// three "pods" (network namespaces) routed through a "node" namespace (ptp style: a veth
// each, a /32 route, proxy ARP), the agent enforcing in the node namespace.
import { expect } from 'chai';
import { countersOf } from '../../controller/nft.js';
import type { AgentHandle } from '../../controller/run.js';
import { Netns, requireKernel } from '../helpers/kernel.js';
import { flag, nftWrapper, ns, pod, policy, removeLeftovers, removeRoot, RUN, scratchRoot, SourceDir, startTestAgent, waitFor } from './harness.js';

const P = `${RUN}m-`;

/** A pod namespace wired to the node, Calico style: eth0 with a /32 and a default route via
 *  a link-local gateway; on the node a /32 route to it. Neighbours are static so that the
 *  first packet is forwarded at once (no ARP in flight when the counters are read). */
function wirePod(node: Netns, name: string, ip: string, index: number): Netns {
  const p = Netns.create(`${P}${name}`);
  const ifname = `vp${name}`, nodeMac = `02:00:00:00:01:0${index}`, podMac = `02:00:00:00:02:0${index}`;
  node.exec('ip', ['link', 'add', ifname, 'address', nodeMac, 'type', 'veth', 'peer', 'name', 'eth0', 'address', podMac, 'netns', p.name]);
  node.exec('ip', ['link', 'set', ifname, 'up']);
  node.exec('ip', ['route', 'add', `${ip}/32`, 'dev', ifname]);
  node.exec('ip', ['neigh', 'replace', ip, 'lladdr', podMac, 'dev', ifname, 'nud', 'permanent']);
  p.exec('ip', ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
  p.exec('ip', ['link', 'set', 'eth0', 'up']);
  p.exec('ip', ['route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
  p.exec('ip', ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
  p.exec('ip', ['neigh', 'replace', '169.254.1.1', 'lladdr', nodeMac, 'dev', 'eth0', 'nud', 'permanent']);
  return p;
}

/** Sends `n` UDP datagrams of `payload` bytes from inside a pod namespace. */
function sendUdp(from: Netns, to: string, port: number, n: number, payload = 5): void {
  from.exec('bash', ['-c', `for i in $(seq ${n}); do printf '%0${payload}d' 0 > /dev/udp/${to}/${port}; done`]);
}

async function scrape(h: AgentHandle, path = '/metrics'): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${h.port}${path}`);
  return { status: r.status, body: await r.text() };
}

/** The value of one sample in Prometheus text format (labels in any order). */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('agent: metrics and health over HTTP, after real drops', function () {
  this.timeout(120_000);
  let root: string;
  let node: Netns;
  const pods: Netns[] = [];
  let h: AgentHandle | undefined;
  let nft: ReturnType<typeof nftWrapper>;
  let src: SourceDir;

  before(async function () {
    requireKernel(this);
    removeLeftovers();
    root = scratchRoot();
    node = Netns.create(`${P}node`);
    node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    pods.push(wirePod(node, 'a', '192.0.2.10', 1), wirePod(node, 'b', '192.0.2.11', 2), wirePod(node, 'c', '192.0.2.12', 3));
    nft = nftWrapper(root, node.name);
    src = new SourceDir(root);
    // x/a may send nowhere; x/b accepts from nobody; x/c is open.
    src.put(
      ns('x'),
      pod('x/a', '192.0.2.10'), pod('x/b', '192.0.2.11'), pod('x/c', '192.0.2.12'),
      policy('x/a-no-egress', { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Egress'] }),
      policy('x/b-no-ingress', { podSelector: { matchLabels: { app: 'b' } }, ingress: [] }),
    );
  });

  afterEach(async () => {
    await h?.stop();
    h = undefined;
    flag(nft.fail, false);
  });

  after(() => {
    for (const p of pods) p.delete();
    node?.delete();
    if (root) removeRoot(root);
  });

  it('exports drop counters per pod and direction with the packets really dropped, and the sync figures', async () => {
    h = (await startTestAgent(src.dir, nft.path)).handle;
    await h.runner.idle();
    sendUdp(pods[2]!, '192.0.2.11', 5000, 7); // c -> b: b's ingress drops
    sendUdp(pods[0]!, '192.0.2.12', 5000, 4); // a -> c: a's egress drops
    sendUdp(pods[1]!, '192.0.2.12', 5000, 3); // b -> c: allowed, not counted
    // The kernel forwards asynchronously (softirq): wait until the drops are counted.
    const agent = h;
    await waitFor('the drops to be counted', async () => {
      const b = (await scrape(agent)).body;
      return sample(b, 'netpol_nft_dropped_packets_total', { namespace: 'x', pod: 'b', direction: 'ingress' }) === 7 && sample(b, 'netpol_nft_dropped_packets_total', { namespace: 'x', pod: 'a', direction: 'egress' }) === 4;
    });
    const { status, body } = await scrape(h);
    expect(status).to.equal(200);
    const drop = (pod: string, direction: string) => sample(body, 'netpol_nft_dropped_packets_total', { namespace: 'x', pod, direction });
    expect(drop('b', 'ingress')).to.equal(7);
    expect(drop('a', 'egress')).to.equal(4);
    expect(drop('a', 'ingress'), 'a is not isolated for ingress: no counter').to.equal(undefined);
    expect(drop('c', 'ingress')).to.equal(undefined);
    // 20 bytes of IPv4 header + 8 of UDP + 5 of payload.
    expect(sample(body, 'netpol_nft_dropped_bytes_total', { namespace: 'x', pod: 'b', direction: 'ingress' })).to.equal(7 * 33);
    expect(body).to.not.match(/192\.0\.2\./); // no pod IPs in labels

    expect(sample(body, 'netpol_nft_sync_duration_seconds_count', { type: 'full' })).to.equal(1);
    expect(sample(body, 'netpol_nft_sync_failures_total', { stage: 'apply' })).to.equal(0);
    expect(sample(body, 'netpol_nft_sync_last_timestamp_seconds')).to.be.closeTo(Date.now() / 1000, 120);
    expect(sample(body, 'netpol_nft_local_pods', { isolation: 'none' })).to.equal(1);
    expect(sample(body, 'netpol_nft_local_pods', { isolation: 'ingress' })).to.equal(1);
    expect(sample(body, 'netpol_nft_local_pods', { isolation: 'egress' })).to.equal(1);
    expect(sample(body, 'netpol_nft_local_pods', { isolation: 'both' })).to.equal(0);
    expect(sample(body, 'netpol_nft_network_policies', { state: 'valid' })).to.equal(2);
    expect(sample(body, 'netpol_nft_network_policies', { state: 'invalid' })).to.equal(0);
    expect(sample(body, 'netpol_nft_kubernetes_events_total', { kind: 'pod', action: 'add' })).to.equal(3);
    expect(sample(body, 'netpol_nft_kubernetes_events_total', { kind: 'networkpolicy', action: 'add' })).to.equal(2);
    expect(sample(body, 'netpol_nft_nftables_transaction_operations_count')).to.equal(1);
    expect(sample(body, 'netpol_nft_nftables_transaction_operations_sum')).to.be.greaterThan(10);
    expect(sample(body, 'netpol_nft_nftables_objects', { type: 'chain' })).to.be.greaterThan(2);
    expect(sample(body, 'netpol_nft_network_programming_duration_seconds_count', { kind: 'pod' })).to.equal(3);
    expect(sample(body, 'netpol_nft_build_info', { version: '0.1.0' })).to.equal(1);
    expect(body).to.include('process_cpu_seconds_total');

    // A partial sync: one more pod, counted as an event and a partial transaction.
    src.put(pod('x/d', '192.0.2.13', { labels: { app: 'b' } }));
    (h.source as unknown as { rescan(): number }).rescan();
    await h.runner.idle();
    const after = (await scrape(h)).body;
    expect(sample(after, 'netpol_nft_sync_duration_seconds_count', { type: 'partial' })).to.equal(1);
    expect(sample(after, 'netpol_nft_local_pods', { isolation: 'ingress' })).to.equal(2);
    expect(sample(after, 'netpol_nft_nftables_transaction_operations_count')).to.equal(2);
    expect(sample(after, 'netpol_nft_dropped_packets_total', { namespace: 'x', pod: 'b', direction: 'ingress' }), 'a partial sync keeps the counters').to.equal(7);
    expect(sample(after, 'netpol_nft_dropped_packets_total', { namespace: 'x', pod: 'd', direction: 'ingress' })).to.equal(0);
  });

  it('with --drop-metrics-by namespace: one series per namespace and direction, totals kept across reads that zero the kernel counters', async () => {
    h = (await startTestAgent(src.dir, nft.path, ['--drop-metrics-by', 'namespace'])).handle;
    await h.runner.idle();
    sendUdp(pods[2]!, '192.0.2.11', 5000, 5); // c -> b: b's ingress drops
    sendUdp(pods[0]!, '192.0.2.12', 5000, 2); // a -> c: a's egress drops
    const agent = h;
    const drops = async (direction: string) => sample((await scrape(agent)).body, 'netpol_nft_dropped_packets_total', { namespace: 'x', direction });
    await waitFor('the drops to be counted', async () => (await drops('ingress')) === 5 && (await drops('egress')) === 2);
    const body = (await scrape(h)).body;
    expect(body, 'no pod label').to.not.match(/netpol_nft_dropped_packets_total\{[^}]*pod=/);
    expect(body.split('\n').filter((l) => l.startsWith('netpol_nft_dropped_packets_total{')).length, 'x ingress and x egress').to.equal(2);
    // The read zeroed the kernel's counter (nft reset counters); the metric keeps the total.
    const kernel = countersOf(node.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', 'netpol_nft']));
    expect(kernel.get('drop_in_x_b')?.packets).to.equal(0);
    sendUdp(pods[2]!, '192.0.2.11', 5000, 3);
    await waitFor('the later drops to be added', async () => (await drops('ingress')) === 8);
  });

  it('/readyz waits for the first full sync; /healthz stays up through a short nft failure', async () => {
    flag(nft.fail, true);
    h = (await startTestAgent(src.dir, nft.path, ['--health-timeout', '1h'])).handle;
    const agent = h;
    await waitFor('a failed first sync', () => agent.runner.consecutiveFailures() >= 1);
    expect((await scrape(h, '/readyz')).status).to.equal(500);
    expect((await scrape(h, '/healthz')).status).to.equal(200);
    expect(sample((await scrape(h)).body, 'netpol_nft_sync_failures_total', { stage: 'apply' })).to.be.at.least(1);
    flag(nft.fail, false);
    await h.runner.idle();
    expect((await scrape(h, '/readyz')).status).to.equal(200);
    expect((await scrape(h, '/healthz')).status).to.equal(200);
    expect((await scrape(h, '/nothing')).status).to.equal(404);
  });

  it('/healthz fails once a change has waited past --health-timeout, and recovers', async () => {
    flag(nft.fail, true);
    h = (await startTestAgent(src.dir, nft.path, ['--health-timeout', '200ms'])).handle;
    const agent = h;
    await waitFor('/healthz to fail', async () => (await scrape(agent, '/healthz')).status === 500);
    expect((await scrape(h, '/healthz')).body).to.match(/waited \d+s unapplied/);
    flag(nft.fail, false);
    await h.runner.idle();
    expect((await scrape(h, '/healthz')).status).to.equal(200);
    expect((await scrape(h, '/readyz')).status).to.equal(200);
  });
});
