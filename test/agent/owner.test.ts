// Two agents on one table (issue: a debug `run` beside the DaemonSet flipped enforcement at
// every resync). The table names its writer (marker chain gen_<serial>_<stamp>_<owner>); each
// transaction deletes our previous marker in the same transaction, so a transaction on a table
// someone else replaced fails as a whole. On the real kernel: the second agent refuses and
// reports (log naming the other owner, netpol_nft_foreign_writer 1, /readyz failing) while the
// first keeps enforcing; an agent started with --take-over takes the table, and the one that
// lost it stops writing instead of flipping it back.
import { expect } from 'chai';
import { batchJson, clusterFromObjects, compile, fullBatch } from '../../compiler/index.js';
import type { AgentHandle } from '../../controller/run.js';
import { Netns, requireKernel } from '../helpers/kernel.js';
import { metricValue, nftWrapper, ns, pod, policy, removeLeftovers, removeRoot, RUN, scratchRoot, settle, SourceDir, startTestAgent, waitFor, type LogLine } from './harness.js';

describe('agent: two writers on one table (real kernel)', function () {
  this.timeout(120_000);
  let root: string;
  let node: Netns;
  let src: SourceDir;
  const agents: AgentHandle[] = [];

  const markers = () => (node.listTable('inet', 'netpol_nft').match(/"name": ?"gen_\d+_[0-9a-f]{8}_[^"]+"/g) ?? []).map((m) => m.replace(/.*"gen_/, 'gen_').replace(/"$/, ''));
  const readyz = async (h: AgentHandle) => (await fetch(`http://127.0.0.1:${h.port}/readyz`)).status;
  const start = async (owner: string, extra: string[] = []): Promise<{ h: AgentHandle; logs: LogLine[] }> => {
    const t = await startTestAgent(src.dir, nftWrapper(root, node.name).path, ['--owner', owner, '--resync-interval', '200ms', ...extra]);
    agents.push(t.handle);
    return { h: t.handle, logs: t.logs };
  };

  before(function () {
    requireKernel(this);
    removeLeftovers();
    root = scratchRoot();
    node = Netns.create(`${RUN}owner`);
    src = new SourceDir(root);
    src.put(ns('x'), pod('x/a', '192.0.2.10'), policy('x/deny', { podSelector: {} }));
  });

  after(async () => {
    for (const h of agents) await h.stop();
    node?.delete();
    if (root) removeRoot(root);
  });

  it('the second agent refuses the first one\'s table and says so; the first keeps enforcing; --take-over takes it and the first stops writing', async () => {
    // The node starts with a table that has no marker (`compile` output, or an older agent):
    // its stamp in force is unknown, so the first transaction runs without the verdict cache,
    // and the agent then clears the stamps and turns the cache on at once (a second, small
    // transaction), with its marker in place.
    node.nftApply(batchJson(fullBatch(compile(clusterFromObjects([]).cluster, { node: 'n1' }).ruleset)));
    expect(markers()).to.have.length(0);
    const a = await start('daemonset');
    await a.h.runner.idle();
    expect(a.h.agent.ready()).to.equal(true);
    expect(markers()).to.have.length(1);
    expect(markers()[0]).to.match(/_daemonset$/);
    const cacheOff = a.logs.filter((l) => /without the verdict cache/.test(l.msg)).map((l) => JSON.stringify(l));
    expect(await metricValue(a.h, 'netpol_nft_verdict_cache'), `the cache is on after the follow-up; cache-off warnings: ${cacheOff.join(' ')}`).to.be.above(0);
    expect(cacheOff, 'one transaction without the cache (the unknown stamp), none after').to.have.length(1);
    expect(markers()[0], 'the marker carries the stamp in force').to.not.match(/^gen_\d+_00000000_/);

    const b = await start('debug-run');
    await waitFor('the second agent to refuse', async () => (await metricValue(b.h, 'netpol_nft_foreign_writer')) === 1);
    expect(b.h.agent.ready()).to.equal(false);
    expect(await readyz(b.h)).to.equal(500);
    const refusal = b.logs.filter((l) => l.level >= 50 && /another agent \(owner daemonset\)/.test(l.msg));
    expect(refusal, 'one error naming the other owner').to.have.length(1);
    expect(await metricValue(b.h, 'netpol_nft_sync_failures_total', { stage: 'owner' })).to.be.at.least(1);

    // The first agent goes on: a change reaches the kernel through its compare-and-swap, and
    // its drift checks (every 200 ms) see its own marker, never the second's.
    src.put(pod('x/b', '192.0.2.11'));
    await settle(a.h);
    expect(node.listTable('inet', 'netpol_nft')).to.include('192.0.2.11');
    await new Promise((r) => setTimeout(r, 1000)); // several drift checks and retries of both
    expect(markers()).to.have.length(1);
    expect(markers()[0]).to.match(/_daemonset$/);
    expect(b.h.agent.syncCount(), 'the second agent never wrote').to.equal(0);
    expect(await readyz(a.h)).to.equal(200);
    await b.h.stop();

    // --take-over: the third agent writes the table; the first one's next transaction fails
    // (its marker is gone) and it then refuses, instead of flipping the table back.
    const c = await start('debug-takeover', ['--take-over']);
    await c.h.runner.idle();
    expect(c.h.agent.ready()).to.equal(true);
    expect(markers()[0]).to.match(/_debug-takeover$/);
    src.put(pod('x/c', '192.0.2.12'));
    await settle(c.h);
    (a.h.source as unknown as { rescan(): void }).rescan();
    await waitFor('the first agent to stop writing', async () => (await metricValue(a.h, 'netpol_nft_foreign_writer')) === 1);
    expect(await readyz(a.h)).to.equal(500);
    await new Promise((r) => setTimeout(r, 1000));
    expect(markers()).to.have.length(1);
    expect(markers()[0], 'never flipped back').to.match(/_debug-takeover$/);
  });
});
