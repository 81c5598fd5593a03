// Manifest text (multi-document YAML or JSON, `kind: List` allowed) -> loose objects.
// Pure: the caller reads the files; this only parses what it is given. Problems name the
// source and the document (1-based, counting every `---` section), and the line for syntax
// errors, because that is where a human has to look.
import { LineCounter, parseAllDocuments } from 'yaml';
import type { Problem } from './model.js';

export function parseManifestText(text: string, source: string): { objects: unknown[]; problems: Problem[] } {
  const objects: unknown[] = [];
  const problems: Problem[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: false, lineCounter: lines });
  const list = Array.isArray(docs) ? docs : [docs];
  const where = (i: number) => `${source}${list.length > 1 ? ` document ${i + 1}` : ''}`;
  list.forEach((doc, i) => {
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      const pos = e.linePos?.[0] ?? (e.pos?.length ? lines.linePos(e.pos[0]) : undefined);
      problems.push({ kind: 'document', object: where(i), path: pos ? `line ${pos.line}` : '', message: e.message.split('\n')[0]! });
      return;
    }
    const v: unknown = doc.toJS({ maxAliasCount: 100 });
    if (v === null || v === undefined) return; // an empty document (a trailing `---`)
    if (typeof v !== 'object' || Array.isArray(v)) {
      problems.push({ kind: 'document', object: where(i), path: '', message: `not a Kubernetes object (${Array.isArray(v) ? 'a list' : `a ${typeof v}`})` });
      return;
    }
    objects.push(v);
  });
  return { objects, problems };
}
