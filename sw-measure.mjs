import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
const r = await build({ entryPoints: ['/work/wt/size-wiring/src/index.ts'], bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, metafile: true, logLevel: 'silent' });
const code = r.outputFiles[0].contents;
const out = Object.values(r.metafile.outputs)[0];
const mine = ['manager','state','cross-tab','refresh','restore','logout','unauthorized'];
let sum = 0; const parts = [];
for (const [p, i] of Object.entries(out.inputs)) { const m = mine.find(n => p.endsWith(`src/${n}.ts`)); if (m) { sum += i.bytesInOutput; parts.push(`${m}:${i.bytesInOutput}`); } }
console.log(`min ${code.length} gzip ${gzipSync(code,{level:9}).length} mine ${sum} | ${parts.join(' ')}`);
