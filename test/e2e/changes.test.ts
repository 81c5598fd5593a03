// Policies stacked, changed, added and deleted; pod and namespace labels changed between
// steps. Each step is applied on top of the previous one's table (docs/design.md 1.3, 1.14).
import { netpol, runStep, useTopology } from './harness.js';
import { allowAll, kinds } from './truth.js';

const DUAL = kinds([80, 81], ['tcp', 'udp'], [4, 6]);
const NS = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });

describe('e2e: changes between steps', function () {
  this.timeout(180_000);
  const topo = useTopology();

  it('several policies stacked on one pod allow the union of their rules', async () => {
    await runStep(topo(), {
      state: {
        policies: [
          netpol('x/a-from-y-b-80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: NS('y'), podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }] }),
          netpol('x/a-from-z-udp-81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: NS('z') }], ports: [{ protocol: 'UDP', port: 81 }] }] }),
          netpol('x/all-from-c', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }] }),
        ],
      },
      expect: allowAll().deny('*', 'x/*')
        .allow('y/b', 'x/a', { ports: [80], protos: ['tcp'] })
        .allow('z/*', 'x/a', { ports: [81], protos: ['udp'] })
        .allow('x/c', 'x/*'),
      kinds: DUAL,
    });
  });

  it('a policy changed in place, then deleted', async () => {
    const v1 = netpol('y/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: NS('x') }] }] });
    const v2 = netpol('y/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: NS('z') }], ports: [{ port: 81 }] }] });
    await runStep(topo(), { title: 'v1', state: { policies: [v1] }, expect: allowAll().deny('*', 'y/a').allow('x/*', 'y/a') });
    await runStep(topo(), { title: 'v2', state: { policies: [v2] }, expect: allowAll().deny('*', 'y/a').allow('z/*', 'y/a', { ports: [81], protos: ['tcp'] }) });
    await runStep(topo(), { title: 'deleted', state: { policies: [] }, expect: allowAll() });
  });

  it('policies added one by one, then the default deny deleted while the allow stays', async () => {
    const deny = netpol('z/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const allowIn = netpol('z/allow-from-x', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: NS('x') }] }] });
    const allowOut = netpol('z/allow-to-y', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: NS('y') }] }] });
    await runStep(topo(), { title: 'deny', state: { policies: [deny] }, expect: allowAll().deny('z/*', '*').deny('*', 'z/*'), kinds: DUAL });
    await runStep(topo(), { title: '+allow in', state: { policies: [deny, allowIn] }, expect: allowAll().deny('z/*', '*').deny('*', 'z/*').allow('x/*', 'z/*') });
    await runStep(topo(), { title: '+allow out', state: { policies: [deny, allowIn, allowOut] }, expect: allowAll().deny('z/*', '*').deny('*', 'z/*').allow('x/*', 'z/*').allow('z/*', 'y/*'), kinds: DUAL });
    // allow-from-x still isolates z for ingress, allow-to-y for egress.
    await runStep(topo(), { title: '-deny', state: { policies: [allowIn, allowOut] }, expect: allowAll().deny('z/*', '*').deny('*', 'z/*').allow('x/*', 'z/*').allow('z/*', 'y/*') });
  });

  it('pod labels change: the selected pod and the allowed peer move', async () => {
    const policies = [netpol('x/api', { podSelector: { matchLabels: { role: 'api' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { client: 'true' } } }] }] })];
    await runStep(topo(), {
      title: 'api=x/a, client=y/c',
      state: { policies, podLabels: { 'x/a': { role: 'api' }, 'y/c': { client: 'true' } } },
      expect: allowAll().deny('*', 'x/a').allow('y/c', 'x/a'),
      kinds: DUAL,
    });
    await runStep(topo(), {
      title: 'api=x/b, client=z/a and x/c',
      state: { policies, podLabels: { 'x/b': { role: 'api' }, 'z/a': { client: 'true' }, 'x/c': { client: 'true' } } },
      expect: allowAll().deny('*', 'x/b').allow(['z/a', 'x/c'], 'x/b'),
      kinds: DUAL,
    });
  });

  it('namespace labels change: the allowed namespaces follow', async () => {
    const policies = [netpol('x/from-prod', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }] })];
    await runStep(topo(), { title: 'y prod', state: { policies, nsLabels: { y: { env: 'prod' } } }, expect: allowAll().deny('*', 'x/*').allow('y/*', 'x/*') });
    await runStep(topo(), { title: 'z prod', state: { policies, nsLabels: { z: { env: 'prod' }, y: { env: 'dev' } } }, expect: allowAll().deny('*', 'x/*').allow('z/*', 'x/*') });
    await runStep(topo(), { title: 'x prod too', state: { policies, nsLabels: { x: { env: 'prod' }, z: { env: 'prod' } } }, expect: allowAll().deny('*', 'x/*').allow(['x/*', 'z/*'], 'x/*') });
  });

  it('a namespace label change moves egress too (IPv6 and IPv4)', async () => {
    const policies = [netpol('y/to-backend', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { tier: 'backend' } } }] }] })];
    await runStep(topo(), { title: 'z backend', state: { policies, nsLabels: { z: { tier: 'backend' } } }, expect: allowAll().deny('y/*', '*').allow('y/*', 'z/*'), kinds: DUAL });
    await runStep(topo(), { title: 'no backend', state: { policies }, expect: allowAll().deny('y/*', '*'), kinds: DUAL });
  });
});
