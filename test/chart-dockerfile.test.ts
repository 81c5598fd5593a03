// Docker cannot run here, so this checks what can be checked of the Dockerfile without it:
// the base images, that every file it copies exists and is not excluded by .dockerignore,
// that the stages produce what later stages copy, and that the ENTRYPOINT is what
// `tsc -p tsconfig.build.json` really emits for package.json's bin — by running tsc into a
// scratch folder and starting the emitted CLI. Also that the built code imports only
// production dependencies (the image installs `npm ci --omit=dev`).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDockerfile } from './helpers/dockerfile.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** True when a .dockerignore line excludes `path` (the simple forms we use: names and prefixes). */
function ignored(patterns: string[], path: string): boolean {
  return patterns.some((p) => path === p || path.startsWith(p + '/') || (p.startsWith('*.') && path.endsWith(p.slice(1))));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('Dockerfile', () => {
  const { instructions, stages, comments } = parseDockerfile(readFileSync(join(repo, 'Dockerfile'), 'utf8'));
  const dockerignore = readFileSync(join(repo, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const runtime = stages.length - 1;
  const inStage = (s: number, op: string) => instructions.filter((i) => i.stage === s && i.op === op);

  it('is multi-stage on node:20-bookworm-slim', () => {
    expect(stages.length).to.be.at.least(2);
    for (const s of stages) expect(s.image).to.equal('node:20-bookworm-slim');
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const copies = instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='));
    expect(copies.length).to.be.greaterThan(3);
    for (const c of copies) {
      const words = c.args.split(/\s+/);
      for (const src of words.slice(0, -1)) {
        expect(existsSync(join(repo, src)), `line ${c.line}: ${src} does not exist`).to.equal(true);
        expect(ignored(dockerignore, src), `line ${c.line}: ${src} is excluded by .dockerignore`).to.equal(false);
      }
    }
    // What tsconfig.build.json compiles must all be in the build context.
    const build = JSON.parse(readFileSync(join(repo, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const copied = copies.flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    for (const inc of build.include) expect(copied, `tsconfig.build.json includes ${inc}`).to.include(inc.split('/')[0]);
  });

  it('builds with npm ci + npm run build, installs production dependencies and nft without recommends', () => {
    const build = stages.findIndex((s) => s.name === 'build');
    const deps = stages.findIndex((s) => s.name === 'deps');
    const runs = (s: number) => inStage(s, 'RUN').map((r) => r.args).join('\n');
    expect(runs(build)).to.match(/npm ci\b/).and.match(/npm run build/);
    expect(runs(deps)).to.match(/npm ci --omit=dev/);
    expect(runs(runtime)).to.match(/apt-get install -y --no-install-recommends nftables conntrack/).and.match(/rm -rf \/var\/lib\/apt\/lists/);
    // Later stages copy from stages that exist and produce the path.
    const produced: Record<string, string> = { '/app/dist': 'build', '/app/node_modules': 'deps' };
    for (const c of inStage(runtime, 'COPY').filter((i) => i.args.startsWith('--from='))) {
      const [from, src] = c.args.replace('--from=', '').split(/\s+/);
      expect(produced[src!], `line ${c.line}: ${src}`).to.equal(from);
      expect(stages.findIndex((s) => s.name === from), `stage ${from}`).to.be.within(0, runtime - 1);
    }
    // dist/ needs the "type": "module" of package.json beside it.
    expect(inStage(runtime, 'COPY').map((c) => c.args)).to.include('package.json ./');
  });

  it('runs as root on purpose, said in a comment', () => {
    const user = inStage(runtime, 'USER');
    expect(user.map((u) => u.args)).to.deep.equal(['root']);
    expect(comments.get(user[0]!.line), 'USER root has a comment above it').to.equal(true);
  });

  describe('the entrypoint is what tsc emits for package.json bin', function () {
    this.timeout(240_000);
    const out = join(repo, '.scratch', `docker-dist-${process.pid}`);
    after(() => rmSync(out, { recursive: true, force: true }));

    it('ENTRYPOINT is node /app/<bin>, and tsc -p tsconfig.build.json emits it', () => {
      const entry = instructions.filter((i) => i.op === 'ENTRYPOINT');
      expect(entry).to.have.length(1);
      const argv = JSON.parse(entry[0]!.args) as string[];
      expect(argv).to.deep.equal(['node', `/app/${pkg.bin['netpol-nft']}`]);
      // The image's WORKDIR /app is the repository root; dist/ is tsconfig's outDir.
      const tsconfig = JSON.parse(readFileSync(join(repo, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string } };
      const bin = pkg.bin['netpol-nft']!;
      expect(bin.startsWith(`${tsconfig.compilerOptions.outDir}/`)).to.equal(true);

      mkdirSync(out, { recursive: true });
      // Type errors in colleagues' work in progress must not hide the check: tsc emits anyway.
      spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json'), '--outDir', out], { cwd: repo, encoding: 'utf8' });
      const emitted = join(out, relative(tsconfig.compilerOptions.outDir, bin));
      expect(existsSync(emitted), `${bin} emitted`).to.equal(true);
      const help = spawnSync(process.execPath, [emitted, '--help'], { cwd: repo, encoding: 'utf8' });
      expect(help.status, help.stderr).to.equal(0);
      expect(help.stdout).to.contain('netpol-nft compile');
    });

    it('the emitted code imports only production dependencies and node built-ins', () => {
      const js = filesUnder(out).filter((f) => f.endsWith('.js'));
      expect(js.length).to.be.greaterThan(5);
      const builtins = new Set(builtinModules);
      const imported = new Set<string>();
      for (const f of js) {
        for (const m of readFileSync(f, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"./][^'"]*)['"]/g)) imported.add(m[1]!);
      }
      for (const spec of imported) {
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        expect(pkg.dependencies, `${spec} is imported by the built code`).to.have.property(name);
      }
      expect(imported.size).to.be.greaterThan(0);
    });
  });
});
