// The sync runner on a fake clock: when syncs happen, never how long anything really takes.
import { expect } from 'chai';
import { SyncRunner, type RunnerOptions, type SyncReason } from '../../controller/runner.js';
import { drain, FakeClock } from './fake-clock.js';

interface Call {
  reason: SyncReason;
  at: number;
}

function setup(over: Partial<RunnerOptions> = {}, behave: (n: number) => Promise<void> = async () => {}) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const runner = new SyncRunner({
    clock, debounceMs: 50, maxDelayMs: 1000, retryMinMs: 500, retryMaxMs: 30_000, resyncIntervalMs: 60_000,
    sync: (reason) => {
      calls.push({ reason, at: clock.now() });
      return behave(calls.length);
    },
    ...over,
  });
  return { clock, calls, runner, t0: clock.now() };
}

function deferred() {
  let resolve!: () => void, reject!: (e: Error) => void;
  const promise = new Promise<void>((a, b) => { resolve = a; reject = b; });
  return { promise, resolve, reject };
}

describe('agent: sync runner (fake clock)', () => {
  it('syncs at once on start, and a lone event after quiet at once too', async () => {
    const { clock, calls, runner, t0 } = setup();
    runner.start();
    await clock.advance(0);
    expect(calls).to.deep.equal([{ reason: 'change', at: t0 }]);
    await clock.advance(10_000);
    runner.request();
    await clock.advance(0);
    expect(calls).to.have.length(2);
    expect(calls[1]).to.deep.equal({ reason: 'change', at: t0 + 10_000 });
  });

  it('an event right after a sync waits for the debounce (the least gap between syncs)', async () => {
    const { clock, calls, runner, t0 } = setup();
    runner.start();
    await clock.advance(10);
    runner.request();
    await clock.advance(39);
    expect(calls).to.have.length(1);
    await clock.advance(1);
    expect(calls).to.have.length(2);
    expect(calls[1]!.at).to.equal(t0 + 50);
  });

  it('coalesces a burst of 1,000 events over 2 s: at most one sync per debounce, none waiting longer', async () => {
    const { clock, calls, runner } = setup();
    runner.start();
    await clock.advance(0);
    calls.length = 0;
    const waits: number[] = [];
    let waitingSince: number | undefined;
    for (let i = 0; i < 1000; i++) {
      waitingSince ??= clock.now();
      runner.request();
      const before = calls.length;
      await clock.advance(2);
      if (calls.length > before) {
        waits.push(calls.at(-1)!.at - waitingSince);
        waitingSince = undefined;
      }
    }
    await clock.advance(2000);
    // 2 s / 50 ms = 40 syncs at most (plus the tail), 1,000 events in them.
    expect(calls.length).to.be.within(20, 42);
    for (const d of waits) expect(d).to.be.at.most(50);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).to.be.at.least(50);
  });

  it('collects events that arrive during a sync into exactly one follow-up sync', async () => {
    const gate = deferred();
    const { clock, calls, runner } = setup({}, (n) => (n === 2 ? gate.promise : Promise.resolve()));
    runner.start();
    await clock.advance(0);
    runner.request();
    await clock.advance(50);
    expect(calls).to.have.length(2); // in flight, held by the gate
    for (let i = 0; i < 20; i++) runner.request();
    await clock.advance(5000);
    expect(calls).to.have.length(2); // never two syncs at once
    gate.resolve();
    await drain();
    await clock.advance(0);
    expect(calls).to.have.length(3); // waited more than the max delay already: at once
    await clock.advance(5000);
    expect(calls).to.have.length(3);
  });

  it('retries a failing sync with exponential backoff capped at --retry-max, and resets on success', async () => {
    let failing = true;
    const { clock, calls, runner, t0 } = setup({ retryMinMs: 500, retryMaxMs: 4000 }, async () => {
      if (failing) throw new Error('nft failed');
    });
    runner.start();
    await clock.advance(20_000);
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
    expect(gaps.slice(0, 6)).to.deep.equal([500, 1000, 2000, 4000, 4000, 4000]);
    expect(calls.slice(1).every((c) => c.reason === 'retry')).to.equal(true);
    expect(runner.consecutiveFailures()).to.equal(calls.length);
    expect(runner.unappliedFor()).to.equal(clock.now() - t0);
    // Events during the backoff do not hammer nft: they wait for the retry.
    const n = calls.length;
    runner.request();
    await clock.advance(100);
    expect(calls.length).to.equal(n);
    failing = false;
    await clock.advance(4000);
    expect(calls.length).to.equal(n + 1);
    expect(runner.consecutiveFailures()).to.equal(0);
    expect(runner.unappliedFor()).to.equal(0);
    // After success, a new event is back to the plain debounce.
    runner.request();
    await clock.advance(50);
    expect(calls.length).to.equal(n + 2);
    expect(calls.at(-1)!.reason).to.equal('change');
  });

  it('runs the drift check every --resync-interval after the last sync', async () => {
    const { clock, calls, runner, t0 } = setup({ resyncIntervalMs: 60_000 });
    runner.start();
    await clock.advance(0);
    await clock.advance(59_999);
    expect(calls).to.have.length(1);
    await clock.advance(1);
    expect(calls[1]).to.deep.equal({ reason: 'drift', at: t0 + 60_000 });
    await clock.advance(60_000);
    expect(calls.map((c) => c.reason)).to.deep.equal(['change', 'drift', 'drift']);
    // A change resets the period: the next drift check is 60 s after that sync.
    await clock.advance(30_000);
    runner.request();
    await clock.advance(0);
    await clock.advance(59_999);
    expect(calls.map((c) => c.reason)).to.deep.equal(['change', 'drift', 'drift', 'change']);
    await clock.advance(1);
    expect(calls.at(-1)!.reason).to.equal('drift');
  });

  it('stop() waits for the sync in flight and cancels every timer', async () => {
    const gate = deferred();
    const { clock, calls, runner } = setup({}, () => gate.promise);
    runner.start();
    await clock.advance(0);
    runner.request();
    let stopped = false;
    const s = runner.stop().then(() => { stopped = true; });
    await drain();
    expect(stopped).to.equal(false);
    gate.resolve();
    await s;
    expect(stopped).to.equal(true);
    await clock.advance(120_000);
    expect(calls).to.have.length(1);
    expect(clock.pending()).to.equal(0);
  });

  it('idle() resolves once pending changes are applied', async () => {
    const { clock, runner } = setup();
    runner.start();
    await clock.advance(0);
    runner.request();
    let idle = false;
    void runner.idle().then(() => { idle = true; });
    await drain();
    expect(idle).to.equal(false);
    await clock.advance(50);
    expect(idle).to.equal(true);
  });
});
