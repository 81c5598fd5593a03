// /healthz answers while a large full sync runs. The agent's first sync compiles a cluster of
// thousands of pods, synchronously, on the main thread; a client on another thread polls
// /healthz the whole time. Without timing thresholds: the proof is an answer received after
// the sync took its snapshot and before it handed the batch to nft, a stretch in which the
// main thread never yields (compile and diff are synchronous). An HTTP server on the main
// thread could only answer after it.
import { FakeConntrack } from '../helpers/fake-conntrack.js';
import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { parseConfig } from '../../controller/config.js';
import type { NftPort } from '../../controller/nft.js';
import { startAgent, type AgentHandle } from '../../controller/run.js';
import type { ClusterSource } from '../../controller/source.js';
import { BENCH_NODE, generateCluster } from '../../bench/generate.js';

/** Polls a URL as fast as it is answered; posts the wall-clock time of each 200. */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
let stop = false;
parentPort.on('message', () => { stop = true; });
(async () => {
  while (!stop) {
    try {
      const r = await fetch(workerData.url);
      await r.text();
      if (r.status === 200) parentPort.postMessage(Date.now());
    } catch {}
  }
  parentPort.close();
})();
`;

describe('agent: /healthz during a large full sync', function () {
  this.timeout(120_000);
  let h: AgentHandle | undefined;
  let poller: Worker | undefined;
  after(async () => {
    poller?.postMessage('stop');
    await poller?.terminate();
    await h?.stop();
  });

  it('answers /healthz while the first sync compiles 5,000 pods and 1,000 policies on the main thread', async () => {
    const { cluster } = generateCluster({ name: 'M', pods: 5_000, policies: 1_000, namespaces: 100, nodes: 20 });
    const marks: { snapshot?: number; apply?: number } = {};
    const source: ClusterSource = {
      start: async () => {},
      synced: () => true,
      snapshot: () => {
        marks.snapshot ??= Date.now();
        return { cluster, problems: [] };
      },
      stop: async () => {},
    };
    const nft: NftPort = {
      apply: async () => { marks.apply ??= Date.now(); },
      list: async () => undefined,
    };
    const config = parseConfig(['--node', BENCH_NODE, '--source', 'unused', '--metrics-address', '127.0.0.1:0'], {});
    if (config === 'help') throw new Error('unexpected help');
    h = await startAgent(config, { logger: pino({ level: 'silent' }), source, nft, conntrack: new FakeConntrack() });

    const answers: number[] = [];
    poller = new Worker(POLLER, { eval: true, workerData: { url: `http://127.0.0.1:${h.port}/healthz` } });
    poller.on('message', (t: number) => answers.push(t));
    // Let the poller get going before the sync starts (the runner starts once the source has listed).
    await new Promise<void>((resolve) => poller!.once('message', () => resolve()));
    await h.started;
    await h.runner.idle();
    expect(h.agent.ready(), 'the first sync went through').to.equal(true);
    const { snapshot, apply } = marks as { snapshot: number; apply: number };
    expect(apply).to.be.greaterThan(snapshot);
    // Messages from the poller that arrived while the main thread was busy are delivered now.
    await new Promise((r) => setTimeout(r, 100));
    const during = answers.filter((t) => t > snapshot && t < apply);
    expect(during.length, `answers between the snapshot (${snapshot}) and the apply (${apply}): ${answers.length} in all`).to.be.greaterThan(0);
  });
});
