// `npm run bench` (full) and `npm run bench -- --quick` (CI): runs the benchmark sections in order, prints
// each as tables, writes BENCHMARKS.md and bench/results.json, and exits 1 when a budget is missed.
// `--only=sizes,node-calls` runs some sections (for development; then a missing bench/chromium.mjs is skipped).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { version as esbuildVersion } from 'esbuild';
import { markdownTable, sectionMarkdown, sectionText } from './report.mjs';

const benchDirectory = dirname(fileURLToPath(import.meta.url));
const root = join(benchDirectory, '..');
const peersDirectory = join(benchDirectory, 'peers');

/** Section name (as `--only` takes it) → module in bench/. */
const SECTIONS = [
  ['sizes', 'sizes.mjs'],
  ['node-calls', 'node-calls.mjs'],
  ['memory', 'memory.mjs'],
  ['chromium', 'chromium.mjs'],
];

function parseArguments(argv) {
  const quick = argv.includes('--quick');
  const onlyArgument = argv.find((argument) => argument.startsWith('--only='));
  const known = SECTIONS.map(([name]) => name);
  const only = onlyArgument ? onlyArgument.slice('--only='.length).split(',').filter(Boolean) : null;
  const unknown = [
    ...(only ?? []).filter((name) => !known.includes(name)),
    ...argv.filter((argument) => argument !== '--quick' && !argument.startsWith('--only=')),
  ];
  if (unknown.length > 0) {
    console.error(`Unknown ${unknown.join(', ')}. Usage: node bench/run.mjs [--quick] [--only=${known.join(',')}]`);
    process.exit(2);
  }
  return { quick, only };
}

const startedAt = performance.now();
// Other processes on the machine skew timings; the table says how busy it was.
const loadAtStart = os.loadavg();
const log = (message) => {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(5);
  console.error(`[${seconds} s] ${message}`);
};

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** Whether every package in the peers' lockfile is installed at its locked version. */
function peersInstalled() {
  const lock = readJson(join(peersDirectory, 'package-lock.json'));
  return Object.entries(lock.packages).every(([path, entry]) => {
    if (path === '') return true;
    const manifest = join(peersDirectory, path, 'package.json');
    return existsSync(manifest) && readJson(manifest).version === entry.version;
  });
}

function ensurePeers() {
  if (peersInstalled()) return;
  log('sizes: installing the peers into bench/peers (npm ci)');
  const result = spawnSync('npm', ['ci', '--prefix', peersDirectory, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (result.status !== 0 || !peersInstalled()) throw new Error('npm ci in bench/peers failed');
}

/** Loads a section's module; bench/chromium.mjs may be missing (being written) only under `--only`. */
async function loadSection(name, file, only) {
  const path = join(benchDirectory, file);
  if (!existsSync(path) && only) {
    log(`${name}: bench/${file} does not exist yet, skipped (only allowed with --only)`);
    return null;
  }
  return import(pathToFileURL(path).href);
}

function chromiumVersion() {
  try {
    return execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .replace(/^Chromium\s+/, '')
      .replace(/\s+built on.*$/, '');
  } catch {
    return 'not found';
  }
}

function operatingSystem() {
  try {
    const release = readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)"?$/m)?.[1];
    if (release) return `${release}, ${os.type()} ${os.release()} ${os.arch()}`;
  } catch {}
  return `${os.type()} ${os.release()} ${os.arch()}`;
}

function installedVersion(directory, name) {
  const manifest = join(directory, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? readJson(manifest).version : 'not installed';
}

function environmentTable({ quick, ran }) {
  const cpus = os.cpus();
  const peerNames = Object.keys(readJson(join(peersDirectory, 'package.json')).dependencies);
  const rows = [
    ['date', new Date().toISOString().slice(0, 10)],
    ['run', `${quick ? 'quick (`--quick`)' : 'full'}; sections: ${ran.join(', ')}`],
    ['CPU', `${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores`],
    ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['load average at start (1, 5, 15 min)', loadAtStart.map((load) => load.toFixed(2)).join(', ')],
    ['OS', operatingSystem()],
    ['Node', process.version],
    ['Chromium', chromiumVersion()],
    ['tokenkeeper', readJson(join(root, 'package.json')).version],
    ['jwt-decode', installedVersion(root, 'jwt-decode')],
    ['esbuild', esbuildVersion],
    ...peerNames.map((name) => [name, installedVersion(peersDirectory, name)]),
  ];
  return { caption: 'Machine and versions', header: ['', ''], rows };
}

async function main() {
  const { quick, only } = parseArguments(process.argv.slice(2));
  const selected = SECTIONS.filter(([name]) => !only || only.includes(name));
  log(`benchmarks (${quick ? 'quick' : 'full'}): ${selected.map(([name]) => name).join(', ')}`);
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');

  const results = [];
  const failures = [];
  for (const [name, file] of selected) {
    try {
      if (name === 'sizes') ensurePeers();
      const section = await loadSection(name, file, only);
      if (!section) continue;
      const result = await section.run({ quick, log });
      results.push({ name, ...result });
      console.log(`\n${sectionText(result)}\n`);
      failures.push(...result.failures.map((failure) => `${name}: ${failure}`));
    } catch (error) {
      // A section that crashes fails the run, but the others still run and report.
      console.error(`\n${name} failed:`, error);
      failures.push(`${name}: the section did not complete (${error.message})`);
    }
  }

  const ran = results.map(({ name }) => name);
  const header = [
    '# Benchmarks',
    'Generated by `npm run bench` (full) or `npm run bench -- --quick` (fewer rounds and cycles, as in CI; ' +
      'per-call ratios are then reported but not enforced). Every figure below comes from the run described ' +
      'here; rerun it on your machine to compare.',
    markdownTable(environmentTable({ quick, ran })),
  ];
  const body = results.map(sectionMarkdown);
  const summaryLines =
    failures.length === 0
      ? ['All budgets met.']
      : ['Budgets missed or sections failed:', '', ...failures.map((f) => `- ${f}`)];
  const markdown = `${[...header, ...body, `## Verdict\n\n${summaryLines.join('\n')}`].join('\n\n')}\n`;
  // A partial run prints its tables but leaves BENCHMARKS.md to the runs that cover every section.
  if (only) {
    log('partial run: BENCHMARKS.md and bench/results.json left as they are');
  } else {
    await writeFile(join(root, 'BENCHMARKS.md'), markdown);
    const summaries = Object.fromEntries(results.map(({ name, summary }) => [name, summary]));
    await writeFile(
      join(benchDirectory, 'results.json'),
      `${JSON.stringify({ date: new Date().toISOString(), quick, sections: ran, failures, summaries }, null, 2)}\n`,
    );
    log(`wrote BENCHMARKS.md and bench/results.json in ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
  }

  if (failures.length > 0) {
    console.log(
      `\nBudgets missed or sections failed (${failures.length}):\n${failures.map((failure) => `  - ${failure}`).join('\n')}`,
    );
    process.exitCode = 1;
  } else {
    console.log('\nAll budgets met.');
  }
}

await main();
