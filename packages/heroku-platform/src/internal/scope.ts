/**
 * The per-layer state of `HerokuTools.layer(grant)`: which apps and pipelines the grant reaches (resolved to
 * Heroku's ids), and the secrets the handlers have seen. One per layer, never module-level: two agents with
 * two grants share nothing but the client.
 *
 * @internal
 */
import { Effect } from "effect"
import * as Grant from "../Grant.js"
import type { Service as Client } from "../HerokuClient.js"
import * as HerokuError from "../HerokuError.js"
import * as Id from "../Identifiers.js"
import * as Redaction from "../Redaction.js"
import { itself, type Owner } from "./operationKit.js"

/** A refusal the handler turns into a tool failure (kept structural: `HerokuTools.ToolFailure`). */
export interface Denied {
  readonly error: string
  readonly message: string
}

/** Where a call goes: the path segment to send, and the name the audit shows. */
export interface Target {
  readonly segment: string
  readonly label: string
  /** Heroku's id, when the target was resolved with Heroku. */
  readonly id?: string
}

export interface Scope {
  /** The app or pipeline a call targets, resolved when the grant restricts them; fails when not granted. */
  readonly app: (given: string) => Effect.Effect<Target, Denied>
  readonly pipeline: (given: string) => Effect.Effect<Target, Denied>
  /**
   * Heroku's id and name for an app, asked of Heroku (`GET /apps/{app}`). For grants without an app list,
   * so the audit names the app the same way whether the model gave its name or its id. Ids are cached (an
   * id never changes hands); names are asked each time (another app may take a name after a rename).
   */
  readonly identify: (given: string) => Effect.Effect<Grant.Identity, HerokuError.HerokuError>
  /** The same for a pipeline (`GET /pipelines/{pipeline}`), for endpoints that take a pipeline's id only. */
  readonly identifyPipeline: (given: string) => Effect.Effect<Grant.Identity, HerokuError.HerokuError>
  /**
   * Resolves the allow-list's names to ids (once per name, failures ignored): an owner is often known by
   * its id alone (`app: { id }`), and `owned` can then check it.
   */
  readonly prime: (kind: "app" | "pipeline") => Effect.Effect<void>
  /**
   * Whether a result that belongs to this app or pipeline may be shown: always without an allow-list for
   * that kind; with one, only for granted ones (`prime` first).
   */
  readonly owned: (kind: "app" | "pipeline", owner: Owner | undefined) => boolean
  readonly appAllowed: (identity: Grant.Identity) => boolean
  readonly pipelineAllowed: (identity: Grant.Identity) => boolean
  readonly pinApp: (identity: Grant.Identity) => void
  readonly pinPipeline: (identity: Grant.Identity) => void
  readonly forgetApp: (identity: Grant.Identity) => void
  /** Config values seen (or fetched, once per app) for the grant's apps. */
  readonly secrets: () => Redaction.Known
  readonly learn: (vars: unknown) => void
  readonly learnApp: (pathApp: string) => Effect.Effect<void>
}

/** Heroku's id and name in a resource body (an app, a pipeline), when it has both. */
export const identityOf = (body: unknown): Grant.Identity | undefined => {
  const owner = itself(body)
  return owner?.name === undefined ? undefined : { id: owner.id, name: owner.name }
}

const denied = (kind: string, key: string): Denied => ({ error: "GrantDenied", message: `This agent's grant does not cover the ${kind} "${key}".` })

export const make = (grant: Grant.Grant, client: Client): Scope => {
  const known = new Set<string>()
  let cachedKnown: Redaction.Known = Redaction.none
  const learned = new Set<string>()
  const learn = (vars: unknown) => {
    let added = false
    for (const value of Object.values((vars ?? {}) as Record<string, unknown>)) {
      if (typeof value === "string" && !known.has(value)) {
        known.add(value)
        added = true
      }
    }
    if (added) cachedKnown = Redaction.known(known)
  }
  const lookup = (kind: "app" | "pipeline", template: string, key: string) =>
    client.request({ method: "GET", path: template.replace("{x}", encodeURIComponent(key)), template: template.replace("{x}", `{${kind}}`) })
  const registry = (allowList: ReadonlyArray<string> | undefined, kind: "app" | "pipeline", template: string) => {
    const pinned = new Set<string>()
    const cache = new Map<string, Grant.Identity>()
    const allowed = (identity: Grant.Identity) => {
      const ok = pinned.has(identity.id) || Grant.listed(allowList, identity)
      // Once granted, granted by id: a rename keeps the grant, and the new name resolves to the same app.
      if (ok && allowList !== undefined) pinned.add(identity.id)
      return ok
    }
    const remember = (identity: Grant.Identity) => {
      cache.set(identity.id, identity)
      cache.set(identity.name, identity)
    }
    const resolve = (given: string): Effect.Effect<Target, Denied> => {
      const key = Id.canonical(given)
      if (allowList === undefined) return Effect.succeed({ segment: key, label: key })
      const check = (identity: Grant.Identity) =>
        allowed(identity) ? Effect.succeed({ segment: identity.id, label: identity.name, id: identity.id }) : Effect.fail(denied(kind, key))
      const cached = cache.get(key)
      if (cached !== undefined) return check(cached)
      return lookup(kind, template, key).pipe(
        // Whatever Heroku says about an app outside the grant (even "not found"), the agent learns only "denied".
        Effect.mapError(() => denied(kind, key)),
        Effect.flatMap((response) => {
          const identity = identityOf(response.body)
          if (identity === undefined) return Effect.fail(denied(kind, key))
          remember(identity)
          return check(identity)
        })
      )
    }
    // Each allow-list entry resolved once (to its id), so owners known only by id can be checked.
    let primed = false
    const prime: Effect.Effect<void> = Effect.suspend(() =>
      primed || allowList === undefined
        ? Effect.void
        : Effect.forEach(allowList, (entry) => Effect.ignore(resolve(entry)), { discard: true }).pipe(Effect.tap(() => Effect.sync(() => (primed = true))))
    )
    const owned = (owner: Owner | undefined): boolean =>
      allowList === undefined ||
      (owner !== undefined && (pinned.has(owner.id) || allowList.includes(owner.id) || (owner.name !== undefined && allowed({ id: owner.id, name: owner.name }))))
    return {
      resolve,
      prime,
      owned,
      allowed,
      cached: (key: string) => cache.get(key),
      remember,
      pin: (identity: Grant.Identity) => {
        remember(identity)
        pinned.add(identity.id)
      },
      forget: (identity: Grant.Identity) => {
        cache.delete(identity.id)
        cache.delete(identity.name)
        for (const [key, value] of cache) if (value.id === identity.id) cache.delete(key)
      }
    }
  }
  const apps = registry(grant.apps, "app", "/apps/{x}")
  const pipelines = registry(grant.pipelines, "pipeline", "/pipelines/{x}")
  const identifier = (kind: "app" | "pipeline", registry: typeof apps, template: string) => (given: string): Effect.Effect<Grant.Identity, HerokuError.HerokuError> => {
    const key = Id.canonical(given)
    const cached = Id.isUuid(key) ? registry.cached(key) : undefined
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.flatMap(lookup(kind, template, key), (response) => {
      const identity = identityOf(response.body)
      if (identity === undefined) {
        return Effect.fail(new HerokuError.HerokuInvalidResponse({ method: "GET", path: template.replace("{x}", `{${kind}}`), reason: `the ${kind} has no id and name` }))
      }
      registry.remember(identity)
      return Effect.succeed(identity)
    })
  }
  return {
    app: apps.resolve,
    pipeline: pipelines.resolve,
    identify: identifier("app", apps, "/apps/{x}"),
    identifyPipeline: identifier("pipeline", pipelines, "/pipelines/{x}"),
    prime: (kind) => (kind === "app" ? apps : pipelines).prime,
    owned: (kind, owner) => (kind === "app" ? apps : pipelines).owned(owner),
    appAllowed: apps.allowed,
    pipelineAllowed: pipelines.allowed,
    pinApp: (identity) => {
      apps.forget(identity)
      apps.pin(identity)
    },
    pinPipeline: pipelines.pin,
    forgetApp: apps.forget,
    secrets: () => cachedKnown,
    learn,
    learnApp: (pathApp) =>
      learned.has(pathApp)
        ? Effect.void
        : client.request({ method: "GET", path: `/apps/${encodeURIComponent(pathApp)}/config-vars`, template: "/apps/{app}/config-vars" }).pipe(
            Effect.tap((response) => Effect.sync(() => (learned.add(pathApp), learn(response.body)))),
            Effect.ignore
          )
  }
}
