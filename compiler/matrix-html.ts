// `matrix --output html`: one self-contained page (inline style, script and data; a Content
// Security Policy that forbids loading anything else), with the grid, filters by namespace
// and port, what-if changes highlighted, and each cell's `explain` text on a click.
import { MatrixError, type Matrix } from './matrix.js';
import { cellExplanation, STEP_LETTER, stepText, type Change } from './matrix-output.js';
import type { NodeInfo } from './nodes.js';

/** A grid bigger than this is no use in a browser: narrow it with --namespace. */
export const HTML_MAX_ENTITIES = 400;
/** Explanations are embedded for up to this many cells (pairs × ports). */
export const HTML_MAX_EXPLAINED = 40_000;

const MARK: Record<string, string> = { true: '.', false: 'X', some: '~', self: '-', none: ' ' };

export function matrixHtml(m: Matrix, opts: { nodes?: readonly NodeInfo[]; changes?: readonly Change[]; title?: string } = {}): string {
  const n = m.entities.length;
  if (n > HTML_MAX_ENTITIES) throw new MatrixError(`--output html: ${n} ${m.by === 'pod' ? 'pods' : `${m.by}s`} make a grid too large for a page (limit ${HTML_MAX_ENTITIES}); narrow it with --namespace, or use --by namespace`);
  const verdicts = m.columns.map((_, c) => {
    let s = '';
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) s += MARK[String(m.verdict(a, b, c))];
    return s;
  });
  // With tiers: per column, the letter of the step each cell is credited to ('-' for the
  // default allow, ' ' for no verdict).
  const steps = m.tiered && m.by !== 'namespace'
    ? m.columns.map((_, c) => {
      let s = '';
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) {
        const st = m.steps(a, b, c);
        s += st ? STEP_LETTER[st.cell] || '-' : ' ';
      }
      return s;
    })
    : null;
  const explained = n * n * m.columns.length <= HTML_MAX_EXPLAINED;
  const explanations = explained
    ? m.entities.map((_, a) => m.entities.map((_, b) => m.columns.map((_, c) => cellExplanation(m, a, b, c, opts.nodes ?? []))))
    : null;
  const index = new Map(m.entities.map((e, i) => [e.id, i]));
  const col = new Map(m.columns.map((c, i) => [c.label, i]));
  const changes = (opts.changes ?? []).map((c) => ({
    s: index.get(c.from), d: index.get(c.to), c: col.get(c.column.label), change: c.change,
    because: c.because + (c.decidedBy ? ` [decided by ${stepText(c.decidedBy.after)}; was ${stepText(c.decidedBy.before)}]` : ''),
  }));
  const data = {
    title: opts.title ?? `netpol-nft matrix by ${m.by}`,
    by: m.by,
    family: m.family ?? null,
    entities: m.entities.map((e) => ({ id: e.id, ns: e.namespace, pods: e.pods.length })),
    columns: m.columns.map((c) => c.label),
    verdicts,
    steps,
    explanations,
    changes,
  };
  // JSON inside <script>: nothing in it may close the element.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:18px;margin:0 0 8px}
#controls{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start;margin-bottom:10px}
#controls fieldset{border:1px solid #ccc;padding:4px 8px}
#grid{border-collapse:collapse;font:12px ui-monospace,monospace}
#grid th{font-weight:normal;padding:2px 4px;white-space:nowrap}
#grid thead th{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;vertical-align:bottom}
#grid tbody th{text-align:right}
#grid td{width:18px;height:18px;text-align:center;cursor:pointer;border:1px solid #fff}
td.v-allowed{background:#3c9a4f;color:#fff}
td.v-denied{background:#d9534f;color:#fff}
td.v-some{background:#f0ad4e}
td.v-self{background:#ddd}
td.v-none{background:#fafafa}
td.opened{outline:3px solid #1565c0;outline-offset:-3px}
td.closed{outline:3px dashed #000;outline-offset:-3px}
td.selected{box-shadow:inset 0 0 0 2px #ff0}
td.s-A{font-weight:bold}
td.s-B{font-style:italic}
#explain{white-space:pre-wrap;font:12px ui-monospace,monospace;background:#f6f6f6;padding:8px;min-height:4em;max-width:100ch}
#legend span{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 4px 0 10px}
</style></head>
<body>
<h1 id="title"></h1>
<div id="summary"></div>
<div id="controls">
 <label>port <select id="port"></select></label>
 <fieldset id="namespaces"><legend>namespaces</legend></fieldset>
 <div id="legend"><span class="v" style="background:#3c9a4f"></span>allowed<span style="background:#d9534f"></span>denied<span style="background:#f0ad4e"></span>some pairs or ports<span style="background:#ddd"></span>a pod and itself</div>
</div>
<div id="tiers"></div>
<div id="changes"></div>
<table id="grid"><thead></thead><tbody></tbody></table>
<h2 style="font-size:15px">explanation</h2>
<pre id="explain">Click a cell.</pre>
<script type="application/json" id="data">${json}</script>
<script>
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('data').textContent);
  var N = D.entities.length;
  var el = function (tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  document.getElementById('title').textContent = D.title;
  document.getElementById('summary').textContent = N + ' ' + (D.by === 'pod' ? 'pods' : D.by + 's') + ', ' + (D.family ? 'IPv' + D.family : 'IPv4 (IPv6 where a pair has no IPv4)') + '; rows: from, columns: to' + (D.changes.length ? '; what-if: ' + D.changes.length + ' verdicts change (solid outline: opened, dashed: closed)' : '');
  var port = document.getElementById('port');
  var all = el('option', 'all ports'); all.value = '-1'; port.appendChild(all);
  D.columns.forEach(function (c, i) { var o = el('option', c); o.value = String(i); port.appendChild(o); });
  var nss = [];
  D.entities.forEach(function (e) { if (nss.indexOf(e.ns) < 0) nss.push(e.ns); });
  var shown = {};
  var box = document.getElementById('namespaces');
  nss.forEach(function (ns) {
    shown[ns] = true;
    var l = el('label'); var cb = el('input'); cb.type = 'checkbox'; cb.checked = true; cb.dataset.ns = ns;
    cb.addEventListener('change', function () { shown[ns] = cb.checked; render(); });
    l.appendChild(cb); l.appendChild(document.createTextNode(' ' + ns + ' ')); box.appendChild(l);
  });
  var changed = {};
  D.changes.forEach(function (c) { if (c.s !== undefined && c.d !== undefined) { var k = c.s + ',' + c.d; (changed[k] = changed[k] || []).push(c); } });
  var STEP = { A: 'the Admin tier', N: 'NetworkPolicy', B: 'the Baseline tier', '-': 'no step (default allow)' };
  if (D.steps) document.getElementById('tiers').textContent = 'ClusterNetworkPolicy tiers: each cell shows the step that decided it: A Admin, N NetworkPolicy, B Baseline (blank: the default allow); ~ differs between ports';
  function step(s, d) {
    if (!D.steps) return ' ';
    var c = Number(port.value);
    if (c >= 0) return D.steps[c][s * N + d];
    var seen = {};
    D.steps.forEach(function (v) { seen[v[s * N + d]] = true; });
    var keys = Object.keys(seen).filter(function (k) { return k !== ' '; });
    return !keys.length ? ' ' : keys.length === 1 ? keys[0] : '~';
  }
  var cls = { '.': 'v-allowed', 'X': 'v-denied', '~': 'v-some', '-': 'v-self', ' ': 'v-none' };
  function verdict(s, d) {
    var c = Number(port.value);
    if (c >= 0) return D.verdicts[c][s * N + d];
    var seen = {};
    D.verdicts.forEach(function (v) { seen[v[s * N + d]] = true; });
    var keys = Object.keys(seen).filter(function (k) { return k !== ' '; });
    if (!keys.length) return ' ';
    if (keys.length === 1) return keys[0];
    return '~';
  }
  function explain(s, d) {
    var out = document.getElementById('explain');
    var c = Number(port.value);
    var lines = [];
    (changed[s + ',' + d] || []).forEach(function (ch) { if (c < 0 || ch.c === c) lines.push('what-if: ' + ch.change + ' ' + D.columns[ch.c] + ': ' + ch.because); });
    if (lines.length) lines.push('');
    if (!D.explanations) lines.push('Explanations are not embedded for a grid this large: netpol-nft explain --from=' + D.entities[s].id + ' --to=' + D.entities[d].id + ' --port=N');
    else D.columns.forEach(function (_, i) { if (c < 0 || c === i) lines.push(D.explanations[s][d][i]); });
    out.textContent = lines.join('\\n');
  }
  function render() {
    var rows = [];
    for (var i = 0; i < N; i++) if (shown[D.entities[i].ns]) rows.push(i);
    var thead = document.querySelector('#grid thead'), tbody = document.querySelector('#grid tbody');
    thead.textContent = ''; tbody.textContent = '';
    var hr = el('tr'); hr.appendChild(el('th', ''));
    rows.forEach(function (d) { hr.appendChild(el('th', D.entities[d].id + (D.entities[d].pods > 1 ? ' (' + D.entities[d].pods + ')' : ''))); });
    thead.appendChild(hr);
    rows.forEach(function (s) {
      var tr = el('tr'); tr.appendChild(el('th', D.entities[s].id + (D.entities[s].pods > 1 ? ' (' + D.entities[s].pods + ')' : '')));
      rows.forEach(function (d) {
        var v = verdict(s, d);
        var st = step(s, d);
        var td = el('td', v === '.' || v === 'X' ? (st === '-' || st === ' ' ? '' : st) : v.trim(), cls[v]);
        if (st !== ' ') { td.classList.add('s-' + st); td.dataset.step = st; }
        var ch = changed[s + ',' + d];
        var c = Number(port.value);
        if (ch) ch.forEach(function (x) { if (c < 0 || x.c === c) td.classList.add(x.change); });
        td.dataset.from = D.entities[s].id; td.dataset.to = D.entities[d].id; td.dataset.verdict = v;
        td.title = D.entities[s].id + ' -> ' + D.entities[d].id + (STEP[st] ? ' (decided by ' + STEP[st] + ')' : '');
        td.addEventListener('click', function () {
          var old = document.querySelector('td.selected'); if (old) old.classList.remove('selected');
          td.classList.add('selected'); explain(s, d);
        });
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }
  port.addEventListener('change', render);
  render();
  document.body.dataset.ready = '1';
})();
</script>
</body></html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
