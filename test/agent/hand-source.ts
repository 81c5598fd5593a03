// A cluster source the test drives by hand: it holds one snapshot, which the test replaces,
// and the agent's hooks, which the test calls to announce a change.
import type { Cluster, Problem } from '../../compiler/index.js';
import type { ClusterSource, SourceHooks } from '../../controller/source.js';

export class HandSource implements ClusterSource {
  hooks: SourceHooks | undefined;
  state: { cluster: Cluster; problems: Problem[] } = { cluster: { namespaces: [], pods: [], policies: [] }, problems: [] };
  async start(hooks: SourceHooks): Promise<void> {
    this.hooks = hooks;
  }
  synced(): boolean {
    return this.hooks !== undefined;
  }
  snapshot() {
    return this.state;
  }
  async stop(): Promise<void> {}
}
