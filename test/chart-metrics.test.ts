// The chart's metrics listener options: where it binds (every address, the node's address
// from the downward API, or 127.0.0.1 with the probes following it), and the labels of the
// drop metrics. The agent's own config parser reads the rendered flags.
import { expect } from 'chai';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../controller/config.js';
import { Chart } from './chart-render.test.js';

type Obj = Record<string, any>;
const chart = new Chart(join(fileURLToPath(new URL('..', import.meta.url)), 'charts', 'netpol-nft'));

function rendered(values: unknown): { agent: Obj; wait: Obj } {
  const objs = chart.objects(values);
  const ds = (name: string) => objs.find((o) => o.obj.kind === 'DaemonSet' && o.obj.metadata?.name === name)!.obj;
  return { agent: ds('netpol-nft').spec.template.spec.containers[0], wait: ds('netpol-nft-cleanup').spec.template.spec.initContainers[0] };
}

/** The agent's config from its args, with $(VAR) expanded from `env` as the kubelet does. */
function config(c: Obj, env: Record<string, string>) {
  const args = (c.args as string[]).slice(1).map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => env[v] ?? `$(${v})`));
  const cfg = parseConfig(args, {});
  if (cfg === 'help') throw new Error('help');
  return cfg;
}

const probes = (c: Obj) => ['startupProbe', 'readinessProbe', 'livenessProbe'].map((p) => c[p].httpGet.host as string | undefined);

describe('helm chart: metrics listener options', () => {
  it('binds every address by default, probes the pod IP, drops per pod', () => {
    const { agent, wait } = rendered({});
    const cfg = config(agent, { NODE_NAME: 'n1' });
    expect(cfg.metricsAddress).to.deep.equal({ host: '0.0.0.0', port: 9743 });
    expect(cfg.dropMetricsBy).to.equal('pod');
    expect(probes(agent)).to.deep.equal([undefined, undefined, undefined]);
    expect(agent.env.map((e: Obj) => e.name)).to.deep.equal(['NODE_NAME']);
    expect(wait.env.map((e: Obj) => e.name)).to.not.include('AGENT_HOST');
  });

  it('bind: node listens on status.hostIP (IPv4 or IPv6), and the uninstall hook waits on that address', () => {
    const { agent, wait } = rendered({ metrics: { bind: 'node', dropMetricsBy: 'namespace' } });
    const hostIp = { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } };
    expect(agent.env).to.deep.include(hostIp);
    expect(config(agent, { NODE_NAME: 'n1', HOST_IP: '192.0.2.7' }).metricsAddress).to.deep.equal({ host: '192.0.2.7', port: 9743 });
    expect(config(agent, { NODE_NAME: 'n1', HOST_IP: '2001:db8::7' }).metricsAddress).to.deep.equal({ host: '2001:db8::7', port: 9743 });
    expect(config(agent, { NODE_NAME: 'n1', HOST_IP: '192.0.2.7' }).dropMetricsBy).to.equal('namespace');
    expect(probes(agent), 'the kubelet probes the pod IP, which is the node address').to.deep.equal([undefined, undefined, undefined]);
    expect(wait.env).to.deep.include({ name: 'AGENT_HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } });
  });

  it('bind: localhost listens on 127.0.0.1 only, and every probe goes there', () => {
    const { agent } = rendered({ metrics: { bind: 'localhost' } });
    expect(config(agent, { NODE_NAME: 'n1' }).metricsAddress).to.deep.equal({ host: '127.0.0.1', port: 9743 });
    expect(probes(agent)).to.deep.equal(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });
});
