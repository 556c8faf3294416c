// The example site and the built SDK, served so a person can click through `npm start`.
import { existsSync } from 'node:fs'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'

export async function staticRoutes(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const mounts: Array<[string, string, string]> = [
    ['/examples/', opts.config.staticDirs.examples, 'the examples folder is missing'],
    ['/sdk/', opts.config.staticDirs.sdk, 'the SDK is not built yet: run `npm run build` at the repository root'],
  ]
  let first = true
  for (const [prefix, root, missing] of mounts) {
    if (existsSync(root)) {
      await app.register(fastifyStatic, { root, prefix, decorateReply: first, index: ['index.html'], redirect: true })
      first = false
    } else {
      // Checked at start: a folder created later is served after a restart.
      app.get(`${prefix}*`, async (_req, reply) => reply.code(404).send({ error: missing }))
    }
  }
}
