// The reader of the kernel's packet trace (`nft monitor trace`), in policy terms: used by
// `netpol-nft trace` and by the agent's drop log. Pure: lines in, decoded packets out.
//
// nft 1.0.6 prints trace events as text even with `-j` (its JSON monitor has no trace
// output), one line per event:
//   trace id 9d621a17 inet netpol_nft forward packet: iif "p-x-a" oif "p-y-b" ip saddr … tcp dport 80 …
//   trace id 9d621a17 inet netpol_nft in4o_0123456789 rule ip saddr @peer_… return comment "x/web ingress[0] from[0]" (verdict return)
//   trace id 9d621a17 inet netpol_nft in4o_0123456789 rule drop comment "ingress: isolated by x/deny" (verdict drop)
//   trace id 9d621a17 inet netpol_nft forward policy accept
// Events of one packet share its id (a packet traced in several hooks, or by several tables,
// too). The first `packet:` line carries the headers.
import type { Direction } from './policy.js';

export interface TraceEvent {
  readonly id: string;
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  readonly kind: 'packet' | 'rule' | 'policy' | 'other';
  /** packet: the header text; rule: the rule as nft prints it; policy: the verdict. */
  readonly text: string;
  /** rule: its comment, if any. */
  readonly comment?: string;
  /** rule: the verdict (`accept`, `drop`, `continue`, `return`, `jump`, `goto`); policy: its verdict. */
  readonly verdict?: string;
  /** rule with jump/goto: the target chain. */
  readonly target?: string;
  /** A rule nft could not print (added after the monitor started): its handle only. */
  readonly handle?: number;
}

const LINE = /^trace id (\S+) (\S+) (\S+) (\S+) (packet: |rule |policy )?(.*)$/;

/** One line of `nft monitor trace`; undefined for anything else. */
export function parseTraceLine(line: string): TraceEvent | undefined {
  const m = LINE.exec(line.trimEnd());
  if (!m) return undefined;
  const [, id, family, table, chain, what, rest] = m as unknown as [string, string, string, string, string, string | undefined, string];
  if (what === 'packet: ') return { id, family, table, chain, kind: 'packet', text: rest };
  if (what === 'policy ') return { id, family, table, chain, kind: 'policy', text: rest, verdict: rest.trim() };
  if (what === 'rule ') {
    const v = /\(verdict (\w+)(?: (\S+))?\)$/.exec(rest);
    const body = v ? rest.slice(0, v.index).trimEnd() : rest;
    const c = /comment ("(?:[^"\\]|\\.)*")$/.exec(body);
    let comment: string | undefined;
    if (c) {
      try { comment = JSON.parse(c[1]!) as string; } catch { comment = c[1]!.slice(1, -1); }
    }
    return { id, family, table, chain, kind: 'rule', text: c ? body.slice(0, c.index).trimEnd() : body, ...(comment !== undefined ? { comment } : {}), ...(v ? { verdict: v[1]!, ...(v[2] ? { target: v[2] } : {}) } : {}) };
  }
  // A rule added after the monitor started: nft 1.0 knows only what it listed at its start
  // (`nft monitor trace` does not follow ruleset changes), so it prints the handle alone.
  const u = /^unknown rule handle (\d+) \(verdict (\w+)(?: (\S+))?\)$/.exec(rest.trim());
  if (u) return { id, family, table, chain, kind: 'rule', text: '', handle: Number(u[1]), verdict: u[2]!, ...(u[3] ? { target: u[3] } : {}) };
  return { id, family, table, chain, kind: 'other', text: rest };
}

export interface PacketHeaders {
  readonly saddr?: string;
  readonly daddr?: string;
  readonly protocol?: string;
  readonly sport?: number;
  readonly dport?: number;
  readonly iif?: string;
  readonly oif?: string;
}

/** nft names a protocol number through /etc/protocols, which the agent's image lacks (Debian's
 *  netbase is not installed there): it then prints `ip protocol 6`. The names nft prints where
 *  the file exists, so that a trace reads the same in the image and on a node. */
const PROTOCOL_NAMES: Readonly<Record<string, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'ipv6-icmp', 132: 'sctp' };

/** The headers of a `packet:` line. */
export function parseHeaders(text: string): PacketHeaders {
  const get = (re: RegExp) => re.exec(text)?.[1];
  const saddr = get(/\bip6? saddr (\S+)/), daddr = get(/\bip6? daddr (\S+)/);
  const named = get(/\bip protocol ([\w-]+)/) ?? get(/\bip6 nexthdr ([\w-]+)/);
  const protocol = named === undefined ? undefined : (PROTOCOL_NAMES[named] ?? named);
  const port = (f: string) => {
    const v = new RegExp(`\\b(?:tcp|udp|sctp|th) ${f} (\\d+)`).exec(text)?.[1];
    return v === undefined ? undefined : Number(v);
  };
  const unq = (s: string | undefined) => (s === undefined ? undefined : s.replace(/^"|"$/g, ''));
  const sport = port('sport'), dport = port('dport');
  return {
    ...(saddr ? { saddr } : {}), ...(daddr ? { daddr } : {}), ...(protocol ? { protocol } : {}),
    ...(sport !== undefined ? { sport } : {}), ...(dport !== undefined ? { dport } : {}),
    ...(get(/\biif (\S+)/) ? { iif: unq(get(/\biif (\S+)/)) } : {}), ...(get(/\boif (\S+)/) ? { oif: unq(get(/\boif (\S+)/)) } : {}),
  };
}

/** What the decoder needs of the engine (PolicyEngine implements it). */
export interface OriginLookup {
  chainInfo(chain: string): { direction: Direction; step: string; isolatedBy: readonly string[]; clusterPolicies: readonly string[]; pods: readonly string[] } | undefined;
}

/** One decision on a traced packet's way through our table. */
export interface TraceStep {
  readonly direction?: Direction;
  /** allow: a rule let it through; drop: dropped; cache: the verdict cache (decided earlier
   *  under this ruleset); pass: a Pass rule; deny: a Deny rule (the drop follows); related;
   *  invalid; log: the drop log's mark. */
  readonly decision: 'allow' | 'drop' | 'cache' | 'pass' | 'deny' | 'related' | 'invalid' | 'log';
  /** The rule's comment: its policy and rule, or the reason of a drop. */
  readonly rule?: string;
  /** The local pods of the chain that decided (one group: the pods its policies select). */
  readonly pods?: readonly string[];
  /** For a drop: the policies that isolate the pods (NetworkPolicy) or the cluster policies. */
  readonly policies?: readonly string[];
  readonly chain: string;
}

export interface TracedPacket {
  readonly id: string;
  readonly headers: PacketHeaders;
  readonly steps: readonly TraceStep[];
  /** What our table did with it: accept (every decision allowed, or nothing isolates it), drop. */
  readonly verdict: 'accept' | 'drop' | 'unknown';
  /** The base chain that decided (forward or input). */
  readonly hook?: string;
}

const BASE = new Set(['forward', 'input']);

/** Decodes the events of one packet id in our table (`table`) into policy terms. */
export function decodePacket(events: readonly TraceEvent[], table: string, lookup?: OriginLookup): TracedPacket {
  const ours = events.filter((e) => e.table === table);
  const headers = parseHeaders(events.find((e) => e.kind === 'packet')?.text ?? '');
  const steps: TraceStep[] = [];
  let verdict: TracedPacket['verdict'] = 'unknown';
  let hook: string | undefined;
  for (const e of ours) {
    if (BASE.has(e.chain)) hook = e.chain;
    if (e.kind === 'policy' && BASE.has(e.chain)) { verdict = e.verdict === 'drop' ? 'drop' : 'accept'; continue; }
    if (e.kind !== 'rule') continue;
    const info = lookup?.chainInfo(e.chain);
    const side = info ? { direction: info.direction, pods: info.pods } : {};
    if (BASE.has(e.chain)) {
      if (e.verdict === 'accept' && /\bct mark\b/.test(e.text)) { steps.push({ decision: 'cache', chain: e.chain }); verdict = 'accept'; }
      else if (e.verdict === 'accept' && /\bct state\b.*\brelated\b/.test(e.text)) { steps.push({ decision: 'related', chain: e.chain }); verdict = 'accept'; }
      else if (e.verdict === 'accept' && /\bct state\b.*\bestablished\b/.test(e.text)) { steps.push({ decision: 'cache', rule: 'ct state established (fast path)', chain: e.chain }); verdict = 'accept'; }
      else if (e.verdict === 'drop' && /\bct state\b.*\binvalid\b/.test(e.text)) { steps.push({ decision: 'invalid', chain: e.chain }); verdict = 'drop'; }
      else if (e.verdict === 'accept' || e.verdict === 'drop') verdict = e.verdict;
      continue;
    }
    if (e.comment === 'drop log') { steps.push({ decision: 'log', chain: e.chain, ...side }); continue; }
    if (e.verdict === 'drop') {
      const policies = info ? (info.step === 'deny' ? info.clusterPolicies : info.isolatedBy) : undefined;
      // Without the rule's text the chain still says why (its comment is made from the same).
      const why = e.comment ?? (info ? `${info.direction}: ${info.step === 'deny' ? 'denied by' : 'isolated by'} ${policies!.join(', ')}` : undefined);
      steps.push({ decision: 'drop', chain: e.chain, ...(why ? { rule: why } : {}), ...side, ...(policies ? { policies } : {}) });
      verdict = 'drop';
      continue;
    }
    if (e.verdict === 'return' && (e.comment || e.handle !== undefined)) {
      steps.push({ decision: 'allow', chain: e.chain, rule: e.comment ?? `rule handle ${e.handle} of ${e.chain} (changed after the trace started)`, ...side });
      continue;
    }
    if (e.verdict === 'goto' && e.comment && e.target) {
      if (/_d$/.test(e.target)) steps.push({ decision: 'deny', chain: e.chain, rule: e.comment, ...side });
      else if (/^cnp\//.test(e.comment)) steps.push({ decision: 'pass', chain: e.chain, rule: e.comment, ...side });
    }
  }
  return { id: events[0]?.id ?? '', headers, steps, verdict, ...(hook ? { hook } : {}) };
}

/** Collects events by packet id and hands over each packet once our table has decided it
 *  (a verdict in a base chain of ours); `flush` hands over what is left (at the end). */
export class TraceCollector {
  private readonly open = new Map<string, TraceEvent[]>();

  constructor(private readonly table: string, private readonly done: (events: readonly TraceEvent[]) => void, private readonly max = 10_000) {}

  push(e: TraceEvent): void {
    let list = this.open.get(e.id);
    if (!list) {
      if (this.open.size >= this.max) this.flush(); // events of packets we never see end
      this.open.set(e.id, (list = []));
    }
    list.push(e);
    const final = e.table === this.table && (
      (e.kind === 'policy' && BASE.has(e.chain))
      || (e.kind === 'rule' && (e.verdict === 'accept' || e.verdict === 'drop') && (BASE.has(e.chain) || /^(in|eg)[46][or]_/.test(e.chain))));
    if (final) {
      this.open.delete(e.id);
      this.done(list);
    }
  }

  flush(): void {
    const all = [...this.open.values()];
    this.open.clear();
    for (const l of all) this.done(l);
  }
}

/** A traced packet as text lines (`netpol-nft trace --output text`). `who` names an address
 *  (`x/a` or the address itself). */
export function tracedPacketText(p: TracedPacket, who: (addr: string | undefined) => string): string[] {
  const h = p.headers;
  const ep = (a: string | undefined, port: number | undefined) => `${who(a)}${a && who(a) !== a ? ` (${a}${port !== undefined ? ` port ${port}` : ''})` : port !== undefined ? ` port ${port}` : ''}`;
  const out = [`${ep(h.saddr, h.sport)} -> ${ep(h.daddr, h.dport)}${h.protocol ? ` ${h.protocol}` : ''}: ${p.verdict === 'accept' ? 'allowed' : p.verdict === 'drop' ? 'DROPPED' : 'not decided by our table'}`];
  for (const s of p.steps) {
    const of = s.direction && s.pods?.length ? `${s.direction} of ${s.pods.length > 3 ? `${s.pods.slice(0, 3).join(', ')} (+${s.pods.length - 3})` : s.pods.join(', ')}` : s.direction ?? '';
    switch (s.decision) {
      case 'allow': out.push(`  ${of}: allowed by ${s.rule}`); break;
      case 'pass': out.push(`  ${of}: passed by ${s.rule} (on to the next step)`); break;
      case 'deny': out.push(`  ${of}: denied by ${s.rule}`); break;
      case 'drop': out.push(`  ${of}: dropped${s.policies?.length ? ` (${s.policies.join(', ')})` : ''}: ${s.rule ?? 'dropped'}`); break;
      case 'log': break;
      case 'cache': out.push(`  decided earlier under this ruleset${s.rule ? ` (${s.rule})` : ' (verdict cache in the conntrack mark)'}`); break;
      case 'related': out.push('  related to an allowed connection (ct state related)'); break;
      case 'invalid': out.push('  dropped: conntrack state invalid'); break;
    }
  }
  if (p.verdict === 'accept' && !p.steps.some((s) => s.decision === 'allow' || s.decision === 'cache' || s.decision === 'related')) {
    out.push('  no policy isolates either end in this direction: allowed');
  } else if (p.verdict === 'accept') {
    const decided = new Set(p.steps.filter((s) => s.decision === 'allow').map((s) => s.direction));
    if (!p.steps.some((s) => s.decision === 'cache' || s.decision === 'related')) {
      for (const d of ['egress', 'ingress'] as const) if (!decided.has(d)) out.push(`  ${d}: no policy of this node isolates that end (not isolated, or not a pod of this node)`);
    }
  }
  return out;
}
