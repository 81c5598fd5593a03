// The extra labels and container ports the policies-examples/ need on top of the model
// (listed in policies-examples/README.md). Free of mocha, so the demo can import it too.
import type { ClusterState } from './topology.js';

const METRICS = [{ name: 'metrics', containerPort: 81, protocol: 'TCP' as const }];

export const EXAMPLE_STATE: ClusterState = {
  nsLabels: { y: { team: 'frontend', purpose: 'monitoring' }, z: { 'app.kubernetes.io/name': 'ingress-nginx' } },
  podLabels: {
    'z/a': { 'app.kubernetes.io/component': 'controller' },
    'x/a': { tier: 'web' },
    'x/b': { tier: 'web', role: 'backend' },
    'x/c': { role: 'db' },
  },
  podPorts: { 'x/a': METRICS, 'x/b': METRICS, 'x/c': METRICS },
};
