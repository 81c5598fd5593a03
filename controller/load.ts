// Reads manifests from a file or a folder (recursively, *.yaml, *.yml, *.json, in name order),
// for `compile`, `explain` and the folder source alike. Whatever lies in the folder, reading
// it never hangs, never eats the memory and never aborts the rest:
//  - only regular files are read (opened non-blocking, then checked on the open descriptor,
//    so a FIFO or a device, /dev/zero through a link, is refused without waiting on it);
//  - a file larger than the size cap is refused unread;
//  - `.json` goes through JSON.parse (the YAML parser costs ten times as much on large JSON);
//  - a file or folder that cannot be read is a problem naming it, and the rest is read.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { clusterFromObjects, parseManifestText, type Cluster, type Problem } from '../compiler/index.js';
import { checkDepth } from '../compiler/manifests.js';
import type { NodeInfo } from '../compiler/nodes.js';

export class LoadError extends Error {}

/** Files larger than this are refused (`--source-max-file-size`): a cluster's manifests are
 *  far smaller, and parsing a large YAML file takes about 200 times its size in memory. */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Symbolic links to folders are followed (a ConfigMap mount is made of them), this deep at most. */
const MAX_FOLDER_DEPTH = 32;

const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** A manifest file found in a folder, with what identifies its content without reading it. */
export interface ManifestFile {
  readonly path: string;
  /** dev, inode, size, mtime, ctime of the file (through links): equal means unchanged. */
  readonly stamp: string;
}

export interface Listing {
  readonly files: ManifestFile[];
  /** Folders and entries that could not be read: path -> why. */
  readonly failed: { path: string; message: string }[];
}

const stampOf = (st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/** Lists the manifest files under `path` (or `path` itself when it is a file). Only an
 *  unreadable `path` throws; anything below it that cannot be read is listed in `failed`. */
export function listManifests(path: string): Listing {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new LoadError(`cannot read ${path}: ${code(e)}`);
  }
  if (!st.isDirectory()) return { files: [{ path, stamp: stampOf(st) }], failed: [] };
  const files: ManifestFile[] = [], failed: Listing['failed'] = [];
  const seen = new Set<string>();
  const walk = (dir: string, dirStat: { dev: number; ino: number }, depth: number) => {
    const id = `${dirStat.dev}:${dirStat.ino}`;
    if (seen.has(id)) return; // a link back up the tree
    seen.add(id);
    if (depth > MAX_FOLDER_DEPTH) {
      failed.push({ path: dir, message: `nested deeper than ${MAX_FOLDER_DEPTH} folders: not read` });
      return;
    }
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (e) {
      if (depth === 0) throw new LoadError(`cannot read ${dir}: ${code(e)}`);
      failed.push({ path: dir, message: `cannot read: ${code(e)}` });
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      let s;
      try {
        s = statSync(p);
      } catch (e) {
        // Gone since readdir: nothing to read. A link whose target is gone: a problem.
        let link = false;
        try {
          link = lstatSync(p).isSymbolicLink();
        } catch {
          continue;
        }
        if (link && /\.(ya?ml|json)$/.test(name)) failed.push({ path: p, message: `dangling symbolic link (${code(e)})` });
        else if (!link || code(e) !== 'ENOENT') failed.push({ path: p, message: `cannot read: ${code(e)}` });
        continue;
      }
      if (s.isDirectory()) walk(p, s, depth + 1);
      else if (/\.(ya?ml|json)$/.test(name)) files.push({ path: p, stamp: stampOf(s) });
    }
  };
  walk(path, st, 0);
  return { files, failed };
}

/** The file names under `path`, for callers that only need them. */
export function manifestFiles(path: string): string[] {
  return listManifests(path).files.map((f) => f.path);
}

/** Reads one file as text: a regular file no larger than `maxBytes`, or why not. Opened
 *  non-blocking so that a FIFO cannot hang the caller; checked on the descriptor so that a
 *  link swapped between stat and open cannot slip a device in. */
export function readManifestFile(path: string, maxBytes = DEFAULT_MAX_FILE_BYTES): { text: string } | { error: string; gone?: boolean } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return { error: `cannot read: ${code(e)}`, gone: code(e) === 'ENOENT' };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { error: `not a regular file (${st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a file'}): not read` };
    if (st.size > maxBytes) return { error: `${st.size} bytes, more than the limit of ${maxBytes}: not read` };
    // Read to the end, but never past the cap: the file may grow while we read.
    const buf = Buffer.alloc(Math.min(maxBytes + 1, Math.max(st.size + 1, 4096)));
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > maxBytes) return { error: `more than the limit of ${maxBytes} bytes: not read` };
      if (n === buf.length) return { error: `grew while being read: not read` };
    }
    const text = buf.subarray(0, n).toString('utf8');
    return { text };
  } catch (e) {
    return { error: `cannot read: ${code(e)}` };
  } finally {
    closeSync(fd);
  }
}

/** Line (1-based) of a character offset, for JSON errors that give a position. */
function lineAt(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Parses one file's text: JSON.parse for `.json` (one document), YAML otherwise. Never
 *  throws: a document that cannot be read is a problem naming the file (and document). */
export function parseManifestFile(path: string, text: string): { objects: unknown[]; problems: Problem[] } {
  if (!path.endsWith('.json')) return parseManifestText(text, path);
  if (text.trim() === '') return { objects: [], problems: [] };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    return { objects: [], problems: [{ kind: 'document', object: path, path: pos ? `line ${lineAt(text, Number(pos[1]))}` : '', message: msg.split('\n')[0]! }] };
  }
  const deep = checkDepth(v);
  if (deep) return { objects: [], problems: [{ kind: 'document', object: path, path: '', message: deep }] };
  if (v === null) return { objects: [], problems: [] };
  if (typeof v !== 'object' || Array.isArray(v)) return { objects: [], problems: [{ kind: 'document', object: path, path: '', message: `not a Kubernetes object (${Array.isArray(v) ? 'a list' : `a ${typeof v}`})` }] };
  return { objects: [v], problems: [] };
}

/** Loads the cluster state for `compile` and `explain`. Only an unreadable `path` throws;
 *  a file or document inside it that cannot be read is a problem (kind 'document') naming
 *  it, and the rest is loaded; bad objects are problems too. `unread` counts the files and
 *  documents that could not be read at all (the state is then incomplete). Node objects
 *  (read by explain and matrix only, for nodes' own addresses) come back apart. */
export function loadCluster(path: string, maxBytes = DEFAULT_MAX_FILE_BYTES): { cluster: Cluster; problems: Problem[]; unread: number; nodes: NodeInfo[] } {
  const objects: unknown[] = [], origins: string[] = [];
  const problems: Problem[] = [];
  const listing = listManifests(path);
  for (const f of listing.failed) problems.push({ kind: 'document', object: f.path, path: '', message: f.message });
  for (const f of listing.files) {
    const r = readManifestFile(f.path, maxBytes);
    if ('error' in r) {
      if (r.gone && f.path !== path) continue; // deleted while we read the folder
      problems.push({ kind: 'document', object: f.path, path: '', message: r.error });
      continue;
    }
    const p = parseManifestFile(f.path, r.text);
    p.objects.forEach((o, i) => {
      objects.push(o);
      origins.push(p.objects.length > 1 ? `${f.path} object ${i + 1}` : f.path);
    });
    problems.push(...p.problems);
  }
  // Node objects are read with the cluster (ClusterNetworkPolicy `nodes` peers need them too),
  // their problems reported once.
  const c = clusterFromObjects(objects, origins);
  const all = [...problems, ...c.problems];
  return { cluster: c.cluster, problems: all, unread: all.filter((p) => p.kind === 'document').length, nodes: [...(c.cluster.nodes ?? [])] };
}
