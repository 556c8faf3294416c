#!/usr/bin/env node
// The installed command: loads the built collector. npm links this file when it installs, before
// anything is built, so a checkout that was never built hears how to build instead of a stack.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('waymark-collector is not built yet: run `npm run build` at the repository root\n')
  process.exit(1)
}
await import(cli.href)
