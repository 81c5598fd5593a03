// `netpol-nft run` (the agent) and `netpol-nft cleanup`: wiring only. Config -> source
// (folder or Kubernetes API) -> agent + runner -> HTTP (/metrics, /healthz, /readyz) ->
// wait for SIGTERM/SIGINT -> stop cleanly, leaving the table in force.
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { batchJson, DEFAULT_TABLE, deleteTableBatch, formatProblem, type CompileOptions } from '../compiler/index.js';
import { Agent } from './agent.js';
import { ConfigError, parseConfig, RUN_USAGE, type Config } from './config.js';
import { DropLog, nftMonitor, type TraceLines } from './drop-log.js';
import { FileSource } from './file-source.js';
import { ConntrackCli, type ConntrackPort } from './generation.js';
import { startHttp, type HttpLimits, type HttpServer } from './health.js';
import { Metrics } from './metrics.js';
import { NftCli, NftError, type NftPort } from './nft.js';
import { SyncRunner, systemClock, type Clock } from './runner.js';
import type { ClusterSource } from './source.js';

export interface AgentHandle {
  readonly agent: Agent;
  readonly runner: SyncRunner;
  readonly source: ClusterSource;
  readonly metrics: Metrics;
  readonly server: HttpServer;
  /** The port /metrics listens on (useful with port 0). */
  readonly port: number;
  /** Settles once the source has listed everything and the runner has started (rejects when
   *  the source cannot start). */
  readonly started: Promise<void>;
  /** Stops everything; waits up to `graceMs` for the sync in flight, then abandons it (an
   *  nft transaction is atomic: abandoning it leaves the old or the new ruleset, never half). */
  stop(graceMs?: number): Promise<void>;
}

export interface StartDeps {
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly nft?: NftPort;
  /** Clears verdict-cache stamps (default: the conntrack binary of --conntrack-path). */
  readonly conntrack?: ConntrackPort;
  readonly source?: ClusterSource;
  readonly registry?: Registry;
  /** Limits of the HTTP listener (default DEFAULT_HTTP_LIMITS). */
  readonly httpLimits?: HttpLimits;
  /** The drop log's trace lines (default: `nft monitor trace` through --nft-path, unless an
   *  nft port is given, as tests do: then the drop log's rules are written but not read). */
  readonly traceLines?: TraceLines;
}

export function createLogger(level: string): Logger {
  // Synchronous writes: the last lines before an exit must not be lost.
  return pino({ level, base: { component: 'netpol-nft' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
}

/** The Kubernetes source (kube-source.ts) is loaded only when asked for, so that the
 *  file-source agent (and `cleanup`) never load the client library. */
async function kubeSource(config: Config, logger: Logger, clock: Clock): Promise<ClusterSource> {
  const { createKubeSource } = await import('./kube-source.js');
  const log = logger.child({ source: 'kubernetes' });
  return createKubeSource({
    kubeconfig: config.kubeconfig,
    clock: () => clock.now(),
    logger: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
  });
}

/** Builds the agent and serves HTTP at once (so /healthz answers and /readyz says "not yet"
 *  while the source lists); the source's first listing and the first sync follow in the
 *  background: `started` settles when the listing is in (or failed). */
/** What the agent's engine is built with, from its flags (also what a fresh `compile` of the
 *  same state must be given to write the same table: bench/latency.ts compares them). */
export function compileOptionsOf(config: Config): CompileOptions {
  return { node: config.node, table: config.table, ctMarkMask: config.ctMarkMask, establishedFastPath: config.establishedFastPath, owner: config.owner, policyRuleCounters: config.policyRuleCounters, antiSpoofing: config.antiSpoofing, podCidrs: config.podCidrs, ...(config.logDrops ? { dropLog: config.logDrops } : {}) };
}

export async function startAgent(config: Config, deps: StartDeps): Promise<AgentHandle> {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const registry = deps.registry ?? new Registry();
  const metrics = new Metrics(registry, { dropMetricsBy: config.dropMetricsBy, policyRuleCounters: config.policyRuleCounters });
  const nft = deps.nft ?? new NftCli([config.nftPath]);
  const source = deps.source ?? (config.source
    ? new FileSource({
      dir: config.source, clock, allowEmpty: config.allowEmptySource, maxFileBytes: config.sourceMaxFileBytes, stableMs: config.sourceStableMs,
      onFileError: (reason) => metrics.sourceErrors.inc({ reason }),
    })
    : await kubeSource(config, logger, clock));
  const agent = new Agent({
    source, nft, clock, logger, metrics,
    conntrack: deps.conntrack ?? new ConntrackCli([config.conntrackPath]),
    takeOver: config.takeOver,
    compile: compileOptionsOf(config),
  });
  const traceLines = deps.traceLines ?? (deps.nft ? undefined : nftMonitor(config.nftPath));
  const dropLog = config.logDrops && traceLines ? new DropLog({ table: config.table, lines: traceLines, origins: () => agent.origins(), logger: logger.child({ log: 'drops' }), metrics }) : undefined;
  dropLog?.start();
  const runner = new SyncRunner({
    clock,
    debounceMs: config.debounceMs,
    maxDelayMs: config.maxSyncDelayMs,
    retryMinMs: config.retryMinMs,
    retryMaxMs: config.retryMaxMs,
    resyncIntervalMs: config.resyncIntervalMs,
    sync: (reason) => agent.sync(reason),
  });
  const server = await startHttp(
    registry,
    { ready: () => source.synced() && agent.ready(), unappliedFor: () => runner.unappliedFor(), healthTimeoutMs: config.healthTimeoutMs, degraded: () => agent.notReadyReason() ?? sourceDegraded(source, metrics) },
    config.metricsAddress.host,
    config.metricsAddress.port,
    deps.httpLimits,
    { onRejected: (reason) => metrics.httpRejected.inc({ reason }) },
  );
  const port = server.port;
  logger.info({ address: `${config.metricsAddress.host}:${port}` }, 'serving /metrics, /healthz, /readyz');

  let listed = false, stopping = false;
  const started = source
    .start({
      onChange: (e) => {
        if (source instanceof FileSource) metrics.sourceFilesFailing.set(source.failing().length);
        agent.noteChange(e);
        if (listed) runner.request();
      },
      onWatchRestart: (kind, reason) => {
        metrics.watchRestarts.inc({ kind, reason });
        logger.warn({ kind, reason }, 'watch restarted');
      },
      onError: (message) => logger.error(message),
    })
    .then(() => {
      if (stopping) return;
      listed = true;
      logger.info('cluster state listed; first sync (full replace)');
      runner.start();
    });
  started.catch(() => {}); // the caller handles it; never an unhandled rejection

  return {
    agent, runner, source, metrics, server, port, started,
    async stop(graceMs = 10_000) {
      stopping = true;
      dropLog?.stop();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'abandoned'>((r) => { timer = setTimeout(() => r('abandoned'), graceMs); });
      const how = await Promise.race([runner.stop().then(() => 'finished' as const), grace]);
      clearTimeout(timer);
      if (how === 'abandoned') logger.warn('abandoned the sync in flight (the kernel keeps the old or the new ruleset)');
      await source.stop().catch((e: unknown) => logger.warn({ error: (e as Error).message }, 'stopping the source failed'));
      await server.close();
    },
  };
}

/** A folder source with files it cannot read or parse: what /readyz says (and the gauge). */
function sourceDegraded(source: ClusterSource, metrics: Metrics): string | undefined {
  if (!(source instanceof FileSource)) return undefined;
  const f = source.failing();
  metrics.sourceFilesFailing.set(f.length);
  if (!f.length) return undefined;
  return `source: ${f.length} file(s) or folder(s) cannot be read or parsed; their last good objects stay in force: ${formatProblem(f[0]!)}`;
}

/** After a stop, nothing of ours keeps the event loop busy; should a library still hold a
 *  handle (a watch socket), exit anyway rather than outlive the pod's grace period. */
function exitSoon(code: number): void {
  setTimeout(() => process.exit(code), 3000).unref();
}

/** `netpol-nft run`: returns the exit code (0 after SIGTERM/SIGINT). */
export async function runCommand(argv: string[]): Promise<number> {
  let config: Config;
  try {
    const c = parseConfig(argv);
    if (c === 'help') {
      process.stdout.write(RUN_USAGE);
      return 0;
    }
    config = c;
  } catch (e) {
    if (e instanceof ConfigError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`netpol-nft run: ${(e as Error).message}\n${RUN_USAGE}`);
      return 2;
    }
    throw e;
  }
  const logger = createLogger(config.logLevel);
  logger.info({ config: { ...config, metricsAddress: `${config.metricsAddress.host}:${config.metricsAddress.port}`, ctMarkMask: `0x${config.ctMarkMask.toString(16)}` } }, 'starting');

  // Signals first: a SIGTERM during start-up must still end cleanly.
  let signalled: (s: string) => void = () => {};
  const signal = new Promise<string>((r) => { signalled = r; });
  const onSignal = (s: NodeJS.Signals) => signalled(s);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  let handle: AgentHandle;
  try {
    handle = await startAgent(config, { logger });
  } catch (e) {
    logger.fatal({ error: (e as Error).message }, 'cannot start');
    return 1;
  }
  const first = await Promise.race([handle.started.then(() => 'listed' as const, (e: unknown) => e as Error), signal]);
  if (first instanceof Error) {
    logger.fatal({ error: first.message }, 'cannot list the cluster state');
    await handle.stop(1000);
    exitSoon(1);
    return 1;
  }
  const s = first === 'listed' ? await signal : first;
  logger.info({ signal: s }, 'stopping; the table stays in force');
  await handle.stop();
  logger.info('stopped');
  exitSoon(0);
  return 0;
}

/** `netpol-nft cleanup [--table NAME] [--nft-path PATH]`: deletes the table, idempotent. */
export async function cleanupCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { table: { type: 'string', default: DEFAULT_TABLE }, 'nft-path': { type: 'string', default: process.env.NFT_PATH ?? 'nft' } } });
  const nft = new NftCli([values['nft-path']]);
  try {
    await nft.apply(batchJson(deleteTableBatch('inet', values.table)));
  } catch (e) {
    process.stderr.write(`netpol-nft cleanup: ${(e as Error).message}${e instanceof NftError && e.detail ? `\n${e.detail}` : ''}\n`);
    return 1;
  }
  process.stdout.write(`netpol-nft cleanup: table inet ${values.table} removed\n`);
  return 0;
}
