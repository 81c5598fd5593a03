// The drop log (`--log-drops RATE`): one JSON log line per dropped packet the kernel lets
// through its rate, saying who dropped what and why, in policy terms.
//
// How: with the drop log on, the end of every group chain's decision (compiler/nft/build.ts
// dropTail) carries `limit name "drop_log" meta nftrace set 1` just before its `drop`: one
// named limit object for the whole table, so RATE is per node; above it the rule stops
// before marking, and the packet is dropped all the same (no verdict ever depends on it).
// A marked packet's remaining path (the drop) reaches every listener of the kernel's trace
// netlink group: here a `nft monitor trace` child process the agent supervises (restarted
// with backoff when it ends; netpol_nft_drop_log_monitor_failures_total counts it). Only
// `nft` and CAP_NET_ADMIN are needed. `netpol-nft trace` uses the same mechanism, so a
// trace in progress and the drop log see each other's events: the drop log keeps only
// packets its own rule marked.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { decodePacket, parseTraceLine, TraceCollector, type OriginLookup, type TraceEvent } from '../compiler/trace.js';
import type { Metrics } from './metrics.js';

/** A running source of `nft monitor trace` lines. */
export interface TraceLines {
  start(onLine: (line: string) => void, onExit: (why: 'start' | 'exit', detail: string) => void): { stop(): void };
}

/** `nft monitor trace` as a child process (`nftPath` may be a wrapper script). */
export function nftMonitor(nftPath: string): TraceLines {
  return {
    start(onLine, onExit) {
      const child = spawn(nftPath, ['monitor', 'trace'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '', stopped = false;
      child.stderr.on('data', (d: Buffer) => { if (err.length < 4096) err += d.toString(); });
      child.on('error', (e) => { if (!stopped) { stopped = true; onExit('start', e.message); } });
      child.on('close', (code, signal) => { if (!stopped) { stopped = true; onExit('exit', `${err.trim() || 'no message'} (exit ${code ?? signal})`); } });
      createInterface({ input: child.stdout }).on('line', onLine);
      return { stop() { stopped = true; child.kill(); } };
    },
  };
}

export interface DropLogOptions {
  readonly table: string;
  readonly lines: TraceLines;
  readonly origins: () => OriginLookup & { podAt(ip: string): string | undefined };
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Backoff of restarts (default 1 s doubling to 30 s). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export class DropLog {
  private running: { stop(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private delay: number;
  private readonly collector: TraceCollector;

  constructor(private readonly o: DropLogOptions) {
    this.delay = o.retryMinMs ?? 1000;
    this.collector = new TraceCollector(o.table, (events) => this.packet(events));
  }

  start(): void {
    if (this.stopped || this.running) return;
    const startedAt = Date.now();
    this.o.logger.info({ table: this.o.table }, 'drop log: following nft monitor trace');
    this.running = this.o.lines.start(
      (line) => {
        const e = parseTraceLine(line);
        if (e) this.collector.push(e);
      },
      (why, detail) => {
        this.running = undefined;
        if (this.stopped) return;
        this.o.metrics.dropLogMonitorFailures.inc({ reason: why });
        // A monitor that ran a while restarts quickly; one that keeps failing backs off.
        if (Date.now() - startedAt > 60_000) this.delay = this.o.retryMinMs ?? 1000;
        this.o.logger.warn({ reason: why, detail, retryInMs: this.delay }, 'drop log: nft monitor trace ended; restarting');
        this.timer = setTimeout(() => { this.timer = undefined; this.start(); }, this.delay);
        this.timer.unref?.();
        this.delay = Math.min(this.delay * 2, this.o.retryMaxMs ?? 30_000);
      },
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.running?.stop();
    this.running = undefined;
  }

  private packet(events: readonly TraceEvent[]): void {
    const origins = this.o.origins();
    const p = decodePacket(events, this.o.table, origins);
    // Packets a group chain dropped: marked by our drop-log rule, or by a `netpol-nft trace`
    // in progress (`traced`: its pair is logged beyond the rate while it runs). nft may not
    // know the rules' text (a rule added after the monitor started prints as its handle):
    // the chain alone says which pods and policies.
    const drop = p.steps.find((s) => s.decision === 'drop' && s.pods);
    if (p.verdict !== 'drop' || !drop) return;
    const traced = events.some((e) => e.table === this.o.table && e.chain.startsWith('trace_'));
    const h = p.headers;
    const end = (address: string | undefined, port: number | undefined) => ({ ...(address ? { address, pod: origins.podAt(address) } : {}), ...(port !== undefined ? { port } : {}) });
    const src = end(h.saddr, h.sport), dst = end(h.daddr, h.dport);
    // The local pod whose policies dropped it: the end of the packet that is one of the chain's pods.
    const pod = [src.pod, dst.pod].find((x) => x && drop?.pods?.includes(x));
    this.o.metrics.dropLogLines.inc();
    this.o.logger.info({
      event: 'drop', direction: drop?.direction, pod, source: src, destination: dst, protocol: h.protocol,
      policies: drop?.policies, reason: drop?.rule, chain: drop?.chain, ...(traced ? { traced } : {}),
    }, 'packet dropped');
  }
}
