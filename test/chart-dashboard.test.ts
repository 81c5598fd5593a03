// The chart's Grafana dashboard (dashboard.enabled): a ConfigMap the Grafana sidecar picks up by
// its label, holding files/dashboard.json; and a model check of that JSON: every query names
// metrics the agent registers (from its own metrics registry, so renaming a metric or a label
// breaks this test), with labels those metrics have. Also the chart value that turns on the
// per-rule counters the dashboard's rule panels read.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { parseConfig } from '../controller/config.js';
import { Metrics } from '../controller/metrics.js';
import { Chart } from './chart-render.test.js';

type Obj = Record<string, any>;
const chartDir = join(fileURLToPath(new URL('..', import.meta.url)), 'charts', 'netpol-nft');
const chart = new Chart(chartDir);
const dashboardOf = (values: unknown) => chart.objects(values).find((o) => o.obj.kind === 'ConfigMap' && o.obj.metadata.name === 'netpol-nft-dashboard')?.obj;

/** Every metric the agent can export (all options on), with its type and label names. */
function agentMetrics(): Map<string, { type: string; labels: Set<string> }> {
  const registry = new Registry();
  new Metrics(registry, { defaultMetrics: false, policyRuleCounters: true });
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const m of registry.getMetricsAsArray()) {
    const o = m as unknown as { name: string; labelNames?: string[]; constructor: { name: string } };
    out.set(o.name, { type: o.constructor.name, labels: new Set(o.labelNames ?? []) });
  }
  return out;
}

/** The metrics a PromQL expression names, resolving a histogram's _bucket/_sum/_count
 *  series to the histogram; throws on a name the agent does not export. */
export function metricsOf(expr: string, known: ReturnType<typeof agentMetrics>): string[] {
  const names = [...new Set(expr.match(/\bnetpol_nft_[a-z0-9_]+/g) ?? [])];
  return names.map((n) => {
    if (known.has(n)) return n;
    const base = n.replace(/_(bucket|sum|count)$/, '');
    if (base !== n && known.get(base)?.type === 'Histogram') return base;
    throw new Error(`${n}: not a metric the agent exports (in ${expr})`);
  });
}

/** Label names an expression groups by or matches on. */
function labelsOf(expr: string): string[] {
  const out: string[] = [];
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) out.push(...m[1]!.split(',').map((s) => s.trim()).filter(Boolean));
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) for (const kv of m[1]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)) out.push(kv[1]!);
  return out;
}

// Labels Prometheus adds to every series (instance, job; node from the chart's ServiceMonitor)
// and the bucket label of histograms.
const TARGET_LABELS = new Set(['instance', 'job', 'node', 'le']);

describe('helm chart: Grafana dashboard', () => {
  const raw = readFileSync(join(chartDir, 'files', 'dashboard.json'), 'utf8');
  const dash = JSON.parse(raw) as Obj;
  const panels = (dash.panels as Obj[]).filter((p) => p.type !== 'row');
  const exprs = panels.flatMap((p) => (p.targets as Obj[]).map((t) => ({ panel: p.title as string, expr: t.expr as string })));

  it('is off by default', () => {
    expect(dashboardOf({})).to.equal(undefined);
  });

  it('renders a ConfigMap with the sidecar label, holding the dashboard JSON as it is in files/', () => {
    const cm = dashboardOf({ dashboard: { enabled: true } })!;
    expect(cm.apiVersion).to.equal('v1');
    expect(cm.metadata.namespace).to.equal('kube-system');
    expect(cm.metadata.labels).to.include({ grafana_dashboard: '1', 'app.kubernetes.io/instance': 'netpol-nft' });
    expect(cm.metadata.annotations).to.equal(undefined);
    expect(Object.keys(cm.data)).to.deep.equal(['netpol-nft.json']);
    expect(JSON.parse(cm.data['netpol-nft.json'])).to.deep.equal(dash);
    const other = dashboardOf({ dashboard: { enabled: true, label: 'example.com/dashboard', labelValue: 'netpol', namespace: 'monitoring', annotations: { grafana_folder: 'Networking' } } })!;
    expect(other.metadata.labels).to.include({ 'example.com/dashboard': 'netpol' }).and.not.have.property('grafana_dashboard');
    expect(other.metadata.namespace).to.equal('monitoring');
    expect(other.metadata.annotations).to.deep.equal({ grafana_folder: 'Networking' });
  });

  it('is a Grafana dashboard model: uid, unique panel ids, a data source variable every query uses, panels inside the grid', () => {
    expect(dash).to.include({ uid: 'netpol-nft', title: 'netpol-nft' });
    expect(dash.schemaVersion).to.be.a('number');
    const ids = (dash.panels as Obj[]).map((p) => p.id);
    expect(new Set(ids).size).to.equal(ids.length);
    const vars = (dash.templating.list as Obj[]).map((v) => v.name);
    expect(vars).to.include('datasource');
    for (const p of panels) {
      expect(p.datasource, p.title).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets, p.title).to.be.an('array').that.is.not.empty;
      for (const t of p.targets as Obj[]) expect(t.datasource, p.title).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
      expect(p.gridPos.x + p.gridPos.w, p.title).to.be.at.most(24);
    }
    // No two panels overlap.
    const all = dash.panels as Obj[];
    for (const [i, a] of all.entries()) for (const b of all.slice(i + 1)) {
      const apart = a.gridPos.x + a.gridPos.w <= b.gridPos.x || b.gridPos.x + b.gridPos.w <= a.gridPos.x || a.gridPos.y + a.gridPos.h <= b.gridPos.y || b.gridPos.y + b.gridPos.h <= a.gridPos.y;
      expect(apart, `${a.title} overlaps ${b.title}`).to.equal(true);
    }
  });

  it('queries only metrics the agent exports, with labels those metrics have (checked against the metrics registry)', () => {
    const known = agentMetrics();
    const queries = [...exprs, ...(dash.templating.list as Obj[]).filter((v) => v.type === 'query').map((v) => ({ panel: `variable ${v.name}`, expr: v.query.query as string }))];
    for (const { panel, expr } of queries) {
      const metrics = metricsOf(expr, known);
      expect(metrics, `${panel}: names no agent metric`).to.not.be.empty;
      const have = new Set([...TARGET_LABELS, ...metrics.flatMap((m) => [...known.get(m)!.labels])]);
      for (const l of labelsOf(expr)) expect(have.has(l), `${panel}: label ${l} is on none of ${metrics.join(', ')}`).to.equal(true);
    }
    // The checks above can fail: a made-up name and a made-up label are caught.
    expect(() => metricsOf('rate(netpol_nft_no_such_total[5m])', known)).to.throw(/not a metric/);
    expect(() => metricsOf('netpol_nft_dropped_packets_total_bucket', known)).to.throw(/not a metric/);
    expect(labelsOf('sum by (namespace, pod) (x{direction="ingress"})')).to.deep.equal(['namespace', 'pod', 'direction']);
  });

  it('has the panels the issue asks for: sync latency, transaction sizes, drops by namespace and pod, rule usage and unused rules, watch restarts, errors', () => {
    const uses = (metric: string, re: RegExp = /./) => exprs.filter((e) => e.expr.includes(metric) && re.test(e.expr)).map((e) => e.panel);
    expect(uses('netpol_nft_sync_duration_seconds_bucket', /histogram_quantile/)).to.include('Sync latency');
    expect(uses('netpol_nft_nftables_transaction_operations_bucket')).to.include('Transaction sizes');
    expect(uses('netpol_nft_dropped_packets_total', /by \(namespace, direction\)/)).to.include('Drops by namespace');
    expect(uses('netpol_nft_dropped_packets_total', /by \(namespace, pod, direction\)/)).to.include('Top dropping pods');
    expect(uses('netpol_nft_policy_rule_connections_total', /by \(namespace, policy, direction, rule\)/)).to.include('Rule usage');
    expect(uses('netpol_nft_policy_rule_connections_total', /\[\$__range\]\)\) == 0$/)).to.include('Rules nothing used');
    expect(uses('netpol_nft_watch_restarts_total')).to.include('Watch restarts');
    expect(uses('netpol_nft_sync_failures_total')).to.include('Errors');
  });

  it('metrics.policyRuleCounters renders --policy-rule-counters, which the agent accepts (off by default)', () => {
    const argsOf = (values: unknown) => {
      const ds = chart.objects(values).find((o) => o.obj.kind === 'DaemonSet' && o.obj.metadata.name === 'netpol-nft')!.obj;
      const args = (ds.spec.template.spec.containers[0].args as string[]).slice(1).map((a) => a.replace('$(NODE_NAME)', 'n1'));
      const cfg = parseConfig(args, {});
      if (cfg === 'help') throw new Error('help');
      return cfg;
    };
    expect(argsOf({}).policyRuleCounters).to.equal(false);
    expect(argsOf({ metrics: { policyRuleCounters: true } }).policyRuleCounters).to.equal(true);
  });
});
