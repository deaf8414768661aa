/**
 * DNS-rebinding protection for Streamable HTTP, as the MCP specification requires: a request whose `Host`
 * is not one of the names this server is reached by, or whose `Origin` (sent by browsers) is not allowed, is
 * refused with 403 before anything else is looked at. A web page on `evil.example` whose name was made to
 * resolve to 127.0.0.1 then cannot talk to a local server: its requests carry `Host: evil.example`.
 *
 * Pure: parsing and matching only, tested without I/O (`McpOriginGuard.test.ts`).
 *
 * @since 0.1.0
 */
import { Result } from "effect"

/** A host name (lowercase; IPv6 in brackets), with the port it must use, if one is given. */
export interface HostRule {
  readonly hostname: string
  readonly port: string | undefined
}

export interface Guard {
  readonly allowedHosts: ReadonlyArray<HostRule>
  /** Exact origins (`scheme://host[:port]`), or undefined: an origin is allowed when its host is. */
  readonly allowedOrigins: ReadonlySet<string> | undefined
}

/** The names a loopback-bound server is reached by. */
export const LOOPBACK_HOSTS: ReadonlyArray<string> = ["localhost", "127.0.0.1", "[::1]"]

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/i

/** Parses `name`, `name:port`, `[v6]` or `[v6]:port`; undefined if it is none of these. */
export const parseHost = (text: string): HostRule | undefined => {
  const match = HOST.exec(text.trim())
  if (match === null) return undefined
  return { hostname: match[1]!.toLowerCase(), port: match[2] }
}

/** Whether a bind address only accepts connections from this machine. */
export const isLoopback = (bind: string): boolean => {
  const host = bind.toLowerCase().replace(/^\[|\]$/g, "")
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

const isWildcard = (bind: string): boolean => ["0.0.0.0", "::", "[::]", ""].includes(bind.trim())

/** Which option was wrong, and why. */
export interface Invalid {
  readonly option: "allowedHosts" | "allowedOrigins"
  readonly reason: string
}

/**
 * The guard for a server bound to `bind`. Default hosts: `localhost`, `127.0.0.1` and `[::1]` (any port)
 * when bound to loopback; the bind address itself otherwise; a wildcard bind (`0.0.0.0`, `::`) must name its
 * hosts. Default origins: those whose host is allowed.
 */
export const make = (options: {
  readonly bind: string
  readonly allowedHosts?: ReadonlyArray<string> | undefined
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
}): Result.Result<Guard, Invalid> => {
  let hostTexts = options.allowedHosts
  if (hostTexts === undefined) {
    if (isWildcard(options.bind)) {
      return Result.fail({
        option: "allowedHosts",
        reason: `serving on every interface (${options.bind || "''"}) needs allowedHosts: the host names clients reach this server by`
      })
    }
    const bind = options.bind.includes(":") && !options.bind.startsWith("[") ? `[${options.bind}]` : options.bind
    hostTexts = isLoopback(options.bind) ? [...new Set([...LOOPBACK_HOSTS, bind])] : [bind]
  }
  if (hostTexts.length === 0) return Result.fail({ option: "allowedHosts", reason: "must name at least one host" })
  const allowedHosts: Array<HostRule> = []
  for (const text of hostTexts) {
    const rule = parseHost(text)
    if (rule === undefined) return Result.fail({ option: "allowedHosts", reason: `${JSON.stringify(text)} is not a host name or host:port` })
    allowedHosts.push(rule)
  }
  if (options.allowedOrigins === undefined) return Result.succeed({ allowedHosts, allowedOrigins: undefined })
  const origins = new Set<string>()
  for (const text of options.allowedOrigins) {
    const origin = originOf(text)
    if (origin === undefined) {
      return Result.fail({ option: "allowedOrigins", reason: `${JSON.stringify(text)} is not an http(s) origin like https://app.example.com` })
    }
    origins.add(origin.origin)
  }
  return Result.succeed({ allowedHosts, allowedOrigins: origins })
}

const originOf = (text: string): URL | undefined => {
  try {
    const url = new URL(text)
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined
  } catch {
    return undefined
  }
}

const hostAllowed = (guard: Guard, rule: HostRule): boolean =>
  guard.allowedHosts.some((allowed) => allowed.hostname === rule.hostname && (allowed.port === undefined || allowed.port === rule.port))

/**
 * Why a request is refused, or undefined when it may go on. `host` is the `Host` header (required by
 * HTTP/1.1); `origin` the `Origin` header, absent for non-browser clients.
 */
export const check = (guard: Guard, host: string | undefined, origin: string | undefined): string | undefined => {
  const rule = host === undefined ? undefined : parseHost(host)
  if (rule === undefined || !hostAllowed(guard, rule)) return `Forbidden: the Host header ${JSON.stringify(host ?? "")} is not allowed`
  if (origin === undefined) return undefined
  const url = originOf(origin)
  const allowed =
    url !== undefined &&
    (guard.allowedOrigins === undefined
      ? hostAllowed(guard, { hostname: url.hostname.toLowerCase(), port: url.port === "" ? undefined : url.port })
      : guard.allowedOrigins.has(url.origin))
  return allowed ? undefined : `Forbidden: the Origin ${JSON.stringify(origin)} is not allowed`
}
