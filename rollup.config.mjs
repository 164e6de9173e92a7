import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';

/** One entry per public entry point; each is built once, and siblings stay external so the core is bundled once. */
const entries = {
  index: 'src/index.ts',
  ky: 'src/ky.ts',
  react: 'src/react.ts',
};

const external = (id) => id === 'jwt-decode' || id === 'ky' || id === 'react' || id.startsWith('tokenkeeper');

export default [
  {
    input: entries,
    external,
    output: [
      { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'shared-[hash].js' },
      { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'shared-[hash].cjs' },
    ],
    plugins: [typescript({ tsconfig: './tsconfig.build.json' })],
  },
  {
    input: entries,
    external,
    output: [
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'shared-[hash].d.ts' },
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.cts', chunkFileNames: 'shared-[hash].d.cts' },
    ],
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
  },
];
