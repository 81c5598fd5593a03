// The drop metrics write their own exposition text (metrics.ts OWN_TEXT: prom-client's
// formatting of 5,000 series held the event loop for 37-94 ms per scrape at L). It must be
// prom-client's text byte for byte: the same HELP and TYPE lines, the same series in the same
// order (a series that ends and starts again goes last), the same escaping of label values,
// the same numbers. Random churn of pods and counts, per pod and per namespace; after each
// step the page renderSliced serves equals registry.metrics() (prom-client's own page).
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { prng } from '../../bench/generate.js';
import type { LocalPod } from '../../compiler/index.js';
import { renderSliced } from '../../controller/health.js';
import { Metrics, OWN_TEXT, type DropMetricsBy, type OwnText } from '../../controller/metrics.js';

// Names no Kubernetes object has, to prove the escaping: a backslash, a quote, a newline.
const NAMESPACES = ['x', 'team-1', 'we"ird', 'back\\slash', 'new\nline'];

function localPod(i: number): LocalPod {
  const namespace = NAMESPACES[i % NAMESPACES.length]!, name = i % 7 === 3 ? `p-${i}"q` : `p-${i}`;
  return {
    namespace, name, ips: [],
    ingress: { isolated: i % 3 !== 2, counter: i % 3 !== 2 ? `in_${i}` : undefined, policies: [] },
    egress: { isolated: i % 2 === 0, counter: i % 2 === 0 ? `eg_${i}` : undefined, policies: [] },
  };
}

for (const by of ['pod', 'namespace'] as DropMetricsBy[]) {
  describe(`metrics: the drop metrics' own text is prom-client's, byte for byte (by ${by})`, () => {
    it('along random churn of local pods and counts, with reads between scrapes', async () => {
      const rnd = prng(by === 'pod' ? 1 : 2);
      const registry = new Registry();
      const metrics = new Metrics(registry, { defaultMetrics: false, dropMetricsBy: by, dropReadMaxAgeMs: 0 });
      let pods: LocalPod[] = [];
      let queued = new Map<string, { packets: number; bytes: number }>();
      metrics.setDropReader(async () => {
        const counters = queued;
        queued = new Map();
        return { counters, pods };
      });
      const own = (m: unknown) => (m as OwnText)[OWN_TEXT]!;
      expect(own(metrics.droppedPackets), 'the packets metric writes its own text').to.be.a('function');
      expect(own(metrics.droppedBytes), 'the bytes metric writes its own text').to.be.a('function');
      let series = 0;
      for (let step = 0; step < 60; step++) {
        // A new list of pods (some kept, some gone, some back), as the engine hands it over.
        if (step === 0 || rnd() < 0.6) {
          pods = Array.from({ length: 40 }, (_, i) => i).filter(() => rnd() < 0.6).map(localPod);
          metrics.setLocalPods(pods);
        }
        for (const p of pods) for (const d of ['ingress', 'egress'] as const) {
          const c = p[d].counter;
          if (c && rnd() < 0.5) queued.set(c, { packets: Math.floor(rnd() * 1000), bytes: Math.floor(rnd() * 2 ** 40) });
        }
        // A read with no scrape: a series can end and start again between two scrapes.
        if (rnd() < 0.3) await metrics.refreshDrops();
        const ours = await renderSliced(registry);
        const theirs = await registry.metrics();
        expect(ours, `page at step ${step}`).to.equal(theirs);
        for (const name of ['netpol_nft_dropped_packets_total', 'netpol_nft_dropped_bytes_total']) {
          expect(await own(registry.getSingleMetric(name))(), `${name} at step ${step}`).to.equal(await registry.getSingleMetricAsString(name));
        }
        series = Math.max(series, ours.split('\n').filter((l) => l.startsWith('netpol_nft_dropped_packets_total{')).length);
      }
      expect(series, 'series on a page').to.be.greaterThan(by === 'pod' ? 20 : 4);
    });

    it('a series whose totals start again between two scrapes goes last, as in prom-client', async () => {
      const registry = new Registry();
      const metrics = new Metrics(registry, { defaultMetrics: false, dropMetricsBy: by, dropReadMaxAgeMs: 0 });
      let pods = [0, 1, 2, 3, 4].map(localPod);
      let queued = new Map([['in_0', { packets: 50, bytes: 5000 }]]);
      metrics.setDropReader(async () => {
        const counters = queued;
        queued = new Map();
        return { counters, pods };
      });
      metrics.setLocalPods(pods);
      expect(await renderSliced(registry)).to.equal(await registry.metrics());
      // Pod 0 leaves (a read ends its totals), comes back, counts less than before.
      pods = [1, 2, 3, 4].map(localPod);
      metrics.setLocalPods(pods);
      await metrics.refreshDrops();
      pods = [0, 1, 2, 3, 4].map(localPod);
      metrics.setLocalPods(pods);
      queued = new Map([['in_0', { packets: 1, bytes: 100 }]]);
      const page = await renderSliced(registry);
      expect(page).to.equal(await registry.metrics());
      const lines = page.split('\n').filter((l) => l.startsWith('netpol_nft_dropped_packets_total{'));
      expect(lines.at(-1)).to.match(/ 1$/);
    });
  });
}
