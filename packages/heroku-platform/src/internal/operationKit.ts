/**
 * The vocabulary of `Operations`: scopes, risks, capability groups, the `Operation` shape, and the small
 * builders the operation tables share.
 *
 * @internal
 */
import type { Effect } from "effect"
import { Schema } from "effect"
import type { Method, Service as Client } from "../HerokuClient.js"
import type { HerokuError } from "../HerokuError.js"
import * as Id from "../Identifiers.js"
import * as R from "../Resources.js"

/** OAuth scopes. `global` covers everything; `write` includes `read`; `*-protected` add config vars. */
export type Scope = "identity" | "read" | "write" | "read-protected" | "write-protected" | "global"

/**
 * What a call can do. `read`/`write` are the access; the others say why a human should look first:
 * `deploys` code, `changes_runtime` (restarts or changes what runs), `removes_access`, `takes_offline`,
 * `destructive` (irreversible), `costs_money`, `exposes_secrets`.
 */
export const risks = [
  "read",
  "write",
  "destructive",
  "deploys",
  "changes_runtime",
  "removes_access",
  "takes_offline",
  "costs_money",
  "exposes_secrets"
] as const
export type Risk = (typeof risks)[number]

/** Risks that always need an approval, whatever `approvalFor` says, unless the grant auto-approves the tool by name. */
export const alwaysGated: ReadonlyArray<Risk> = ["destructive", "deploys", "changes_runtime", "removes_access", "takes_offline"]

export type Group =
  | "apps"
  | "dynos"
  | "formation"
  | "config_vars"
  | "releases"
  | "builds"
  | "addons"
  | "domains"
  | "collaborators"
  | "pipelines"
  | "logs"
  | "account"
  | "teams"
  | "spaces"
  | "ai"
  | "postgres"

export const groups: ReadonlyArray<Group> = [
  "apps",
  "dynos",
  "formation",
  "config_vars",
  "releases",
  "builds",
  "addons",
  "domains",
  "collaborators",
  "pipelines",
  "logs",
  "account",
  "teams",
  "spaces",
  "ai",
  "postgres"
]

export type Params = Record<string, any>

/** The ids a handler resolved for a call (see `Operation.body`). */
export interface Ids {
  readonly app?: string | undefined
  readonly pipeline?: string | undefined
  readonly targets?: ReadonlyArray<string> | undefined
}

/** An app or pipeline a result belongs to: Heroku's id, and its name when the result carries it. */
export interface Owner {
  readonly id: string
  readonly name?: string | undefined
}

/** The owner of a resource that is the app or pipeline itself. */
export const itself = (item: unknown): Owner | undefined => {
  const record = (item ?? {}) as Record<string, unknown>
  return typeof record["id"] === "string" ? { id: record["id"].toLowerCase(), ...(typeof record["name"] === "string" ? { name: record["name"] } : {}) } : undefined
}

/** The owner named by a reference field (`app: { id, name }`, `pipeline: { id }`). */
export const ownerAt =
  (field: string) =>
  (item: unknown): Owner | undefined =>
    itself(((item ?? {}) as Record<string, unknown>)[field])

export interface Operation {
  /** The tool name the model sees. */
  readonly tool: string
  readonly group: Group
  /** What a grant must allow: `read` (Read or Full) or `write` (Full only). */
  readonly access: "read" | "write"
  readonly scope: Scope
  readonly risks: ReadonlyArray<Risk>
  /** `"always"`: every call needs a human, and no `autoApprove` entry waives it (SQL writes, killing a query). */
  readonly approval?: "always"
  readonly method: Method
  /** The main request goes to Heroku Managed Inference's public host, not the Platform API (the model catalog). */
  readonly api?: "inference"
  /** The path template as documented, e.g. `/apps/{app}/dynos`. */
  readonly template: string
  readonly description: string
  readonly parameters: Schema.Struct.Fields
  /** The result Schema; for a list, the Schema of one item. */
  readonly result: Schema.Top
  /** A paged list: the default Range field and order. */
  readonly list?: { readonly field: string; readonly order?: "asc" | "desc" }
  /**
   * The request body, from the decoded parameters and the ids the handler resolved (`app`, `pipeline`,
   * `targets`: Heroku's ids when the grant resolved them or `needsIds` asked for them, else as given).
   */
  readonly body?: (params: Params, ids: Ids) => unknown
  /** Further apps the call acts on (a promotion's targets): each is checked against the grant like `app`. */
  readonly targets?: (params: Params) => ReadonlyArray<string>
  /** Heroku wants ids, not names, for the app, pipeline and targets (in the path or the body). */
  readonly needsIds?: boolean
  /**
   * What a result (or each item of a list) belongs to, when no path parameter says it (an add-on found by
   * id, the account's add-ons, a pipeline's couplings, the apps themselves): under the grant's allow-list
   * for that kind, only what belongs to a granted app or pipeline is shown.
   */
  readonly owner?: { readonly kind: "app" | "pipeline"; readonly of: (item: unknown) => Owner | undefined }
  /** A list's own filter from its arguments (`space`): only items it keeps are listed, paged like the grant's filter. */
  readonly filter?: (params: Params) => ((item: unknown) => boolean) | undefined
  /**
   * Calls a tool makes before its main request (uploading a source, finding a team's id): what it returns
   * is added to the parameters `body` sees. They run after the grant, approval and audit intent checks,
   * under the same call.
   */
  readonly before?: (params: Params, ids: Ids, client: Client) => Effect.Effect<Params, HerokuError>
  /** Calls after the main request, given its answer (coupling a new pipeline's app, an inference request): what it returns is presented. */
  readonly after?: (body: unknown, params: Params, ids: Ids, client: Client) => Effect.Effect<unknown, HerokuError>
  /** Turns Heroku's answer into what the tool returns (default: the body). */
  readonly present?: (body: unknown, params: Params) => unknown
}

export const appName = { app: Id.AppIdentity }

const VARIABLE_NAME = /^\w+$/u

/**
 * Environment or config variables: names are letters, digits and underscores. A name that is not is rejected,
 * never dropped (a record keyed by a refined string would skip it silently).
 */
export const variables = <V extends Schema.Top>(value: V) =>
  Schema.Record(Schema.String, value).check(
    Schema.makeFilter(
      (record: object) => {
        const bad = Object.keys(record).find((key) => !VARIABLE_NAME.test(key))
        return bad === undefined ? undefined : { path: [bad], issue: "variable names must be letters, digits and underscores" }
      },
      { toJsonSchema: () => ({ propertyNames: { pattern: VARIABLE_NAME.source } }) }
    )
  )
/**
 * A dyno size as the current schema takes it: `dyno_size: { id }` for an id, `{ name }` for a name
 * (`size`, a plain name, is deprecated there; Heroku's CLI still sends it).
 */
export const dynoSizeRef = (size: string): { readonly id: string } | { readonly name: string } => (Id.isUuid(size) ? { id: size } : { name: size })

/**
 * A log-session filter as the `version=3` schema names it: a dyno (`web.1`, or a Fir dyno such as
 * `web-1234abcde-123ab`) goes in `dyno_name`, a process type (`web`, `router`) in `type`.
 */
export const logFilter = (dyno: string | undefined): { readonly dyno_name?: string; readonly type?: string } =>
  dyno === undefined ? {} : /\.\d+$|-[0-9a-f]{9,10}-[0-9a-z]{5}$/.test(dyno) ? { dyno_name: dyno } : { type: dyno }

/** A list's `space` argument: only apps in that private space (by name or id), as Heroku's CLI filters `heroku apps --space`. */
export const inSpace = {
  space: Schema.optional(Id.SpaceIdentity.annotate({ description: "Only apps in this private space (name or id)." }))
}
export const spaceFilter = (params: Params): ((item: unknown) => boolean) | undefined => {
  const wanted = params["space"]
  if (typeof wanted !== "string") return undefined
  return (item) => {
    const space = ((item ?? {}) as { space?: { id?: unknown; name?: unknown } | null }).space
    return (
      space !== null &&
      space !== undefined &&
      (space.name === wanted || (typeof space.id === "string" && space.id.toLowerCase() === wanted.toLowerCase()))
    )
  }
}

/** A list of apps: sorted by name, filtered by `space`, each app its own owner (the grant's allow-list applies). */
export const appList = (tool: string, template: string, description: string, parameters: Schema.Struct.Fields = {}): Operation => ({
  ...read("apps"),
  tool,
  template,
  description,
  parameters: { ...parameters, ...inSpace },
  result: R.App,
  list: { field: "name" },
  filter: spaceFilter,
  owner: { kind: "app", of: itself }
})

/** A pipeline's stages, as the schema names them. */
export const stages = ["test", "review", "development", "staging", "production"] as const

export const defined = (record: Params): Params => Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined))
export const done = (detail: (params: Params) => string) => (_: unknown, params: Params) => ({ ok: true as const, detail: detail(params) })

export const read = (group: Group, extra: Partial<Operation> = {}) =>
  ({ group, access: "read", scope: "read", risks: ["read"], method: "GET", ...extra }) as const
export const write = (group: Group, method: Method, risks: ReadonlyArray<Risk> = ["write"]) =>
  ({ group, access: "write", scope: "write", risks, method }) as const

