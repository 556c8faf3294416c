// Re-exports for process.test.ts, a sendBatch that takes an explicit Authorization, and the
// built CLI as a real child process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { post, type Sent } from './helpers.js'
export * from './helpers.js'
export { startCollector } from '../src/server.js'

export const COLLECTOR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const CLI = join(COLLECTOR, 'dist', 'cli.js')

let built = false
/** The child processes run the built JavaScript, as `npx waymark-collector` would (built once per test file). */
export function buildCli(): void {
  if (built) return
  built = true
  execFileSync(process.execPath, [join(COLLECTOR, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(COLLECTOR, 'tsconfig.json')], { stdio: 'inherit' })
}

export interface Child {
  child: ChildProcess
  url: string
  stdout: string[]
  stderr: string[]
  exited: Promise<number | null>
}

export function spawnCollector(args: string[], env: Record<string, string>, cwd?: string): Promise<Child> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: cwd ?? COLLECTOR,
    env: { PATH: process.env.PATH ?? '', WAYMARK_LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const stderr: string[] = []
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(...d.split('\n').filter(Boolean)))
  return new Promise((resolveChild, reject) => {
    // Whole lines only: a chunk may end mid-line, and a cut "listening on" line holds a cut URL.
    let partial = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n')
      partial = lines.pop()!
      stdout.push(...lines.filter(Boolean))
      const line = stdout.find((l) => l.startsWith('listening on '))
      if (line) resolveChild({ child, url: line.slice('listening on '.length), stdout, stderr, exited })
    })
    exited.then((code) => reject(new Error(`collector exited with ${code}: ${stderr.join('\n')}`)))
  })
}

export async function sendBatch(url: string, batch: unknown[], extra: Record<string, unknown> = {}, auth?: string): Promise<Sent> {
  return post(url, '/v1/batch', { batch, sentAt: new Date().toISOString(), ...extra }, auth ? { auth } : {})
}
