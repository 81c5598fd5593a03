// The agent's container image as a root filesystem, built without Docker by following the
// Dockerfile's lines: every stage is FROM node:20-bookworm-slim, made here as Debian bookworm
// (`debootstrap --variant=minbase`, what debian:bookworm-slim is made of) plus this machine's
// Node 20 binary at /usr/local/bin/node (the official linux-x64 build, as the node image
// carries it); RUN lines of the runtime stage run in that root (chroot), COPY, WORKDIR, ENV,
// USER and ENTRYPOINT do what Docker does. The build and deps stages run their own lines in a
// scratch folder on this machine (npm ci, npm run build: their products are JavaScript, and
// the deps stage installs no native addon); the runtime stage copies their products as its
// `COPY --from` lines say. An instruction this file does not know is an error, so the check
// cannot silently drift from the Dockerfile.
//
// The base, and the runtime stage's instructions up to its first COPY (the apt-get line), are
// cached under the cache folder, keyed by those lines: a changed package list makes a new
// layer. Each run then copies that layer and applies the rest.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { aptPackages, parseDockerfile, type Instruction } from '../helpers/dockerfile.js';

/** The base image every stage must name: the only one this file knows how to make. */
export const BASE_IMAGE = 'node:20-bookworm-slim';
/** Docker's default PATH for Linux containers (the node image does not change it). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ImageRootfs {
  /** The runtime stage's root filesystem (a per-run copy, writable until mounted read-only). */
  readonly root: string;
  /** ENV of the runtime stage, with PATH. */
  readonly env: Record<string, string>;
  readonly workdir: string;
  readonly user: string;
  readonly entrypoint: readonly string[];
  /** Packages the runtime stage's apt-get lines install. */
  readonly packages: readonly string[];
  /** Whether the cached layer was reused, and how long each part took (ms). */
  readonly timings: Record<string, number>;
  remove(): void;
}

export interface BuildOptions {
  readonly repo: string;
  /** Where the base and the apt layer are kept between runs. */
  readonly cacheDir: string;
  readonly log: (line: string) => void;
  /** Debian mirror for debootstrap (default http://deb.debian.org/debian). */
  readonly mirror?: string;
}

function run(cmd: string, args: readonly string[], opts: SpawnSyncOptions & { what: string }): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
  if (r.error) throw new Error(`${opts.what}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = `${String(r.stdout ?? '')}\n${String(r.stderr ?? '')}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`${opts.what}: ${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}\n${tail}`);
  }
  return String(r.stdout ?? '');
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** Runs `fn` into a temporary sibling of `dir` and renames it into place: a killed build
 *  never leaves a half-made layer that a later run would take for a finished one. */
function cached(dir: string, fn: (tmp: string) => void): boolean {
  if (existsSync(join(dir, '.complete'))) return true;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    fn(tmp);
    writeFileSync(join(tmp, '.complete'), '');
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return false;
}

/** Runs a shell command in `root` as Docker's RUN does: /bin/sh -c of the image, in WORKDIR,
 *  with the stage's ENV, and /proc, /dev and the host's resolver inside (a private mount
 *  namespace, gone when the command ends). */
function runInRoot(root: string, cmd: string, workdir: string, env: Record<string, string>, what: string): void {
  const setup = [
    'set -e',
    'mount -t proc proc "$R/proc"',
    'mount --rbind /dev "$R/dev"',
    'if [ -f /etc/resolv.conf ]; then touch "$R/etc/resolv.conf" && mount --bind /etc/resolv.conf "$R/etc/resolv.conf"; fi',
    'exec chroot "$R" /bin/sh -c "cd \\"$W\\" && $C"',
  ].join('\n');
  run('unshare', ['--mount', '--fork', '--', '/bin/sh', '-c', setup], { what, env: { ...env, R: root, W: workdir, C: cmd } });
}

/** What a COPY puts where: each source (a file, or a folder's contents) under `dst`. */
function copyInto(srcs: readonly string[], dst: string, dstIsDir: boolean): void {
  for (const src of srcs) {
    if (statSync(src).isDirectory()) {
      mkdirSync(dst, { recursive: true });
      cpSync(src, dst, { recursive: true, verbatimSymlinks: true });
    } else {
      const to = dstIsDir ? join(dst, basename(src)) : dst;
      mkdirSync(dstIsDir ? dst : posix.dirname(dst), { recursive: true });
      cpSync(src, to);
    }
  }
}

/** Splits `COPY [--from=S] a b dst` into its parts. */
function copyArgs(i: Instruction): { from?: string; srcs: string[]; dst: string } {
  let words = i.args.split(/\s+/);
  let from: string | undefined;
  for (;;) {
    const w = words[0]!;
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (w.startsWith('--')) throw new Error(`Dockerfile line ${i.line}: COPY option ${w} is not known to the image check`);
    else break;
    words = words.slice(1);
  }
  if (words.length < 2 || words.some((w) => /[*?[]/.test(w))) throw new Error(`Dockerfile line ${i.line}: COPY ${i.args} is not a form the image check knows`);
  return { from, srcs: words.slice(0, -1), dst: words.at(-1)! };
}

function parseEnv(i: Instruction): [string, string][] {
  const m = /^(\w+)[= ](.*)$/.exec(i.args);
  if (!m || /\s\w+=/.test(m[2]!)) throw new Error(`Dockerfile line ${i.line}: ENV ${i.args} is not a form the image check knows (one NAME=value)`);
  return [[m[1]!, m[2]!.replace(/^"(.*)"$/, '$1')]];
}

/** The Node 20 binary the base gets: this machine's, which must be Node 20. */
function nodeBinary(): string {
  if (!process.version.startsWith('v20.')) throw new Error(`the image carries Node 20; this check runs on ${process.version}, whose binary it would copy`);
  return process.execPath;
}

function debootstrap(dir: string, mirror: string, log: (l: string) => void): void {
  if (spawnSync('sh', ['-c', 'command -v debootstrap']).status !== 0) throw new Error('debootstrap is not installed (apt-get install debootstrap)');
  log(`debootstrap --variant=minbase bookworm (${mirror}): the first run takes a few minutes`);
  run('debootstrap', ['--variant=minbase', 'bookworm', dir, mirror], { what: 'debootstrap' });
}

export function buildImageRootfs(o: BuildOptions): ImageRootfs {
  const timings: Record<string, number> = {};
  const time = <T>(what: string, fn: () => T): T => {
    const t0 = Date.now();
    try { return fn(); } finally { timings[what] = Date.now() - t0; }
  };
  const df = parseDockerfile(readFileSync(join(o.repo, 'Dockerfile'), 'utf8'));
  for (const [n, s] of df.stages.entries()) {
    if (s.image !== BASE_IMAGE) throw new Error(`Dockerfile stage ${s.name ?? n} is FROM ${s.image}: the image check only knows how to make ${BASE_IMAGE}`);
  }
  const runtime = df.stages.length - 1;
  const node = nodeBinary();
  const mirror = o.mirror ?? 'http://deb.debian.org/debian';
  mkdirSync(o.cacheDir, { recursive: true });

  // The base: bookworm minbase + Node 20.
  const base = join(o.cacheDir, 'bookworm-minbase');
  timings.baseCached = Number(time('base', () => cached(base, (tmp) => debootstrap(tmp, mirror, o.log))));

  // The runtime stage up to its first COPY, cached (the apt-get layer).
  const steps = df.instructions.filter((i) => i.stage === runtime && i.op !== 'FROM');
  const firstCopy = steps.findIndex((i) => i.op === 'COPY');
  const prefix = firstCopy < 0 ? steps : steps.slice(0, firstCopy);
  const rest = firstCopy < 0 ? [] : steps.slice(firstCopy);
  const layerKey = sha(JSON.stringify([mirror, process.version, prefix.map((i) => `${i.op} ${i.args}`)]));
  const layer = join(o.cacheDir, `runtime-${layerKey}`);
  const state = { workdir: '/', env: { PATH: DEFAULT_PATH } as Record<string, string>, user: 'root', entrypoint: [] as string[] };
  const apply = (root: string, i: Instruction, copy: (i: Instruction) => void) => {
    switch (i.op) {
      case 'RUN':
        o.log(`RUN (line ${i.line}) ${i.args.slice(0, 100)}`);
        runInRoot(root, i.args, state.workdir, state.env, `Dockerfile line ${i.line}`);
        break;
      case 'WORKDIR':
        state.workdir = posix.resolve(state.workdir, i.args);
        mkdirSync(join(root, state.workdir), { recursive: true });
        break;
      case 'ENV':
        for (const [k, v] of parseEnv(i)) state.env[k] = v;
        break;
      case 'USER':
        state.user = i.args;
        break;
      case 'ENTRYPOINT':
        state.entrypoint = JSON.parse(i.args) as string[];
        break;
      case 'CMD':
        break;
      case 'COPY':
        copy(i);
        break;
      default:
        throw new Error(`Dockerfile line ${i.line}: ${i.op} is not an instruction the image check knows; teach test/image/rootfs.ts`);
    }
  };
  const noCopy = (i: Instruction) => { throw new Error(`line ${i.line}: COPY in the cached layer`); };
  timings.layerCached = Number(time('layer', () => cached(layer, (tmp) => {
    o.log(`building the runtime layer ${basename(layer)} from the base`);
    run('cp', ['-a', `${base}/.`, tmp], { what: 'copying the base' });
    rmSync(join(tmp, '.complete'), { force: true });
    cpSync(node, join(tmp, 'usr', 'local', 'bin', 'node'));
    for (const i of prefix) apply(tmp, i, noCopy);
  })));
  // The cached layer's WORKDIR/ENV lines were applied when it was built; replay their effect.
  if (timings.layerCached) {
    for (const i of prefix) {
      if (i.op === 'WORKDIR') state.workdir = posix.resolve(state.workdir, i.args);
      else if (i.op === 'ENV') for (const [k, v] of parseEnv(i)) state.env[k] = v;
      else if (i.op === 'USER') state.user = i.args;
    }
  }

  // This run's copy of the layer, and the other stages' products, in a scratch folder.
  const runs = join(o.cacheDir, 'runs');
  mkdirSync(runs, { recursive: true });
  // Copies left by runs that were killed (their process is gone).
  for (const pid of readdirSync(runs)) if (!existsSync(`/proc/${pid}`)) rmSync(join(runs, pid), { recursive: true, force: true });
  const runDir = join(runs, String(process.pid));
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const root = join(runDir, 'root');
  time('copyLayer', () => run('cp', ['-a', `${layer}/.`, root], { what: 'copying the layer' }));
  rmSync(join(root, '.complete'), { force: true });

  const stageRoots = new Map<number, string>();
  const stageRoot = (name: string): string => {
    const n = df.stages.findIndex((s) => s.name === name);
    if (n < 0 || n >= runtime) throw new Error(`COPY --from=${name}: no earlier stage of that name`);
    const have = stageRoots.get(n);
    if (have) return have;
    const dir = join(runDir, `stage-${name}`);
    const s = { workdir: '/', env: { ...process.env, PATH: process.env.PATH ?? DEFAULT_PATH } as Record<string, string> };
    time(`stage ${name}`, () => {
      for (const i of df.instructions.filter((x) => x.stage === n && x.op !== 'FROM')) {
        if (i.op === 'WORKDIR') { s.workdir = posix.resolve(s.workdir, i.args); mkdirSync(join(dir, s.workdir), { recursive: true }); }
        else if (i.op === 'ENV') for (const [k, v] of parseEnv(i)) s.env[k] = v;
        else if (i.op === 'COPY') {
          const c = copyArgs(i);
          if (c.from) throw new Error(`Dockerfile line ${i.line}: COPY --from in stage ${name} is not known to the image check`);
          copyInto(c.srcs.map((x) => join(o.repo, x)), join(dir, posix.resolve(s.workdir, c.dst)), c.dst.endsWith('/') || c.srcs.length > 1);
        } else if (i.op === 'RUN') {
          o.log(`stage ${name}: RUN (line ${i.line}) ${i.args}`);
          run('/bin/sh', ['-c', i.args], { what: `Dockerfile line ${i.line} (stage ${name})`, cwd: join(dir, s.workdir), env: s.env });
        } else throw new Error(`Dockerfile line ${i.line}: ${i.op} in stage ${name} is not known to the image check`);
      }
    });
    stageRoots.set(n, dir);
    return dir;
  };

  time('rest', () => {
    for (const i of rest) {
      apply(root, i, (c) => {
        const a = copyArgs(c);
        const from = a.from === undefined ? o.repo : stageRoot(a.from);
        const srcs = a.srcs.map((s) => join(from, a.from === undefined ? s : posix.resolve('/', s)));
        copyInto(srcs, join(root, posix.resolve(state.workdir, a.dst)), a.dst.endsWith('/') || a.srcs.length > 1);
      });
    }
  });
  for (const dir of stageRoots.values()) rmSync(dir, { recursive: true, force: true });
  const packages = steps.filter((i) => i.op === 'RUN').flatMap((i) => aptPackages(i.args));
  return {
    root, env: state.env, workdir: state.workdir, user: state.user, entrypoint: state.entrypoint, packages, timings,
    remove: () => rmSync(runDir, { recursive: true, force: true }),
  };
}
