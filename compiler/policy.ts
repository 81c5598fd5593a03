// NetworkPolicy spec: validated as the API server would, then normalised into the form the
// rest of the compiler reads. A policy the API server would reject is still returned, marked
// invalid: when its pod selector is usable it keeps isolating the pods it selects, with no
// allowance at all (fail closed, docs/design.md 1.15).
import { cidrMinus, parseCidrText, type AddrRange, type ParsedCidr } from './cidr.js';
import type { PolicyInfo, Problem, Protocol } from './model.js';
import { MATCH_ALL, parseSelector, type FieldError, type Selector } from './selectors.js';

export type Direction = 'ingress' | 'egress';
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/** > port: the port on the given protocol. This can either be a numerical or named port on
 *  > a pod. If this field is not provided, this matches all port names and numbers.
 *  > endPort: indicates that the range of ports from port to endPort if set, inclusive,
 *  > should be allowed by the policy. This field cannot be defined if the port field is not
 *  > defined or if the port field is defined as a named (string) port. */
export type PortMatch =
  | { readonly kind: 'all'; readonly protocol: Protocol }
  | { readonly kind: 'range'; readonly protocol: Protocol; readonly from: number; readonly to: number }
  | { readonly kind: 'named'; readonly protocol: Protocol; readonly name: string };

/** > podSelector / namespaceSelector: if both are set, pods matching podSelector in the
 *  > namespaces matching namespaceSelector; podSelector alone: pods in the policy's own
 *  > namespace; namespaceSelector alone: all pods in the matching namespaces.
 *  > ipBlock: a particular CIDR range, minus except. */
export type Peer =
  | { readonly kind: 'pods'; readonly podSelector: Selector; readonly namespaceSelector?: Selector }
  | { readonly kind: 'ipBlock'; readonly cidr: ParsedCidr; readonly except: readonly ParsedCidr[]; readonly ranges: readonly AddrRange[] };

/** > If this field is empty or missing, this rule matches all sources/destinations (traffic
 *  > not restricted by source). If this field is empty or missing, this rule matches all
 *  > ports (traffic not restricted by port).  `null` stands for "all". */
export interface Rule {
  readonly peers: readonly Peer[] | null;
  readonly ports: readonly PortMatch[] | null;
}

export interface NormalizedPolicy {
  readonly id: string; // namespace/name
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: Selector;
  /** Directions this policy isolates (after defaulting policyTypes). */
  readonly isolates: Readonly<Record<Direction, boolean>>;
  readonly rules: Readonly<Record<Direction, readonly Rule[]>>;
  /** False when the API server would reject the object: then `rules` are empty. */
  readonly valid: boolean;
}

export interface PolicyResult {
  /** Always set: a policy whose pod selector is unusable selects every pod of its namespace. */
  readonly policy?: NormalizedPolicy;
  readonly problems: readonly Problem[];
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const present = (x: unknown) => x !== undefined && x !== null;
/** IANA_SVC_NAME: 1-15 lower-case letters, digits and inner single hyphens, one letter at least. */
const SVC_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

function parsePort(raw: unknown, path: string, errs: FieldError[]): PortMatch | undefined {
  if (!isRecord(raw)) {
    errs.push({ path, message: 'must be an object' });
    return undefined;
  }
  const protocol = raw.protocol ?? 'TCP';
  if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
    errs.push({ path: `${path}.protocol`, message: `${JSON.stringify(protocol)} is not supported (TCP, UDP or SCTP)` });
    return undefined;
  }
  const port = raw.port, endPort = raw.endPort;
  if (!present(port)) {
    if (present(endPort)) errs.push({ path: `${path}.endPort`, message: 'may not be specified when port is not specified' });
    return { kind: 'all', protocol };
  }
  // IntOrString: a string is always a port name, even "80" (which IANA_SVC_NAME rejects: a
  // name needs a letter), exactly as the API server reads it.
  if (typeof port === 'string') {
    if (!SVC_NAME.test(port)) errs.push({ path: `${path}.port`, message: `${JSON.stringify(port)} is not a valid port name (IANA_SVC_NAME)` });
    if (present(endPort)) errs.push({ path: `${path}.endPort`, message: 'may not be specified when port is a named port' });
    return { kind: 'named', protocol, name: port };
  }
  const n = port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    errs.push({ path: `${path}.port`, message: `${JSON.stringify(port)} must be between 1 and 65535, inclusive` });
    return undefined;
  }
  if (!present(endPort)) return { kind: 'range', protocol, from: n, to: n };
  if (typeof endPort !== 'number' || !Number.isInteger(endPort) || endPort < 1 || endPort > 65535) {
    errs.push({ path: `${path}.endPort`, message: `${JSON.stringify(endPort)} must be between 1 and 65535, inclusive` });
    return undefined;
  }
  if (endPort < n) {
    errs.push({ path: `${path}.endPort`, message: `${endPort} must be greater than or equal to port (${n})` });
    return undefined;
  }
  return { kind: 'range', protocol, from: n, to: endPort };
}

function parsePeer(raw: unknown, path: string, errs: FieldError[]): Peer | undefined {
  if (!isRecord(raw)) {
    errs.push({ path, message: 'must be an object' });
    return undefined;
  }
  const hasPod = present(raw.podSelector), hasNs = present(raw.namespaceSelector), hasIp = present(raw.ipBlock);
  if (!hasPod && !hasNs && !hasIp) {
    errs.push({ path, message: 'must specify a peer (podSelector, namespaceSelector or ipBlock)' });
    return undefined;
  }
  if (hasIp && (hasPod || hasNs)) {
    errs.push({ path, message: 'may not specify more than 1 peer type when ipBlock is specified' });
    return undefined;
  }
  if (hasIp) {
    const ib = raw.ipBlock;
    if (!isRecord(ib)) {
      errs.push({ path: `${path}.ipBlock`, message: 'must be an object' });
      return undefined;
    }
    const cidr = parseCidrText(ib.cidr);
    if (typeof cidr === 'string') {
      errs.push({ path: `${path}.ipBlock.cidr`, message: present(ib.cidr) ? cidr : 'required' });
      return undefined;
    }
    const rawExcept = ib.except ?? [];
    if (!Array.isArray(rawExcept)) {
      errs.push({ path: `${path}.ipBlock.except`, message: 'must be a list' });
      return undefined;
    }
    const except: ParsedCidr[] = [];
    let bad = false;
    rawExcept.forEach((e, i) => {
      const p = `${path}.ipBlock.except[${i}]`;
      const x = parseCidrText(e);
      if (typeof x === 'string') {
        errs.push({ path: p, message: x });
        bad = true;
      } else if (x.family !== cidr.family || x.lo < cidr.lo || x.hi > cidr.hi || x.prefix <= cidr.prefix) {
        // The API server demands a strict subset: an except equal to the cidr is rejected.
        errs.push({ path: p, message: `${e} must be a strict subset of cidr ${ib.cidr}` });
        bad = true;
      } else except.push(x);
    });
    if (bad) return undefined;
    return { kind: 'ipBlock', cidr, except, ranges: cidrMinus(cidr, except) };
  }
  const ps = parseSelector(raw.podSelector, `${path}.podSelector`);
  const ns = hasNs ? parseSelector(raw.namespaceSelector, `${path}.namespaceSelector`) : undefined;
  errs.push(...ps.errors, ...(ns?.errors ?? []));
  if (!ps.selector || (ns && !ns.selector)) return undefined;
  return ns ? { kind: 'pods', podSelector: ps.selector, namespaceSelector: ns.selector } : { kind: 'pods', podSelector: ps.selector };
}

function parseRules(raw: unknown, dir: Direction, errs: FieldError[]): Rule[] {
  const peerField = dir === 'ingress' ? 'from' : 'to';
  if (!present(raw)) return [];
  if (!Array.isArray(raw)) {
    errs.push({ path: `spec.${dir}`, message: 'must be a list' });
    return [];
  }
  return raw.map((r, i): Rule => {
    const path = `spec.${dir}[${i}]`;
    if (!isRecord(r)) {
      errs.push({ path, message: 'must be an object' });
      return { peers: [], ports: [] };
    }
    const list = <T>(v: unknown, p: string, f: (x: unknown, p: string) => T | undefined): T[] | null => {
      if (!present(v)) return null;
      if (!Array.isArray(v)) {
        errs.push({ path: p, message: 'must be a list' });
        return [];
      }
      if (v.length === 0) return null; // empty means "all", like absent
      return v.map((x, j) => f(x, `${p}[${j}]`)).filter((x): x is T => x !== undefined);
    };
    return {
      peers: list(r[peerField], `${path}.${peerField}`, (x, p) => parsePeer(x, p, errs)),
      ports: list(r.ports, `${path}.ports`, (x, p) => parsePort(x, p, errs)),
    };
  });
}

/** Validates and normalises one NetworkPolicy. */
export function normalizePolicy(p: PolicyInfo): PolicyResult {
  const id = `${p.namespace}/${p.name}`;
  const problem = (e: FieldError): Problem => ({ kind: 'networkpolicy', object: id, path: e.path, message: e.message });
  const spec = p.spec ?? {};
  // A policy whose pod selector cannot be read could select any pod of its namespace: it
  // isolates them all, both ways, and allows nothing (fail closed). Dropping it would open
  // the pods it was written to protect.
  const closed = (errors: FieldError[]): PolicyResult => ({
    policy: { id, namespace: p.namespace, name: p.name, podSelector: MATCH_ALL, isolates: { ingress: true, egress: true }, rules: { ingress: [], egress: [] }, valid: false },
    problems: errors.map((e) => problem({ ...e, message: `${e.message}; every pod of namespace ${p.namespace} is isolated by it, both ways, with nothing allowed` })),
  });
  if (!isRecord(spec)) return closed([{ path: 'spec', message: 'must be an object' }]);
  const sel = parseSelector(spec.podSelector, 'spec.podSelector');
  if (!sel.selector) return closed(sel.errors);

  const errs: FieldError[] = [];
  // > policyTypes: ... If this field is not specified, it will default based on the existence
  // > of ingress or egress rules; policies that contain an egress section are assumed to
  // > affect egress, and all policies (whether or not they contain an ingress section) are
  // > assumed to affect ingress.  (The API server defaults on len(egress) != 0.)
  let isolates = { ingress: true, egress: Array.isArray(spec.egress) && spec.egress.length > 0 };
  const pt = spec.policyTypes;
  if (present(pt)) {
    if (!Array.isArray(pt)) {
      errs.push({ path: 'spec.policyTypes', message: 'must be a list' });
      isolates = { ingress: true, egress: true }; // unknown intent: isolate both ways
    } else if (pt.length > 2) {
      // The API server checks the count first (and accepts a repeated value within two).
      errs.push({ path: 'spec.policyTypes', message: 'may not specify more than two policyTypes' });
      isolates = { ingress: true, egress: true };
    } else if (pt.length > 0) {
      pt.forEach((t, i) => {
        if (t !== 'Ingress' && t !== 'Egress') errs.push({ path: `spec.policyTypes[${i}]`, message: `${JSON.stringify(t)} is not supported (Ingress, Egress)` });
      });
      const bad = pt.some((t) => t !== 'Ingress' && t !== 'Egress');
      isolates = bad ? { ingress: true, egress: true } : { ingress: pt.includes('Ingress'), egress: pt.includes('Egress') };
    }
  }
  const rules = { ingress: parseRules(spec.ingress, 'ingress', errs), egress: parseRules(spec.egress, 'egress', errs) };
  const valid = errs.length === 0;
  return {
    policy: {
      id,
      namespace: p.namespace,
      name: p.name,
      podSelector: sel.selector,
      isolates,
      rules: valid ? rules : { ingress: [], egress: [] },
      valid,
    },
    problems: errs.map(problem),
  };
}
