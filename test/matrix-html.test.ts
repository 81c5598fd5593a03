// `matrix --output html` in a real browser: Debian's chromium, headless, driven over the
// DevTools protocol by puppeteer-core. The page loads from a file with every network request
// refused and recorded (it must make none), renders the grid of the conformance model, filters
// by namespace and port, highlights the what-if changes, and a click on a cell shows that
// pair's `explain` text. A screenshot is saved (UPDATE_SCREENSHOT=1 writes docs/matrix.png,
// the one the README shows).
//
// Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it): in CI a
// missing browser fails the suite, elsewhere it is skipped with a loud warning.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { parseAllDocuments } from 'yaml';
import { clusterFromObjects, explain, explanationText } from '../compiler/index.js';
import { matrixHtml } from '../compiler/matrix-html.js';
import { buildMatrix } from '../compiler/matrix.js';
import { whatIf } from '../compiler/matrix-output.js';
import { EXAMPLE_STATE } from './e2e/example-state.js';
import { modelObjects, REPO_ROOT } from './e2e/topology.js';

const CHROMIUM = '/usr/bin/chromium';

const example = (file: string) => parseAllDocuments(readFileSync(join(REPO_ROOT, 'policies-examples', file), 'utf8')).map((d) => d.toJS() as unknown).filter(Boolean);
const BEFORE = clusterFromObjects(modelObjects({ ...EXAMPLE_STATE, policies: example('allow-same-namespace.yaml') })).cluster;
const AFTER = clusterFromObjects(modelObjects({ ...EXAMPLE_STATE, policies: [...example('allow-same-namespace.yaml'), ...example('allow-monitoring-scrape.yaml')] })).cluster;

describe('matrix --output html in headless chromium', function () {
  this.timeout(120_000);
  let browser: Browser | undefined;
  let page: Page;
  let dir: string;
  const requests: string[] = [];
  const errors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);
      process.stderr.write(`\n\x1b[1;33m*** SKIPPING THE BROWSER TEST: ${CHROMIUM} is missing (apt-get install -y chromium). ***\x1b[0m\n\n`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'npn-unit-html-'));
    // The model with "same namespace only" in x; the what-if lets monitoring (y) scrape the
    // port named metrics (TCP 81) of x's pods.
    const w = whatIf(BEFORE, AFTER, { by: 'pod' });
    writeFileSync(join(dir, 'matrix.html'), matrixHtml(w.after, { changes: w.changes, title: 'what if monitoring scraped x' }));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: join(dir, 'profile'),
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 780, height: 560 });
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      requests.push(r.url());
      // Only the page itself; anything else would be the page reaching out.
      if (r.url() === pathToFileURL(join(dir, 'matrix.html')).href) void r.continue();
      else void r.abort();
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(pathToFileURL(join(dir, 'matrix.html')).href, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="1"]');
  });

  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads with no request but the page itself, and no script error', () => {
    expect(requests).to.deep.equal([pathToFileURL(join(dir, 'matrix.html')).href]);
    expect(errors).to.deep.equal([]);
  });

  it('renders the grid of the model: 9 rows and columns; all ports, then one port at a time', async () => {
    const grid = () => page.$$eval('#grid tbody tr', (rows) => rows.map((r) => [r.querySelector('th')!.textContent, ...[...r.querySelectorAll('td')].map((td) => (td as HTMLElement).dataset.verdict)].join(' ')));
    expect(await page.$$eval('#port option', (o) => o.map((x) => x.textContent))).to.deep.equal(['all ports', 'TCP/81 (metrics)', 'TCP/other']);
    // All ports: y reaches x on 81 only (~ some ports), z not at all.
    expect(await grid()).to.deep.equal([
      'x/a - . . . . . . . .',
      'x/b . - . . . . . . .',
      'x/c . . - . . . . . .',
      'y/a ~ ~ ~ - . . . . .',
      'y/b ~ ~ ~ . - . . . .',
      'y/c ~ ~ ~ . . - . . .',
      'z/a X X X . . . - . .',
      'z/b X X X . . . . - .',
      'z/c X X X . . . . . -',
    ]);
    await page.select('#port', '0');
    expect((await grid()).slice(3, 7)).to.deep.equal(['y/a . . . - . . . . .', 'y/b . . . . - . . . .', 'y/c . . . . . - . . .', 'z/a X X X . . . - . .']);
    const opened = await page.$$eval('#grid td.opened', (tds) => tds.map((td) => `${(td as HTMLElement).dataset.from}>${(td as HTMLElement).dataset.to}`));
    expect(opened).to.have.length(9);
    expect(opened).to.include('y/b>x/a');
    await page.select('#port', '1');
    expect((await grid())[4]).to.equal('y/b X X X . - . . . .');
    expect(await page.$$eval('#grid td.opened', (tds) => tds.length)).to.equal(0);
    await page.select('#port', '-1');
  });

  it('a click on a cell shows that pair\'s explain text and what the what-if changes there', async () => {
    await page.click('#grid td[data-from="y/b"][data-to="x/a"]');
    const text = await page.$eval('#explain', (e) => e.textContent ?? '');
    // Both ports of the pair, each as explain words it.
    expect(text).to.include(explanationText(explain(AFTER, 'y/b', 'x/a', 81, 'TCP')).trimEnd());
    expect(text).to.include(explanationText(explain(AFTER, 'y/b', 'x/a', 1, 'TCP')).trimEnd());
    expect(text).to.include('y/b (192.0.2.14) -> x/a (192.0.2.10) TCP/81: ALLOWED');
    expect(text).to.include('what-if: opened TCP/81 (metrics): ingress: allowed by x/allow-monitoring-scrape ingress[0] (was: isolated by x/allow-same-namespace; no rule allows it)');
    const shot = join(dir, 'matrix.png');
    await page.screenshot({ path: shot as `${string}.png` });
    expect(statSync(shot).size).to.be.greaterThan(5000);
    if (process.env.UPDATE_SCREENSHOT) writeFileSync(join(REPO_ROOT, 'docs', 'matrix.png'), readFileSync(shot));
    await page.click('#grid td[data-from="z/c"][data-to="x/b"]');
    expect(await page.$eval('#explain', (e) => e.textContent ?? '')).to.include('z/c (192.0.2.18) -> x/b (192.0.2.139) TCP/1: DENIED');
  });

  it('filters by namespace', async () => {
    await page.click('#namespaces input[data-ns="z"]');
    expect(await page.$$eval('#grid tbody tr', (r) => r.length)).to.equal(6);
    await page.click('#namespaces input[data-ns="z"]');
    expect(await page.$$eval('#grid tbody tr', (r) => r.length)).to.equal(9);
  });

  it('with ClusterNetworkPolicies: each cell shows the step that decided it, and a click the tier walk', async () => {
    // The model with the cluster examples protect-monitoring (Admin) and delegate-tenants
    // (Admin Pass for x, deny from z), and x's allow-same-namespace.
    const tiered = clusterFromObjects(modelObjects({ ...EXAMPLE_STATE, policies: [...example('cluster/protect-monitoring.yaml'), ...example('cluster/delegate-tenants.yaml'), ...example('allow-same-namespace.yaml')] })).cluster;
    const file = join(dir, 'tiers.html');
    writeFileSync(file, matrixHtml(buildMatrix(tiered, { by: 'pod', ports: [{ port: 80, protocol: 'TCP' }] })));
    const p = await browser!.newPage();
    try {
      await p.setRequestInterception(true);
      const seen: string[] = [];
      p.on('request', (r) => { seen.push(r.url()); if (r.url() === pathToFileURL(file).href) void r.continue(); else void r.abort(); });
      await p.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      await p.waitForSelector('body[data-ready="1"]');
      expect(seen).to.deep.equal([pathToFileURL(file).href]);
      expect(await p.$eval('#tiers', (e) => e.textContent ?? '')).to.include('A Admin, N NetworkPolicy, B Baseline');
      const row = (from: string) => p.$$eval(`#grid td[data-from="${from}"]`, (tds) => tds.map((td) => `${(td as HTMLElement).dataset.verdict}${(td as HTMLElement).dataset.step ?? ''}`).join(' '));
      // z/a: to x by NetworkPolicy (x's tenants Pass), to y and z by the Admin tier.
      expect(await row('z/a')).to.equal('XN XN XN XA XA XA - XA XA');
      expect(await row('y/a')).to.equal('XN XN XN - .A .A .- .- .-');
      await p.click('#grid td[data-from="z/a"][data-to="y/b"]');
      const text = await p.$eval('#explain', (e) => e.textContent ?? '');
      expect(text).to.include('z/a (192.0.2.16) -> y/b');
      expect(text).to.include('Admin: Deny by cnp/protect-monitoring ingress[1] "deny-the-rest"');
    } finally {
      await p.close();
    }
  });
});
