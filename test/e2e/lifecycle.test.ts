// docs/design.md 1.12: only pods with an IP that are not Succeeded/Failed take part. A pod that
// ends leaves every peer set at once (its address may be reused) and is no longer
// enforced as a selected pod. The model keeps the ended pod's namespace running, so
// probes show what the kernel does with its address.
import { netpol, runStep, useTopology } from './harness.js';
import { allowAll, kinds } from './truth.js';

const DUAL = kinds([80, 81], ['tcp', 'udp'], [4, 6]);

describe('e2e: pod life cycle', function () {
  this.timeout(120_000);
  const topo = useTopology();

  it('a peer pod that ends (Failed, Succeeded) loses what its labels allowed', async () => {
    const policies = [netpol('x/from-clients', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { client: 'true' } } }] }] })];
    const podLabels = { 'y/b': { client: 'true' }, 'z/c': { client: 'true' } };
    await runStep(topo(), { title: 'running', state: { policies, podLabels }, expect: allowAll().deny('*', 'x/*').allow(['y/b', 'z/c'], 'x/*'), kinds: DUAL });
    await runStep(topo(), { title: 'y/b Failed', state: { policies, podLabels, podPhase: { 'y/b': 'Failed' } }, expect: allowAll().deny('*', 'x/*').allow('z/c', 'x/*'), kinds: DUAL });
    await runStep(topo(), { title: 'z/c Succeeded too', state: { policies, podLabels, podPhase: { 'y/b': 'Failed', 'z/c': 'Succeeded' } }, expect: allowAll().deny('*', 'x/*'), kinds: DUAL });
  });

  it('a selected pod that ends is no longer enforced; back to Running, it is again', async () => {
    const policies = [netpol('y/deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress', 'Egress'] })];
    await runStep(topo(), { title: 'running', state: { policies }, expect: allowAll().deny('*', 'y/a').deny('y/a', '*') });
    await runStep(topo(), { title: 'y/a Failed', state: { policies, podPhase: { 'y/a': 'Failed' } }, expect: allowAll() });
    await runStep(topo(), { title: 'y/a Running again', state: { policies }, expect: allowAll().deny('*', 'y/a').deny('y/a', '*') });
  });
});
