// Fuzzing the manifest readers (issue: bad files and bad objects never freeze or open a node).
// Real manifests (the x/y/z model of test/fixtures, one object per file, and policies-examples/)
// are mutated one file at a time — truncated, salted with garbage, swapped for an alias bomb, a
// 20,000-deep List, a non-object, binary junk, or one value swapped for one of another type —
// and fed to `compile` (in process, as the CLI reads a folder) and to the folder source.
// Every case must hold:
//  - nothing throws (a crash in the CLI, a dead agent);
//  - the rulesets compile to batches (and, on the kernel, nft accepts a sample of them);
//  - no isolated pod is opened by a bad object: between pods the mutation did not touch, no
//    connection the unmutated state denies is allowed (decided by the packet interpreter on
//    the compiled rulesets). For `compile` this holds whenever the mutation is reported as a
//    problem and every document could be read (when one could not, compile exits 1: its
//    output is declared incomplete). For the folder source it holds always, and no object
//    vanishes in one scan (a file that lost objects keeps them until stable).
// Deterministic per seed: a failure names the seed and the case to replay.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { batchJson, clusterFromObjects, compile, fullBatch, type Cluster, type Problem, type Ruleset } from '../../compiler/index.js';
import { FileSource } from '../../controller/file-source.js';
import { parseManifestFile } from '../../controller/load.js';
import { FakeClock } from '../agent/fake-clock.js';
import { evalPacket, type L4 } from '../compiler/packet-eval.js';
import { prng } from '../../bench/generate.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const NODES = ['n1', 'n2'] as const;
const PROBES: readonly { l4: L4; port: number }[] = [{ l4: 'tcp', port: 80 }, { l4: 'udp', port: 81 }, { l4: 'tcp', port: 8080 }];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** The corpus: the model's objects one per file, and every example policy. */
export function corpus(): Map<string, string> {
  const files = new Map<string, string>();
  const model = readFileSync(join(REPO, 'test', 'fixtures', 'xyz-model.yaml'), 'utf8');
  for (const d of parseAllDocuments(model) as ReturnType<typeof parseAllDocuments> & unknown[]) {
    const o = (d as { toJS(): Record<string, any> }).toJS();
    if (!o) continue;
    const name = `${String(o.kind).toLowerCase()}-${o.metadata.namespace ? o.metadata.namespace + '-' : ''}${o.metadata.name}`;
    files.set(`${name}.yaml`, (d as { toString(): string }).toString());
  }
  const ex = join(REPO, 'policies-examples');
  for (const f of readdirSync(ex).filter((f) => f.endsWith('.yaml')).sort()) files.set(`policy-${f}`, readFileSync(join(ex, f), 'utf8'));
  return files;
}

export const ALIAS_BOMB = 'a: &a [x, x, x, x, x, x, x, x, x]\n' + 'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill('*' + 'abcdefgh'[i]).join(', ')}]`).join('\n') + '\nkind: NetworkPolicy\n';

interface Mutation {
  readonly what: string;
  readonly text: string;
  /** The object was only changed in one value (the rest of the file parses as before). */
  readonly valueOnly: boolean;
}

/** A value of another JSON type than `v` (never null: null is "absent", a valid edit). A
 *  scalar becomes another scalar only when it reads as the same text (`80` <-> "80"), which
 *  is how a user writes the same thing wrongly; otherwise a map or a list. */
function otherType(r: Rand, v: unknown): unknown {
  if (typeof v === 'string' && /^\d{1,9}$/.test(v) && r() < 0.5) return Number(v);
  if (typeof v === 'string' && (v === 'true' || v === 'false') && r() < 0.5) return v === 'true';
  if ((typeof v === 'number' || typeof v === 'boolean') && r() < 0.5) return String(v);
  const isMap = typeof v === 'object' && v !== null && !Array.isArray(v);
  const choices: unknown[] = [];
  if (!isMap) choices.push({ junk: 1 }, {});
  if (!Array.isArray(v)) choices.push(['junk'], []);
  if (typeof v !== 'string') choices.push('junk');
  if (typeof v === 'object' && v !== null) choices.push(7, true);
  return pick(r, choices);
}

/** Every (parent, key) inside `o`, to pick a value to replace. */
function slots(o: unknown, out: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = []): typeof out {
  if (Array.isArray(o)) o.forEach((v, i) => { out.push({ parent: o, key: i }); slots(v, out); });
  else if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) { out.push({ parent: o as Record<string, unknown>, key: k }); slots(v, out); }
  return out;
}

export function mutate(r: Rand, text: string): Mutation {
  // Half the cases change one value (the subtle ones), half break the text.
  const kind = r() < 0.5 ? 9 : Math.floor(r() * 9);
  const cut = () => Math.floor(r() * text.length);
  switch (kind) {
    case 0: { const at = cut(); return { what: `truncated at byte ${at}`, text: text.slice(0, at), valueOnly: false }; }
    case 1: return { what: 'emptied', text: '', valueOnly: false };
    case 2: {
      const at = cut();
      const junk = pick(r, [': [', '{', '\t', '"', "'", '&x *y', '!!binary', '\u0000\u00ff', '--- [', '- - -', ': : :', '%YAML 9']);
      return { what: `${JSON.stringify(junk)} inserted at byte ${at}`, text: text.slice(0, at) + junk + text.slice(at), valueOnly: false };
    }
    case 3: return { what: 'an alias bomb', text: ALIAS_BOMB, valueOnly: false };
    case 4: return { what: 'a List nested 20,000 deep', text: '{"kind":"List","items":['.repeat(20000) + ']}'.repeat(20000), valueOnly: false };
    case 5: return { what: 'a flow sequence nested 20,000 deep', text: 'kind: NetworkPolicy\nspec: ' + '['.repeat(20000) + ']'.repeat(20000) + '\n', valueOnly: false };
    case 6: return { what: 'not an object', text: pick(r, ['- a\n- b\n', '42\n', '"just text"\n', 'true\n']), valueOnly: false };
    case 7: return { what: 'binary junk', text: Buffer.from(Array.from({ length: 64 }, () => Math.floor(r() * 256))).toString('latin1'), valueOnly: false };
    case 8: return { what: 'the document twice', text: text + '\n---\n' + text, valueOnly: false };
    default: {
      // One value swapped for a value of another type, the object written back as JSON.
      let o: unknown;
      try {
        o = (parseAllDocuments(text) as unknown as { toJS(): unknown }[]).map((d) => d.toJS()).find((x) => x && typeof x === 'object');
      } catch {
        o = undefined;
      }
      const all = slots(o);
      if (!all.length) return { what: 'emptied', text: '', valueOnly: false };
      const s = pick(r, all);
      const before = (s.parent as Record<string | number, unknown>)[s.key];
      const after = otherType(r, before);
      (s.parent as Record<string | number, unknown>)[s.key] = after;
      return { what: `${String(s.key)}: ${JSON.stringify(before)?.slice(0, 40)} -> ${JSON.stringify(after)}`, text: JSON.stringify(o, null, 1) + '\n', valueOnly: true };
    }
  }
}

/** Loads files the way `loadCluster` does, from memory; throws only on a bug. */
export function loadFiles(files: ReadonlyMap<string, string>): { cluster: Cluster; problems: Problem[]; unread: number } {
  const objects: unknown[] = [], origins: string[] = [], problems: Problem[] = [];
  for (const [name, text] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const p = parseManifestFile(name, text);
    p.objects.forEach((o, i) => { objects.push(o); origins.push(p.objects.length > 1 ? `${name} object ${i + 1}` : name); });
    problems.push(...p.problems);
  }
  const c = clusterFromObjects(objects, origins);
  const all = [...problems, ...c.problems];
  return { cluster: c.cluster, problems: all, unread: all.filter((p) => p.kind === 'document').length };
}

type Verdicts = Map<string, boolean>;

/** Allowed or not, for every connection between pods outside `skip`, by probe and family. */
function verdicts(c: Cluster, rulesets: ReadonlyMap<string, Ruleset>, skip: ReadonlySet<string>): Verdicts {
  const pods = c.pods.filter((p) => p.ips.length && !p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed' && !skip.has(`${p.namespace}/${p.name}`));
  const out: Verdicts = new Map();
  for (const s of pods) for (const d of pods) {
    if (s === d) continue;
    for (const fam of [4, 6] as const) {
      const src = s.ips.find((i) => (fam === 6) === i.includes(':')), dst = d.ips.find((i) => (fam === 6) === i.includes(':'));
      if (!src || !dst) continue;
      for (const pr of PROBES) {
        let ok = true;
        for (const node of new Set([s.nodeName, d.nodeName])) {
          const rs = rulesets.get(node);
          if (!rs) continue;
          const first = evalPacket(rs, { hook: 'forward', saddr: src, daddr: dst, l4proto: pr.l4, sport: 40000, dport: pr.port, ct: { state: 'new', direction: 'original', mark: 0 } });
          const reply = evalPacket(rs, { hook: 'forward', saddr: dst, daddr: src, l4proto: pr.l4, sport: pr.port, dport: 40000, ct: { state: 'established', direction: 'reply', mark: 0 } });
          ok &&= first.verdict === 'accept' && reply.verdict === 'accept';
        }
        out.set(`${s.namespace}/${s.name} -> ${d.namespace}/${d.name} ${pr.l4}/${pr.port} IPv${fam}`, ok);
      }
    }
  }
  return out;
}

function rulesetsOf(c: Cluster): Map<string, Ruleset> {
  return new Map(NODES.map((n) => [n, compile(c, { node: n }).ruleset]));
}

/** Connections denied in `base` but allowed in `now`, among pods outside `skip`. */
export function opened(base: Cluster, now: Cluster, skip: ReadonlySet<string>): string[] {
  const a = verdicts(base, rulesetsOf(base), skip), b = verdicts(now, rulesetsOf(now), skip);
  return [...b].filter(([k, v]) => v && a.get(k) === false).map(([k]) => k);
}

/** Pods (ns/name) a file's original content defines, or that live in a namespace it defines. */
function podsOf(text: string, all: Cluster): Set<string> {
  const { cluster } = loadFiles(new Map([['f.yaml', text]]));
  const out = new Set(cluster.pods.map((p) => `${p.namespace}/${p.name}`));
  for (const n of cluster.namespaces) for (const p of all.pods) if (p.namespace === n.name) out.add(`${p.namespace}/${p.name}`);
  return out;
}

export interface FuzzStats {
  cases: number;
  /** Cases where `compile` reported the mutation and the isolation property was checked. */
  compileChecked: number;
  /** Cases where compile declared its input incomplete (a document could not be read). */
  compileIncomplete: number;
  /** Cases where the folder source's property was checked (all of them). */
  sourceChecked: number;
  /** Batches (JSON) of distinct mutated rulesets, for an nft check on the kernel. */
  batches: string[];
  failures: string[];
}

/** Runs `cases` cases from `seed`. `maxBatches`: distinct batches kept for an nft check. */
export async function fuzz(o: { seed: number; cases: number; maxBatches?: number; log?: (s: string) => void }): Promise<FuzzStats> {
  const base = corpus();
  const baseLoad = loadFiles(base);
  if (baseLoad.problems.length) throw new Error(`the corpus itself has problems: ${JSON.stringify(baseLoad.problems)}`);
  const stats: FuzzStats = { cases: 0, compileChecked: 0, compileIncomplete: 0, sourceChecked: 0, batches: [], failures: [] };
  const seenBatches = new Set<string>();
  const root = mkdtempSync(join(tmpdir(), 'npn-fuzz-'));
  try {
    for (let i = 0; i < o.cases; i++) {
      const r = prng(o.seed + i);
      // A few examples at a time: all at once, default-deny-all would hide the others.
      const policies = [...base.keys()].filter((f) => f.startsWith('policy-'));
      const chosen = new Set(Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, policies)));
      const files = new Map([...base].filter(([f]) => !f.startsWith('policy-') || chosen.has(f)));
      // Policies are where a bad object could open the most: half the cases mutate one.
      const target = r() < 0.5 ? pick(r, [...chosen]) : pick(r, [...files.keys()].filter((f) => !f.startsWith('policy-')));
      const m = mutate(r, files.get(target)!);
      const label = `seed ${o.seed + i}: ${target}, ${m.what}`;
      stats.cases++;
      try {
        const before = loadFiles(files);
        const mutated = new Map(files).set(target, m.text);
        // compile, in process: never throws; every ruleset is a batch.
        const after = loadFiles(mutated);
        let policyProblems = 0;
        for (const node of NODES) {
          const c = compile(after.cluster, { node });
          policyProblems = c.problems.length;
          const b = batchJson(fullBatch(c.ruleset));
          if (node === 'n1' && (o.maxBatches ?? 0) > stats.batches.length && !seenBatches.has(b)) {
            seenBatches.add(b);
            stats.batches.push(b);
          }
        }
        // The corpus has no problem: any problem now is the mutation, reported.
        const reported = after.problems.length > 0 || policyProblems > 0;
        if (after.unread > 0) stats.compileIncomplete++;
        else if (reported) {
          stats.compileChecked++;
          const touched = podsOf(files.get(target)!, before.cluster);
          const open = opened(before.cluster, after.cluster, touched);
          if (open.length) stats.failures.push(`${label}: compile opened ${open.slice(0, 3).join(', ')}${open.length > 3 ? ` … (${open.length})` : ''}; problems: ${after.problems.map((p) => `${p.kind} ${p.object}: ${p.path} ${p.message}`).join('; ')}`);
        }
        // The folder source: one scan after the mutation.
        const dir = join(root, `case-${i}`);
        mkdirSync(dir);
        for (const [f, t] of files) writeFileSync(join(dir, f), t);
        const clock = new FakeClock();
        const src = new FileSource({ dir, clock, pollMs: 0, watch: false, maxFileBytes: 1024 * 1024 });
        await src.start({ onChange: () => {} });
        const was = src.snapshot().cluster;
        if (m.text === '' && r() < 0.3) unlinkSync(join(dir, target)); // removed, rather than emptied
        else writeFileSync(join(dir, target), m.text);
        src.rescan();
        const now = src.snapshot().cluster;
        await src.stop();
        stats.sourceChecked++;
        const keys = (c: Cluster) => [...c.namespaces.map((n) => `namespace ${n.name}`), ...c.pods.map((p) => `pod ${p.namespace}/${p.name}`), ...c.policies.map((p) => `networkpolicy ${p.namespace}/${p.name}`)];
        const gone = keys(was).filter((k) => !keys(now).includes(k));
        if (gone.length) stats.failures.push(`${label}: the folder source lost ${gone.join(', ')} in one scan`);
        // Pods whose own record changed (a best-effort read of a bad value) are the touched ones.
        const changed = new Set(now.pods.filter((p) => JSON.stringify(p) !== JSON.stringify(was.pods.find((q) => q.namespace === p.namespace && q.name === p.name))).map((p) => `${p.namespace}/${p.name}`));
        for (const n of now.namespaces) if (JSON.stringify(n) !== JSON.stringify(was.namespaces.find((x) => x.name === n.name))) for (const p of now.pods) if (p.namespace === n.name) changed.add(`${p.namespace}/${p.name}`);
        const open = opened(was, now, changed);
        if (open.length) stats.failures.push(`${label}: the folder source opened ${open.slice(0, 3).join(', ')}${open.length > 3 ? ` … (${open.length})` : ''}`);
      } catch (e) {
        stats.failures.push(`${label}: threw ${(e as Error).stack ?? e}`);
      }
      if (o.log && (i + 1) % 100 === 0) o.log(`fuzz: ${i + 1}/${o.cases} cases, ${stats.failures.length} failures`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return stats;
}
