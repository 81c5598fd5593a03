// A tiny renderer for exactly the Go-template subset the chart uses, so that the chart can be
// checked without the helm binary (it cannot be installed here). Supported: text with
// `{{- ` / ` -}}` whitespace trimming, `{{/* comments */}}`, `define` / `include`, `if` /
// `else` / `end`, field paths (.Values.a.b, .Release.Name, .Chart.AppVersion, .), string and
// number literals, `.Files.Get "path"`, and the functions toYaml, nindent, indent, quote,
// default, eq (of two arguments). Anything else is an error, so a template that drifts outside the subset fails the
// test instead of being rendered wrongly. Missing values are errors too (Helm would print
// `<no value>`), which catches typos in value paths.
//
// Exported for test/chart.test.ts; the unit tests below pin the renderer's own behaviour.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';

type Node =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'action'; readonly pipe: string }
  | { readonly kind: 'if'; readonly cond: string; readonly then: Node[]; readonly else: Node[] };

interface Token {
  readonly text?: string;
  readonly action?: string;
  readonly trimLeft?: boolean;
  readonly trimRight?: boolean;
}

export class TemplateError extends Error {}

/** Splits a template into text and actions, applying the trim markers to the text. */
export function lex(src: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      if (text) out.push({ text });
      break;
    }
    const close = src.indexOf('}}', open);
    if (close < 0) throw new TemplateError(`${file}: unclosed action at offset ${open}`);
    let inner = src.slice(open + 2, close);
    const trimLeft = inner.startsWith('- ');
    const trimRight = inner.endsWith(' -');
    if (trimLeft) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(2);
    }
    if (trimRight) inner = inner.slice(0, -2);
    if (text) out.push({ text });
    inner = inner.trim();
    if (inner.startsWith('/*')) {
      if (!inner.endsWith('*/')) throw new TemplateError(`${file}: comment must be the whole action: {{${inner}}}`);
    } else {
      out.push({ action: inner, trimLeft, trimRight });
    }
    trimNext = trimRight;
    i = close + 2;
  }
  return out;
}

/** Builds the tree; `define` blocks go to `defines`, the rest is the template's body. */
export function parseTemplate(src: string, file: string, defines: Map<string, Node[]>): Node[] {
  const root: Node[] = [];
  // Each frame collects the nodes of one block: the root, a define, or an if's then/else.
  type Frame = { nodes: Node[]; kind: 'root' | 'define' | 'if'; name?: string; cond?: string; then?: Node[] };
  const stack: Frame[] = [{ nodes: root, kind: 'root' }];
  for (const t of lex(src, file)) {
    const top = stack[stack.length - 1]!;
    if (t.text !== undefined) {
      top.nodes.push({ kind: 'text', text: t.text });
      continue;
    }
    const a = t.action!;
    let m: RegExpExecArray | null;
    if ((m = /^define\s+"([^"]+)"$/.exec(a))) {
      stack.push({ nodes: [], kind: 'define', name: m[1] });
    } else if ((m = /^if\s+(.+)$/.exec(a))) {
      stack.push({ nodes: [], kind: 'if', cond: m[1] });
    } else if (a === 'else') {
      if (top.kind !== 'if' || top.then) throw new TemplateError(`${file}: else outside if`);
      top.then = top.nodes;
      top.nodes = [];
    } else if (a === 'end') {
      stack.pop();
      const parent = stack[stack.length - 1];
      if (!parent) throw new TemplateError(`${file}: end without a block`);
      switch (top.kind) {
        case 'define':
          defines.set(top.name!, top.nodes);
          break;
        case 'if':
          parent.nodes.push({ kind: 'if', cond: top.cond!, then: top.then ?? top.nodes, else: top.then ? top.nodes : [] });
          break;
        case 'root':
          throw new TemplateError(`${file}: end without a block`);
        default: {
          const never: never = top.kind;
          throw new TemplateError(`unknown block ${String(never)}`);
        }
      }
    } else if (/^(range|with|template|block|else if)\b/.test(a)) {
      throw new TemplateError(`${file}: {{${a}}} is outside the subset this renderer supports`);
    } else {
      top.nodes.push({ kind: 'action', pipe: a });
    }
  }
  if (stack.length !== 1) throw new TemplateError(`${file}: ${stack.length - 1} block(s) not closed with end`);
  return root;
}

export interface Context {
  readonly Values: unknown;
  readonly Release: { Name: string; Namespace: string; Service: string };
  readonly Chart: { Name: string; Version: string; AppVersion: string };
  readonly Files: { Get(path: string): string };
}

/** Go's truth: false, 0, nil and empty strings, lists and maps are false. */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Go's fmt of a scalar; collections cannot be interpolated without toYaml. */
function print(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TemplateError(`${what}: cannot print ${v === undefined ? 'a missing value' : JSON.stringify(v)}`);
}

function splitWords(s: string): string[] {
  const words = s.match(/"(?:[^"\\]|\\.)*"|[^\s]+/g);
  return words ?? [];
}

export class Chart {
  readonly defines = new Map<string, Node[]>();
  readonly templates = new Map<string, Node[]>();
  readonly meta: { name: string; version: string; appVersion: string };
  readonly defaults: unknown;

  constructor(readonly dir: string) {
    this.meta = parseYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Chart['meta'];
    this.defaults = parseYaml(readFileSync(join(dir, 'values.yaml'), 'utf8'));
    for (const f of readdirSync(join(dir, 'templates')).sort()) {
      const body = parseTemplate(readFileSync(join(dir, 'templates', f), 'utf8'), f, this.defines);
      // Like Helm: files starting with _ only hold named templates.
      if (!f.startsWith('_')) this.templates.set(f, body);
    }
  }

  context(values: unknown, release = { Name: 'netpol-nft', Namespace: 'kube-system' }): Context {
    return {
      Values: values,
      Release: { ...release, Service: 'Helm' },
      Chart: { Name: this.meta.name, Version: this.meta.version, AppVersion: this.meta.appVersion },
      Files: { Get: (p: string) => readFileSync(join(this.dir, p), 'utf8') },
    };
  }

  /** Renders every template with the defaults merged with `overrides` (as `--set`/`-f` do). */
  render(overrides: unknown = {}, release?: { Name: string; Namespace: string }): Map<string, string> {
    const ctx = this.context(mergeValues(this.defaults, overrides), release);
    const out = new Map<string, string>();
    for (const [f, body] of this.templates) out.set(f, this.renderNodes(body, ctx, f));
    return out;
  }

  /** The rendered objects of every template (empty documents dropped, as Helm does). */
  objects(overrides: unknown = {}, release?: { Name: string; Namespace: string }): { file: string; obj: Record<string, any> }[] {
    const out: { file: string; obj: Record<string, any> }[] = [];
    for (const [file, text] of this.render(overrides, release)) {
      // Like Helm: NOTES.txt is printed to the user, not applied.
      if (file === 'NOTES.txt') continue;
      for (const doc of parseAllDocuments(text)) {
        if (doc.errors.length) throw new TemplateError(`${file}: rendered YAML does not parse: ${doc.errors[0]!.message}\n${text}`);
        const obj = doc.toJS() as Record<string, any> | null;
        if (obj !== null && obj !== undefined) out.push({ file, obj });
      }
    }
    return out;
  }

  renderNodes(nodes: readonly Node[], ctx: unknown, file: string): string {
    let s = '';
    for (const n of nodes) {
      switch (n.kind) {
        case 'text':
          s += n.text;
          break;
        case 'action':
          s += print(this.pipeline(n.pipe, ctx, file), `${file}: {{ ${n.pipe} }}`);
          break;
        case 'if':
          s += this.renderNodes(truthy(this.pipeline(n.cond, ctx, file)) ? n.then : n.else, ctx, file);
          break;
        default: {
          const never: never = n;
          throw new TemplateError(`unknown node ${JSON.stringify(never)}`);
        }
      }
    }
    return s;
  }

  private pipeline(pipe: string, ctx: unknown, file: string): unknown {
    // Splitting on | is safe: the chart's string literals contain none.
    const commands = pipe.split('|').map((c) => splitWords(c.trim()));
    let value: unknown;
    commands.forEach((words, i) => {
      value = this.command(words, ctx, file, i === 0 ? [] : [value]);
    });
    return value;
  }

  private command(words: string[], ctx: unknown, file: string, piped: unknown[]): unknown {
    const [head, ...rest] = words;
    if (head === undefined) throw new TemplateError(`${file}: empty command`);
    const args = [...rest.map((w) => this.operand(w, ctx, file)), ...piped];
    const where = `${file}: ${words.join(' ')}`;
    switch (head) {
      case 'include': {
        const body = this.defines.get(args[0] as string);
        if (!body) throw new TemplateError(`${where}: no template named ${String(args[0])}`);
        return this.renderNodes(body, args[1], file);
      }
      case 'toYaml':
        // Helm's toYaml drops the final newline.
        return args[0] === undefined ? '' : stringify(args[0]).replace(/\n$/, '');
      case 'nindent':
        return '\n' + indent(Number(args[0]), print(args[1], where));
      case 'indent':
        return indent(Number(args[0]), print(args[1], where));
      case 'quote':
        return JSON.stringify(print(args[0], where));
      case 'default':
        return truthy(args[1]) ? args[1] : args[0];
      case 'eq':
        if (args.length !== 2) throw new TemplateError(`${where}: eq takes two arguments`);
        return args[0] === args[1];
      case '.Files.Get':
        return (ctx as Context).Files.Get(args[0] as string);
      default:
        if (head.startsWith('.') || head.startsWith('"') || /^\d/.test(head)) {
          if (args.length) throw new TemplateError(`${where}: a value takes no arguments`);
          return this.operand(head, ctx, file);
        }
        throw new TemplateError(`${where}: function ${head} is outside the supported subset`);
    }
  }

  private operand(w: string, ctx: unknown, file: string): unknown {
    if (w.startsWith('"')) return JSON.parse(w) as string;
    if (/^-?\d+$/.test(w)) return Number(w);
    if (w === '.') return ctx;
    if (!w.startsWith('.')) throw new TemplateError(`${file}: ${w}: only fields, strings and numbers are operands`);
    let v: unknown = ctx;
    for (const k of w.slice(1).split('.')) {
      if (v === null || typeof v !== 'object' || !(k in v)) throw new TemplateError(`${file}: ${w}: no such value`);
      v = (v as Record<string, unknown>)[k];
    }
    return v;
  }
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return s
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Helm's coalescing of user values over the chart's defaults: maps merge key by key, lists
 *  and scalars replace, and a null removes the default. */
export function mergeValues(defaults: unknown, overrides: unknown): unknown {
  if (!isMap(defaults) || !isMap(overrides)) return overrides === undefined ? defaults : overrides;
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) delete out[k];
    else out[k] = mergeValues(defaults[k], v);
  }
  return out;
}

/** Every `.Values.a.b` path the templates read (to check against values.yaml and the schema). */
export function valuePaths(chartDir: string): Set<string> {
  const paths = new Set<string>();
  for (const f of readdirSync(join(chartDir, 'templates'))) {
    const src = readFileSync(join(chartDir, 'templates', f), 'utf8');
    for (const m of src.matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)) paths.add(m[1]!.slice(1));
  }
  return paths;
}

describe('chart renderer (the test tool itself)', () => {
  const defines = new Map<string, Node[]>();
  const render = (src: string, values: unknown = {}): string => {
    const chart = Object.create(Chart.prototype) as Chart;
    Object.assign(chart, { defines });
    const body = parseTemplate(src, 't.yaml', defines);
    const ctx = { Values: values, Release: { Name: 'r', Namespace: 'n', Service: 'Helm' }, Chart: { Name: 'c', Version: '1', AppVersion: '2' }, Files: { Get: () => 'file\ntext' } };
    return chart.renderNodes(body, ctx, 't.yaml');
  };

  it('trims whitespace on the marked side only', () => {
    expect(render('a: 1\n  {{- if .Values.x }}\nb: {{ .Values.x }}\n{{- end }}\nc: 3', { x: 'v' })).to.equal('a: 1\nb: v\nc: 3');
    expect(render('a {{ .Values.x -}}   \n  b', { x: 1 })).to.equal('a 1b');
  });

  it('evaluates if/else with Go truthiness (empty maps, lists and strings are false)', () => {
    const t = '{{ if .Values.x }}yes{{ else }}no{{ end }}';
    expect([{}, [], '', 0, false, null].map((x) => render(t, { x }))).to.deep.equal(['no', 'no', 'no', 'no', 'no', 'no']);
    expect([{ a: 1 }, [1], 's', 1, true].map((x) => render(t, { x }))).to.deep.equal(['yes', 'yes', 'yes', 'yes', 'yes']);
  });

  it('compares with eq', () => {
    expect(render('{{ if eq .Values.b "node" }}N{{ else }}O{{ end }}', { b: 'node' })).to.equal('N');
    expect(render('{{ if eq .Values.b "node" }}N{{ else }}O{{ end }}', { b: 'all' })).to.equal('O');
  });

  it('pipes into toYaml, nindent, quote and default; includes defines with a context', () => {
    expect(render('k:{{ toYaml .Values.m | nindent 2 }}', { m: { a: 1, b: ['x'] } })).to.equal('k:\n  a: 1\n  b:\n    - x');
    expect(render('{{ .Values.t | default .Chart.AppVersion }}/{{ .Values.p | quote }}', { t: '', p: 80 })).to.equal('2/"80"');
    expect(render('{{- define "n" -}}\nname: {{ .Release.Name }}\n{{- end }}{{ include "n" . | indent 2 }}')).to.equal('  name: r');
    expect(render('{{ .Files.Get "x" | nindent 1 }}')).to.equal('\n file\n text');
  });

  it('refuses what it does not implement, and missing values', () => {
    expect(() => render('{{ range .Values.x }}{{ end }}')).to.throw(TemplateError, /outside the subset/);
    expect(() => render('{{ upper .Values.x }}', { x: 'a' })).to.throw(TemplateError, /function upper/);
    expect(() => render('{{ .Values.nope }}', {})).to.throw(TemplateError, /no such value/);
    expect(() => render('{{ if .Values.x }}')).to.throw(TemplateError, /not closed/);
  });

  it('merges overrides like helm: maps by key, lists replaced, null removes', () => {
    expect(mergeValues({ a: { b: 1, c: 2 }, l: [1, 2], d: 1 }, { a: { c: 3 }, l: [9], d: null })).to.deep.equal({ a: { b: 1, c: 3 }, l: [9] });
  });
});
