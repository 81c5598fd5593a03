// The drop log on the real kernel (issue 10 item 3): the agent runs for node n1 (file source,
// nft through a wrapper into n1's namespace), x/a sends to y/b on a port y/web does not
// allow; the log lines must name both pods, the direction and the isolating policies; a
// flood of dropped datagrams stays within the kernel's rate. And the agent's drift check
// removes the chain of a trace whose tracer is gone, keeping a live one.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { parseConfig } from '../../controller/config.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import { nftWrapper, removeRoot, scratchRoot, waitFor, type LogLine } from '../agent/harness.js';
import { netpol, useTopology } from './harness.js';
import type { ClusterState } from './topology.js';

const STATE: ClusterState = {
  policies: [
    netpol('y/deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    netpol('y/web', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }], ports: [{ port: 80, protocol: 'TCP' }] }] }),
  ],
};

interface Dropped extends LogLine { direction?: string; pod?: string; policies?: string[]; reason?: string; protocol?: string; source?: { pod?: string; address?: string; port?: number }; destination?: { pod?: string; address?: string; port?: number }; time?: string }

describe('e2e: the drop log (agent on n1)', function () {
  this.timeout(120_000);
  const topo = useTopology();
  let root: string;
  let h: AgentHandle | undefined;
  const logs: LogLine[] = [];
  const dropped = () => logs.filter((l) => l.msg === 'packet dropped') as Dropped[];

  before(async function () {
    const t = topo();
    root = scratchRoot();
    const dir = join(root, 'cluster');
    mkdirSync(dir);
    t.writeCluster(STATE, join(dir, 'cluster.json'));
    const nft = nftWrapper(root, t.node('n1').netns);
    const c = parseConfig(['--node', 'n1', '--source', dir, '--nft-path', nft.path, '--conntrack-path', join(root, 'conntrack.sh'), '--metrics-address', '127.0.0.1:0', '--log-drops', '5/second', '--resync-interval', '300ms'], {});
    if (c === 'help') throw new Error('unexpected help');
    const logger = pino({ level: 'info', timestamp: pino.stdTimeFunctions.isoTime }, { write: (s: string) => { logs.push(JSON.parse(s) as LogLine); } });
    h = await startAgent(c, { logger });
    await h.started;
    await waitFor('the first sync', () => h!.agent.ready(), 30_000);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const l of logs.filter((x) => x.level >= 40 || String(x.msg).includes('drop')).slice(-20)) console.log(JSON.stringify(l));
  });

  after(async () => {
    await h?.stop();
    if (root) removeRoot(root);
  });

  it('names the pods, the direction and the isolating policies of dropped packets (TCP and UDP, IPv4 and IPv6)', async () => {
    const t = topo();
    const p = t.prober('x/a');
    expect(await p.probe([{ host: t.addr('y/b', 4), port: 80, proto: 'tcp' }]), 'allowed: no log line').to.deep.equal([true]);
    const got = await p.probe([{ host: t.addr('y/b', 4), port: 81, proto: 'tcp' }, { host: t.addr('y/b', 6), port: 81, proto: 'udp' }]);
    expect(got).to.deep.equal([false, false]);
    for (const [f, proto] of [[4, 'tcp'], [6, 'udp']] as const) {
      await waitFor(`a drop log line for ${proto} IPv${f}`, () => dropped().some((l) => l.protocol === proto && l.destination?.address === t.addr('y/b', f)), 10_000);
      const line = dropped().find((l) => l.protocol === proto && l.destination?.address === t.addr('y/b', f))!;
      expect(line).to.deep.include({ direction: 'ingress', pod: 'y/b', policies: ['y/deny', 'y/web'], reason: 'ingress: isolated by y/deny, y/web' });
      expect(line.source).to.deep.include({ pod: 'x/a', address: t.addr('x/a', f) });
      expect(line.destination).to.deep.include({ pod: 'y/b', port: 81 });
      expect(line.time).to.be.a('string');
    }
    if (process.env.NPN_DROPLOG_OUT) writeFileSync(process.env.NPN_DROPLOG_OUT, dropped().map((l) => JSON.stringify(l)).join('\n') + '\n');
    // Allowed packets were never logged.
    expect(dropped().filter((l) => l.destination?.port === 80)).to.deep.equal([]);
  });

  it('a flood of drops stays within the kernel\'s rate (5/second, burst 5)', async () => {
    const t = topo();
    const before = dropped().length;
    const start = Date.now();
    // 400 datagrams, each from a new socket (a new flow, decided and dropped at its first packet).
    execFileSync('ip', ['netns', 'exec', t.pod('x/a').netns, 'bash', '-c', `for i in $(seq 400); do echo x > /dev/udp/${t.addr('y/b', 4)}/81; done`], { timeout: 60_000 });
    const sentMs = Date.now() - start;
    await new Promise((r) => setTimeout(r, 1500)); // the last events reach the monitor
    const logged = dropped().length - before;
    const allowed = 5 * Math.ceil((Date.now() - start) / 1000) + 5;
    expect(logged, `logged during ${sentMs} ms of sending`).to.be.at.least(1).and.at.most(allowed);
    // The kernel dropped all of them (the per-pod drop counters count every one).
    expect(logged).to.be.below(400);
  });

  it('the drift check removes the chain of a trace whose tracer is gone, and keeps a live one', async () => {
    const t = topo();
    const nft = (args: string[]) => t.nodeExec('n1', 'nft', args);
    const pidNs = /\[(\d+)\]/.exec(execFileSync('readlink', ['/proc/self/ns/pid']).toString())![1]!;
    const far = Math.floor(Date.now() / 1000) + 600;
    const dead = `trace_${far}_${pidNs}_4194999`, live = `trace_${far}_${pidNs}_${process.pid}`;
    for (const name of [dead, live]) nft(['add', 'chain', 'inet', 'netpol_nft', name, '{ type filter hook forward priority -1; policy accept; }']);
    const reaped = () => logs.some((l) => l.msg === 'removed the chains of traces that ended without removing them' && JSON.stringify(l.chains) === JSON.stringify([dead]));
    // The agent logs once nft has returned: wait for both.
    await waitFor('the dead trace chain to go', () => reaped() && !nft(['list', 'chains', 'inet']).includes(dead), 10_000);
    const chains = nft(['list', 'chains', 'inet']);
    expect(chains).to.include(live);
    // A live trace chain is not drift: no full replace happened for it.
    expect(logs.filter((l) => String(l.msg).includes('changed behind our back'))).to.deep.equal([]);
    nft(['delete', 'chain', 'inet', 'netpol_nft', live]);
  });
});
