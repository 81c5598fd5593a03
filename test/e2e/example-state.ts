// The extra labels and container ports the policies-examples/ need on top of the model
// (listed in policies-examples/README.md). Free of mocha, so the demo can import it too.
import type { ClusterState } from './topology.js';
import { allowAll, denyAll, type Expect } from './truth.js';

const METRICS = [{ name: 'metrics', containerPort: 81, protocol: 'TCP' as const }];

export const EXAMPLE_STATE: ClusterState = {
  nsLabels: { x: { tenant: 'acme' }, y: { team: 'frontend', purpose: 'monitoring' }, z: { 'app.kubernetes.io/name': 'ingress-nginx' } },
  podLabels: {
    'y/a': { app: 'prometheus' },
    'z/a': { 'app.kubernetes.io/component': 'controller' },
    'x/a': { tier: 'web' },
    'x/b': { tier: 'web', role: 'backend' },
    'x/c': { role: 'db' },
  },
  podPorts: { 'x/a': METRICS, 'x/b': METRICS, 'x/c': METRICS },
};

/** What each file of policies-examples/ does to the model, written by hand from the file's
 *  leading comment (probed on the wire by examples.test.ts, read by the matrix's test). */
export const EXAMPLE_EXPECTED: Record<string, () => Expect> = {
  'default-deny-ingress.yaml': () => allowAll().deny('*', 'x/*'),
  'default-deny-all.yaml': () => allowAll().deny('*', 'x/*').deny('x/*', '*'),
  'allow-same-namespace.yaml': () => allowAll().deny('*', 'x/*').allow('x/*', 'x/*'),
  'allow-from-team-namespace.yaml': () => allowAll().deny('*', 'x/*').allow('y/*', 'x/*'),
  'allow-ingress-controller-to-web.yaml': () => allowAll().deny('*', ['x/a', 'x/b']).allow('z/a', ['x/a', 'x/b'], { ports: [80], protos: ['tcp'] }),
  'allow-monitoring-scrape.yaml': () => allowAll().deny('*', 'x/*').allow('y/*', 'x/*', { ports: [81], protos: ['tcp'] }),
  'database-from-backend.yaml': () => allowAll().deny('*', 'x/c'),
  'egress-only-dns.yaml': () => allowAll().deny('x/*', '*'),
  'egress-external-except-metadata.yaml': () => allowAll().deny('x/*', '*', { families: [6] }),
  'port-range.yaml': () => allowAll().deny('*', 'x/*').allow('*', 'x/*', { protos: ['tcp'] }),
};

/** The same for policies-examples/cluster/ (ClusterNetworkPolicies, one or more per file). */
export const CLUSTER_EXAMPLE_EXPECTED: Record<string, () => Expect> = {
  'protect-monitoring.yaml': () => allowAll().deny('*', 'y/*').allow('y/a', 'y/*'),
  'baseline-deny-except-dns.yaml': () => denyAll(),
  'deny-metadata.yaml': () => allowAll(),
  'delegate-tenants.yaml': () => allowAll().deny('z/*', ['y/*', 'z/*']),
};
