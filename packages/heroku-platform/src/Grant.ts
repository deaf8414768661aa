/**
 * What one agent may do on Heroku. Deny by default: a capability group not named is Off. Per group the
 * access is Off, Read or Full; tools outside the grant are not even offered to the model.
 *
 * @since 0.1.0
 */
import { Effect, ParseResult, Schema } from "effect"
import { type Group, groups, type Operation, type Risk } from "./Operations.js"

export type Access = "off" | "read" | "full"

export interface Grant {
  readonly access: Readonly<Partial<Record<Group, Access>>>
  /** Show config-var values in tool results. Off: keys are listed, values read `[REDACTED]`. */
  readonly secrets: boolean
  /** Calls of tools with any of these risks need an approval. */
  readonly approvalFor: ReadonlyArray<Risk>
  /** These tools need an approval too, whatever their risks (e.g. `heroku_dynos_restart_all`). */
  readonly approvalForTools?: ReadonlyArray<string>
  /** Only these apps (by name or id, as the model passes them); absent: any app the token reaches. */
  readonly apps: ReadonlyArray<string> | undefined
}

/** By default destructive, secret-exposing and costly calls need a human. */
export const defaultApprovalFor: ReadonlyArray<Risk> = ["destructive", "exposes_secrets", "costs_money"]

export const make = (options: {
  readonly access?: Readonly<Partial<Record<Group, Access>>>
  readonly secrets?: boolean
  readonly approvalFor?: ReadonlyArray<Risk>
  readonly approvalForTools?: ReadonlyArray<string>
  readonly apps?: ReadonlyArray<string>
}): Grant => ({
  access: options.access ?? {},
  secrets: options.secrets ?? false,
  approvalFor: options.approvalFor ?? defaultApprovalFor,
  ...(options.approvalForTools === undefined ? {} : { approvalForTools: options.approvalForTools }),
  apps: options.apps
})

/** Nothing at all (the default for any group not named). */
export const none: Grant = make({})

export const accessTo = (grant: Grant, group: Group): Access => grant.access[group] ?? "off"

/** Read access allows read operations; Full allows everything in the group. */
export const allows = (grant: Grant, operation: Operation): boolean => {
  const access = accessTo(grant, operation.group)
  return access === "full" || (access === "read" && operation.access === "read")
}

export const needsApproval = (grant: Grant, operation: Operation): boolean =>
  operation.risks.some((risk) => grant.approvalFor.includes(risk)) || (grant.approvalForTools?.includes(operation.tool) ?? false)

export const allowsApp = (grant: Grant, app: string | undefined): boolean =>
  grant.apps === undefined || app === undefined || grant.apps.includes(app)

/**
 * A grant as JSON (a grant file): `{ "access": { "apps": "read", ... }, "apps": [...], "secrets": false,
 * "approvalFor": ["destructive", ...], "approvalForTools": ["heroku_dynos_restart_all"] }`. Unknown
 * groups, levels or risks are rejected, never ignored.
 */
const Level = Schema.Literal("off", "read", "full")
const exact = { exact: true } as const
const AccessFields = Object.fromEntries(groups.map((group) => [group, Schema.optionalWith(Level, exact)])) as {
  readonly [G in Group]: Schema.optionalWith<typeof Level, typeof exact>
}

export const GrantFile = Schema.Struct({
  access: Schema.Struct(AccessFields),
  apps: Schema.optionalWith(Schema.Array(Schema.String), exact),
  secrets: Schema.optionalWith(Schema.Boolean, exact),
  approvalFor: Schema.optionalWith(Schema.Array(Schema.Literal("read", "write", "destructive", "costs_money", "exposes_secrets")), exact),
  approvalForTools: Schema.optionalWith(Schema.Array(Schema.String), exact)
}).annotations({ identifier: "GrantFile", parseOptions: { onExcessProperty: "error" } })

/** A grant file that is not valid JSON or does not match `GrantFile`; `reason` names the field. */
export class InvalidGrantFile extends Schema.TaggedError<InvalidGrantFile>()("InvalidGrantFile", {
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid grant file ${this.source}: ${this.reason}`
  }
}

/** Parses a grant file's text. `source` (e.g. the path) is named in errors. */
export const fromJson = (text: string, source = "grant"): Effect.Effect<Grant, InvalidGrantFile> =>
  Effect.try({ try: () => JSON.parse(text) as unknown, catch: (error) => new InvalidGrantFile({ source, reason: `not JSON (${(error as Error).message})` }) }).pipe(
    Effect.flatMap((json) =>
      Schema.decodeUnknown(GrantFile)(json, { errors: "all" }).pipe(
        Effect.mapError((error) => new InvalidGrantFile({ source, reason: ParseResult.TreeFormatter.formatErrorSync(error) }))
      )
    ),
    Effect.map((file) => make(file))
  )
