import nodeResolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import typescript from '@rollup/plugin-typescript'
import { dts } from 'rollup-plugin-dts'

// Four outputs: the npm builds (deps stay external so bundlers dedupe them), the script-tag
// bundle with everything inside, the loader snippet, and one declaration file. The shared
// contract (@waymark/contract) is always inlined: it is a workspace, not a runtime dependency.
const ts = () => typescript({ tsconfig: './tsconfig.json', sourceMap: true, declaration: false })
const minify = (compress = {}) => terser({ ecma: 2020, compress: { passes: 2, ...compress }, format: { comments: false } })
// The script tag only: 31 B of its 10,240 B budget. Safe here: the SDK never calls a function
// expression or an object's method with \`new\` (classes stay classes).
const tight = { passes: 3, unsafe_arrows: true, unsafe_methods: true }
// The viewer imports uPlot's stylesheet as text and puts it in a <style> (its CSP allows inline
// styles, no other source): five lines instead of a CSS plugin dependency.
const cssText = () => ({ name: 'css-text', transform: (code, id) => (id.endsWith('.css') ? { code: `export default ${JSON.stringify(code)}`, map: null } : null) })

export default [
  {
    input: 'src/index.ts',
    external: ['idb-keyval', 'ulid'],
    output: [
      { file: 'dist/waymark.mjs', format: 'es', sourcemap: true },
      { file: 'dist/waymark.cjs', format: 'cjs', sourcemap: true },
    ],
    plugins: [nodeResolve(), ts()],
  },
  {
    input: 'src/browser.ts',
    output: { file: 'dist/waymark.min.js', format: 'iife', sourcemap: true },
    plugins: [nodeResolve({ browser: true }), ts(), minify(tight)],
  },
  {
    input: 'src/snippet.js',
    output: { file: 'dist/snippet.min.js', format: 'iife' },
    plugins: [minify()],
  },
  {
    input: 'src/index.ts',
    output: { file: 'dist/waymark.d.ts', format: 'es' },
    plugins: [dts({ respectExternal: true, tsconfig: './tsconfig.json' })],
  },
  // waymark/autotrack: the autotrackers for npm users, each tree-shakeable
  {
    input: 'src/autotrack/index.ts',
    external: ['idb-keyval', 'ulid'],
    output: [
      { file: 'dist/autotrack.mjs', format: 'es', sourcemap: true },
      { file: 'dist/autotrack.cjs', format: 'cjs', sourcemap: true },
    ],
    plugins: [nodeResolve(), ts()],
  },
  { input: 'src/autotrack/index.ts', output: { file: 'dist/autotrack.d.ts', format: 'es' }, plugins: [dts({ respectExternal: true, tsconfig: './tsconfig.json' })] },
  // The timeline viewer: TypeScript and uPlot, served by the collector at /ui.
  {
    input: 'collector/ui/main.ts',
    output: { file: 'collector/dist/ui/viewer.js', format: 'iife', sourcemap: true },
    plugins: [nodeResolve({ browser: true }), cssText(), typescript({ tsconfig: './collector/ui/tsconfig.json', sourceMap: true, declaration: false }), minify()],
  },
]
