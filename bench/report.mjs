// Helpers shared by the benchmark sections and the orchestrator: numbers, ratios, medians, tables as aligned
// text (stdout) or markdown (BENCHMARKS.md), and running a section's measurements in a child process.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `15009` → `15,009`; non-finite numbers print as a dash. */
export function formatInteger(value) {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–';
}

/** Nanoseconds per call, rounded to what the measurement can tell. */
export function formatNs(value) {
  if (!Number.isFinite(value)) return '–';
  return value >= 100 ? formatInteger(value) : value.toFixed(1);
}

/** `20.31` → `20.3×`. */
export function formatRatio(value) {
  if (!Number.isFinite(value)) return '–';
  return `${value >= 100 ? Math.round(value) : value.toFixed(value >= 10 ? 1 : 2)}×`;
}

export function formatPercent(share) {
  return `${(share * 100).toFixed(1)} %`;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const cellText = (cell) => (typeof cell === 'number' ? formatInteger(cell) : String(cell));

const FIGURE = /^[-–+]?[\d,.]+ ?(×|%|B|ns|µs|ms|s)?$/;

/** Whether a cell reads as a figure (`15,009`, `1.52×`, `3.1 %`, `–`) or a range of figures (`1.2×–3.4×`). */
function isFigure(cell) {
  const text = String(cell);
  return typeof cell === 'number' || text === '–' || text.split(/(?<=\S)–(?=\d)/).every((part) => FIGURE.test(part));
}

/** A column is right-aligned when every non-empty cell in it reads as a figure. */
function numericColumns(header, rows) {
  return header.map((_, column) => {
    const cells = rows.map((row) => row[column]).filter((cell) => cell !== '');
    return cells.length > 0 && cells.every(isFigure);
  });
}

/** A table as aligned plain text, for the terminal. */
export function textTable({ caption, header, rows }) {
  const cells = [header, ...rows.map((row) => row.map(cellText))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column].length)));
  const right = numericColumns(header, rows);
  const line = (row) =>
    row.map((cell, column) => (right[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [caption, line(cells[0]), rule, ...cells.slice(1).map(line)].map((text) => text.trimEnd()).join('\n');
}

/** A table in markdown, with its caption as a bold line above it. */
export function markdownTable({ caption, header, rows }) {
  const right = numericColumns(header, rows);
  const escapePipes = (text) => text.replaceAll('|', '\\|');
  const line = (row) => `| ${row.map((cell) => escapePipes(cellText(cell))).join(' | ')} |`;
  const rule = `|${right.map((isRight) => (isRight ? '---:' : '---')).join('|')}|`;
  return [`**${caption}**`, '', line(header), rule, ...rows.map(line)].join('\n');
}

/** A section result as terminal text. */
export function sectionText(section) {
  const parts = [`== ${section.title} ==`, ...section.tables.map(textTable)];
  if (section.notes.length > 0) parts.push(section.notes.map((note) => `- ${note}`).join('\n'));
  if (section.failures.length > 0) parts.push(section.failures.map((failure) => `MISSED: ${failure}`).join('\n'));
  return parts.join('\n\n');
}

/** A section result as markdown, under a level-2 heading. */
export function sectionMarkdown(section) {
  const parts = [`## ${section.title}`, section.intro, ...section.tables.map(markdownTable)];
  if (section.notes.length > 0) parts.push(section.notes.map((note) => `- ${note}`).join('\n'));
  if (section.failures.length > 0) {
    parts.push(['Budgets missed:', '', ...section.failures.map((failure) => `- ${failure}`)].join('\n'));
  }
  return parts.filter(Boolean).join('\n\n');
}

/**
 * Runs a section's measuring function in a fresh `node --expose-gc` process, so that it starts from a clean
 * heap and can call `gc()`. The collector runs on the main thread only (`--single-threaded-gc`), so that its
 * CPU time is charged to the code that made the garbage, and forced collections keep compiled code
 * (`--no-flush-bytecode`). `file` is the section module's URL; when started with `--child`, that module calls
 * `serveChild(measure)`. Progress lines come back through `log`; the result is what `measure` returns.
 */
export function runInChild(fileUrl, options, log) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(fileUrl), ['--child', JSON.stringify(options)], {
      execArgv: ['--expose-gc', '--single-threaded-gc', '--no-flush-bytecode'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result;
    child.on('message', (message) => {
      if ('log' in message) log(message.log);
      if ('result' in message) result = message.result;
      if ('error' in message) reject(new Error(message.error));
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`${fileUrl} exited (${signal ?? code}) without a result`));
    });
  });
}

/** In a child started by `runInChild`: runs `measure(options, log)` and sends its result back. */
export function serveChild(measure) {
  const options = JSON.parse(process.argv[process.argv.indexOf('--child') + 1]);
  const log = (message) => process.send({ log: message });
  measure(options, log).then(
    (result) => process.send({ result }, () => process.exit(0)),
    (error) => process.send({ error: error?.stack ?? String(error) }, () => process.exit(1)),
  );
}

export const isChild = () => process.argv.includes('--child');
