/**
 * What one agent may do on Heroku. Deny by default: a capability group not named is Off. Per group the
 * access is Off, Read or Full; tools outside the grant are not even offered to the model.
 *
 * A grant is plain data; the handlers built from it (`HerokuTools.layer`) keep their own state (resolved app
 * ids, known secrets) in their own closure, so two agents with two grants never share it.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as Id from "./Identifiers.js"
import { alwaysGated, type Group, groups, type Operation, type Risk, risks } from "./Operations.js"

export type Access = "off" | "read" | "full"

export interface Grant {
  /** Who acts under this grant: written into every audit entry. */
  readonly agent: string
  readonly access: Readonly<Partial<Record<Group, Access>>>
  /** Show config-var values in tool results. Off: keys are listed, values read `[REDACTED]`. */
  readonly secrets: boolean
  /** Calls of tools with any of these risks need an approval (on top of `Operations.alwaysGated`). */
  readonly approvalFor: ReadonlyArray<Risk>
  /** Tools (by name) that run without a human even though their risks would gate them. Explicit, per tool. */
  readonly autoApprove: ReadonlyArray<string>
  /** Only these apps, by name or id (either resolves to the same app); absent: any app the token reaches. */
  /** These tools need an approval too, whatever their risks (e.g. `heroku_dynos_restart_all`). */
  readonly approvalForTools: ReadonlyArray<string>
  readonly apps: ReadonlyArray<string> | undefined
  /** Only these pipelines, by name or id; absent: any pipeline the token reaches. */
  readonly pipelines: ReadonlyArray<string> | undefined
  /** Whether the agent may create apps / pipelines (off by default, even with Full access to the group). */
  readonly create: { readonly apps: boolean; readonly pipelines: boolean }
}

/** By default every write, every cost and every secret needs a human (and `alwaysGated` risks always do). */
export const defaultApprovalFor: ReadonlyArray<Risk> = ["write", "costs_money", "exposes_secrets"]

export const make = (options: {
  readonly agent?: string
  readonly access?: Readonly<Partial<Record<Group, Access>>>
  readonly secrets?: boolean
  readonly approvalFor?: ReadonlyArray<Risk>
  readonly autoApprove?: ReadonlyArray<string>
  readonly approvalForTools?: ReadonlyArray<string>
  readonly apps?: ReadonlyArray<string>
  readonly pipelines?: ReadonlyArray<string>
  readonly create?: { readonly apps?: boolean; readonly pipelines?: boolean }
}): Grant => ({
  agent: options.agent ?? "agent",
  access: options.access ?? {},
  secrets: options.secrets ?? false,
  approvalFor: options.approvalFor ?? defaultApprovalFor,
  autoApprove: options.autoApprove ?? [],
  approvalForTools: options.approvalForTools ?? [],
  apps: options.apps?.map(Id.canonical),
  pipelines: options.pipelines?.map(Id.canonical),
  create: { apps: options.create?.apps ?? false, pipelines: options.create?.pipelines ?? false }
})

/** Nothing at all (the default for any group not named). */
export const none: Grant = make({})

export const accessTo = (grant: Grant, group: Group): Access => grant.access[group] ?? "off"

const creates: Readonly<Record<string, keyof Grant["create"]>> = {
  heroku_apps_create: "apps",
  heroku_team_apps_create: "apps",
  heroku_app_setups_create: "apps",
  heroku_pipelines_create: "pipelines"
}

/** Read access allows read operations; Full allows everything in the group (creation also needs `create`). */
export const allows = (grant: Grant, operation: Operation): boolean => {
  const access = accessTo(grant, operation.group)
  const creation = creates[operation.tool]
  if (creation !== undefined && !grant.create[creation]) return false
  return access === "full" || (access === "read" && operation.access === "read")
}

/** Whether the grant names this tool in `autoApprove` (never for an operation whose `approval` is `"always"`). */
export const autoApproves = (grant: Grant, operation: Operation): boolean => operation.approval !== "always" && grant.autoApprove.includes(operation.tool)

/**
 * Needs a human: an operation whose `approval` is `"always"`; else an always-gated risk, one in `approvalFor`,
 * or a tool in `approvalForTools`, unless auto-approved by name.
 */
export const needsApproval = (grant: Grant, operation: Operation): boolean =>
  operation.approval === "always" ||
  (!autoApproves(grant, operation) &&
    (grant.approvalForTools.includes(operation.tool) ||
      operation.risks.some((risk) => alwaysGated.includes(risk) || grant.approvalFor.includes(risk))))

/** A resolved app or pipeline: both of Heroku's identities for it. */
export interface Identity {
  readonly id: string
  readonly name: string
}

/** Whether an allow-list (names or ids) names this resolved identity; absent: everything is allowed. */
export const listed = (allowList: ReadonlyArray<string> | undefined, identity: Identity): boolean =>
  allowList === undefined || allowList.includes(identity.id.toLowerCase()) || allowList.includes(identity.name)

/**
 * A grant as JSON (a grant file): `{ "agent": "ops", "access": { "apps": "read", ... }, "apps": [...],
 * "pipelines": [...], "create": { "apps": false }, "secrets": false, "approvalFor": ["write", ...],
 * "approvalForTools": ["heroku_dynos_restart_all"], "autoApprove": [...] }`. Unknown groups, levels,
 * risks or fields are rejected, never ignored.
 */
const Level = Schema.Literals(["off", "read", "full"])
const AccessFields = Object.fromEntries(groups.map((group) => [group, Schema.optionalKey(Level)])) as {
  readonly [G in Group]: Schema.optionalKey<typeof Level>
}

/**
 * The grant file's shape. Unknown fields are rejected when decoded with `{ onExcessProperty: "error" }`, as
 * `fromJson` does (Effect 4 has no per-schema parse options).
 */
export const GrantFile = Schema.Struct({
  agent: Schema.optionalKey(Schema.String),
  access: Schema.Struct(AccessFields),
  apps: Schema.optionalKey(Schema.Array(Schema.String)),
  pipelines: Schema.optionalKey(Schema.Array(Schema.String)),
  create: Schema.optionalKey(Schema.Struct({ apps: Schema.optionalKey(Schema.Boolean), pipelines: Schema.optionalKey(Schema.Boolean) })),
  secrets: Schema.optionalKey(Schema.Boolean),
  approvalFor: Schema.optionalKey(Schema.Array(Schema.Literals(risks))),
  approvalForTools: Schema.optionalKey(Schema.Array(Schema.String)),
  autoApprove: Schema.optionalKey(Schema.Array(Schema.String))
}).annotate({ identifier: "GrantFile" })

/** A grant file that is not valid JSON or does not match `GrantFile`; `reason` names the field. */
export class InvalidGrantFile extends Schema.TaggedError<InvalidGrantFile>()("InvalidGrantFile", {
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid grant file ${this.source}: ${this.reason}`
  }
}

const decodeGrantFile = Schema.decodeUnknownEffect(GrantFile, { errors: "all", onExcessProperty: "error" })

/** Parses a grant file's text. `source` (e.g. the path) is named in errors. */
export const fromJson = (text: string, source = "grant"): Effect.Effect<Grant, InvalidGrantFile> =>
  Effect.try({ try: () => JSON.parse(text) as unknown, catch: (error) => new InvalidGrantFile({ source, reason: `not JSON (${(error as Error).message})` }) }).pipe(
    Effect.flatMap((json) => decodeGrantFile(json).pipe(Effect.mapError((error) => new InvalidGrantFile({ source, reason: error.message })))),
    Effect.map((file) => make(file))
  )
