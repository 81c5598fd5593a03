// Reads manifests from a file or a folder (recursively, *.yaml, *.yml, *.json, in name order).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { clusterFromObjects, parseManifestText, type Cluster, type Problem } from '../compiler/index.js';
import { nodesFromObjects, type NodeInfo } from '../compiler/nodes.js';

export class LoadError extends Error {}

export function manifestFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new LoadError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(path, name);
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      throw new LoadError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (isDir) out.push(...manifestFiles(p));
    else if (/\.(ya?ml|json)$/.test(name)) out.push(p);
  }
  return out;
}

/** Loads the cluster state; unreadable files throw, bad objects come back as problems.
 *  Node objects (read by explain and matrix only, for nodes' own addresses) come back apart. */
export function loadCluster(path: string): { cluster: Cluster; problems: Problem[]; nodes: NodeInfo[] } {
  const objects: unknown[] = [];
  const problems: Problem[] = [];
  for (const f of manifestFiles(path)) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new LoadError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // JSON is YAML too, but the YAML parser is ten times slower on large JSON files.
    let r: ReturnType<typeof parseManifestText>;
    if (f.endsWith('.json')) {
      try {
        r = { objects: [JSON.parse(text) as unknown], problems: [] };
      } catch {
        r = parseManifestText(text, f); // let the YAML parser name the line
      }
    } else r = parseManifestText(text, f);
    objects.push(...r.objects);
    problems.push(...r.problems);
  }
  const c = clusterFromObjects(objects);
  const n = nodesFromObjects(objects);
  return { cluster: c.cluster, problems: [...problems, ...c.problems, ...n.problems], nodes: n.nodes };
}
