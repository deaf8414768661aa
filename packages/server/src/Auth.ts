/**
 * Who is calling, and what they may do. Authentication is a pluggable service (`Authenticator`): the server
 * hands it the request's bearer credential and gets back an `Identity` (a subject and a role) or a refusal.
 * `layerBearerTokens` is the default: a fixed table of tokens. A JWT or OIDC verifier is another Layer of the
 * same service.
 *
 * Roles are ordered: a `viewer` reads runs, events and audit trails; an `approver` also decides pending
 * approvals; an `admin` also starts and interrupts runs. The approver recorded on a decision is always the
 * identity's `subject`, never anything the request body says.
 *
 * @since 0.1.0
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"

export const Role = Schema.Literals(["viewer", "approver", "admin"])
export type Role = typeof Role.Type

export class Identity extends Schema.Class<Identity>("Identity")({
  /** Who: recorded as `decidedBy` on every decision this identity makes. */
  subject: Schema.String,
  role: Role
}) {}

/** What a request may do; each endpoint needs one. */
export type Permission = "read" | "decide" | "operate"

const rank: Record<Role, number> = { viewer: 0, approver: 1, admin: 2 }
const needed: Record<Permission, Role> = { read: "viewer", decide: "approver", operate: "admin" }

/** Whether `role` has `permission` (pure). */
export const allows = (role: Role, permission: Permission): boolean => rank[role] >= rank[needed[permission]]

/** The least role that has `permission`. */
export const roleFor = (permission: Permission): Role => needed[permission]

export interface Service {
  /** The identity behind a bearer credential, or `None` when it is unknown (the request is refused with 401). */
  readonly authenticate: (credential: Redacted.Redacted<string>) => Effect.Effect<Option.Option<Identity>>
}

export class Authenticator extends Context.Service<Authenticator, Service>()("@agentloop/server/Authenticator") {}

/** One bearer token of `layerBearerTokens`. */
export interface Token {
  readonly token: Redacted.Redacted<string> | string
  readonly subject: string
  readonly role: Role
}

const digest = (value: string): Buffer => createHash("sha256").update(value).digest()

/** Tokens shorter than this are refused when the layer is built: they could be guessed. */
export const MIN_TOKEN_LENGTH = 16

/**
 * A fixed table of bearer tokens. Tokens are compared as SHA-256 digests in constant time, so the time a
 * refusal takes says nothing about how close a guess was. Fails when the layer is built if a token is shorter
 * than `MIN_TOKEN_LENGTH` characters or appears twice.
 */
export const layerBearerTokens = (tokens: ReadonlyArray<Token>): Layer.Layer<Authenticator> =>
  Layer.sync(Authenticator, () => {
    const table = tokens.map((entry) => {
      const value = typeof entry.token === "string" ? entry.token : Redacted.value(entry.token)
      if (value.length < MIN_TOKEN_LENGTH) {
        throw new TypeError(`Auth.layerBearerTokens: the token of "${entry.subject}" is shorter than ${MIN_TOKEN_LENGTH} characters`)
      }
      return { digest: digest(value), identity: new Identity({ subject: entry.subject, role: entry.role }) }
    })
    const seen = new Set(table.map((entry) => entry.digest.toString("hex")))
    if (seen.size !== table.length) throw new TypeError("Auth.layerBearerTokens: two entries have the same token")
    return {
      authenticate: (credential) =>
        Effect.sync(() => {
          const given = digest(Redacted.value(credential))
          // Every entry is compared, so the time taken does not depend on which entry matched.
          let found: Identity | undefined
          for (const entry of table) if (timingSafeEqual(given, entry.digest)) found = entry.identity
          return Option.fromUndefinedOr(found)
        })
    }
  })
