// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, network-policy-api v0.2.0):
// validated as the API server's CRD schema would, then normalised into the form the policy
// graph reads. A policy the API server would reject is still returned, marked invalid, and
// is enforced fail-closed (see failClosedRules); a part that is valid but that we cannot
// enforce (domainNames, a peer of a kind newer than we know) is reported as unsupported and
// handled as the API asks of an implementation that does not know a field.
import { parseCidrText, type AddrRange } from './cidr.js';
import type { Problem, Protocol } from './model.js';
import { parseSelector, type FieldError, type Selector } from './selectors.js';

/** > Tier is used as the top-level grouping for network policy prioritization. Policy tiers
 *  > are evaluated in the following order: Admin tier, NetworkPolicy tier, Baseline tier. */
export type Tier = 'Admin' | 'Baseline';
export const TIERS: readonly Tier[] = ['Admin', 'Baseline'];

/** > Accept: ... No further ingress ClusterNetworkPolicy or NetworkPolicy rules will be processed.
 *  > Deny: Drops the selected traffic. No further ClusterNetworkPolicy or NetworkPolicy rules.
 *  > Pass: Skips all further ClusterNetworkPolicy rules in the current tier. */
export type CnpAction = 'Accept' | 'Deny' | 'Pass';

export type CnpSubject =
  | { readonly kind: 'namespaces'; readonly namespaceSelector: Selector }
  | { readonly kind: 'pods'; readonly namespaceSelector: Selector; readonly podSelector: Selector };

export type CnpPeer =
  | { readonly kind: 'namespaces'; readonly namespaceSelector: Selector }
  | { readonly kind: 'pods'; readonly namespaceSelector: Selector; readonly podSelector: Selector }
  /** > Networks ... cluster-internal traffic will be checked against the rule as well. */
  | { readonly kind: 'networks'; readonly ranges: readonly AddrRange[]; readonly text: readonly string[] }
  /** > Nodes ... selects the nodeIPs ... present in the node.Status.Addresses field. */
  | { readonly kind: 'nodes'; readonly nodeSelector: Selector };

/** `destinationNamedPort` names a container port of the destination pod, whatever its
 *  protocol: the pod's port of that name decides both the number and the protocol. */
export type CnpPort =
  | { readonly kind: 'all'; readonly protocol: Protocol }
  | { readonly kind: 'range'; readonly protocol: Protocol; readonly from: number; readonly to: number }
  | { readonly kind: 'named'; readonly name: string };

export interface CnpRule {
  /** Index in the direction's list, for attribution (`cnp/NAME ingress[2] "allow-dns"`). */
  readonly index: number;
  readonly name?: string;
  readonly action: CnpAction;
  /** null: every source/destination (only produced by fail-closed rules). */
  readonly peers: readonly CnpPeer[] | null;
  /** null: every port and protocol. */
  readonly ports: readonly CnpPort[] | null;
  /** Why this rule does not read as written (unsupported peers dropped, or turned into a
   *  deny-all by the fail-closed rule), for logs and `explain`. */
  readonly note?: string;
}

export interface NormalizedCnp {
  readonly id: string; // the name: cluster-scoped
  readonly name: string;
  readonly tier: Tier;
  readonly priority: number;
  readonly subject: CnpSubject;
  readonly rules: Readonly<Record<'ingress' | 'egress', readonly CnpRule[]>>;
  /** False when the API server would reject the object (its rules are then fail-closed). */
  readonly valid: boolean;
  /** Valid parts we do not enforce as written (domainNames, unknown peer kinds). */
  readonly unsupported: readonly string[];
}

export interface CnpInfo {
  readonly name: string;
  readonly spec: unknown;
}

export interface CnpResult {
  /** Undefined when not even the tier, priority and subject are usable: it selects nothing. */
  readonly policy?: NormalizedCnp;
  readonly problems: readonly Problem[];
}

export const CNP_MAX_RULES = 25;
export const CNP_MAX_PEERS = 25;
export const CNP_MAX_PROTOCOLS = 25;
export const CNP_MAX_NETWORKS = 25;
export const CNP_MAX_RULE_NAME = 100;
export const CNP_MAX_PRIORITY = 1000;

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const present = (x: unknown) => x !== undefined && x !== null;
/** > '*', the wildcard specifier, matches one or more entire labels ... only as a prefix.
 *  (The CRD's own pattern, including its `A-z` ranges.) */
const DOMAIN_NAME = /^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/;
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;
const PROTOCOL_FIELDS = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;

/** The fields of an object other than the ones we know (the CRD prunes unknown fields, so
 *  they only reach us from a newer CRD than ours). */
const unknownFields = (o: Record<string, unknown>, known: readonly string[]) => Object.keys(o).filter((k) => present(o[k]) && !known.includes(k));

function parseNamespacedPod(raw: unknown, path: string, errs: FieldError[]): { namespaceSelector: Selector; podSelector: Selector } | undefined {
  if (!isRecord(raw)) {
    errs.push({ path, message: 'must be an object' });
    return undefined;
  }
  if (!present(raw.podSelector)) {
    errs.push({ path: `${path}.podSelector`, message: 'required' });
    return undefined;
  }
  const ns = parseSelector(raw.namespaceSelector, `${path}.namespaceSelector`);
  const ps = parseSelector(raw.podSelector, `${path}.podSelector`);
  errs.push(...ns.errors, ...ps.errors);
  return ns.selector && ps.selector ? { namespaceSelector: ns.selector, podSelector: ps.selector } : undefined;
}

function parseSubject(raw: unknown, errs: FieldError[]): CnpSubject | undefined {
  const path = 'spec.subject';
  if (!isRecord(raw)) {
    errs.push({ path, message: present(raw) ? 'must be an object' : 'required' });
    return undefined;
  }
  const set = ['namespaces', 'pods'].filter((k) => present(raw[k]));
  if (set.length !== 1) {
    errs.push({ path, message: set.length ? 'must set exactly one of namespaces, pods' : 'must set one of namespaces, pods' });
    return undefined;
  }
  if (set[0] === 'namespaces') {
    const s = parseSelector(raw.namespaces, `${path}.namespaces`);
    errs.push(...s.errors);
    return s.selector ? { kind: 'namespaces', namespaceSelector: s.selector } : undefined;
  }
  const np = parseNamespacedPod(raw.pods, `${path}.pods`, errs);
  return np ? { kind: 'pods', ...np } : undefined;
}

type PeerOutcome = { peer: CnpPeer } | { unsupported: string } | undefined;

function parsePeer(raw: unknown, path: string, dir: 'ingress' | 'egress', errs: FieldError[]): PeerOutcome {
  if (!isRecord(raw)) {
    errs.push({ path, message: 'must be an object' });
    return undefined;
  }
  const known = dir === 'ingress' ? ['namespaces', 'pods'] : ['namespaces', 'pods', 'nodes', 'networks', 'domainNames'];
  const set = known.filter((k) => present(raw[k]));
  const other = unknownFields(raw, known);
  if (set.length > 1 || set.length + other.length > 1) {
    errs.push({ path, message: `must set exactly one peer field (${known.join(', ')})` });
    return undefined;
  }
  if (set.length === 0) {
    // > If an implementation sees no fields are set then it can infer that the deployed CRD
    // > is of an incompatible version with an unknown field. In that case it should fail closed.
    if (other.length) return { unsupported: `${path}: peer field ${other[0]} is not known to this version` };
    errs.push({ path, message: `must set one peer field (${known.join(', ')})` });
    return undefined;
  }
  const field = set[0]!;
  const at = `${path}.${field}`;
  switch (field) {
    case 'namespaces': {
      const s = parseSelector(raw.namespaces, at);
      errs.push(...s.errors);
      return s.selector ? { peer: { kind: 'namespaces', namespaceSelector: s.selector } } : undefined;
    }
    case 'pods': {
      const np = parseNamespacedPod(raw.pods, at, errs);
      return np ? { peer: { kind: 'pods', ...np } } : undefined;
    }
    case 'nodes': {
      const s = parseSelector(raw.nodes, at);
      errs.push(...s.errors);
      return s.selector ? { peer: { kind: 'nodes', nodeSelector: s.selector } } : undefined;
    }
    case 'networks': {
      const list = raw.networks;
      if (!Array.isArray(list) || list.length === 0) {
        errs.push({ path: at, message: Array.isArray(list) ? 'must have at least 1 item' : 'must be a list' });
        return undefined;
      }
      if (list.length > CNP_MAX_NETWORKS) {
        errs.push({ path: at, message: `must have at most ${CNP_MAX_NETWORKS} items` });
        return undefined;
      }
      const ranges: AddrRange[] = [], text: string[] = [];
      let bad = false;
      const seen = new Set<unknown>();
      list.forEach((c, i) => {
        if (seen.has(c)) {
          errs.push({ path: `${at}[${i}]`, message: `duplicate value ${JSON.stringify(c)}` }); // listType=set
          bad = true;
          return;
        }
        seen.add(c);
        const p = typeof c === 'string' && c.length > 43 ? 'must be at most 43 characters' : parseCidrText(c);
        if (typeof p === 'string') {
          errs.push({ path: `${at}[${i}]`, message: typeof c === 'string' && c.length <= 43 ? `Invalid CIDR format provided (${p})` : p });
          bad = true;
        } else {
          ranges.push({ family: p.family, lo: p.lo, hi: p.hi });
          text.push(p.text);
        }
      });
      return bad ? undefined : { peer: { kind: 'networks', ranges, text } };
    }
    case 'domainNames': {
      const list = raw.domainNames;
      if (!Array.isArray(list) || list.length === 0) {
        errs.push({ path: at, message: Array.isArray(list) ? 'must have at least 1 item' : 'must be a list' });
        return undefined;
      }
      let bad = false;
      list.forEach((d, i) => {
        if (typeof d !== 'string' || !DOMAIN_NAME.test(d)) {
          errs.push({ path: `${at}[${i}]`, message: `${JSON.stringify(d)} is not a valid domain name` });
          bad = true;
        }
      });
      if (list.length > 25) {
        errs.push({ path: at, message: 'must have at most 25 items' });
        bad = true;
      }
      return bad ? undefined : { unsupported: `${at}: domainNames peers are not enforced (they need DNS snooping)` };
    }
  }
  return undefined;
}

function parsePortSpec(raw: unknown, path: string, protocol: Protocol, errs: FieldError[]): CnpPort | undefined {
  if (!isRecord(raw)) {
    errs.push({ path, message: present(raw) ? 'must be an object' : 'must set destinationPort' });
    return undefined;
  }
  const dp = raw.destinationPort;
  if (!present(dp)) {
    errs.push({ path, message: 'must set destinationPort' }); // MinProperties=1
    return undefined;
  }
  const at = `${path}.destinationPort`;
  if (!isRecord(dp)) {
    errs.push({ path: at, message: 'must be an object' });
    return undefined;
  }
  const set = ['number', 'range'].filter((k) => present(dp[k]));
  if (set.length !== 1) {
    errs.push({ path: at, message: 'must set exactly one of number, range' });
    return undefined;
  }
  const portOk = (n: unknown, p: string) => {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) return true;
    errs.push({ path: p, message: `${JSON.stringify(n)} must be between 1 and 65535, inclusive` });
    return false;
  };
  if (set[0] === 'number') return portOk(dp.number, `${at}.number`) ? { kind: 'range', protocol, from: dp.number as number, to: dp.number as number } : undefined;
  const r = dp.range;
  if (!isRecord(r)) {
    errs.push({ path: `${at}.range`, message: 'must be an object' });
    return undefined;
  }
  const okStart = portOk(r.start, `${at}.range.start`), okEnd = portOk(r.end, `${at}.range.end`);
  if (!okStart || !okEnd) return undefined;
  if (!((r.start as number) < (r.end as number))) {
    errs.push({ path: `${at}.range`, message: 'Start port must be less than End port' });
    return undefined;
  }
  return { kind: 'range', protocol, from: r.start as number, to: r.end as number };
}

function parseProtocol(raw: unknown, path: string, errs: FieldError[]): CnpPort | undefined {
  if (!isRecord(raw)) {
    errs.push({ path, message: 'must be an object' });
    return undefined;
  }
  const known = ['tcp', 'udp', 'sctp', 'destinationNamedPort'];
  const set = known.filter((k) => present(raw[k]) && raw[k] !== '');
  if (set.length !== 1) {
    errs.push({ path, message: `must set exactly one of ${known.join(', ')}` });
    return undefined;
  }
  const field = set[0]!;
  if (field === 'destinationNamedPort') {
    const name = raw.destinationNamedPort;
    if (typeof name !== 'string' || !PORT_NAME.test(name)) {
      errs.push({ path: `${path}.destinationNamedPort`, message: `${JSON.stringify(name)} is not a valid port name` });
      return undefined;
    }
    return { kind: 'named', name };
  }
  return parsePortSpec(raw[field], `${path}.${field}`, PROTOCOL_FIELDS[field as keyof typeof PROTOCOL_FIELDS], errs);
}

function parseRules(raw: unknown, dir: 'ingress' | 'egress', errs: FieldError[], unsupported: string[]): CnpRule[] {
  const base = `spec.${dir}`;
  if (!present(raw)) return [];
  if (!Array.isArray(raw)) {
    errs.push({ path: base, message: 'must be a list' });
    return [];
  }
  if (raw.length > CNP_MAX_RULES) errs.push({ path: base, message: `must have at most ${CNP_MAX_RULES} items` });
  const peerField = dir === 'ingress' ? 'from' : 'to';
  return raw.flatMap((r, index): CnpRule[] => {
    const path = `${base}[${index}]`;
    if (!isRecord(r)) {
      errs.push({ path, message: 'must be an object' });
      return [];
    }
    let name: string | undefined;
    if (present(r.name)) {
      if (typeof r.name !== 'string') errs.push({ path: `${path}.name`, message: 'must be a string' });
      else if (r.name.length > CNP_MAX_RULE_NAME) errs.push({ path: `${path}.name`, message: `may not be more than ${CNP_MAX_RULE_NAME} characters` });
      else if (r.name) name = r.name;
    }
    const action = r.action;
    if (action !== 'Accept' && action !== 'Deny' && action !== 'Pass') {
      errs.push({ path: `${path}.action`, message: present(action) ? `${JSON.stringify(action)} is not supported (Accept, Deny, Pass)` : 'required' });
      return [];
    }
    const rawPeers = r[peerField];
    if (!Array.isArray(rawPeers) || rawPeers.length === 0 || rawPeers.length > CNP_MAX_PEERS) {
      errs.push({ path: `${path}.${peerField}`, message: !Array.isArray(rawPeers) ? 'required' : rawPeers.length ? `must have at most ${CNP_MAX_PEERS} items` : 'must have at least 1 item' });
      return [];
    }
    const peers: CnpPeer[] = [];
    const notes: string[] = [];
    let withoutNamedPorts = false;
    rawPeers.forEach((p, j) => {
      if (isRecord(p) && (present(p.networks) || present(p.nodes) || present(p.domainNames))) withoutNamedPorts = true;
      const o = parsePeer(p, `${path}.${peerField}[${j}]`, dir, errs);
      if (o && 'peer' in o) peers.push(o.peer);
      else if (o) notes.push(o.unsupported);
    });
    let ports: CnpPort[] | null = null;
    if (present(r.protocols)) {
      if (!Array.isArray(r.protocols) || r.protocols.length === 0 || r.protocols.length > CNP_MAX_PROTOCOLS) {
        errs.push({ path: `${path}.protocols`, message: !Array.isArray(r.protocols) ? 'must be a list' : r.protocols.length ? `must have at most ${CNP_MAX_PROTOCOLS} items` : 'must have at least 1 item' });
      } else {
        ports = r.protocols.map((x, j) => parseProtocol(x, `${path}.protocols[${j}]`, errs)).filter((x): x is CnpPort => !!x);
        if (dir === 'egress' && withoutNamedPorts && ports.some((x) => x.kind === 'named')) {
          errs.push({ path, message: 'networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames' });
        }
      }
    }
    unsupported.push(...notes);
    if (!notes.length) return [{ index, ...(name ? { name } : {}), action, peers, ports }];
    // > For "Accept" rules, "fail closed" means: "treat the rule as matching no traffic". For
    // > "Deny" and "Pass" rules, "fail closed" means: "treat the rule as a 'Deny all' rule".
    if (action === 'Accept') return [{ index, ...(name ? { name } : {}), action, peers, ports, note: 'peers we cannot enforce match nothing' }];
    return [{ index, ...(name ? { name } : {}), action: 'Deny', peers: null, ports: null, note: `fails closed as Deny all: ${notes.join('; ')}` }];
  });
}

/** A policy the API server would reject, with a usable subject: its subject is denied
 *  everything in each direction the policy speaks of (both when it is unclear), at its
 *  priority, so higher-priority policies still decide first. */
function failClosedRules(spec: Record<string, unknown>): Record<'ingress' | 'egress', CnpRule[]> {
  const deny = (note: string): CnpRule[] => [{ index: 0, action: 'Deny', peers: null, ports: null, note }];
  const has = (d: 'ingress' | 'egress') => present(spec[d]);
  const both = !has('ingress') && !has('egress');
  const note = 'invalid policy: fails closed as Deny all';
  return { ingress: has('ingress') || both ? deny(note) : [], egress: has('egress') || both ? deny(note) : [] };
}

/** Validates and normalises one ClusterNetworkPolicy. */
export function normalizeCnp(p: CnpInfo): CnpResult {
  const problem = (e: FieldError): Problem => ({ kind: 'clusternetworkpolicy', object: p.name, path: e.path, message: e.message });
  const spec = p.spec;
  if (!isRecord(spec)) return { problems: [problem({ path: 'spec', message: present(spec) ? 'must be an object' : 'required' })] };
  const head: FieldError[] = [];
  const tier = spec.tier;
  if (tier !== 'Admin' && tier !== 'Baseline') head.push({ path: 'spec.tier', message: present(tier) ? `${JSON.stringify(tier)} is not supported (Admin, Baseline)` : 'required' });
  const priority = spec.priority;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > CNP_MAX_PRIORITY) {
    head.push({ path: 'spec.priority', message: present(priority) ? `${JSON.stringify(priority)} must be between 0 and ${CNP_MAX_PRIORITY}, inclusive` : 'required' });
  }
  const subject = parseSubject(spec.subject, head);
  // Without a tier, a priority and a subject there is no place to enforce it: it selects nothing.
  if (head.length || !subject) return { problems: head.map(problem) };

  const errs: FieldError[] = [];
  const unsupported: string[] = [];
  const rules = { ingress: parseRules(spec.ingress, 'ingress', errs, unsupported), egress: parseRules(spec.egress, 'egress', errs, unsupported) };
  const valid = errs.length === 0;
  return {
    policy: {
      id: p.name,
      name: p.name,
      tier: tier as Tier,
      priority: priority as number,
      subject,
      rules: valid ? rules : failClosedRules(spec),
      valid,
      unsupported: valid ? unsupported : [],
    },
    problems: errs.map(problem),
  };
}

/** Policies of one tier in evaluation order: priority, then (the API leaves ties to the
 *  implementation) name. Ties are returned so they can be reported: the user cannot rely on
 *  their order. */
export function orderTier(policies: readonly NormalizedCnp[], tier: Tier): { ordered: NormalizedCnp[]; ties: string[][] } {
  const ordered = policies.filter((p) => p.tier === tier).sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const ties: string[][] = [];
  for (let i = 0; i < ordered.length; ) {
    let j = i + 1;
    while (j < ordered.length && ordered[j]!.priority === ordered[i]!.priority) j++;
    if (j - i > 1) ties.push(ordered.slice(i, j).map((p) => p.name));
    i = j;
  }
  return { ordered, ties };
}
