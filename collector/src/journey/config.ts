// Loads and checks the journey config (JSON the marketer edits). Checking is pure and names the
// path of the first mistake, so a typo stops the start with a message instead of a silent 0.
import { readFileSync } from 'node:fs'
import type { Condition, JourneyConfig, Matcher, ScoreRule, SegmentDef, StageDef } from './model.js'
import { DEFAULT_CONFIG } from './model.js'

export class JourneyConfigError extends Error {}

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/
const MATCHER_FIELDS = ['type', 'event', 'path', 'content', 'form', 'url'] as const

type Json = unknown
const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v)
const fail = (path: string, msg: string): never => {
  throw new JourneyConfigError(`${path}: ${msg}`)
}

/** Limits on what one definition may ask, so no definition (anyone with the admin token can add one) costs much to evaluate. */
export const LIMITS = { patternLength: 500, patternsPerField: 50, wildcardsPerPattern: 8, conditions: 64, depth: 8 }

function strOrList(v: Json, path: string): string | string[] {
  const ok = (x: Json) => typeof x === 'string' && x.length > 0 && x.length <= LIMITS.patternLength
  const list = Array.isArray(v) ? v : [v]
  if (!list.length || list.length > LIMITS.patternsPerField || !list.every(ok)) {
    return fail(path, `must be a non-empty string (≤ ${LIMITS.patternLength}) or a list of 1–${LIMITS.patternsPerField} such strings`)
  }
  for (const x of list as string[]) {
    if (x.split('*').length - 1 > LIMITS.wildcardsPerPattern) fail(path, `a pattern may hold at most ${LIMITS.wildcardsPerPattern} wildcards (*)`)
  }
  return v as string | string[]
}

function conditionCount(c: Condition): number {
  if ('all' in c) return 1 + c.all.reduce((n, x) => n + conditionCount(x), 0)
  if ('any' in c) return 1 + c.any.reduce((n, x) => n + conditionCount(x), 0)
  if ('not' in c) return 1 + conditionCount(c.not)
  return 1
}

function checkTopCondition(v: Json, path: string, stageIds: string[] | null): Condition {
  const c = checkCondition(v, path, stageIds)
  if (conditionCount(c) > LIMITS.conditions) fail(path, `at most ${LIMITS.conditions} conditions in one definition`)
  return c
}

function num(v: Json, path: string, min = -1e9, max = 1e9): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(path, `must be a number in ${min}..${max}`)
  return v as number
}

export function checkMatcher(v: Json, path: string): Matcher {
  if (!isObj(v)) return fail(path, 'must be an object')
  const out: Matcher = {}
  for (const [k, x] of Object.entries(v)) {
    if (!(MATCHER_FIELDS as readonly string[]).includes(k)) fail(`${path}.${k}`, `unknown field; use ${MATCHER_FIELDS.join(', ')}`)
    out[k as (typeof MATCHER_FIELDS)[number]] = strOrList(x, `${path}.${k}`)
  }
  if (Object.keys(out).length === 0) fail(path, 'needs at least one field')
  return out
}

/** `stageIds` is null while checking stage conditions: a stage cannot depend on stages. */
export function checkCondition(v: Json, path: string, stageIds: string[] | null, depth = 0): Condition {
  if (depth > LIMITS.depth) fail(path, `nested more than ${LIMITS.depth} deep`)
  if (!isObj(v)) return fail(path, 'must be an object')
  const keys = Object.keys(v)
  const only = (...allowed: string[]) => {
    for (const k of keys) if (!allowed.includes(k)) fail(`${path}.${k}`, 'unexpected field')
  }
  const stageRef = (id: Json, p: string): string => {
    if (stageIds === null) fail(p, 'a stage condition cannot refer to stages')
    if (typeof id !== 'string' || !stageIds!.includes(id)) fail(p, `unknown stage; stages are ${stageIds!.join(', ')}`)
    return id as string
  }
  if ('all' in v || 'any' in v) {
    const k = 'all' in v ? 'all' : 'any'
    only(k)
    const list = v[k]
    if (!Array.isArray(list)) return fail(`${path}.${k}`, 'must be a list of conditions')
    const items = list.map((x, i) => checkCondition(x, `${path}.${k}[${i}]`, stageIds, depth + 1))
    return k === 'all' ? { all: items } : { any: items }
  }
  if ('not' in v) return only('not'), { not: checkCondition(v.not, `${path}.not`, stageIds, depth + 1) }
  if ('identified' in v) {
    only('identified')
    if (typeof v.identified !== 'boolean') fail(`${path}.identified`, 'must be true or false')
    return { identified: v.identified as boolean }
  }
  if ('stage' in v) {
    only('stage')
    const ids = strOrList(v.stage, `${path}.stage`)
    for (const id of Array.isArray(ids) ? ids : [ids]) stageRef(id, `${path}.stage`)
    return { stage: ids }
  }
  if ('stageAtLeast' in v) return only('stageAtLeast'), { stageAtLeast: stageRef(v.stageAtLeast, `${path}.stageAtLeast`) }
  if ('score' in v) {
    only('score')
    const s = v.score
    if (!isObj(s) || (s.gte === undefined && s.lte === undefined)) return fail(`${path}.score`, 'needs gte and/or lte')
    for (const k of Object.keys(s)) if (k !== 'gte' && k !== 'lte') fail(`${path}.score.${k}`, 'unexpected field')
    const out: { gte?: number; lte?: number } = {}
    if (s.gte !== undefined) out.gte = num(s.gte, `${path}.score.gte`)
    if (s.lte !== undefined) out.lte = num(s.lte, `${path}.score.lte`)
    return { score: out }
  }
  if ('did' in v) {
    only('did', 'atLeast', 'withinDays')
    const c: Condition = { did: checkMatcher(v.did, `${path}.did`) }
    if (v.atLeast !== undefined) c.atLeast = num(v.atLeast, `${path}.atLeast`, 1, 1e6)
    if (v.withinDays !== undefined) c.withinDays = num(v.withinDays, `${path}.withinDays`, 0, 36500)
    return c
  }
  if ('channel' in v) return only('channel'), { channel: strOrList(v.channel, `${path}.channel`) }
  if ('source' in v) return only('source'), { source: strOrList(v.source, `${path}.source`) }
  return fail(path, 'unknown condition; use all, any, not, identified, stage, stageAtLeast, score, did, channel, source')
}

function checkId(v: Json, path: string, seen: Set<string>): string {
  if (typeof v !== 'string' || !ID.test(v)) fail(path, 'must be lower-case letters, digits, - or _ (1–64)')
  if (seen.has(v as string)) fail(path, `duplicate id "${v as string}"`)
  seen.add(v as string)
  return v as string
}

function checkName(v: Json, path: string): string {
  if (typeof v !== 'string' || !v.trim() || v.length > 200) fail(path, 'must be a non-empty string (≤ 200)')
  return (v as string).trim()
}

export function checkSegment(v: Json, path: string, stageIds: string[], seen: Set<string>): SegmentDef {
  if (!isObj(v)) return fail(path, 'must be an object')
  for (const k of Object.keys(v)) if (!['id', 'name', 'description', 'when'].includes(k)) fail(`${path}.${k}`, 'unexpected field')
  const seg: SegmentDef = {
    id: checkId(v.id, `${path}.id`, seen),
    name: checkName(v.name, `${path}.name`),
    when: checkTopCondition(v.when, `${path}.when`, stageIds),
  }
  if (v.description !== undefined) seg.description = checkName(v.description, `${path}.description`)
  return seg
}

/** Checks a config object; sections left out keep their defaults. */
export function checkJourneyConfig(v: Json): JourneyConfig {
  if (!isObj(v)) return fail('config', 'must be a JSON object')
  // `webhooks` is checked by webhooks/subscriptions.ts, against the stages and segments found here.
  for (const k of Object.keys(v)) if (!['stages', 'score', 'segments', 'webhooks', '$comment'].includes(k)) fail(k, 'unexpected field; use stages, score, segments, webhooks')
  let stages: StageDef[] = DEFAULT_CONFIG.stages
  if (v.stages !== undefined) {
    if (!Array.isArray(v.stages) || v.stages.length < 2 || v.stages.length > 20) fail('stages', 'must list 2–20 stages')
    const seen = new Set<string>()
    stages = (v.stages as Json[]).map((s, i) => {
      const p = `stages[${i}]`
      if (!isObj(s)) return fail(p, 'must be an object')
      const def: StageDef = { id: checkId(s.id, `${p}.id`, seen), name: checkName(s.name, `${p}.name`) }
      if (i === 0 && s.when !== undefined) fail(`${p}.when`, 'the first stage has no condition: everyone starts there')
      if (i > 0) def.when = checkTopCondition(s.when, `${p}.when`, null)
      return def
    })
  }
  let score = DEFAULT_CONFIG.score
  if (v.score !== undefined) {
    const s = v.score
    if (!isObj(s) || !Array.isArray(s.rules)) return fail('score', 'must be {"rules": [...], "halfLifeDays"?: n}')
    const seen = new Set<string>()
    const rules = (s.rules as Json[]).map((r, i): ScoreRule => {
      const p = `score.rules[${i}]`
      if (!isObj(r)) return fail(p, 'must be an object')
      const rule: ScoreRule = {
        id: checkId(r.id, `${p}.id`, seen),
        label: checkName(r.label ?? r.id, `${p}.label`),
        points: num(r.points, `${p}.points`, -1000, 1000),
        match: checkMatcher(r.match, `${p}.match`),
      }
      if (r.max !== undefined) rule.max = num(r.max, `${p}.max`, 1, 1e6)
      return rule
    })
    const half = s.halfLifeDays === undefined || s.halfLifeDays === null ? null : num(s.halfLifeDays, 'score.halfLifeDays', 0.01, 36500)
    score = { rules, halfLifeDays: half }
  }
  const stageIds = stages.map((s) => s.id)
  let segments: SegmentDef[] = DEFAULT_CONFIG.segments
  if (v.segments !== undefined) {
    if (!Array.isArray(v.segments)) fail('segments', 'must be a list')
    const seen = new Set<string>()
    segments = (v.segments as Json[]).map((s, i) => checkSegment(s, `segments[${i}]`, stageIds, seen))
  }
  // Defaults' segments may name default stages: recheck them against the stages in force.
  // Default segments naming a stage the custom stages dropped are left out rather than refused.
  const seen = new Set<string>()
  const recheck = (s: SegmentDef, i: number): SegmentDef | null => {
    const raw = { id: s.id, name: s.name, when: s.when, ...(s.description ? { description: s.description } : {}) }
    if (v.segments !== undefined) return checkSegment(raw, `segments[${i}]`, stageIds, seen)
    try {
      return checkSegment(raw, `segments[${i}]`, stageIds, seen)
    } catch (err) {
      if (err instanceof JourneyConfigError) return null
      throw err
    }
  }
  segments = segments.flatMap((s, i) => {
    const ok = recheck(s, i)
    return ok ? [{ ...ok, origin: 'config' as const }] : []
  })
  return { stages, score, segments }
}

export function loadJourneyConfig(file: string | null): JourneyConfig {
  return loadJourneyFile(file).journey
}

/** The checked journey config and the file's JSON as it is (for the sections others check). */
export function loadJourneyFile(file: string | null): { journey: JourneyConfig; json: Record<string, Json> } {
  if (!file) return { journey: checkJourneyConfig({}), json: {} }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new JourneyConfigError(`cannot read journey config ${file}: ${(err as Error).message}`)
  }
  let json: Json
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new JourneyConfigError(`journey config ${file} is not JSON: ${(err as Error).message}`)
  }
  try {
    return { journey: checkJourneyConfig(json), json: json as Record<string, Json> }
  } catch (err) {
    if (err instanceof JourneyConfigError) throw new JourneyConfigError(`journey config ${file}: ${err.message}`)
    throw err
  }
}
