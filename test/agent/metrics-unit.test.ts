// The drop metrics without a kernel: totals built from reads that return what was counted
// since the previous read (`nft reset counters`), one read at a time, reused for a while,
// a slow read never holding a scrape, and the series per pod or per namespace.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import type { LocalPod } from '../../compiler/index.js';
import { Metrics, type DropCounterReader, type MetricsOptions } from '../../controller/metrics.js';

type Counts = Record<string, [number, number]>;

function pod(ref: string, opts: { ingress?: boolean; egress?: boolean } = { ingress: true }): LocalPod {
  const [namespace, name] = ref.split('/') as [string, string];
  return {
    namespace, name, ips: [],
    ingress: { isolated: !!opts.ingress, counter: opts.ingress ? `drop_in_${namespace}_${name}` : undefined, policies: [] },
    egress: { isolated: !!opts.egress, counter: opts.egress ? `drop_eg_${namespace}_${name}` : undefined, policies: [] },
  };
}

/** A reader standing in for the kernel: each read hands over what was queued (then zeroes it). */
class FakeKernel {
  reads = 0;
  private queued = new Map<string, { packets: number; bytes: number }>();
  pods: LocalPod[] = [];
  /** When set, reads wait for release(). */
  gate: Promise<void> | undefined;
  count(c: Counts): void {
    for (const [name, [packets, bytes]] of Object.entries(c)) {
      const q = this.queued.get(name) ?? { packets: 0, bytes: 0 };
      this.queued.set(name, { packets: q.packets + packets, bytes: q.bytes + bytes });
    }
  }
  reader: DropCounterReader = async () => {
    this.reads++;
    await this.gate;
    const counters = this.queued;
    this.queued = new Map();
    return { counters, pods: this.pods };
  };
}

function setup(opts: MetricsOptions = {}) {
  let now = 0;
  const metrics = new Metrics(new Registry(), { defaultMetrics: false, dropReadWaitMs: 10_000, ...opts, now: () => now });
  const kernel = new FakeKernel();
  metrics.setDropReader(kernel.reader);
  const setPods = (pods: LocalPod[]) => {
    kernel.pods = pods;
    metrics.setLocalPods(pods);
  };
  const samples = async (name = 'netpol_nft_dropped_packets_total') => {
    const m = await metrics.registry.getSingleMetric(name)!.get();
    return Object.fromEntries(m.values.map((v) => [Object.values(v.labels).join('/'), v.value]));
  };
  return { metrics, kernel, setPods, samples, advance: (ms: number) => { now += ms; } };
}

describe('agent: drop metrics from counter reads', () => {
  it('adds each read to the totals of its pod and direction, and keeps them across reads', async () => {
    const t = setup({ dropReadMaxAgeMs: 0 });
    t.setPods([pod('x/a', { ingress: true, egress: true }), pod('x/b')]);
    t.kernel.count({ drop_in_x_a: [3, 300], drop_eg_x_a: [1, 60] });
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 3, 'x/a/egress': 1, 'x/b/ingress': 0 });
    t.kernel.count({ drop_in_x_a: [2, 200], drop_in_x_b: [5, 500] });
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 5, 'x/a/egress': 1, 'x/b/ingress': 5 });
    expect(await t.samples('netpol_nft_dropped_bytes_total')).to.deep.equal({ 'x/a/ingress': 500, 'x/a/egress': 60, 'x/b/ingress': 500 });
    expect(t.kernel.reads).to.equal(3);
  });

  it('ends the series of a pod that left the node, and ignores counts of counters it does not know', async () => {
    const t = setup({ dropReadMaxAgeMs: 0 });
    t.setPods([pod('x/a'), pod('x/b')]);
    t.kernel.count({ drop_in_x_a: [3, 300], drop_in_x_b: [4, 400], drop_in_gone_pod: [9, 900] });
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 3, 'x/b/ingress': 4 });
    t.setPods([pod('x/a')]);
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 3 });
    // b comes back (a new pod of the same name): it starts again from zero.
    t.setPods([pod('x/a'), pod('x/b')]);
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 3, 'x/b/ingress': 0 });
  });

  it('a pod that leaves and comes back between two scrapes shows its new totals (the series are updated, not rebuilt, per scrape)', async () => {
    const t = setup({ dropReadMaxAgeMs: 0 });
    t.setPods([pod('x/a'), pod('x/b')]);
    t.kernel.count({ drop_in_x_a: [3, 300], drop_in_x_b: [4, 400] });
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 3, 'x/b/ingress': 4 });
    // b leaves; a read (no scrape) ends its totals; b comes back and counts anew.
    t.setPods([pod('x/a')]);
    await t.metrics.refreshDrops();
    t.setPods([pod('x/a'), pod('x/b')]);
    t.kernel.count({ drop_in_x_a: [1, 100], drop_in_x_b: [1, 50] });
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 4, 'x/b/ingress': 1 });
    expect(await t.samples('netpol_nft_dropped_bytes_total')).to.deep.equal({ 'x/a/ingress': 400, 'x/b/ingress': 50 });
    // Nothing counted, nothing changed: the same figures.
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 4, 'x/b/ingress': 1 });
  });

  it('per namespace: one series per namespace and direction, never going down when a pod leaves', async () => {
    const t = setup({ dropReadMaxAgeMs: 0, dropMetricsBy: 'namespace' });
    t.setPods([pod('x/a', { ingress: true, egress: true }), pod('x/b'), pod('y/c')]);
    t.kernel.count({ drop_in_x_a: [3, 300], drop_in_x_b: [4, 400], drop_eg_x_a: [1, 10], drop_in_y_c: [2, 20] });
    expect(await t.samples()).to.deep.equal({ 'x/ingress': 7, 'x/egress': 1, 'y/ingress': 2 });
    t.setPods([pod('x/a', { ingress: true, egress: true }), pod('y/c')]);
    t.kernel.count({ drop_in_x_a: [1, 100] });
    expect(await t.samples(), 'b left: x keeps what b dropped').to.deep.equal({ 'x/ingress': 8, 'x/egress': 1, 'y/ingress': 2 });
    const m = await t.metrics.registry.getSingleMetric('netpol_nft_dropped_packets_total')!.get();
    expect(m.values.every((v) => !('pod' in v.labels)), 'no pod label').to.equal(true);
  });

  it('reuses a read for dropReadMaxAgeMs, then reads again', async () => {
    const t = setup({ dropReadMaxAgeMs: 5000 });
    t.setPods([pod('x/a')]);
    t.kernel.count({ drop_in_x_a: [1, 1] });
    await t.samples();
    t.kernel.count({ drop_in_x_a: [1, 1] });
    t.advance(4999);
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 1 });
    expect(t.kernel.reads).to.equal(1);
    t.advance(1);
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 2 });
    expect(t.kernel.reads).to.equal(2);
  });

  it('runs one read at a time, however many scrapes ask', async () => {
    const t = setup({ dropReadMaxAgeMs: 0 });
    t.setPods([pod('x/a')]);
    let release!: () => void;
    t.kernel.gate = new Promise((r) => { release = r; });
    t.kernel.count({ drop_in_x_a: [2, 2] });
    const scrapes = [t.metrics.registry.metrics(), t.metrics.registry.metrics(), t.metrics.refreshDrops(), t.metrics.refreshDrops()];
    await new Promise((r) => setImmediate(r));
    expect(t.kernel.reads).to.equal(1);
    release();
    await Promise.all(scrapes);
    expect(t.kernel.reads).to.equal(1);
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 2 });
  });

  it('answers a scrape with the totals it has while a slow read goes on, and serves the read to the next one', async () => {
    const t = setup({ dropReadMaxAgeMs: 0, dropReadWaitMs: 1 });
    t.setPods([pod('x/a')]);
    t.kernel.count({ drop_in_x_a: [1, 1] });
    await t.samples();
    let release!: () => void;
    t.kernel.gate = new Promise((r) => { release = r; });
    t.kernel.count({ drop_in_x_a: [5, 5] });
    // The read is held until after this scrape has answered: the scrape cannot have waited for it.
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 1 });
    expect(t.kernel.reads).to.equal(2);
    release();
    t.kernel.gate = undefined;
    await t.metrics.refreshDrops(10_000);
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 6 });
  });

  it('keeps the totals and counts the failure when a read fails', async () => {
    const t = setup({ dropReadMaxAgeMs: 0 });
    t.setPods([pod('x/a')]);
    t.kernel.count({ drop_in_x_a: [3, 3] });
    await t.samples();
    t.metrics.setDropReader(async () => { throw new Error('nft failed'); });
    expect(await t.samples()).to.deep.equal({ 'x/a/ingress': 3 });
    const reads = await t.metrics.registry.getSingleMetric('netpol_nft_drop_counters_read_duration_seconds')!.get();
    expect((reads.values as { metricName?: string; labels: Record<string, unknown>; value: number }[]).find((v) => v.metricName?.endsWith('_count') && v.labels.result === 'error')?.value).to.equal(1);
  });

  it('reads at once before a full replace, however fresh the last read, and waits for a slow read only so long', async () => {
    const t = setup({ dropReadMaxAgeMs: 60_000 });
    t.setPods([pod('x/a')]);
    t.kernel.count({ drop_in_x_a: [2, 2] });
    await t.samples();
    t.kernel.count({ drop_in_x_a: [3, 3] });
    await t.metrics.readCountersNow();
    expect(t.kernel.reads).to.equal(2);
    expect(await t.samples(), 'the cached read serves the scrape, with what readCountersNow added').to.deep.equal({ 'x/a/ingress': 5 });
    let release!: () => void;
    t.kernel.gate = new Promise<void>((r) => { release = r; });
    await t.metrics.readCountersNow(20); // returns while the read hangs
    expect(t.kernel.reads).to.equal(3);
    release();
  });
});
