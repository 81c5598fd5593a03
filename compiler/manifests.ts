// Manifest text (multi-document YAML or JSON, `kind: List` allowed) -> loose objects.
// Pure: the caller reads the files; this only parses what it is given. Problems name the
// source and the document (1-based, counting every `---` section), and the line for syntax
// errors, because that is where a human has to look.
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Problem } from './model.js';

/** Deeper than this, a document is not a Kubernetes object (a NetworkPolicy is about ten
 *  levels deep): refused before anything recursive (JSON.stringify, a List's items) meets it. */
export const MAX_DEPTH = 64;

/** Why `v` is too deep to be a manifest, or undefined; iterative, so any depth is safe. */
export function checkDepth(v: unknown, max = MAX_DEPTH): string | undefined {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d > max) return `nested deeper than ${max} levels: not a Kubernetes object`;
    for (const y of Array.isArray(x) ? x : Object.values(x as object)) if (y !== null && typeof y === 'object') stack.push([y, d + 1]);
  }
  return undefined;
}

export function parseManifestText(text: string, source: string): { objects: unknown[]; problems: Problem[] } {
  const objects: unknown[] = [];
  const problems: Problem[] = [];
  const lines = new LineCounter();
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: false, lineCounter: lines });
  } catch (e) {
    // The parser's own limits (a stack overflow on absurd nesting): the file as a whole.
    return { objects, problems: [{ kind: 'document', object: source, path: '', message: `cannot be parsed: ${(e as Error).message}` }] };
  }
  const list = Array.isArray(docs) ? docs : [docs];
  const where = (i: number) => `${source}${list.length > 1 ? ` document ${i + 1}` : ''}`;
  list.forEach((doc, i) => {
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      const pos = e.linePos?.[0] ?? (e.pos?.length ? lines.linePos(e.pos[0]) : undefined);
      problems.push({ kind: 'document', object: where(i), path: pos ? `line ${pos.line}` : '', message: e.message.split('\n')[0]! });
      return;
    }
    let v: unknown;
    try {
      // An alias bomb (billion laughs) stops here: the YAML library counts alias expansions.
      v = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      problems.push({ kind: 'document', object: where(i), path: '', message: (e as Error).message.split('\n')[0]! });
      return;
    }
    if (v === null || v === undefined) return; // an empty document (a trailing `---`)
    const deep = checkDepth(v);
    if (deep) {
      problems.push({ kind: 'document', object: where(i), path: '', message: deep });
      return;
    }
    if (typeof v !== 'object' || Array.isArray(v)) {
      problems.push({ kind: 'document', object: where(i), path: '', message: `not a Kubernetes object (${Array.isArray(v) ? 'a list' : `a ${typeof v}`})` });
      return;
    }
    objects.push(v);
  });
  return { objects, problems };
}
