// Label selectors (metav1.LabelSelector), validated as the API server does and matched as
// the NetworkPolicy documentation describes.
//
// > matchLabels is a map of {key,value} pairs. A single {key,value} in the matchLabels map is
// > equivalent to an element of matchExpressions, whose key field is "key", the operator is
// > "In", and the values array contains only "value". The requirements are ANDed.
// > An empty label selector matches all objects.

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
}

/** A validated selector: every requirement (matchLabels turned into `In`) must hold. */
export interface Selector {
  readonly requirements: readonly Requirement[];
}

export const MATCH_ALL: Selector = { requirements: [] };

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A qualified name: `[prefix/]name`, name at most 63 characters. */
export function labelKeyError(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `${JSON.stringify(key)} is not a valid label key`;
  const name = parts[parts.length - 1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (!prefix || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) return `${JSON.stringify(key)} has an invalid prefix`;
  }
  if (!name || name.length > 63 || !NAME.test(name)) return `${JSON.stringify(key)} is not a valid label key`;
  return undefined;
}

export function labelValueError(v: string): string | undefined {
  if (v === '') return undefined;
  if (v.length > 63 || !NAME.test(v)) return `${JSON.stringify(v)} is not a valid label value`;
  return undefined;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Validates a raw selector; null/undefined is the empty selector (matches all). */
export function parseSelector(raw: unknown, path: string): { selector?: Selector; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (raw === undefined || raw === null) return { selector: MATCH_ALL, errors };
  if (!isRecord(raw)) return { errors: [{ path, message: 'must be an object' }] };
  const reqs: Requirement[] = [];
  const ml = raw.matchLabels;
  if (ml !== undefined && ml !== null) {
    if (!isRecord(ml)) errors.push({ path: `${path}.matchLabels`, message: 'must be a map of strings' });
    else {
      for (const [k, v] of Object.entries(ml)) {
        const p = `${path}.matchLabels.${k}`;
        const ke = labelKeyError(k);
        if (ke) errors.push({ path: p, message: ke });
        if (typeof v !== 'string') errors.push({ path: p, message: 'value must be a string' });
        else {
          const ve = labelValueError(v);
          if (ve) errors.push({ path: p, message: ve });
          reqs.push({ key: k, operator: 'In', values: [v] });
        }
      }
    }
  }
  const me = raw.matchExpressions;
  if (me !== undefined && me !== null) {
    if (!Array.isArray(me)) errors.push({ path: `${path}.matchExpressions`, message: 'must be a list' });
    else {
      me.forEach((e, i) => {
        const p = `${path}.matchExpressions[${i}]`;
        if (!isRecord(e)) return errors.push({ path: p, message: 'must be an object' });
        const key = e.key, op = e.operator, values = e.values ?? [];
        if (typeof key !== 'string') return errors.push({ path: `${p}.key`, message: 'required' });
        const ke = labelKeyError(key);
        if (ke) errors.push({ path: `${p}.key`, message: ke });
        if (op !== 'In' && op !== 'NotIn' && op !== 'Exists' && op !== 'DoesNotExist') {
          return errors.push({ path: `${p}.operator`, message: `${JSON.stringify(op)} is not a valid operator (In, NotIn, Exists, DoesNotExist)` });
        }
        if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) return errors.push({ path: `${p}.values`, message: 'must be a list of strings' });
        if ((op === 'In' || op === 'NotIn') && values.length === 0) return errors.push({ path: `${p}.values`, message: `must be specified when operator is ${op}` });
        if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) return errors.push({ path: `${p}.values`, message: `may not be specified when operator is ${op}` });
        values.forEach((v: string, j: number) => {
          const ve = labelValueError(v);
          if (ve) errors.push({ path: `${p}.values[${j}]`, message: ve });
        });
        reqs.push({ key, operator: op, values: [...values].sort() });
      });
    }
  }
  if (errors.length) return { errors };
  return { selector: { requirements: reqs }, errors };
}

export function matches(sel: Selector, labels: Readonly<Record<string, string>>): boolean {
  for (const r of sel.requirements) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(labels[r.key]!)) return false;
        break;
      case 'NotIn': // an absent key is not in any set of values
        if (has && r.values.includes(labels[r.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default: {
        const never: never = r.operator;
        throw new Error(`unknown operator ${String(never)}`);
      }
    }
  }
  return true;
}

export function selectorText(sel: Selector): string {
  if (!sel.requirements.length) return '{}';
  return sel.requirements
    .map((r) => {
      switch (r.operator) {
        case 'In': return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
        case 'NotIn': return `${r.key} notin (${r.values.join(',')})`;
        case 'Exists': return r.key;
        case 'DoesNotExist': return `!${r.key}`;
      }
    })
    .join(',');
}
