/**
 * Log sessions: `POST /apps/:app/log-sessions` hands out a `logplex_url` on the fake that serves the app's log
 * lines (filtered by dyno or type and source, the last `lines` of them), as Heroku's Logplex does.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import type { ServerResponse } from "node:http"
import { invalid, type Route } from "./http.js"
import type { Model } from "./model.js"

const A = "/apps/([^/]+)"

export const logSessions = ({ findApp, stamp, state }: Model, baseUrl: () => string) => {
  const sessions = new Map<string, { appId: string; lines: number; dyno?: string; source?: string }>()
  const route: Route = {
    method: "POST",
    pattern: new RegExp(`^${A}/log-sessions$`),
    scope: "write",
    handle: ([a], body) => {
      const app = findApp(a!)
      const id = randomUUID()
      // version=3 names the filters dyno_name and type; 3.sdk (and Heroku's CLI) sends dyno: all are taken.
      for (const key of Object.keys(body)) if (!["dyno_name", "type", "dyno", "lines", "source", "tail"].includes(key)) throw invalid(`Unknown log-session property ${key}.`)
      sessions.set(id, { appId: app["id"], lines: body["lines"] ?? 100, dyno: body["dyno_name"] ?? body["type"] ?? body["dyno"], source: body["source"] })
      return { status: 201, body: { id, logplex_url: `${baseUrl()}/logplex/${id}?srv=${randomUUID()}`, created_at: stamp(), updated_at: stamp() } }
    }
  }
  /**
   * Answers a GET of a log session's URL (which carries its own credential: no Authorization header, no pool):
   * its status, or undefined when the request is not for one.
   */
  const serve = (res: ServerResponse, method: string, url: URL): number | undefined => {
    const logplex = /^\/logplex\/([^/]+)$/.exec(url.pathname)
    if (logplex === null || method !== "GET") return undefined
    const session = sessions.get(logplex[1]!)
    if (session === undefined || !url.searchParams.has("srv")) {
      res.writeHead(404).end("not found")
      return 404
    }
    const lines = (state.logs.get(session.appId) ?? [])
      .filter((l) => (session.dyno === undefined || l.includes(`[${session.dyno}`)) && (session.source === undefined || l.includes(` ${session.source}[`)))
      .slice(-session.lines)
    res.writeHead(200, { "Content-Type": "text/plain" }).end(lines.map((l) => `${l}\n`).join(""))
    return 200
  }
  return { route, serve }
}
