// A small JSON Schema (draft-07) validator for exactly the keywords values.schema.json uses.
// An unknown keyword is an error, not ignored: Helm validates with the full draft-07, so a
// keyword this validator skipped would be a rule the test never checks.
//
// Exported for test/chart.test.ts; the unit tests below pin the validator's own behaviour.
import { expect } from 'chai';

export type Schema = { readonly [k: string]: unknown };

const ANNOTATIONS = new Set(['$schema', 'title', 'description', 'default', 'definitions', 'examples']);
const CHECKED = new Set(['type', 'properties', 'additionalProperties', 'required', 'items', 'enum', 'minimum', 'maximum', 'pattern', 'minLength', '$ref']);

export class SchemaKeywordError extends Error {}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(t: string, v: unknown): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

/** Errors as `path: message`; empty when the value is valid. */
export function validate(schema: Schema, value: unknown, root: Schema = schema, path = 'values'): string[] {
  for (const k of Object.keys(schema)) {
    if (!ANNOTATIONS.has(k) && !CHECKED.has(k)) throw new SchemaKeywordError(`${path}: schema keyword ${k} is not supported by this validator`);
  }
  if (typeof schema.$ref === 'string') {
    const m = /^#\/definitions\/([^/]+)$/.exec(schema.$ref);
    const target = m ? (root.definitions as Record<string, Schema> | undefined)?.[m[1]!] : undefined;
    if (!target) throw new SchemaKeywordError(`${path}: $ref ${schema.$ref} does not resolve`);
    return validate(target, value, root, path);
  }
  const errors: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => typeMatches(t, value))) return [`${path}: must be ${types.join(' or ')}, got ${typeOf(value)}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errors.push(`${path}: must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => errors.push(...validate(schema.items as Schema, item, root, `${path}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errors.push(`${path}.${r}: required`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...validate(props[k], v, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}.${k}: not allowed (additionalProperties: false)`);
      else if (typeof schema.additionalProperties === 'object') errors.push(...validate(schema.additionalProperties as Schema, v, root, `${path}.${k}`));
    }
  }
  return errors;
}

/** The schema that governs `path` (a.b.c, or its keys when a key holds dots), following
 *  properties and $ref; undefined if none. */
export function schemaAt(root: Schema, path: string | readonly string[]): Schema | undefined {
  let s: Schema | undefined = root;
  for (const k of typeof path === 'string' ? path.split('.') : path) {
    if (s && typeof s.$ref === 'string') s = (root.definitions as Record<string, Schema>)[s.$ref.split('/').pop()!];
    const props = s?.properties as Record<string, Schema> | undefined;
    s = props?.[k] ?? (typeof s?.additionalProperties === 'object' ? (s.additionalProperties as Schema) : undefined);
    if (!s) return undefined;
  }
  return s;
}

describe('values schema validator (the test tool itself)', () => {
  const schema: Schema = {
    type: 'object',
    additionalProperties: false,
    required: ['n'],
    properties: {
      n: { type: 'integer', minimum: 1, maximum: 10 },
      s: { type: 'string', pattern: '^a', minLength: 2 },
      e: { enum: ['x', 'y'] },
      l: { type: 'array', items: { $ref: '#/definitions/q' } },
      m: { type: 'object', additionalProperties: { type: 'string' } },
      u: { type: ['integer', 'string'] },
    },
    definitions: { q: { type: 'string' } },
  };

  it('accepts a valid value', () => {
    expect(validate(schema, { n: 3, s: 'ab', e: 'x', l: ['q'], m: { k: 'v' }, u: '5' })).to.deep.equal([]);
  });

  it('names each violation by its path', () => {
    expect(validate(schema, { n: 11, s: 'b', e: 'z', l: [1], m: { k: 2 }, u: true, extra: 1 })).to.deep.equal([
      'values.n: above 10',
      'values.s: "b" does not match ^a',
      'values.s: shorter than 2',
      'values.e: must be one of "x", "y"',
      'values.l[0]: must be string, got integer',
      'values.m.k: must be string, got integer',
      'values.u: must be integer or string, got boolean',
      'values.extra: not allowed (additionalProperties: false)',
    ]);
    expect(validate(schema, { n: 1.5 })).to.deep.equal(['values.n: must be integer, got number']);
    expect(validate(schema, {})).to.deep.equal(['values.n: required']);
  });

  it('refuses keywords it does not implement', () => {
    expect(() => validate({ oneOf: [] }, 1)).to.throw(SchemaKeywordError, /oneOf/);
    expect(() => validate({ $ref: '#/definitions/nope' }, 1, { definitions: {} })).to.throw(SchemaKeywordError, /does not resolve/);
  });

  it('finds the schema of a nested path', () => {
    expect(schemaAt(schema, 'm.anything')).to.deep.equal({ type: 'string' });
    expect(schemaAt(schema, 'nope')).to.equal(undefined);
  });
});
