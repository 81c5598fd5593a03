// Manifest text (multi-document YAML or JSON, `kind: List` allowed) -> loose objects.
// Pure: the caller reads the files; this only parses what it is given.
import { parseAllDocuments } from 'yaml';
import type { Problem } from './model.js';

export function parseManifestText(text: string, source: string): { objects: unknown[]; problems: Problem[] } {
  const objects: unknown[] = [];
  const problems: Problem[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      const pos = e.linePos?.[0];
      problems.push({ kind: 'document', object: `${source}${list.length > 1 ? ` document ${i + 1}` : ''}`, path: pos ? `line ${pos.line}` : '', message: e.message.split('\n')[0]! });
      return;
    }
    const v: unknown = doc.toJS({ maxAliasCount: 100 });
    if (v !== null && v !== undefined) objects.push(v);
  });
  return { objects, problems };
}
