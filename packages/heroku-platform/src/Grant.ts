/**
 * What one agent may do on Heroku. Deny by default: a capability group not named is Off. Per group the
 * access is Off, Read or Full; tools outside the grant are not even offered to the model.
 *
 * @since 0.1.0
 */
import type { Group, Operation, Risk } from "./Operations.js"

export type Access = "off" | "read" | "full"

export interface Grant {
  readonly access: Readonly<Partial<Record<Group, Access>>>
  /** Show config-var values in tool results. Off: keys are listed, values read `[REDACTED]`. */
  readonly secrets: boolean
  /** Calls of tools with any of these risks need an approval. */
  readonly approvalFor: ReadonlyArray<Risk>
  /** Only these apps (by name or id, as the model passes them); absent: any app the token reaches. */
  readonly apps: ReadonlyArray<string> | undefined
}

/** By default destructive, secret-exposing and costly calls need a human. */
export const defaultApprovalFor: ReadonlyArray<Risk> = ["destructive", "exposes_secrets", "costs_money"]

export const make = (options: {
  readonly access?: Readonly<Partial<Record<Group, Access>>>
  readonly secrets?: boolean
  readonly approvalFor?: ReadonlyArray<Risk>
  readonly apps?: ReadonlyArray<string>
}): Grant => ({
  access: options.access ?? {},
  secrets: options.secrets ?? false,
  approvalFor: options.approvalFor ?? defaultApprovalFor,
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
  operation.risks.some((risk) => grant.approvalFor.includes(risk))

export const allowsApp = (grant: Grant, app: string | undefined): boolean =>
  grant.apps === undefined || app === undefined || grant.apps.includes(app)
