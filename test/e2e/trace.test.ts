// `netpol-nft trace` on the real kernel (issue 10 item 2): real packets between x/a and y/b
// (both on n1), TCP and UDP, IPv4 and IPv6; port 80 is allowed by y/web, port 81 dropped
// (y/deny isolates y/b). Each traced packet must name the rule that allowed it, or the pod
// that dropped it and the policies that isolate it; a trace's chain is gone when it ends
// (SIGTERM) and, when it is killed, after the agent's reaping (reapTraceChains).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { NftCli } from '../../controller/nft.js';
import { reapTraceChains } from '../../controller/trace.js';
import { applyState, netpol, useTopology } from './harness.js';
import { REPO_ROOT, type ClusterState } from './topology.js';

const STATE: ClusterState = {
  policies: [
    netpol('y/deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    netpol('y/web', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } }], ports: [{ port: 80, protocol: 'TCP' }, { port: 80, protocol: 'UDP' }] }] }),
  ],
};

interface Traced { headers: { saddr?: string; daddr?: string; protocol?: string; dport?: number; sport?: number }; verdict: string; steps: { decision: string; direction?: string; rule?: string; pods?: string[]; policies?: string[] }[] }

// Every tracer a case starts: killed after the case, passed or failed (a live tracer puts its
// chains back every second, into the next case's table).
const started: ChildProcessWithoutNullStreams[] = [];

function startTrace(netns: string, args: string[]): { proc: ChildProcessWithoutNullStreams; lines: Traced[]; text: () => string; ready: Promise<void>; exited: Promise<number | null>; stderr: () => string } {
  const proc = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'controller', 'cli.ts'), 'trace', ...args], { cwd: REPO_ROOT });
  started.push(proc);
  const lines: Traced[] = [];
  let out = '', err = '', all = '';
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    all += d.toString();
    if (args.includes('json')) {
      const parts = out.split('\n');
      out = parts.pop()!;
      for (const l of parts) if (l.trim()) lines.push(JSON.parse(l) as Traced);
    }
  });
  proc.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.includes('tracing ')) ready(); });
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => { ready(); r(code); }));
  return { proc, lines, text: () => all, ready: readyP, exited, stderr: () => err };
}

describe('e2e: netpol-nft trace', function () {
  this.timeout(120_000);
  const topo = useTopology();
  afterEach(() => {
    for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  it('attributes allowed and dropped packets to the right rule, pod and policies (TCP, UDP, IPv4, IPv6); gone on SIGTERM', async () => {
    const t = topo();
    await applyState(t, STATE);
    const file = t.writeCluster(STATE);
    const n1 = t.node('n1').netns;
    const tr = startTrace(n1, ['--from', 'x/a', '--to', 'y/b', '--source', file, '--node', 'n1', '--output', 'json', '--duration', '60s']);
    // The same in text, IPv4 only, beside it (two traces of one pair are two chains).
    const tx = startTrace(n1, ['--from', 'x/a', '--to', t.addr('y/b', 4), '--source', file, '--node', 'n1', '--duration', '60s']);
    await Promise.all([tr.ready, tx.ready]);
    expect(tr.stderr()).to.include('tracing x/a <-> y/b');
    const chains = () => t.nodeExec('n1', 'nft', ['list', 'chains', 'inet']);
    expect(chains()).to.match(/chain trace_\d+_\d+_\d+/);
    const p = t.prober('x/a');
    const want: [4 | 6, 'tcp' | 'udp', number, boolean][] = [[4, 'tcp', 80, true], [4, 'tcp', 81, false], [4, 'udp', 80, true], [4, 'udp', 81, false], [6, 'tcp', 80, true], [6, 'udp', 81, false]];
    const got = await p.probe(want.map(([f, proto, port]) => ({ host: t.addr('y/b', f), port, proto })));
    expect(got, 'the probes themselves').to.deep.equal(want.map((w) => w[3]));
    // Let the last events arrive, then stop the trace as Ctrl-C would.
    await new Promise((r) => setTimeout(r, 1000));
    tr.proc.kill('SIGTERM');
    tx.proc.kill('SIGINT');
    expect(await tr.exited, tr.stderr()).to.equal(0);
    expect(await tx.exited, tx.stderr()).to.equal(0);
    if (process.env.NPN_TRACE_TEXT_OUT) writeFileSync(process.env.NPN_TRACE_TEXT_OUT, tx.stderr() + tx.text());
    expect(tx.text()).to.include('x/a (192.0.2.10 port').and.include('-> y/b (192.0.2.14 port 80) tcp: allowed')
      .and.include('ingress of y/b: allowed by y/web ingress[0] from[0]')
      .and.include('-> y/b (192.0.2.14 port 81) tcp: DROPPED').and.include('ingress of y/b: dropped (y/deny, y/web): ingress: isolated by y/deny, y/web')
      .and.include('decided earlier under this ruleset');
    expect(tx.text(), 'only its own pair: the other trace\'s IPv6 packets are not shown').to.not.include('2001:db8');
    expect(chains(), 'the trace chain is removed when the trace ends').to.not.match(/trace_/);

    for (const [f, proto, port, allowed] of want) {
      const dst = t.addr('y/b', f);
      const first = tr.lines.find((l) => l.headers.daddr === dst && l.headers.dport === port && l.headers.protocol === proto);
      expect(first, `a traced packet ${proto} ${dst} port ${port}: ${JSON.stringify(tr.lines.map((l) => l.headers))}`).to.not.equal(undefined);
      if (allowed) {
        expect(first!.verdict).to.equal('accept');
        const allow = first!.steps.find((s) => s.decision === 'allow')!;
        expect(allow).to.deep.include({ direction: 'ingress', rule: 'y/web ingress[0] from[0]', pods: ['y/b'] });
      } else {
        expect(first!.verdict).to.equal('drop');
        const drop = first!.steps.find((s) => s.decision === 'drop')!;
        expect(drop).to.deep.include({ direction: 'ingress', pods: ['y/b'], policies: ['y/deny', 'y/web'], rule: 'ingress: isolated by y/deny, y/web' });
      }
    }
    // The TCP connection's later packets hit the verdict cache.
    const cached = tr.lines.find((l) => l.headers.protocol === 'tcp' && l.steps.some((s) => s.decision === 'cache'));
    expect(cached, 'a packet decided earlier under this ruleset').to.not.equal(undefined);
  });

  it('traces a pod talking to its own node (input hook): the egress rule that allowed it, the pod that dropped it', async () => {
    const t = topo();
    const n = t.node('n1');
    const state: ClusterState = {
      policies: [netpol('x/to-node-80', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${n.ipv4}/32` } }, { ipBlock: { cidr: `${n.ipv6}/128` } }], ports: [{ port: 80, protocol: 'TCP' }, { port: 80, protocol: 'UDP' }] }] })],
    };
    await applyState(t, state);
    const file = t.writeCluster(state);
    const tr = startTrace(n.netns, ['--from', 'x/a', '--to', n.ipv4, '--source', file, '--node', 'n1', '--output', 'json', '--duration', '60s']);
    await tr.ready;
    const chains = () => t.nodeExec('n1', 'nft', ['list', 'chains', 'inet']);
    expect(chains()).to.match(/chain trace_\d+_\d+_\d+_in \{/).and.match(/hook input priority filter - 1/);
    const want: ['tcp' | 'udp', number, boolean][] = [['tcp', 80, true], ['tcp', 81, false], ['udp', 80, true], ['udp', 81, false]];
    expect(await t.prober('x/a').probe(want.map(([proto, port]) => ({ host: n.ipv4, port, proto })), 1000), 'the probes themselves').to.deep.equal(want.map((w) => w[2]));
    await new Promise((r) => setTimeout(r, 1000));
    tr.proc.kill('SIGTERM');
    expect(await tr.exited, tr.stderr()).to.equal(0);
    expect(chains(), 'both trace chains are removed when the trace ends').to.not.match(/trace_/);
    for (const [proto, port, allowed] of want) {
      const first = tr.lines.find((l) => l.headers.daddr === n.ipv4 && l.headers.dport === port && l.headers.protocol === proto);
      expect(first, `a traced packet ${proto} to the node port ${port}: ${JSON.stringify(tr.lines.map((l) => l.headers))}`).to.not.equal(undefined);
      if (allowed) {
        expect(first!.verdict).to.equal('accept');
        expect(first!.steps.find((s) => s.decision === 'allow')).to.deep.include({ direction: 'egress', rule: 'x/to-node-80 egress[0] to[0]', pods: ['x/a'] });
      } else {
        expect(first!.verdict).to.equal('drop');
        expect(first!.steps.find((s) => s.decision === 'drop')).to.deep.include({ direction: 'egress', pods: ['x/a'], policies: ['x/to-node-80'], rule: 'egress: isolated by x/to-node-80' });
      }
    }
  });

  it('a killed trace leaves its chain until the agent\'s reaping, then nothing', async () => {
    const t = topo();
    await applyState(t, STATE);
    const n1 = t.node('n1').netns;
    const tr = startTrace(n1, ['--from', t.addr('x/a', 4), '--to', t.addr('y/b', 4), '--duration', '60s']);
    await tr.ready;
    const chains = () => t.nodeExec('n1', 'nft', ['list', 'chains', 'inet']);
    expect(chains()).to.match(/trace_/);
    // SIGKILL the node process itself (ip netns exec execs it: same pid).
    tr.proc.kill('SIGKILL');
    await tr.exited;
    expect(chains(), 'a killed trace cannot clean up').to.match(/trace_/);
    const nft = new NftCli(['ip', 'netns', 'exec', n1, 'nft']);
    const reaped = await reapTraceChains(nft, 'netpol_nft', Math.floor(Date.now() / 1000));
    expect(reaped, 'the forward and the input chain').to.have.length(2);
    expect(chains(), chains()).to.not.match(/trace_/);
    // Packets still flow as the policies say.
    expect(await t.prober('x/a').probe([{ host: t.addr('y/b', 4), port: 80, proto: 'tcp' }, { host: t.addr('y/b', 4), port: 81, proto: 'tcp' }])).to.deep.equal([true, false]);
  });
});
