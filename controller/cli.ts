#!/usr/bin/env node
// netpol-nft command line: compile, explain (and the agent's commands, see COMMANDS).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { batchJson, compile, COMPILE_GENERATION, ctMarkMaskError, DEFAULT_CT_MARK_MASK, DEFAULT_TABLE, explain, ExplainError, explanationText, formatProblem, fullBatch, parseCidrText, rulesetText, type Protocol } from '../compiler/index.js';
import { DEFAULTS, parseDropRate } from './config.js';
import { tableNameError } from '../compiler/nft/names.js';
import { loadCluster, LoadError } from './load.js';
import { CliUsageError, loadState, matrixCommand, MATRIX_USAGE, parseFamily } from './matrix-cli.js';
import { cleanupCommand, runCommand } from './run.js';
import { traceCommand, TRACE_USAGE } from './trace.js';

type Command = (argv: string[]) => Promise<number>;

const USAGE = `usage:
  netpol-nft compile --cluster FILE|DIR --node NAME [--output json|text] [--table NAME]
                     [--ct-mark-mask HEX] [--established-fast-path] [--generation N]
                     [--policy-rule-counters] [--log-drops RATE]
                     [--pod-cidr CIDR]... [--no-anti-spoofing]
  netpol-nft explain [--cluster FILE|DIR | --kubeconfig FILE] --from NS/POD|IP --to NS/POD|IP --port N[/PROTO]
                     [--family 4|6] [--output text|json]
${MATRIX_USAGE}
${TRACE_USAGE}
  netpol-nft run     (see netpol-nft run --help)
  netpol-nft cleanup [--table NAME] [--nft-path PATH]   (removes the table; idempotent)
`;

export function parseMask(s: string | undefined): number {
  if (s === undefined) return DEFAULT_CT_MARK_MASK;
  const n = Number(s);
  const why = ctMarkMaskError(n);
  if (why) throw new UsageError(`--ct-mark-mask ${s}: ${why}`);
  return n;
}

export class UsageError extends Error {}

const compileCmd: Command = async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      cluster: { type: 'string' }, node: { type: 'string' }, output: { type: 'string', default: 'json' },
      table: { type: 'string', default: DEFAULT_TABLE }, 'ct-mark-mask': { type: 'string' }, 'established-fast-path': { type: 'boolean', default: false },
      generation: { type: 'string' }, 'policy-rule-counters': { type: 'boolean', default: false }, 'log-drops': { type: 'string', default: DEFAULTS.logDrops },
      'pod-cidr': { type: 'string', multiple: true }, 'no-anti-spoofing': { type: 'boolean', default: false },
    },
  });
  const dropLog = parseDropRate(values['log-drops']!);
  if (dropLog === 'bad') throw new UsageError(`--log-drops ${values['log-drops']}: a rate such as 10/second, or 0 for off`);
  if (!values.cluster || !values.node) throw new UsageError('compile needs --cluster and --node');
  for (const c of values['pod-cidr'] ?? []) {
    const why = parseCidrText(c);
    if (typeof why === 'string') throw new UsageError(`--pod-cidr ${c}: ${why}`);
  }
  const generation = values.generation === undefined ? COMPILE_GENERATION : Number(values.generation);
  if (!Number.isSafeInteger(generation) || generation < 1) throw new UsageError(`--generation ${values.generation}: a positive integer`);
  if (values.output !== 'json' && values.output !== 'text') throw new UsageError(`--output ${values.output}: json or text`);
  // The agent's check: the name is printed into the text ruleset, so only an identifier passes.
  const tableWhy = tableNameError(values.table);
  if (tableWhy) throw new UsageError(`--table ${JSON.stringify(values.table)}: ${tableWhy}`);
  const { cluster, problems, unread } = loadCluster(values.cluster);
  const r = compile(cluster, { node: values.node, table: values.table, ctMarkMask: parseMask(values['ct-mark-mask']), establishedFastPath: values['established-fast-path'], policyRuleCounters: values['policy-rule-counters'], generation, antiSpoofing: !values['no-anti-spoofing'], podCidrs: values['pod-cidr'] ?? [], ...(dropLog ? { dropLog } : {}) });
  for (const p of [...problems, ...r.problems]) process.stderr.write(`netpol-nft: ${formatProblem(p)}\n`);
  process.stdout.write(values.output === 'json' ? batchJson(fullBatch(r.ruleset)) : rulesetText(r.ruleset));
  // Invalid objects are reported and handled (fail closed): exit 0. Input that could not be
  // read at all may have held policies: the rest is compiled, and the exit status says so.
  return incomplete('compile', unread);
};

function incomplete(cmd: string, unread: number): number {
  if (!unread) return 0;
  process.stderr.write(`netpol-nft ${cmd}: ${unread} file(s) or document(s) could not be read (see above); the output leaves them out\n`);
  return 1;
}

const explainCmd: Command = async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      cluster: { type: 'string' }, kubeconfig: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, port: { type: 'string' },
      family: { type: 'string' }, output: { type: 'string', default: 'text' },
    },
  });
  if (!values.from || !values.to || !values.port) throw new UsageError('explain needs --from, --to and --port (and --cluster, or a kubeconfig)');
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(values.port);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new UsageError(`--port ${values.port}: N or N/PROTO (tcp, udp, sctp)`);
  const family = parseFamily(values.family);
  const state = await loadState(values);
  const { cluster, problems, nodes } = state;
  const unread = (state as { unread?: number }).unread ?? 0;
  for (const p of problems) process.stderr.write(`netpol-nft: ${formatProblem(p)}\n`);
  const e = explain(cluster, values.from, values.to, Number(m[1]), (m[2] ?? 'tcp').toUpperCase() as Protocol, { nodes, ...(family ? { family } : {}) });
  process.stdout.write(values.output === 'json' ? JSON.stringify(e, null, 2) + '\n' : explanationText(e));
  return incomplete('explain', unread) || (e.allowed ? 0 : 3);
};

/** Subcommands; `run` and `cleanup` live in run.ts (the agent). */
export const COMMANDS: Record<string, Command> = { compile: compileCmd, explain: explainCmd, matrix: matrixCommand, trace: traceCommand, run: runCommand, cleanup: cleanupCommand };

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const f = COMMANDS[cmd];
  if (!f) {
    process.stderr.write(`netpol-nft: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
    return 2;
  }
  try {
    return await f(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof CliUsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`netpol-nft ${cmd}: ${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof LoadError || e instanceof ExplainError) {
      process.stderr.write(`netpol-nft ${cmd}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

const entry = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (entry === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { process.stderr.write(`netpol-nft: ${(e as Error).stack ?? e}\n`); process.exitCode = 1; });
}
