// Builds the demo page into demo/web/dist/: app.js (React, ky and tokenkeeper bundled and minified), index.html
// and styles.css. tokenkeeper comes from the library's own ESM build (../../dist, `npm run build`), as a user
// would get it from npm.
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = (path) => new URL(path, import.meta.url).pathname;
const outdir = here('dist/');
const started = performance.now();

try {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: [here('src/main.tsx')],
    outfile: `${outdir}app.js`,
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    alias: {
      tokenkeeper: here('../../dist/index.js'),
      'tokenkeeper/ky': here('../../dist/ky.js'),
      'tokenkeeper/react': here('../../dist/react.js'),
    },
    logLevel: 'warning',
  });
  await copyFile(here('index.html'), `${outdir}index.html`);
  await copyFile(here('styles.css'), `${outdir}styles.css`);
} catch (error) {
  // esbuild has already printed its errors with their locations; anything else is printed here.
  if (!Array.isArray(error?.errors)) console.error(`demo/web: ${error?.message ?? error}`);
  process.exit(1);
}

const elapsedMs = Math.round(performance.now() - started);
const kB = (bytes) => `${(bytes / 1024).toFixed(1)} kB`;
const size = async (file) => kB((await stat(`${outdir}${file}`)).size);
const gzipped = kB(gzipSync(await readFile(`${outdir}app.js`)).length);
console.log(
  `demo/web: built dist/ in ${elapsedMs} ms (app.js ${await size('app.js')}, ${gzipped} gzipped; ` +
    `styles.css ${await size('styles.css')}; index.html ${await size('index.html')})`,
);
