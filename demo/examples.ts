// The examples of policies-examples/ as the demo applies them: read in the README's order,
// with the extra labels and container ports they select on, as listed in
// policies-examples/README.md ("Extra labels and ports the examples need").
// The state is the conformance suite's own (test/e2e/example-state.ts), so the two agree.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
export { EXAMPLE_STATE } from '../test/e2e/example-state.js';

/** The examples in the order of the README's table (simplest first); files the table does
 *  not list follow in name order. */
export function readmeOrder(readme: string | undefined, files: readonly string[]): string[] {
  const listed = [...(readme ?? '').matchAll(/^\|\s*`([^`]+\.ya?ml)`/gm)].map((m) => m[1]!).filter((f) => files.includes(f));
  return [...listed, ...files.filter((f) => !listed.includes(f)).sort()];
}

export interface Example {
  readonly file: string;
  readonly description: string[];
  readonly text: string;
  /** `networkpolicy ns/name` → the object as JSON, to know which events the agent must see. */
  readonly objects: Map<string, string>;
}

export function readExamples(dir: string): Example[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  const readme = join(dir, 'README.md');
  return readmeOrder(existsSync(readme) ? readFileSync(readme, 'utf8') : undefined, files)
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const description: string[] = [];
      for (const line of text.split('\n')) {
        if (!line.startsWith('#')) break;
        description.push(line.replace(/^#\s?/, ''));
      }
      const objects = new Map<string, string>();
      for (const doc of parseAllDocuments(text)) {
        const o = doc.toJS() as { kind?: string; metadata?: { namespace?: string; name?: string } } | null;
        if (o?.kind === 'NetworkPolicy') objects.set(`networkpolicy ${o.metadata?.namespace ?? 'default'}/${o.metadata?.name}`, JSON.stringify(o));
      }
      return { file: f, description, text, objects };
    });
}

/** How many source events replacing `prev` by `next` produces (one per object added, removed
 *  or changed), which is what the agents must have programmed before we probe. */
export function eventCount(prev: Map<string, string>, next: Map<string, string>): number {
  let n = 0;
  for (const [k, v] of next) if (prev.get(k) !== v) n++;
  for (const k of prev.keys()) if (!next.has(k)) n++;
  return n;
}
