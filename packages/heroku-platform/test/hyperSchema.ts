/**
 * A validator for the subset of JSON Schema (draft 4, interagent hyper-schema) that Heroku's Platform API
 * schema uses: `$ref` (local pointers), `type` (a name or a list), `properties`, `required`,
 * `additionalProperties` (false or a schema), `patternProperties`, `strictProperties`, `items`, `anyOf`,
 * `oneOf`, `enum`, `pattern`, `minimum`/`maximum`, `minLength`/`maxLength` and `format: uuid`. Other
 * formats and keywords are not checked. A `$ref` that points nowhere (the schema has one: dyno_size's
 * identity) is reported, never taken as "anything goes".
 *
 * `strict` treats every object schema with `properties` as closed (as if `additionalProperties: false`):
 * a request body field the schema does not name is most likely a typo or a field Heroku renamed.
 */
import { readFileSync } from "node:fs"

export type JsonSchema = Record<string, any>

/** Heroku's current hyper-schema (heroku-go `v6/schema.json`, 2025-09-25), copied into the repository. */
export const schemaPath = new URL("./fixtures/heroku-platform-api.schema.json", import.meta.url)

export const load = (path: URL | string = schemaPath): JsonSchema => JSON.parse(readFileSync(path, "utf8"))

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

const typeOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value

const matchesType = (value: unknown, type: string): boolean => {
  const actual = typeOf(value)
  return actual === type || (type === "number" && actual === "integer")
}

const resolve = (root: JsonSchema, ref: string): JsonSchema | undefined => {
  if (!ref.startsWith("#/")) return undefined
  let node: any = root
  for (const part of ref.slice(2).split("/")) {
    node = node?.[decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~")]
    if (node === undefined) return undefined
  }
  return node
}

export interface Problem {
  readonly at: string
  readonly problem: string
}

export const validate = (root: JsonSchema, schema: JsonSchema, value: unknown, options: { readonly strict?: boolean } = {}): ReadonlyArray<Problem> => {
  const problems: Array<Problem> = []
  const check = (schema: JsonSchema, value: unknown, at: string): void => {
    if (schema["$ref"] !== undefined) {
      const target = resolve(root, schema["$ref"])
      if (target === undefined) return void problems.push({ at, problem: `$ref ${schema["$ref"]} points nowhere` })
      check(target, value, at)
      // Siblings of $ref (a description, a wider type) are checked too.
      const { $ref: _ref, ...rest } = schema
      if (Object.keys(rest).some((k) => k === "type" || k === "properties")) check(rest, value, at)
      return
    }
    if (schema["type"] !== undefined) {
      const types: ReadonlyArray<string> = Array.isArray(schema["type"]) ? schema["type"] : [schema["type"]]
      if (!types.some((t) => matchesType(value, t))) return void problems.push({ at, problem: `expected ${types.join(" or ")}, got ${typeOf(value)}` })
    }
    if (schema["enum"] !== undefined && !schema["enum"].some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) {
      problems.push({ at, problem: `not one of ${JSON.stringify(schema["enum"])}` })
    }
    for (const [keyword, alternatives] of [["anyOf", schema["anyOf"]], ["oneOf", schema["oneOf"]]] as const) {
      if (alternatives === undefined) continue
      const passing = (alternatives as ReadonlyArray<JsonSchema>).filter((alt) => validate(root, alt, value, options).length === 0).length
      if (passing === 0 || (keyword === "oneOf" && passing > 1)) problems.push({ at, problem: `${keyword}: ${passing} alternatives match` })
    }
    if (typeof value === "string") {
      if (schema["pattern"] !== undefined && !new RegExp(schema["pattern"]).test(value)) problems.push({ at, problem: `does not match ${schema["pattern"]}` })
      if (schema["format"] === "uuid" && !UUID.test(value)) problems.push({ at, problem: "not a uuid" })
      if (schema["minLength"] !== undefined && value.length < schema["minLength"]) problems.push({ at, problem: "too short" })
      if (schema["maxLength"] !== undefined && value.length > schema["maxLength"]) problems.push({ at, problem: "too long" })
    }
    if (typeof value === "number") {
      if (schema["minimum"] !== undefined && value < schema["minimum"]) problems.push({ at, problem: `below ${schema["minimum"]}` })
      if (schema["maximum"] !== undefined && value > schema["maximum"]) problems.push({ at, problem: `above ${schema["maximum"]}` })
    }
    if (Array.isArray(value) && schema["items"] !== undefined) value.forEach((item, i) => check(schema["items"], item, `${at}[${i}]`))
    if (typeOf(value) === "object") {
      const record = value as Record<string, unknown>
      const properties: Record<string, JsonSchema> = schema["properties"] ?? {}
      const patterns: Record<string, JsonSchema> = schema["patternProperties"] ?? {}
      for (const key of schema["required"] ?? []) if (!(key in record)) problems.push({ at, problem: `missing required ${key}` })
      const closed =
        schema["additionalProperties"] === false || schema["strictProperties"] === true || (options.strict === true && schema["properties"] !== undefined)
      for (const [key, item] of Object.entries(record)) {
        const path = `${at}.${key}`
        if (properties[key] !== undefined) {
          check(properties[key]!, item, path)
          continue
        }
        const pattern = Object.keys(patterns).find((p) => new RegExp(p).test(key))
        if (pattern !== undefined) check(patterns[pattern]!, item, path)
        else if (typeof schema["additionalProperties"] === "object") check(schema["additionalProperties"], item, path)
        else if (closed) problems.push({ at: path, problem: "not a property the schema names" })
      }
    }
  }
  check(schema, value, "$")
  return problems
}

export interface Link {
  readonly resource: string
  readonly title: string
  readonly method: string
  readonly href: string
  readonly pattern: RegExp
  readonly schema: JsonSchema | undefined
  readonly targetSchema: JsonSchema | undefined
}

/** Every link of the schema, with a path pattern (each `{(...)}` placeholder is one segment). */
export const links = (root: JsonSchema): ReadonlyArray<Link> =>
  Object.entries(root["definitions"] as Record<string, JsonSchema>).flatMap(([resource, definition]) =>
    ((definition["links"] ?? []) as ReadonlyArray<JsonSchema>).map((link) => ({
      resource,
      title: link["title"],
      method: link["method"],
      href: link["href"],
      pattern: new RegExp(`^${(link["href"] as string).replace(/\{\([^)]*\)\}/g, "[^/]+").replace(/\./g, "\\.")}$`),
      schema: link["schema"],
      targetSchema: link["targetSchema"]
    }))
  )

/** The links a request may be for: same method, path filling the href; the most specific (fewest placeholders) first. */
export const linksFor = (all: ReadonlyArray<Link>, method: string, path: string): ReadonlyArray<Link> =>
  all
    .filter((link) => link.method === method && link.pattern.test(path))
    .sort((a, b) => placeholders(a.href) - placeholders(b.href))

const placeholders = (href: string) => href.split("{(").length - 1

/** A request as `FakeHerokuPlatform` records it. */
export interface Recorded {
  readonly method: string
  readonly path: string
  readonly status: number
  readonly body: unknown
  readonly response?: unknown
}

/**
 * Every problem of a conversation with the fake against the schema: a request no link describes, a body
 * no matching link accepts (strictly: no field the schema does not name), and a 2xx answer that does not
 * match the target schema of the link whose body it answered.
 */
export const conformance = (root: JsonSchema, requests: ReadonlyArray<Recorded>): ReadonlyArray<string> => {
  const all = links(root)
  const problems: Array<string> = []
  for (const request of requests) {
    // Log sessions and source uploads are URLs Heroku hands out, on other hosts: not the API.
    if (request.path.startsWith("/logplex/") || request.path.startsWith("/source-blobs/") || request.status === 0) continue
    const candidates = linksFor(all, request.method, request.path)
    const where = `${request.method} ${request.path}`
    if (candidates.length === 0) {
      problems.push(`${where}: no link of the schema`)
      continue
    }
    const accepting =
      request.body === undefined
        ? candidates
        : candidates.filter((link) => link.schema !== undefined && validate(root, link.schema, request.body, { strict: true }).length === 0)
    if (accepting.length === 0) {
      const first = candidates.find((link) => link.schema !== undefined)
      const why = first === undefined ? "the link takes no body" : JSON.stringify(validate(root, first.schema!, request.body, { strict: true }))
      problems.push(`${where}: body ${JSON.stringify(request.body)} matches no link (${why})`)
      continue
    }
    const link = accepting[0]!
    if (request.status < 300 && request.response !== undefined && link.targetSchema !== undefined) {
      const wrong = validate(root, link.targetSchema, request.response)
      if (wrong.length > 0) problems.push(`${where} (${link.resource} ${link.title}): answer ${JSON.stringify(wrong.slice(0, 5))}`)
    }
  }
  return problems
}
