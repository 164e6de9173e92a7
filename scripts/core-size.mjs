// The size of the core as an app's bundler sees it: `tokenkeeper` bundled by esbuild, minified, with every
// export kept and jwt-decode included, then gzip -9 and brotli. With `--modules`, the minified bytes each
// source module contributes (bundled from src/, so figures are per module before gzip).
// Run after `npm run build`.
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { build } from 'esbuild';

/** Bundles `entry` like an app would and measures it: raw minified, gzip -9 and brotli (quality 11) bytes. */
export async function measureBundle(entry, { external = [] } = {}) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    external,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  const output = Object.values(result.metafile.outputs)[0];
  return {
    minified: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    brotli: brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    modules: Object.fromEntries(Object.entries(output.inputs).map(([path, input]) => [path, input.bytesInOutput])),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const core = await measureBundle('dist/index.js');
  console.log(`tokenkeeper core: ${core.minified} B min, ${core.gzip} B min+gzip, ${core.brotli} B brotli`);
  if (process.argv.includes('--modules')) {
    const bySource = await measureBundle('src/index.ts');
    const rows = Object.entries(bySource.modules).sort((a, b) => b[1] - a[1]);
    for (const [path, bytes] of rows) console.log(`${String(bytes).padStart(7)} B min  ${path}`);
  }
}
