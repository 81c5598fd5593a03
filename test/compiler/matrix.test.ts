// matrix: workloads group only pods the policies cannot tell apart (the grouped matrix,
// expanded back to pods, is the `--by pod` matrix), every cell is what `explain` says,
// default columns, names, limits, text and JSON, and the what-if diff.
import { expect } from 'chai';
import fc from 'fast-check';
import { clusterFromObjects, explain, formatProblem, resolveAddressClaims, type Cluster } from '../../compiler/index.js';
import { buildMatrix, MatrixError, type Matrix, type Step, type Verdict } from '../../compiler/matrix.js';
import { cellExplanation, matrixJson, matrixText, whatIf, whatIfJson, whatIfText } from '../../compiler/matrix-output.js';
import { clusterObjectsArb } from '../helpers/random-cluster.js';
import { cluster, ns, pod, policy, type Obj } from './builders.js';
import { clusterArbOf } from './arbitraries.js';
import { connectionVerdict } from './packet-eval.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 40);

function cnp(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec };
}
const nsSel = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });

function randomCluster(objects: unknown[]): Cluster {
  const r = clusterFromObjects(objects);
  if (r.problems.length) throw new Error(r.problems.map(formatProblem).join('; '));
  return r.cluster;
}

/** Every pod pair's verdict on every column, read through the entities that hold them; a
 *  pod and itself is 'self' (a workload's own cell speaks of two distinct pods of it). */
function perPod(m: Matrix): Map<string, Verdict> {
  const out = new Map<string, Verdict>();
  m.entities.forEach((a, s) => m.entities.forEach((b, d) => {
    for (const p of a.pods) for (const q of b.pods) m.columns.forEach((c, ci) => {
      out.set(`${p.namespace}/${p.name}>${q.namespace}/${q.name}@${c.label}`, p === q ? 'self' : m.verdict(s, d, ci));
    });
  }));
  return out;
}

/** Each pod pair's deciding steps, as perPod reads verdicts. */
function perPodSteps(m: Matrix): Map<string, { egress: Step; ingress: Step } | undefined> {
  const out = new Map<string, { egress: Step; ingress: Step } | undefined>();
  m.entities.forEach((a, s) => m.entities.forEach((b, d) => {
    for (const p of a.pods) for (const q of b.pods) m.columns.forEach((c, ci) => {
      if (p === q) return;
      const st = m.steps(s, d, ci);
      out.set(`${p.namespace}/${p.name}>${q.namespace}/${q.name}@${c.label}`, st && { egress: st.egress, ingress: st.ingress });
    });
  }));
  return out;
}

describe('matrix', () => {
  const c = cluster(
    ns('x'), ns('y'),
    // Three replicas of one Deployment: labels no selector reads (pod-template-hash, version) differ.
    pod('x/web-7d4f9c6b8-abcde', { labels: { app: 'web', 'pod-template-hash': '7d4f9c6b8', version: 'v1' }, ports: [{ name: 'http', port: 8080 }], ips: ['192.0.2.10'] }),
    pod('x/web-7d4f9c6b8-fghij', { labels: { app: 'web', 'pod-template-hash': '7d4f9c6b8', version: 'v2' }, ports: [{ name: 'http', port: 8080 }], ips: ['192.0.2.11'] }),
    pod('x/web-7d4f9c6b8-klmno', { labels: { app: 'web', 'pod-template-hash': '7d4f9c6b8', version: 'v1' }, ports: [{ name: 'http', port: 8080 }], ips: ['192.0.2.12'] }),
    // Same labels, another named port: policies can tell it apart.
    pod('x/web-canary', { labels: { app: 'web' }, ports: [{ name: 'http', port: 9090 }], ips: ['192.0.2.13'] }),
    pod('x/db-0', { labels: { app: 'db' }, ips: ['192.0.2.14'] }),
    pod('y/client-0', { labels: { app: 'client' }, ips: ['192.0.2.16'] }),
    pod('y/client-1', { labels: { app: 'client' }, ips: ['192.0.2.17'] }),
    policy('x/web-from-y', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: [{ port: 'http' }] }] }),
    policy('x/db-from-web', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] }),
  );

  it('groups replicas whose differing labels no selector reads; a different named port is another row', () => {
    const m = buildMatrix(c);
    expect(m.entities.map((e) => `${e.id} ${e.pods.length}`)).to.deep.equal(['x/db-0 1', 'x/web 3', 'x/web-canary 1', 'y/client 2']);
    expect(m.entities[1]!.labels).to.deep.equal({ app: 'web' });
    expect(m.columns.map((col) => col.label)).to.deep.equal(['TCP/5432', 'TCP/8080 (http)', 'TCP/9090 (http)', 'TCP/other']);
  });

  it('the grouped matrix expanded back to pods is the --by pod matrix (and --by namespace agrees)', () => {
    const byPod = perPod(buildMatrix(c, { by: 'pod' }));
    expect(perPod(buildMatrix(c))).to.deep.equal(byPod);
    const byNs = buildMatrix(c, { by: 'namespace' });
    expect(byNs.entities.map((e) => e.id)).to.deep.equal(['x', 'y']);
    // y -> x on 8080: the web pods yes, db and canary no.
    expect(byNs.verdict(1, 0, 1)).to.equal('some');
    expect(byNs.verdict(0, 1, 3)).to.equal(true);
  });

  it('on random clusters with ClusterNetworkPolicies: workloads expand to the pod matrix, and every cell, in each family, is what explain and the compiled rulesets say, with the same deciding steps', function () {
    this.timeout(300_000);
    const seen: Record<string, number> = {};
    fc.assert(
      fc.property(fc.oneof(clusterObjectsArb(12, 5, 3), clusterArbOf(true)), (objects) => {
        const cl = randomCluster(objects);
        // The matrix, like explain, gives a contested address to its newest claimant
        // cluster-wide; a node's ruleset settles claims across nodes from its own point of view
        // (claims.test.ts, README "Address trust"). The rulesets get one owner per address here.
        const settled: Cluster = { ...cl, pods: resolveAddressClaims(cl.pods) };
        expect(perPod(buildMatrix(cl, { by: 'workload' }))).to.deep.equal(perPod(buildMatrix(cl, { by: 'pod' })));
        for (const family of [4, 6] as const) {
          const byPod = buildMatrix(cl, { by: 'pod', family });
          const byWorkload = buildMatrix(cl, { by: 'workload', family });
          expect(perPod(byWorkload)).to.deep.equal(perPod(byPod));
          expect(perPodSteps(byWorkload)).to.deep.equal(perPodSteps(byPod));
          byPod.entities.forEach((a, s) => byPod.entities.forEach((b, d) => byPod.columns.forEach((col, ci) => {
            const v = byPod.verdict(s, d, ci);
            if (v === 'self' || v === 'none') return;
            const p = a.pods[0]!, q = b.pods[0]!;
            const what = `${a.id} -> ${b.id} ${col.label} IPv${family}`;
            const e = explain(cl, `${p.namespace}/${p.name}`, `${q.namespace}/${q.name}`, col.port, col.protocol, { family });
            expect(v, `${what}: matrix vs explain`).to.equal(e.allowed);
            const ip = (x: typeof p) => x.ips.find((i) => (family === 4) === i.includes('.'))!;
            expect(v, `${what}: matrix vs the compiled rulesets, packet by packet`).to.equal(connectionVerdict(settled, ip(p), ip(q), col.protocol, col.port).allowed);
            const st = byPod.steps(s, d, ci);
            if (!cl.clusterPolicies?.length) { expect(st, what).to.equal(undefined); return; }
            expect({ egress: st?.egress, ingress: st?.ingress }, `${what}: deciding steps`).to.deep.equal({ egress: e.egress.decidedBy, ingress: e.ingress.decidedBy });
            for (const side of [e.egress, e.ingress]) seen[`${side.decidedBy} ${side.allowed ? 'allow' : 'deny'}`] = (seen[`${side.decidedBy} ${side.allowed ? 'allow' : 'deny'}`] ?? 0) + 1;
          })));
        }
      }),
      // A fixed seed by default: the coverage check below needs a run known to reach every step
      // (a random one sometimes drew no Baseline Deny at all); PROPERTY_SEED explores others.
      { numRuns: RUNS, seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : 1 },
    );
    // Sides of cells decided by every step, both ways: the tiers were walked, not skipped.
    if (process.env.PROPERTY_STATS) console.log(seen);
    for (const k of ['Admin allow', 'Admin deny', 'Baseline allow', 'Baseline deny', 'NetworkPolicy allow', 'NetworkPolicy deny', 'default allow']) expect(seen[k] ?? 0, `sides decided: ${k}`).to.be.greaterThan(5);
  });

  describe('with ClusterNetworkPolicy tiers', () => {
    // x/api: Admin denies z, passes y to the namespace owners; x's NetworkPolicy admits y/web
    // only; the Baseline denies everything else into x (x/db, which no NetworkPolicy selects).
    const objs = [
      ns('x'), ns('y'), ns('z'),
      pod('x/api-0', { labels: { app: 'api' }, ips: ['192.0.2.10'] }),
      pod('x/api-1', { labels: { app: 'api' }, ips: ['192.0.2.11'] }),
      pod('x/db-0', { labels: { app: 'db' }, ips: ['192.0.2.12'] }),
      pod('y/web-0', { labels: { app: 'web' }, ips: ['192.0.2.20'] }),
      // Same labels NetworkPolicies read; only a ClusterNetworkPolicy reads `audit`.
      pod('y/web-1', { labels: { app: 'web', audit: 'on' }, ips: ['192.0.2.21'] }),
      // In the Admin deny's network, unlike its namesake z/ops-0.
      pod('z/ops-0', { labels: { app: 'ops' }, ips: ['198.51.100.10'] }),
      pod('z/ops-1', { labels: { app: 'ops' }, ips: ['198.51.100.200'] }),
      policy('x/api-from-web', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ namespaceSelector: nsSel('y'), podSelector: { matchLabels: { app: 'web' } } }] }] }),
      cnp('protect-x', { tier: 'Admin', priority: 10, subject: { namespaces: nsSel('x') }, ingress: [
        { name: 'no-z', action: 'Deny', from: [{ namespaces: nsSel('z') }] },
        { name: 'y-to-owners', action: 'Pass', from: [{ namespaces: nsSel('y') }] },
      ] }),
      cnp('audit', { tier: 'Admin', priority: 20, subject: { pods: { namespaceSelector: nsSel('y'), podSelector: { matchLabels: { audit: 'on' } } } }, egress: [
        { name: 'not-db', action: 'Deny', to: [{ pods: { namespaceSelector: nsSel('x'), podSelector: { matchLabels: { app: 'db' } } } }] },
      ] }),
      cnp('ops-net', { tier: 'Admin', priority: 30, subject: { namespaces: nsSel('y') }, egress: [{ name: 'no-ops-net', action: 'Deny', to: [{ networks: ['198.51.100.0/25'] }] }] }),
      cnp('x-baseline', { tier: 'Baseline', priority: 10, subject: { namespaces: nsSel('x') }, ingress: [{ name: 'default-deny', action: 'Deny', from: [{ namespaces: {} }] }] }),
    ];
    const tiered = randomCluster(objs);

    it('groups apart the pods a cluster policy tells apart (a label only it reads, an address in its networks)', () => {
      const m = buildMatrix(tiered);
      expect(m.entities.map((e) => `${e.id} ${e.pods.length}`)).to.deep.equal(['x/api 2', 'x/db-0 1', 'y/web-0 1', 'y/web-1 1', 'z/ops-0 1', 'z/ops-1 1']);
    });

    it('text: each cell with the step that decided it', () => {
      const text = matrixText(buildMatrix(tiered, { ports: [{ port: 80, protocol: 'TCP' }] }));
      expect(text).to.include('decided by:  A the Admin tier  N NetworkPolicy  B the Baseline tier  (no letter: no step decides, the default allows)');
      expect(text).to.include([
        'TCP/80',
        '        x/api   x/db-0  y/web-0 y/web-1 z/ops-0 z/ops-1',
        'x/api   XN      XB      .       .       .       .',
        'x/db-0  XN      -       .       .       .       .',
        'y/web-0 .N      XB      -       .       XA      .',
        'y/web-1 .N      XA      .       -       XA      .',
        'z/ops-0 XA      XA      .       .       -       .',
        'z/ops-1 XA      XA      .       .       .       -',
      ].join('\n'));
    });

    it('JSON: each cell says which step decided it and each side\'s', () => {
      const j = matrixJson(buildMatrix(tiered, { ports: [{ port: 80, protocol: 'TCP' }] })) as { tiered: boolean; cells: Record<string, unknown>[] };
      expect(j.tiered).to.equal(true);
      expect(j.cells).to.deep.include({ from: 'y/web-1', to: 'x/db-0', port: 80, protocol: 'TCP', allowed: false, decidedBy: 'Admin', egress: 'Admin', ingress: 'Baseline' });
      expect(j.cells).to.deep.include({ from: 'y/web-0', to: 'x/api', port: 80, protocol: 'TCP', allowed: true, decidedBy: 'NetworkPolicy', egress: 'default', ingress: 'NetworkPolicy' });
    });

    it('what-if: removing the Baseline deny opens what no other step decides, naming the steps before and after', () => {
      const after = { ...tiered, clusterPolicies: tiered.clusterPolicies!.filter((p) => p.name !== 'x-baseline') };
      const w = whatIf(tiered, after, { ports: [{ port: 80, protocol: 'TCP' }] });
      // z stays denied by the Admin tier, y/web-1 by the audit policy, x/api's ingress by its NetworkPolicy.
      const was = '(was: denied by cnp/x-baseline ingress[0] "default-deny" (Baseline tier))';
      expect(whatIfText(w)).to.equal([
        '2 verdicts change: 2 opened, 0 closed',
        `opened  x/api -> x/db-0 TCP/80 [no step (default allow); was the Baseline tier]: ingress: no tier decides: allowed by default (no policy selects x/db-0 for ingress) ${was}`,
        `opened  y/web-0 -> x/db-0 TCP/80 [no step (default allow); was the Baseline tier]: ingress: no tier decides: allowed by default (no policy selects x/db-0 for ingress) ${was}`,
        '',
      ].join('\n'));
      const j = whatIfJson(w) as { changed: boolean; changes: Record<string, unknown>[] };
      expect(j.changed).to.equal(true);
      expect(j.changes[0]).to.deep.include({ from: 'x/api', to: 'x/db-0', change: 'opened', decidedBy: { before: 'Baseline', after: 'default' } });
      // And back: the what-if of a cluster without tiers against one with them says the steps too.
      const none = { ...tiered, clusterPolicies: [] };
      expect(whatIf(none, tiered, { ports: [{ port: 80, protocol: 'TCP' }] }).changes.find((c) => c.from === 'z/ops-0' && c.to === 'x/db-0')).to.deep.include({ change: 'closed', decidedBy: { before: 'default', after: 'Admin' } });
    });
  });

  it('--family picks the family of every pair; a pair without it has no cell', () => {
    const dual = cluster(ns('x'),
      pod('x/a', { labels: { app: 'a' }, ips: ['192.0.2.11', '2001:db8::11'] }),
      pod('x/b', { labels: { app: 'b' }, ips: ['192.0.2.12', '2001:db8::12'] }),
      pod('x/v4', { labels: { app: 'v4' }, ips: ['192.0.2.13'] }),
      policy('x/a-v6-only', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '2001:db8::/64' } }] }] }));
    const v4 = buildMatrix(dual, { by: 'pod', family: 4 }), v6 = buildMatrix(dual, { by: 'pod', family: 6 });
    expect(v4.verdict(1, 0, 0)).to.equal(false);
    expect(v6.verdict(1, 0, 0)).to.equal(true);
    expect(v6.verdict(2, 0, 0)).to.equal('none');
    expect(cellExplanation(v6, 1, 0, 0)).to.include('x/b (2001:db8::12) -> x/a (2001:db8::11)');
  });

  it('--namespace keeps both ends in the namespaces named; --port asks exactly those ports', () => {
    const m = buildMatrix(c, { namespaces: ['y'], ports: [{ port: 8080, protocol: 'TCP' }] });
    expect(m.entities.map((e) => e.id)).to.deep.equal(['y/client']);
    expect(m.columns.map((col) => col.label)).to.deep.equal(['TCP/8080']);
  });

  it('--by pod on a large cluster says so and points to --by workload', () => {
    expect(() => buildMatrix(c, { by: 'pod', maxPods: 5 })).to.throw(MatrixError, /--by pod: 7 pods make 49 pairs.*use --by workload/);
  });

  it('text: one truth table per port; JSON: a cell per pair and port', () => {
    const m = buildMatrix(c);
    const text = matrixText(m);
    expect(text).to.include('netpol-nft matrix: 4 workloads (7 pods)');
    expect(text).to.include([
      'TCP/8080 (http)',
      '             x/db-0       x/web        x/web-canary y/client',
      'x/db-0       -            X            X            .',
      'x/web        X            X            X            .',
      'x/web-canary X            X            -            .',
      'y/client     X            .            X            .',
    ].join('\n'));
    const j = matrixJson(m) as { cells: { from: string; to: string; port: number; protocol: string; allowed: unknown }[]; listed: string };
    expect(j.listed).to.equal('all');
    expect(j.cells).to.have.length(4 * 4 * 4);
    expect(j.cells).to.deep.include({ from: 'y/client', to: 'x/web', port: 8080, protocol: 'TCP', allowed: true });
    expect(j.cells).to.deep.include({ from: 'y/client', to: 'x/db-0', port: 5432, protocol: 'TCP', allowed: false });
  });

  it('a large matrix lists the allowed pairs (text) and the allowed cells (JSON), and says so', () => {
    const m = buildMatrix(c);
    expect(matrixText(m, 3).split('\n').slice(-4)).to.deep.equal([
      '  y/client -> x/web: TCP/8080 (http)',
      '  y/client -> x/web-canary: TCP/9090 (http)',
      '  y/client -> y/client: TCP/5432 TCP/8080 (http) TCP/9090 (http) TCP/other',
      '',
    ]);
    expect(matrixText(m, 3)).to.include('allowed pairs, with the ports they are allowed on (every pair not listed is denied on TCP/5432, TCP/8080 (http), TCP/9090 (http), TCP/other):\n  x/db-0 -> y/client: ');
    const j = matrixJson(m, 10) as { listed: string; cells: { allowed: unknown }[] };
    expect(j.listed).to.equal('allowed');
    expect(j.cells.every((x) => x.allowed === true)).to.equal(true);
    const full = (matrixJson(m) as { cells: { allowed: unknown }[] }).cells.filter((x) => x.allowed === true);
    expect(j.cells).to.deep.equal(full.filter((x) => !(x as { self?: true }).self));
  });

  it('a workload cell is explained by two of its pods, in explain words', () => {
    const m = buildMatrix(c);
    expect(cellExplanation(m, 3, 1, 1)).to.equal([
      '(y/client-0 and x/web-7d4f9c6b8-abcde stand for y/client and x/web)',
      'y/client-0 (192.0.2.16) -> x/web-7d4f9c6b8-abcde (192.0.2.10) TCP/8080: ALLOWED',
      '  egress  at source:      allowed  no policy selects y/client-0 for egress',
      '  ingress at destination: allowed  allowed by x/web-from-y ingress[0]',
      '',
    ].join('\n'));
  });

  describe('what-if', () => {
    it('a policy removed opens pairs, added back closes them, each with the rule on the side that changed', () => {
      const after = { ...c, policies: c.policies.filter((p) => p.name !== 'db-from-web') };
      const w = whatIf(c, after);
      expect(w.changes.map((x) => `${x.change} ${x.from} -> ${x.to} ${x.column.label}`)).to.deep.equal([
        'opened x/web -> x/db-0 TCP/8080 (http)',
        'opened x/web -> x/db-0 TCP/9090 (http)',
        'opened x/web -> x/db-0 TCP/other',
        'opened x/web-canary -> x/db-0 TCP/8080 (http)',
        'opened x/web-canary -> x/db-0 TCP/9090 (http)',
        'opened x/web-canary -> x/db-0 TCP/other',
        'opened y/client -> x/db-0 TCP/5432',
        'opened y/client -> x/db-0 TCP/8080 (http)',
        'opened y/client -> x/db-0 TCP/9090 (http)',
        'opened y/client -> x/db-0 TCP/other',
      ]);
      expect(w.changes[0]!.because).to.equal('ingress: no policy selects x/db-0 for ingress (was: isolated by x/db-from-web; no rule allows it)');
      // And back: the same pairs close, the policy's rule named as what used to allow 5432.
      const back = whatIf(after, c);
      expect(back.changes.map((x) => x.change)).to.deep.equal(Array(10).fill('closed'));
      expect(whatIfText(back)).to.include('closed  y/client -> x/db-0 TCP/5432 TCP/8080 (http) TCP/9090 (http) TCP/other: ingress: isolated by x/db-from-web; no rule allows it (was: no policy selects x/db-0 for ingress)\n');
      expect(whatIfText(back)).to.match(/^10 verdicts change: 0 opened, 10 closed\n/);
    });

    it('a change that moves no verdict is no change', () => {
      const same = { ...c, policies: [...c.policies, ...cluster(policy('x/web-from-y-again', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: [{ port: 'http' }] }] })).policies] };
      expect(whatIf(c, same).changes).to.deep.equal([]);
      expect(whatIfText(whatIf(c, same))).to.equal('no verdict changes\n');
    });
  });
});
