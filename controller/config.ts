// The agent's configuration: one object, parsed from flags and environment with zod, every
// default in DEFAULTS below, validated at once (all errors reported together) and logged at
// start-up.
import { existsSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ctMarkMaskError, DEFAULT_CT_MARK_MASK, DEFAULT_TABLE, parseCidrText } from '../compiler/index.js';
import { ownerError, tableNameError } from '../compiler/nft/names.js';

/** 9743: not used by kubelet, kube-proxy, Calico, Cilium, Flannel or the usual exporters. */
export const DEFAULT_METRICS_PORT = 9743;

export const DEFAULTS = {
  table: DEFAULT_TABLE,
  ctMarkMask: DEFAULT_CT_MARK_MASK,
  debounceMs: 10,
  maxSyncDelayMs: 1000,
  retryMinMs: 500,
  retryMaxMs: 30_000,
  resyncIntervalMs: 60_000,
  healthTimeoutMs: 120_000,
  metricsAddress: `0.0.0.0:${DEFAULT_METRICS_PORT}`,
  logLevel: 'info',
  nftPath: 'nft',
  conntrackPath: 'conntrack',
  dropMetricsBy: 'pod',
  logDrops: '10/second',
  sourceMaxFileBytes: 16 * 1024 * 1024,
  sourceStableMs: 1000,
} as const;

/** The drop log of an agent started without --log-drops (DEFAULTS.logDrops parsed). */
export const DEFAULT_DROP_LOG = { rate: 10, per: 'second' } as const;

export class ConfigError extends Error {}

/** `50ms`, `1s`, `2m`, `1h`, or a plain number of milliseconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

const duration = (flag: string) =>
  z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `--${flag} ${s}: a duration such as 50ms, 1s, 2m` });
      return z.NEVER;
    }
    return ms;
  });

const mask = z.string().transform((s, ctx) => {
  // The compiler's own rule (contiguous, wide enough to tell rulesets apart), checked here so
  // that a bad mask stops the agent at start instead of failing every sync.
  const n = s.trim() === '' ? NaN : Number(s);
  const why = ctMarkMaskError(n);
  if (why) {
    ctx.addIssue({ code: 'custom', message: `--ct-mark-mask ${s}: ${why}` });
    return z.NEVER;
  }
  return n >>> 0;
});

/** `1048576`, `512Ki`, `16Mi`, `1Gi`. */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(s.trim());
  if (!m) return undefined;
  return Number(m[1]) * { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[(m[2] ?? '') as '' | 'Ki' | 'Mi' | 'Gi'];
}

const size = (flag: string) =>
  z.string().transform((s, ctx) => {
    const n = parseSize(s);
    if (n === undefined || n < 1) {
      ctx.addIssue({ code: 'custom', message: `--${flag} ${s}: a size such as 1048576, 512Ki, 16Mi` });
      return z.NEVER;
    }
    return n;
  });

const address = z.string().transform((s, ctx) => {
  // HOST:PORT, [IPv6]:PORT, or a bare IPv6 address and a port (2001:db8::1:9743: the part after
  // the last colon is the port), as the chart writes it from the downward API's status.hostIP.
  const m = /^(?:\[([^\]]+)\]|([^:]*)|([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)):(\d+)$/.exec(s);
  const port = m ? Number(m[4]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `--metrics-address ${s}: HOST:PORT (PORT 0 picks a free one)` });
    return z.NEVER;
  }
  return { host: m[1] ?? m[3] ?? (m[2] || '0.0.0.0'), port };
});

/** `--log-drops`: `N/second|minute|hour|day` (N/s, N/m too), or `0` (off). */
export function parseDropRate(s: string): { rate: number; per: 'second' | 'minute' | 'hour' | 'day' } | undefined | 'bad' {
  if (s.trim() === '0') return undefined;
  const m = /^(\d+)\/(second|minute|hour|day|s|m|h|d)$/.exec(s.trim());
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 1_000_000) return 'bad';
  const per = ({ s: 'second', m: 'minute', h: 'hour', d: 'day' } as const)[m[2] as 's'] ?? (m[2] as 'second');
  return { rate: Number(m[1]), per };
}

const dropRate = z.string().transform((s, ctx) => {
  const r = parseDropRate(s);
  if (r === 'bad') {
    ctx.addIssue({ code: 'custom', message: `--log-drops ${s}: a rate such as 10/second (1 to 1000000 per second, minute, hour or day), or 0 for off` });
    return z.NEVER;
  }
  return r;
});

const podCidr = z.string().transform((s, ctx) => {
  const r = parseCidrText(s);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: `--pod-cidr ${s}: ${r}` });
    return z.NEVER;
  }
  return r.text;
});

const Schema = z
  .object({
    node: z.string({ error: '--node (or NODE_NAME) is required' }).min(1, '--node (or NODE_NAME) is required'),
    kubeconfig: z.string().optional(),
    source: z.string().optional(),
    allowEmptySource: z.boolean(),
    sourceMaxFileBytes: size('source-max-file-size'),
    sourceStableMs: duration('source-stable'),
    table: z.string().superRefine((t, ctx) => {
      const why = tableNameError(t);
      if (why) ctx.addIssue({ code: 'custom', message: `--table ${JSON.stringify(t)}: ${why}` });
    }),
    owner: z.string().superRefine((o, ctx) => {
      const why = ownerError(o);
      if (why) ctx.addIssue({ code: 'custom', message: `--owner ${JSON.stringify(o)}: ${why}` });
    }),
    takeOver: z.boolean(),
    conntrackPath: z.string().min(1),
    ctMarkMask: mask,
    establishedFastPath: z.boolean(),
    antiSpoofing: z.boolean(),
    podCidrs: z.array(podCidr),
    debounceMs: duration('debounce'),
    maxSyncDelayMs: duration('max-sync-delay'),
    retryMinMs: duration('retry-min'),
    retryMaxMs: duration('retry-max'),
    resyncIntervalMs: duration('resync-interval'),
    healthTimeoutMs: duration('health-timeout'),
    metricsAddress: address,
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    nftPath: z.string().min(1),
    dropMetricsBy: z.enum(['pod', 'namespace'], { error: (i) => `--drop-metrics-by ${String(i.input)}: pod or namespace` }),
    policyRuleCounters: z.boolean(),
    logDrops: dropRate,
  })
  .refine((c) => c.maxSyncDelayMs >= c.debounceMs, { message: '--max-sync-delay must be at least --debounce', path: ['maxSyncDelayMs'] })
  .refine((c) => c.retryMaxMs >= c.retryMinMs && c.retryMinMs > 0, { message: '--retry-max must be at least --retry-min (> 0)', path: ['retryMaxMs'] })
  .refine((c) => c.resyncIntervalMs > 0, { message: '--resync-interval must be positive', path: ['resyncIntervalMs'] });

export type Config = z.output<typeof Schema>;

export const RUN_USAGE = `usage: netpol-nft run [flags]
  --node NAME               node whose pods are enforced (default: $NODE_NAME)
  --kubeconfig FILE         (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)
  --source DIR              read Namespaces, Pods, NetworkPolicies from a folder, watched, instead of the API
  --allow-empty-source      start on a folder with no object (default: wait for one, the table in force stays)
  --source-max-file-size N  files in --source larger than this are not read (default 16Mi)
  --source-stable DUR       a file of --source that lost objects keeps them until unchanged this long (default ${DEFAULTS.sourceStableMs / 1000}s)
  --table NAME              nftables table in family inet (default ${DEFAULTS.table})
  --ct-mark-mask HEX        conntrack mark bits of the verdict cache, at least 8 contiguous, or 0 for no cache (default 0x${DEFAULTS.ctMarkMask.toString(16).padStart(8, '0')})
  --owner NAME              this writer's name in the table (default run-<hostname>; the chart sets the release name)
  --take-over               write a table that another owner wrote (default: refuse, report, fail /readyz)
  --conntrack-path PATH     the conntrack binary, to clear verdict-cache stamps (default ${DEFAULTS.conntrackPath}; env CONNTRACK_PATH)
  --established-fast-path   accept established connections up front (policy changes hit new connections only)
  --pod-cidr CIDR           this node's pod CIDR, repeatable, besides its Node's spec.podCIDRs: addresses in
                            it that are no known pod yet are dropped both ways (README "Address trust")
  --no-anti-spoofing        no reverse-path check on packets from pods, no link-local guard towards the node
  --debounce DUR            least gap between two syncs; a change after quiet syncs at once (alias --min-sync-interval; default ${DEFAULTS.debounceMs}ms)
  --max-sync-delay DUR      longest a change waits during a burst of events (default ${DEFAULTS.maxSyncDelayMs}ms)
  --retry-min DUR, --retry-max DUR   backoff after a failed sync (default ${DEFAULTS.retryMinMs}ms .. ${DEFAULTS.retryMaxMs / 1000}s)
  --resync-interval DUR     drift check: table and chains still ours? every 10th check replaces the table whole (default ${DEFAULTS.resyncIntervalMs / 1000}s)
  --health-timeout DUR      /healthz fails when a change has waited this long unapplied (default ${DEFAULTS.healthTimeoutMs / 1000}s)
  --metrics-address H:P     /metrics, /healthz, /readyz (default ${DEFAULTS.metricsAddress})
  --log-level LEVEL         trace|debug|info|warn|error (default ${DEFAULTS.logLevel}; env LOG_LEVEL)
  --nft-path PATH           the nft binary (default ${DEFAULTS.nftPath}; env NFT_PATH)
  --drop-metrics-by pod|namespace   labels of the drop metrics: per local pod, or per namespace
                            (fewer series on a node with many pods; default ${DEFAULTS.dropMetricsBy})
  --policy-rule-counters    count the connections each policy rule allows, exported as
                            netpol_nft_policy_rule_connections_total (one series per rule of
                            every policy selecting a pod of the node; default off)
  --log-drops RATE          log dropped packets (JSON lines: pods, addresses, ports, policies), at most RATE per
                            node, limited in the kernel: N/second|minute|hour|day, or 0 for off (default ${DEFAULTS.logDrops})
Durations: 50ms, 1s, 2m, or plain milliseconds.
`;

/** `run-<hostname>`: stable across restarts of a debug `run` on one machine, and never the
 *  chart's (the Helm release name), so a debug run beside the DaemonSet is a second writer
 *  that refuses the table instead of flipping it. */
export function defaultOwner(): string {
  const h = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 50);
  return `run-${h || 'host'}`;
}

/** Where the Kubernetes client finds its credentials: in-cluster first (undefined), then
 *  $KUBECONFIG, then ~/.kube/config. */
export function resolveKubeconfig(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag) return flag;
  if (env.KUBERNETES_SERVICE_HOST) return undefined;
  if (env.KUBECONFIG) return env.KUBECONFIG;
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/** Parses `run`'s flags; throws ConfigError listing every problem; `help` when asked. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      node: { type: 'string' },
      kubeconfig: { type: 'string' },
      source: { type: 'string' },
      'allow-empty-source': { type: 'boolean' },
      'source-max-file-size': { type: 'string' },
      'source-stable': { type: 'string' },
      table: { type: 'string' },
      'ct-mark-mask': { type: 'string' },
      'established-fast-path': { type: 'boolean' },
      'pod-cidr': { type: 'string', multiple: true },
      'no-anti-spoofing': { type: 'boolean' },
      debounce: { type: 'string' },
      'min-sync-interval': { type: 'string' },
      'max-sync-delay': { type: 'string' },
      'retry-min': { type: 'string' },
      'retry-max': { type: 'string' },
      'resync-interval': { type: 'string' },
      'health-timeout': { type: 'string' },
      'metrics-address': { type: 'string' },
      'log-level': { type: 'string' },
      'nft-path': { type: 'string' },
      owner: { type: 'string' },
      'take-over': { type: 'boolean' },
      'conntrack-path': { type: 'string' },
      'drop-metrics-by': { type: 'string' },
      'policy-rule-counters': { type: 'boolean' },
      'log-drops': { type: 'string' },
    },
  });
  if (values.help) return 'help';
  const ms = (n: number) => `${n}ms`;
  const r = Schema.safeParse({
    node: values.node ?? env.NODE_NAME,
    kubeconfig: values.source ? undefined : resolveKubeconfig(values.kubeconfig, env),
    source: values.source,
    allowEmptySource: values['allow-empty-source'] ?? false,
    sourceMaxFileBytes: values['source-max-file-size'] ?? String(DEFAULTS.sourceMaxFileBytes),
    sourceStableMs: values['source-stable'] ?? ms(DEFAULTS.sourceStableMs),
    table: values.table ?? DEFAULTS.table,
    ctMarkMask: values['ct-mark-mask'] ?? String(DEFAULTS.ctMarkMask),
    establishedFastPath: values['established-fast-path'] ?? false,
    antiSpoofing: !(values['no-anti-spoofing'] ?? false),
    podCidrs: values['pod-cidr'] ?? [],
    debounceMs: values.debounce ?? values['min-sync-interval'] ?? ms(DEFAULTS.debounceMs),
    maxSyncDelayMs: values['max-sync-delay'] ?? ms(DEFAULTS.maxSyncDelayMs),
    retryMinMs: values['retry-min'] ?? ms(DEFAULTS.retryMinMs),
    retryMaxMs: values['retry-max'] ?? ms(DEFAULTS.retryMaxMs),
    resyncIntervalMs: values['resync-interval'] ?? ms(DEFAULTS.resyncIntervalMs),
    healthTimeoutMs: values['health-timeout'] ?? ms(DEFAULTS.healthTimeoutMs),
    metricsAddress: values['metrics-address'] ?? DEFAULTS.metricsAddress,
    logLevel: values['log-level'] ?? env.LOG_LEVEL ?? DEFAULTS.logLevel,
    nftPath: values['nft-path'] ?? env.NFT_PATH ?? DEFAULTS.nftPath,
    owner: values.owner ?? defaultOwner(),
    takeOver: values['take-over'] ?? false,
    conntrackPath: values['conntrack-path'] ?? env.CONNTRACK_PATH ?? DEFAULTS.conntrackPath,
    dropMetricsBy: values['drop-metrics-by'] ?? DEFAULTS.dropMetricsBy,
    policyRuleCounters: values['policy-rule-counters'] ?? false,
    logDrops: values['log-drops'] ?? DEFAULTS.logDrops,
  });
  if (!r.success) {
    const flagOf = (k: PropertyKey | undefined) => `--${String(k ?? '').replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new ConfigError(r.error.issues.map((i) => (i.message.startsWith('--') ? i.message : `${flagOf(i.path[0])}: ${i.message}`)).join('; '));
  }
  return r.data;
}
