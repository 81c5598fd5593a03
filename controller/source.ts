// Where the agent learns the cluster state. Two implementations: the Kubernetes API
// (informers, kube-source.ts) and a folder of manifests (file-source.ts). The agent only
// ever sees this interface: events request a sync; the snapshot is what gets compiled.
import type { Cluster, Problem } from '../compiler/index.js';

export type ResourceKind = 'pod' | 'namespace' | 'networkpolicy';
export type ResourceAction = 'add' | 'update' | 'delete' | 'resync';

export interface SourceEvent {
  readonly kind: ResourceKind;
  readonly action: ResourceAction;
  /** When the source saw the change (ms since the epoch, from the injected clock). */
  readonly seenAt: number;
  /** The object, `namespace/name` (a Namespace: its name), for log lines; optional. */
  readonly object?: string;
}

export interface SourceHooks {
  /** A change arrived: the agent schedules a sync. */
  onChange(e: SourceEvent): void;
  /** A watch ended and was restarted (reason: 'gone' for 410, 'closed', 'error', 'timeout'). */
  onWatchRestart?(kind: ResourceKind, reason: string): void;
  /** A problem worth a log line that is not about one object (connection refused, ...). */
  onError?(message: string): void;
}

export interface ClusterSource {
  /** Starts listing and watching; resolves once every resource has been listed once. */
  start(hooks: SourceHooks): Promise<void>;
  /** True once the initial lists are in (and after every relist completes). */
  synced(): boolean;
  /** The current state, slim objects only; bad objects come back as problems. */
  snapshot(): { cluster: Cluster; problems: Problem[] };
  stop(): Promise<void>;
}
