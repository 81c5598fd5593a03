// The drop log's reading side without root (controller/drop-log.ts): trace lines as nft 1.0.6
// prints them become one JSON log line per packet our drop-log rule marked, naming pods and
// policies; packets a `netpol-nft trace` marked are not logged; a monitor that ends is
// counted and restarted. The kernel side (the limit, real packets) is test/e2e/drop-log.test.ts.
import { expect } from 'chai';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DropLog, type TraceLines } from '../../controller/drop-log.js';
import { Metrics } from '../../controller/metrics.js';

class FakeLines implements TraceLines {
  onLine: ((l: string) => void) | undefined;
  onExit: ((why: 'start' | 'exit', detail: string) => void) | undefined;
  starts = 0;
  start(onLine: (l: string) => void, onExit: (why: 'start' | 'exit', detail: string) => void) {
    this.starts++;
    this.onLine = onLine;
    this.onExit = onExit;
    return { stop: () => { this.onLine = undefined; } };
  }
  emit(...lines: string[]) { for (const l of lines) this.onLine!(l); }
}

const T = 'trace id %s inet netpol_nft';
const packet = (id: string, chain: string, rest: string) => `${T.replace('%s', id)} ${chain} packet: iif "p-x-a" oif "p-y-b" ${rest} `;
const rule = (id: string, chain: string, text: string) => `${T.replace('%s', id)} ${chain} rule ${text}`;
const CHAIN = 'in4o_0123456789';

describe('drop log: trace lines to log lines', () => {
  const setup = () => {
    const lines = new FakeLines();
    const logs: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => { logs.push(JSON.parse(s) as Record<string, unknown>); } });
    const metrics = new Metrics(new Registry(), { defaultMetrics: false });
    const pods: Record<string, string> = { '192.0.2.10': 'x/a', '192.0.2.14': 'y/b', '2001:db8:1::10': 'x/a', '2001:db8:1::14': 'y/b' };
    const dl = new DropLog({
      table: 'netpol_nft', lines, logger, metrics, retryMinMs: 5, retryMaxMs: 20,
      origins: () => ({
        chainInfo: (c: string) => (c === CHAIN || c === 'in6o_0123456789' ? { direction: 'ingress' as const, step: 'policies', isolatedBy: ['y/deny', 'y/web'], clusterPolicies: [], pods: ['y/b', 'y/c'] } : undefined),
        podAt: (ip: string) => pods[ip],
      }),
    });
    dl.start();
    return { lines, logs, metrics, dl, dropped: () => logs.filter((l) => l.msg === 'packet dropped') };
  };

  it('logs a packet its drop-log rule marked, with pods, addresses, ports, direction and policies', async () => {
    const { lines, dropped, metrics, dl } = setup();
    lines.emit(
      packet('a1', CHAIN, 'ip saddr 192.0.2.10 ip daddr 192.0.2.14 ip dscp cs0 ip protocol tcp ip length 60 tcp sport 40000 tcp dport 81 tcp flags == syn'),
      rule('a1', CHAIN, 'limit name "drop_log" meta nftrace set 1 comment "drop log" (verdict continue)'),
      rule('a1', CHAIN, 'drop comment "ingress: isolated by y/deny, y/web" (verdict drop)'),
      packet('a2', 'in6o_0123456789', 'ip6 saddr 2001:db8:1::10 ip6 daddr 2001:db8:1::14 ip6 nexthdr udp udp sport 5000 udp dport 53 udp length 10'),
      rule('a2', 'in6o_0123456789', 'limit name "drop_log" meta nftrace set 1 comment "drop log" (verdict continue)'),
      rule('a2', 'in6o_0123456789', 'drop comment "ingress: isolated by y/deny, y/web" (verdict drop)'),
    );
    expect(dropped()).to.have.length(2);
    expect(dropped()[0]).to.deep.include({
      event: 'drop', direction: 'ingress', pod: 'y/b', protocol: 'tcp', policies: ['y/deny', 'y/web'], reason: 'ingress: isolated by y/deny, y/web', chain: CHAIN,
      source: { address: '192.0.2.10', pod: 'x/a', port: 40000 }, destination: { address: '192.0.2.14', pod: 'y/b', port: 81 },
    });
    expect(dropped()[1]).to.deep.include({ protocol: 'udp', pod: 'y/b', source: { address: '2001:db8:1::10', pod: 'x/a', port: 5000 }, destination: { address: '2001:db8:1::14', pod: 'y/b', port: 53 } });
    expect((await metrics.registry.getSingleMetric('netpol_nft_drop_log_lines_total')!.get()).values[0]!.value).to.equal(2);
    dl.stop();
  });

  it('logs nothing for allowed packets; a drop a running trace marked is logged as traced', () => {
    const { lines, dropped, dl } = setup();
    lines.emit(
      packet('b1', 'trace_1_2_3', 'ip saddr 192.0.2.10 ip daddr 192.0.2.14 ip protocol tcp tcp sport 40001 tcp dport 80'),
      rule('b1', 'trace_1_2_3', 'ip saddr 192.0.2.10 ip daddr 192.0.2.14 meta nftrace set 1 comment "netpol-nft trace" (verdict continue)'),
      `${T.replace('%s', 'b1')} trace_1_2_3 policy accept `,
      rule('b1', 'forward', 'ct direction original ip daddr vmap @in4_orig (verdict jump in4o_0123456789)'),
      rule('b1', CHAIN, 'ip saddr @peer_0123456789ab_4 tcp dport 80 return comment "y/web ingress[0] from[0]" (verdict return)'),
      `${T.replace('%s', 'b1')} forward policy accept `,
      packet('b2', 'trace_1_2_3', 'ip saddr 192.0.2.10 ip daddr 192.0.2.14 ip protocol tcp tcp sport 40002 tcp dport 81'),
      rule('b2', 'trace_1_2_3', 'ip saddr 192.0.2.10 ip daddr 192.0.2.14 meta nftrace set 1 comment "netpol-nft trace" (verdict continue)'),
      rule('b2', CHAIN, 'drop comment "ingress: isolated by y/deny, y/web" (verdict drop)'),
    );
    expect(dropped()).to.have.length(1);
    expect(dropped()[0]).to.deep.include({ traced: true, pod: 'y/b', destination: { address: '192.0.2.14', pod: 'y/b', port: 81 } });
    dl.stop();
  });

  it('a rule nft cannot print (added after the monitor started) is still attributed by its chain', () => {
    const { lines, dropped, dl } = setup();
    lines.emit(
      packet('c1', CHAIN, 'ip saddr 192.0.2.10 ip daddr 192.0.2.14 ip protocol udp udp sport 7 udp dport 81'),
      `${T.replace('%s', 'c1')} ${CHAIN} unknown rule handle 41 (verdict continue)`,
      `${T.replace('%s', 'c1')} ${CHAIN} unknown rule handle 42 (verdict drop)`,
    );
    expect(dropped()).to.have.length(1);
    expect(dropped()[0]).to.deep.include({ pod: 'y/b', direction: 'ingress', policies: ['y/deny', 'y/web'], reason: 'ingress: isolated by y/deny, y/web', protocol: 'udp' });
    dl.stop();
  });

  it('counts a monitor that ends and starts it again with backoff', async () => {
    const { lines, metrics, dl } = setup();
    lines.onExit!('exit', 'killed');
    await new Promise((r) => setTimeout(r, 30));
    expect(lines.starts).to.equal(2);
    lines.onExit!('start', 'ENOENT');
    await new Promise((r) => setTimeout(r, 50));
    expect(lines.starts).to.equal(3);
    const v = (await metrics.registry.getSingleMetric('netpol_nft_drop_log_monitor_failures_total')!.get()).values;
    expect(Object.fromEntries(v.map((x) => [x.labels.reason, x.value]))).to.deep.equal({ start: 1, exit: 1 });
    dl.stop();
    lines.onExit!('exit', 'stopped');
    await new Promise((r) => setTimeout(r, 30));
    expect(lines.starts, 'not restarted after stop').to.equal(3);
  });
});
