// What can be checked of the Helm chart without the helm binary: values.yaml against
// values.schema.json, every value a template reads exists in both, and the chart rendered
// (by the subset renderer in chart-render.test.ts) with default and other values gives the
// Kubernetes objects we mean: the agent DaemonSet, read-only RBAC, the metrics Service,
// the optional ServiceMonitor and the uninstall cleanup hooks. The agent's flags are parsed
// by the agent's own config parser, and the cleanup hook's scripts are run for real.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
// The generated models of the pinned client (1.4.0) know every field of every built-in kind;
// the class is not re-exported by the package index, hence the deep import.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { parseConfig } from '../controller/config.js';
import { Chart, mergeValues, valuePaths } from './chart-render.test.js';
import { schemaAt, validate, type Schema } from './chart-schema.test.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const chartDir = join(repo, 'charts', 'netpol-nft');
const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Schema;
const defaults = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, any>;
const chart = new Chart(chartDir);

type Obj = Record<string, any>;
const find = (objs: { obj: Obj }[], kind: string, name: string): Obj | undefined => objs.find((o) => o.obj.kind === kind && o.obj.metadata?.name === name)?.obj;
const get = (objs: { obj: Obj }[], kind: string, name: string): Obj => {
  const o = find(objs, kind, name);
  if (!o) throw new Error(`no ${kind} ${name} among ${objs.map((x) => `${x.obj.kind}/${x.obj.metadata?.name}`).join(', ')}`);
  return o;
};
const subsetOf = (small: Record<string, string>, big: Record<string, string>): boolean => Object.entries(small).every(([k, v]) => big[k] === v);

function hasPath(obj: unknown, path: string): boolean {
  let v: unknown = obj;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(k in v)) return false;
    v = (v as Record<string, unknown>)[k];
  }
  return true;
}

/** Leaf paths of values.yaml (a map's keys are leaves too when the map is empty). */
function leafPaths(v: unknown, prefix: string[] = []): string[][] {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length === 0) return [prefix];
  return Object.entries(v).flatMap(([k, x]) => leafPaths(x, [...prefix, k]));
}

describe('helm chart: values and schema', () => {
  it('Chart.yaml is a v2 application chart whose appVersion is the package version', () => {
    const meta = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Obj;
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Obj;
    expect(meta).to.include({ apiVersion: 'v2', name: 'netpol-nft', type: 'application', appVersion: pkg.version });
    expect(meta.version).to.match(/^\d+\.\d+\.\d+$/);
  });

  it('values.yaml validates against values.schema.json (draft-07)', () => {
    expect(schema.$schema).to.equal('http://json-schema.org/draft-07/schema#');
    expect(validate(schema, defaults)).to.deep.equal([]);
  });

  it('the schema rejects bad values, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ resources: { limits: { cpu: '1' } } }, /values\.resources\.limits\.cpu: not allowed/],
      [{ metrics: { port: 0 } }, /values\.metrics\.port: below 1/],
      [{ metrics: { port: '9743' } }, /values\.metrics\.port: must be integer/],
      [{ agent: { logLevel: 'loud' } }, /values\.agent\.logLevel: must be one of/],
      [{ agent: { ctMarkMask: 'fff000' } }, /values\.agent\.ctMarkMask: "fff000" does not match/],
      [{ agent: { extraArgs: ['debounce=1s'] } }, /values\.agent\.extraArgs\[0\]/],
      [{ agent: { table: 'netpol-nft' } }, /values\.agent\.table/],
      [{ image: { pullPolicy: 'Sometimes' } }, /values\.image\.pullPolicy/],
      [{ updateStrategy: { maxUnavailable: 0 } }, /values\.updateStrategy\.maxUnavailable: below 1/],
      [{ cleanup: { enabled: 'yes' } }, /values\.cleanup\.enabled: must be boolean/],
      [{ tolerations: [{ operator: 'Exists', effects: 'NoSchedule' }] }, /values\.tolerations\[0\]\.effects: not allowed/],
      [{ metric: { port: 1 } }, /values\.metric: not allowed/],
      [{ metrics: { host: '10.0.0.1' } }, /values\.metrics\.host: must be one of/],
    ];
    for (const [override, message] of bad) {
      const errors = validate(schema, mergeForTest(override));
      expect(errors.join('\n'), JSON.stringify(override)).to.match(message);
    }
    // Percentages are how Kubernetes also spells maxUnavailable.
    expect(validate(schema, mergeForTest({ updateStrategy: { maxUnavailable: '10%' } }))).to.deep.equal([]);
  });

  it('every value a template reads exists in values.yaml and in the schema', () => {
    const paths = [...valuePaths(chartDir)].sort();
    expect(paths.length).to.be.greaterThan(15);
    for (const p of paths) {
      expect(hasPath(defaults, p), `values.yaml lacks ${p}`).to.equal(true);
      expect(schemaAt(schema, p), `values.schema.json lacks ${p}`).to.not.equal(undefined);
    }
  });

  it('every key of values.yaml is read by a template and typed in the schema', () => {
    const read = [...valuePaths(chartDir)];
    for (const keys of leafPaths(defaults)) {
      const leaf = keys.join('.');
      expect(read.some((p) => leaf === p || leaf.startsWith(p + '.')), `no template reads ${leaf}`).to.equal(true);
      expect(schemaAt(schema, keys), `values.schema.json lacks ${leaf}`).to.not.equal(undefined);
    }
  });

  it('every key of values.yaml is documented by a comment line above it', () => {
    const lines = readFileSync(join(chartDir, 'values.yaml'), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!/^\s*[A-Za-z0-9_./-]+:/.test(line)) return;
      let j = i - 1;
      while (j >= 0 && lines[j]!.trim() === '') j--;
      expect(lines[j]?.trim().startsWith('#') || line.includes(' # '), `values.yaml line ${i + 1} (${line.trim()}) has no comment`).to.equal(true);
    });
  });
});

/** The values Helm would validate for a `-f` file holding `override`. */
function mergeForTest(override: unknown): Obj {
  return mergeValues(defaults, override) as Obj;
}

/** Paths present in `orig` but lost by a typed round trip: fields the API does not have. */
function unknownFields(orig: unknown, back: unknown, path = ''): string[] {
  if (orig === null || typeof orig !== 'object') return [];
  if (back === null || typeof back !== 'object') return [path || '.'];
  if (Array.isArray(orig)) return orig.flatMap((v, i) => unknownFields(v, (back as unknown[])[i], `${path}[${i}]`));
  return Object.entries(orig).flatMap(([k, v]) => (k in back ? unknownFields(v, (back as Obj)[k], `${path}.${k}`) : [`${path}.${k}`]));
}

/** Kinds that live in a namespace (everything the chart renders except the cluster RBAC). */
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding']);

function agentOf(objs: { obj: Obj }[]): { ds: Obj; pod: Obj; c: Obj } {
  const ds = get(objs, 'DaemonSet', 'netpol-nft');
  const pod = ds.spec.template.spec as Obj;
  return { ds, pod, c: pod.containers[0] as Obj };
}

/** `run`'s args as the kubelet passes them: $(NODE_NAME) expanded from the env. */
function agentArgs(c: Obj, node = 'node-7'): string[] {
  expect(c.args[0]).to.equal('run');
  return (c.args as string[]).slice(1).map((a) => a.replace('$(NODE_NAME)', node));
}

describe('helm chart: rendered with the default values', () => {
  const objs = chart.objects();

  it('renders only well-formed objects, each with apiVersion, kind, name and the release labels', () => {
    expect(objs.map((o) => `${o.obj.kind}/${o.obj.metadata.name}`).sort()).to.deep.equal([
      'ClusterRole/netpol-nft', 'ClusterRoleBinding/netpol-nft', 'ConfigMap/netpol-nft-cleanup', 'DaemonSet/netpol-nft',
      'DaemonSet/netpol-nft-cleanup', 'Job/netpol-nft-cleanup', 'Role/netpol-nft-cleanup', 'RoleBinding/netpol-nft-cleanup',
      'Service/netpol-nft-metrics', 'ServiceAccount/netpol-nft', 'ServiceAccount/netpol-nft-cleanup',
    ]);
    for (const { file, obj } of objs) {
      const what = `${file}: ${obj.kind}/${obj.metadata?.name}`;
      expect(obj.apiVersion, what).to.be.a('string').and.not.equal('');
      expect(obj.metadata.name, what).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      if (CLUSTER_SCOPED.has(obj.kind)) expect(obj.metadata.namespace, what).to.equal(undefined);
      else expect(obj.metadata.namespace, what).to.equal('kube-system');
      expect(obj.metadata.labels, what).to.include({ 'app.kubernetes.io/instance': 'netpol-nft', 'app.kubernetes.io/managed-by': 'Helm' });
    }
  });

  it('every object has only fields Kubernetes knows (a typo such as readinesProbe would vanish here)', () => {
    for (const { obj } of objs) {
      const type = `V1${obj.kind}`;
      const typed = ObjectSerializer.deserialize(obj, type, '');
      const back = JSON.parse(JSON.stringify(ObjectSerializer.serialize(typed, type, ''))) as unknown;
      expect(unknownFields(obj, back), `${obj.kind}/${obj.metadata.name}`).to.deep.equal([]);
    }
  });

  it('the agent DaemonSet runs on every Linux node in the node network, whatever the taints', () => {
    const { ds, pod } = agentOf(objs);
    expect(ds.apiVersion).to.equal('apps/v1');
    expect(subsetOf(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels), 'selector matches the pod labels').to.equal(true);
    expect(ds.spec.updateStrategy).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(pod).to.include({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet', priorityClassName: 'system-node-critical', serviceAccountName: 'netpol-nft' });
    expect(pod.nodeSelector).to.deep.equal({ 'kubernetes.io/os': 'linux' });
    expect(pod.tolerations).to.deep.equal([{ operator: 'Exists' }]);
    expect(pod.containers).to.have.length(1);
  });

  it('the agent container: image, NODE_NAME from the downward API, args the agent itself accepts', () => {
    const { c } = agentOf(objs);
    expect(c.image).to.equal('ghcr.io/netpol-nft/netpol-nft:0.1.0');
    expect(c.env).to.deep.include({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    const cfg = parseConfig(agentArgs(c), {});
    if (cfg === 'help') throw new Error('args asked for help');
    expect(cfg).to.include({ node: 'node-7', table: 'netpol_nft', ctMarkMask: 0x000000ff, establishedFastPath: false, antiSpoofing: true, logLevel: 'info', source: undefined, takeOver: false });
    expect(cfg.logDrops).to.deep.equal({ rate: 10, per: 'second' });
    // The owner is the release name: the same across the DaemonSet's pod restarts, never a
    // hand-started `run`'s default.
    expect(cfg.owner).to.match(/^[a-z0-9-]+$/).and.not.match(/^run-/);
    expect(cfg.metricsAddress).to.deep.equal({ host: '0.0.0.0', port: 9743 });
  });

  it('probes hit /healthz and /readyz on the declared metrics port', () => {
    const { c } = agentOf(objs);
    expect(c.ports).to.deep.equal([{ name: 'metrics', containerPort: 9743, protocol: 'TCP' }]);
    const paths: Record<string, string> = { startupProbe: '/healthz', readinessProbe: '/readyz', livenessProbe: '/healthz' };
    for (const [probe, path] of Object.entries(paths)) {
      expect(c[probe]?.httpGet, probe).to.deep.equal({ path, port: 'metrics' });
      expect(c.ports.some((p: Obj) => p.name === c[probe].httpGet.port), `${probe} port is declared`).to.equal(true);
    }
  });

  it('runs as root with only NET_ADMIN, no privilege escalation, a read-only root filesystem', () => {
    const { c } = agentOf(objs);
    expect(c.securityContext).to.deep.include({ runAsUser: 0, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false });
    expect(c.securityContext.capabilities).to.deep.equal({ drop: ['ALL'], add: ['NET_ADMIN'] });
    // Every capability line in the template carries a comment saying why.
    const src = readFileSync(join(chartDir, 'templates', 'daemonset.yaml'), 'utf8').split('\n');
    for (const cap of ['- ALL', '- NET_ADMIN']) {
      const i = src.findIndex((l) => l.trim() === cap);
      expect(src[i - 1]!.trim().startsWith('#'), `${cap} has a comment`).to.equal(true);
    }
  });

  it('every container that runs netpol-nft on a read-only root has a writable /tmp (nft reads batches from a file)', () => {
    let checked = 0;
    for (const { obj } of objs) {
      const pod = obj.spec?.template?.spec as Obj | undefined;
      if (!pod) continue;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers] as Obj[]) {
        if (!['run', 'cleanup'].includes(c.args?.[0]) || !c.securityContext?.readOnlyRootFilesystem) continue;
        const mount = (c.volumeMounts as Obj[] | undefined)?.find((m) => m.mountPath === '/tmp');
        expect(mount, `${obj.kind}/${obj.metadata.name} container ${c.name}`).to.not.equal(undefined);
        const vol = (pod.volumes as Obj[]).find((v) => v.name === mount!.name);
        expect(vol?.emptyDir, `${obj.kind}/${obj.metadata.name} volume ${mount!.name}`).to.not.equal(undefined);
        expect(mount!.readOnly).to.not.equal(true);
        checked++;
      }
    }
    expect(checked).to.equal(2);
  });

  it('requests CPU and memory, limits memory, and never limits CPU', () => {
    const { c } = agentOf(objs);
    expect(c.resources.requests).to.have.keys('cpu', 'memory');
    expect(c.resources.limits).to.have.keys('memory');
  });

  it('RBAC: exactly get, list and watch on pods, namespaces, networkpolicies, nodes and clusternetworkpolicies, bound to the agent', () => {
    const role = get(objs, 'ClusterRole', 'netpol-nft');
    const granted = (role.rules as Obj[]).flatMap((r) => (r.apiGroups as string[]).flatMap((g) => (r.resources as string[]).flatMap((res) => (r.verbs as string[]).map((v) => `${g}/${res}/${v}`))));
    const want = ['/pods', '/namespaces', 'networking.k8s.io/networkpolicies', '/nodes', 'policy.networking.k8s.io/clusternetworkpolicies'].flatMap((r) => ['get', 'list', 'watch'].map((v) => `${r}/${v}`));
    expect(granted.sort()).to.deep.equal(want.sort());
    expect((role.rules as Obj[]).every((r) => !('resourceNames' in r) && !('nonResourceURLs' in r))).to.equal(true);
    const rb = get(objs, 'ClusterRoleBinding', 'netpol-nft');
    expect(rb.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'netpol-nft' });
    expect(rb.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'netpol-nft', namespace: 'kube-system' }]);
    expect(find(objs, 'ServiceAccount', 'netpol-nft')).to.not.equal(undefined);
  });

  it('the headless metrics Service selects the agent pods and targets the declared port', () => {
    const svc = get(objs, 'Service', 'netpol-nft-metrics');
    const { ds, c } = agentOf(objs);
    expect(svc.spec.clusterIP).to.equal('None');
    expect(subsetOf(svc.spec.selector, ds.spec.template.metadata.labels)).to.equal(true);
    expect(svc.spec.ports).to.deep.equal([{ name: 'metrics', port: 9743, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(c.ports.map((p: Obj) => p.name)).to.include(svc.spec.ports[0].targetPort);
    expect(objs.some((o) => o.obj.kind === 'ServiceMonitor'), 'no ServiceMonitor by default').to.equal(false);
  });

  it('cleanup hooks: a node-wide DaemonSet runs `netpol-nft cleanup` after the agent is gone, and a Job helm waits for', () => {
    const hooks = objs.filter((o) => o.file === 'cleanup.yaml').map((o) => o.obj);
    expect(hooks).to.have.length(6);
    for (const h of hooks) {
      expect(h.metadata.annotations, `${h.kind} is a post-delete hook`).to.include({ 'helm.sh/hook': 'post-delete', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' });
    }
    const weight = (kind: string) => Number(hooks.find((h) => h.kind === kind)!.metadata.annotations['helm.sh/hook-weight']);
    expect(weight('ConfigMap')).to.be.below(weight('DaemonSet'));
    expect(weight('Role')).to.be.below(weight('Job'));
    expect(weight('DaemonSet'), 'the DaemonSet exists before the Job waits for it').to.be.below(weight('Job'));

    const ds = get(objs, 'DaemonSet', 'netpol-nft-cleanup');
    const agent = agentOf(objs).pod;
    const pod = ds.spec.template.spec as Obj;
    expect(subsetOf(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels)).to.equal(true);
    expect(subsetOf(ds.spec.selector.matchLabels, agentOf(objs).ds.spec.template.metadata.labels), 'does not select the agent pods').to.equal(false);
    expect(pod).to.include({ hostNetwork: true, automountServiceAccountToken: false });
    expect(pod.nodeSelector).to.deep.equal(agent.nodeSelector);
    expect(pod.tolerations).to.deep.equal(agent.tolerations);
    const [wait, clean] = pod.initContainers as Obj[];
    expect(wait!.command).to.deep.equal(['node', '/scripts/wait-agent-exit.mjs']);
    expect(wait!.env).to.deep.include({ name: 'AGENT_PORT', value: '9743' });
    expect(wait!.env).to.deep.include({ name: 'TIMEOUT_SECONDS', value: '30' });
    expect(clean!.args).to.deep.equal(['cleanup', '--table=netpol_nft']);
    expect(clean!.securityContext.capabilities).to.deep.equal({ drop: ['ALL'], add: ['NET_ADMIN'] });

    const job = get(objs, 'Job', 'netpol-nft-cleanup');
    const jc = job.spec.template.spec.containers[0] as Obj;
    expect(jc.command).to.deep.equal(['node', '/scripts/wait-cleanup.mjs']);
    expect(jc.env).to.deep.include({ name: 'DAEMONSET', value: 'netpol-nft-cleanup' });
    expect(job.spec.template.spec.serviceAccountName).to.equal('netpol-nft-cleanup');
    const role = get(objs, 'Role', 'netpol-nft-cleanup');
    expect(role.rules).to.deep.equal([{ apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: ['netpol-nft-cleanup'], verbs: ['get'] }]);
    const cm = get(objs, 'ConfigMap', 'netpol-nft-cleanup');
    for (const f of ['wait-agent-exit.mjs', 'wait-cleanup.mjs']) {
      expect(cm.data[f], f).to.equal(readFileSync(join(chartDir, 'files', f), 'utf8'));
    }
  });
});

describe('helm chart: NOTES.txt', () => {
  it('tells how to check the agents and what uninstall does, with or without cleanup', () => {
    const on = chart.render().get('NOTES.txt')!;
    expect(on).to.contain('rollout status daemonset/netpol-nft').and.contain('port 9743').and.contain('removes the table from every node');
    const off = chart.render({ cleanup: { enabled: false }, agent: { table: 'np2' } }).get('NOTES.txt')!;
    expect(off).to.contain('nft delete table inet np2').and.not.contain('removes the table');
  });
});

describe('helm chart: rendered with other values', () => {
  it('passes the optional flags, and the agent accepts them', () => {
    const objs = chart.objects({ agent: { establishedFastPath: true, antiSpoofing: false, extraArgs: ['--debounce=100ms', '--resync-interval=5m', '--pod-cidr=10.244.1.0/24'], logLevel: 'debug', table: 'np2', ctMarkMask: '0xff' }, metrics: { port: 9800, host: '[::]' } });
    const { c } = agentOf(objs);
    const cfg = parseConfig(agentArgs(c), {});
    if (cfg === 'help') throw new Error('args asked for help');
    expect(cfg.podCidrs).to.deep.equal(['10.244.1.0/24']);
    expect(parseConfig(agentArgs(agentOf(chart.objects({ agent: { logDrops: '0' } })).c), {})).to.include({ logDrops: undefined });
    expect(parseConfig(agentArgs(agentOf(chart.objects({ agent: { logDrops: '100/minute' } })).c), {})).to.deep.include({ logDrops: { rate: 100, per: 'minute' } });
    expect(cfg).to.include({ establishedFastPath: true, antiSpoofing: false, debounceMs: 100, resyncIntervalMs: 300_000, logLevel: 'debug', table: 'np2', ctMarkMask: 0xff });
    expect(parseConfig(agentArgs(agentOf(chart.objects({ agent: { owner: 'node-agent' } })).c), {})).to.include({ owner: 'node-agent' });
    expect(cfg.metricsAddress).to.deep.equal({ host: '::', port: 9800 });
    expect(c.ports[0].containerPort).to.equal(9800);
    expect(get(objs, 'Service', 'netpol-nft-metrics').spec.ports[0].port).to.equal(9800);
    expect(get(objs, 'DaemonSet', 'netpol-nft-cleanup').spec.template.spec.initContainers[1].args).to.deep.equal(['cleanup', '--table=np2']);
  });

  it('uses an existing ServiceAccount, a name override, an image tag and no priority class', () => {
    const objs = chart.objects({ serviceAccount: { create: false, name: 'np-sa' }, fullnameOverride: 'np', image: { tag: 'v9' }, priorityClassName: '' }, { Name: 'rel', Namespace: 'net' });
    expect(objs.some((o) => o.obj.kind === 'ServiceAccount' && o.obj.metadata.name !== 'np-cleanup')).to.equal(false);
    const ds = get(objs, 'DaemonSet', 'np');
    expect(ds.metadata.namespace).to.equal('net');
    expect(ds.spec.template.spec.serviceAccountName).to.equal('np-sa');
    expect(ds.spec.template.spec.priorityClassName).to.equal(undefined);
    expect(ds.spec.template.spec.containers[0].image).to.equal('ghcr.io/netpol-nft/netpol-nft:v9');
    expect(get(objs, 'ClusterRoleBinding', 'np').subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'np-sa', namespace: 'net' }]);
  });

  it('renders the ServiceMonitor when enabled, selecting the metrics Service by its port name', () => {
    const objs = chart.objects({ serviceMonitor: { enabled: true, labels: { release: 'prom' } } });
    const sm = get(objs, 'ServiceMonitor', 'netpol-nft');
    const svc = get(objs, 'Service', 'netpol-nft-metrics');
    expect(sm.apiVersion).to.equal('monitoring.coreos.com/v1');
    expect(sm.metadata.labels.release).to.equal('prom');
    expect(subsetOf(sm.spec.selector.matchLabels, svc.metadata.labels)).to.equal(true);
    expect(sm.spec.namespaceSelector.matchNames).to.deep.equal([svc.metadata.namespace]);
    expect(svc.spec.ports.map((p: Obj) => p.name)).to.include(sm.spec.endpoints[0].port);
  });

  it('leaves out what is switched off: cleanup hooks, RBAC, the metrics Service', () => {
    const objs = chart.objects({ cleanup: { enabled: false }, rbac: { create: false }, metrics: { service: { enabled: false } } });
    expect(objs.map((o) => `${o.obj.kind}/${o.obj.metadata.name}`).sort()).to.deep.equal(['DaemonSet/netpol-nft', 'ServiceAccount/netpol-nft']);
  });

  it('pod labels and annotations, pull secrets and affinity pass through', () => {
    const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['a'] }] }] } } };
    const objs = chart.objects({ podLabels: { team: 'net' }, podAnnotations: { 'x/y': 'z' }, imagePullSecrets: [{ name: 'reg' }], affinity });
    const { ds, pod } = agentOf(objs);
    expect(ds.spec.template.metadata.labels.team).to.equal('net');
    expect(ds.spec.template.metadata.annotations).to.deep.equal({ 'x/y': 'z' });
    expect(pod.imagePullSecrets).to.deep.equal([{ name: 'reg' }]);
    expect(pod.affinity).to.deep.equal(affinity);
    expect(get(objs, 'DaemonSet', 'netpol-nft-cleanup').spec.template.spec.affinity).to.deep.equal(affinity);
  });
});

/** Runs a node script to its end; resolves with its exit code and output. */
function runScript(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out }));
  });
}

describe('helm chart: the cleanup hook, run for real', function () {
  this.timeout(60_000);
  const files = join(chartDir, 'files');
  let scratch = '';
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'npn-chart-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('the cleanup container args are accepted by `netpol-nft cleanup`, which deletes the right table', () => {
    // A stand-in nft that records the batch it is given (`nft -j -f FILE`, the file last):
    // the command itself runs for real.
    const fakeNft = join(scratch, 'nft');
    writeFileSync(fakeNft, `#!/bin/sh\nfor a; do last=$a; done\ncat "$last" > "${join(scratch, 'batch.json')}"\n`);
    chmodSync(fakeNft, 0o755);
    const args = get(chart.objects({ agent: { table: 'np_x' } }), 'DaemonSet', 'netpol-nft-cleanup').spec.template.spec.initContainers[1].args as string[];
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'controller', 'cli.ts'), ...args, `--nft-path=${fakeNft}`], { encoding: 'utf8', cwd: repo });
    expect(r.status, r.stderr).to.equal(0);
    const batch = readFileSync(join(scratch, 'batch.json'), 'utf8');
    expect(batch).to.contain('"delete"').and.contain('"np_x"');
  });

  it('wait-agent-exit waits while the agent port answers, and returns once it closes', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    let closedAt = 0;
    const run = runScript([join(files, 'wait-agent-exit.mjs')], { AGENT_PORT: String(port), POLL_MS: '50', TIMEOUT_SECONDS: '30' });
    // Close only after the script has had time to see the port open a few times.
    setTimeout(() => server.close(() => (closedAt = Date.now())), 500);
    const r = await run;
    expect(r.code, r.out).to.equal(0);
    expect(closedAt, 'the script returned only after the port closed').to.be.greaterThan(0);
    expect(r.out).to.contain('the agent is gone');
  });

  it('wait-agent-exit refuses a missing port', async () => {
    const r = await runScript([join(files, 'wait-agent-exit.mjs')], {});
    expect(r.code).to.equal(2);
    expect(r.out).to.contain('AGENT_PORT');
  });

  it('wait-cleanup polls the DaemonSet with its token until it is Ready on every node', async () => {
    const sa = join(scratch, 'sa');
    spawnSync('mkdir', ['-p', sa]);
    writeFileSync(join(sa, 'namespace'), 'kube-system\n');
    writeFileSync(join(sa, 'token'), 'tok-1\n');
    const seen: { url?: string; headers: IncomingHttpHeaders }[] = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      const ready = seen.length >= 3 ? 2 : seen.length - 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ metadata: { name: 'np-cleanup', generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2, numberReady: ready, updatedNumberScheduled: 2 } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await runScript([join(files, 'wait-cleanup.mjs')], { API_SERVER: api, SERVICE_ACCOUNT_DIR: sa, DAEMONSET: 'np-cleanup', POLL_MS: '20', TIMEOUT_SECONDS: '30' });
      expect(r.code, r.out).to.equal(0);
      expect(seen).to.have.length(3);
      expect(seen[0]!.url).to.equal('/apis/apps/v1/namespaces/kube-system/daemonsets/np-cleanup');
      expect(seen[0]!.headers.authorization).to.equal('Bearer tok-1');
      expect(r.out).to.contain('0/2 nodes cleaned').and.contain('2/2 nodes cleaned');
    } finally {
      server.close();
    }
  });

  it('wait-cleanup gives up with exit 1 when a node never gets clean', async () => {
    const sa = join(scratch, 'sa');
    const server = createServer((_req, res) => {
      res.end(JSON.stringify({ metadata: { generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2, numberReady: 1, updatedNumberScheduled: 2 } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await runScript([join(files, 'wait-cleanup.mjs')], { API_SERVER: api, SERVICE_ACCOUNT_DIR: sa, DAEMONSET: 'np-cleanup', POLL_MS: '20', TIMEOUT_SECONDS: '0.2' });
      expect(r.code, r.out).to.equal(1);
      expect(r.out).to.contain('gave up').and.contain('1/2 nodes cleaned');
    } finally {
      server.close();
    }
  });
});
