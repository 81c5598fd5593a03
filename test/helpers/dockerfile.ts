// The Dockerfile read as data: test/chart-dockerfile.test.ts checks it statically, and the
// image check (test/image/) builds a root filesystem by following its lines.

export interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
  /** Index of the stage (FROM) it belongs to. */
  readonly stage: number;
}

export interface Stage {
  readonly image: string;
  readonly name?: string;
}

export interface Dockerfile {
  readonly instructions: Instruction[];
  readonly stages: Stage[];
  /** Line of each instruction → whether a comment line is right above it. */
  readonly comments: Map<number, boolean>;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const instructions: Instruction[] = [];
  const stages: Stage[] = [];
  const comments = new Map<number, boolean>();
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!.trim();
    if (!l || l.startsWith('#')) continue;
    const start = i + 1;
    comments.set(start, lines[i - 1]?.trim().startsWith('#') ?? false);
    while (l.endsWith('\\')) l = l.slice(0, -1) + ' ' + lines[++i]!.trim();
    const m = /^([A-Z]+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse ${l}`);
    if (m[1] === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2]!)!;
      stages.push({ image: f[1]!, name: f[2] });
    }
    instructions.push({ op: m[1]!, args: m[2]!, line: start, stage: stages.length - 1 });
  }
  return { instructions, stages, comments };
}

/** The packages an `apt-get install` in a RUN line installs (options dropped). */
export function aptPackages(run: string): string[] {
  const out: string[] = [];
  for (const m of run.matchAll(/apt-get\s+install\s+([^&;|]*)/g)) out.push(...m[1]!.trim().split(/\s+/).filter((w) => w && !w.startsWith('-')));
  return out;
}
