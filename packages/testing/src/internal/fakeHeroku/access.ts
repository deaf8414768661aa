/**
 * Who may call the fake, and how often: a token's OAuth scopes (which imply which), its credential as Heroku
 * takes it (Bearer or HTTP Basic), and the request pool per account that all of the account's tokens share.
 *
 * @internal
 */
import type { IncomingMessage } from "node:http"
import type { OAuthScope, Options } from "../../FakeHerokuPlatform.js"

/** Whether a token with `scopes` may call a route that needs `needed`. */
export const covers = (scopes: ReadonlyArray<OAuthScope>, needed: OAuthScope): boolean =>
  scopes.some(
    (scope) =>
      scope === "global" ||
      scope === needed ||
      (needed === "read" && (scope === "write" || scope === "read-protected" || scope === "write-protected")) ||
      (needed === "write" && scope === "write-protected") ||
      (needed === "read-protected" && scope === "write-protected")
  )

/**
 * The request pools, one per account, each refilled continuously up to its capacity: `pool(token)` is the
 * token's account's pool, refilled to now.
 */
export const ratePools = (options: Options) => {
  const policy = options.rateLimit ?? { capacity: 4500, refillPerMinute: 75 }
  const now = options.now ?? Date.now
  const pools = new Map<string, { tokens: number; at: number }>()
  return (token: string) => {
    const account = options.accounts?.[token] ?? "owner"
    const current = pools.get(account) ?? { tokens: policy.capacity, at: now() }
    const t = now()
    const refilled = Math.min(policy.capacity, current.tokens + ((t - current.at) * policy.refillPerMinute) / 60_000)
    const next = { tokens: refilled, at: t }
    pools.set(account, next)
    return next
  }
}

export const headerOf = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The token from `Bearer <token>` or from HTTP Basic `<anything>:<token>` (what heroku-client and the CLI send). */
export const credential = (authorization: string | undefined): string | undefined => {
  if (authorization === undefined) return undefined
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)
  if (bearer !== null) return bearer[1]
  const basic = /^Basic\s+([A-Za-z0-9+/]+=*)$/i.exec(authorization)
  if (basic === null) return undefined
  const decoded = Buffer.from(basic[1]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon === -1 ? undefined : decoded.slice(colon + 1) || undefined
}
