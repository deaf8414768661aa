/**
 * The approvals console: a small web page (plain HTML, CSS and JavaScript, no framework, no build step)
 * served by the server at `/console/`. It reads the same HTTP API as any client, with the bearer token the
 * operator types in (kept in the tab's `sessionStorage`, never in a cookie), so it can do exactly what the
 * token's role allows and nothing more.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

/** The console's files, with their content types. */
export const files: ReadonlyArray<{ readonly name: string; readonly contentType: string }> = [
  { name: "index.html", contentType: "text/html; charset=utf-8" },
  { name: "console.js", contentType: "text/javascript; charset=utf-8" },
  { name: "console.css", contentType: "text/css; charset=utf-8" }
]

/** Where the files are: `src/console/`, reached the same way from `src/` (the workspace) and `dist/` (the published package, which ships `src/`). */
export const directory = new URL("../src/console/", import.meta.url)

/** Reads the console's files (once, when the layer is built). */
export const read = (): ReadonlyArray<{ readonly name: string; readonly contentType: string; readonly body: string }> =>
  files.map((file) => ({ ...file, body: readFileSync(new URL(file.name, directory), "utf8") }))

/** The page's own policy: scripts, styles and requests from this origin only. */
export const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** Routes `/console/` (and `/` to it) on the current router. */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const served = read()
    const headers = { "content-security-policy": contentSecurityPolicy, "cache-control": "no-cache" }
    for (const file of served) {
      const response = HttpServerResponse.text(file.body, { contentType: file.contentType, headers })
      const path = file.name === "index.html" ? "/console/" : `/console/${file.name}`
      yield* router.add("GET", path as "/console/", response)
    }
    const redirect = HttpServerResponse.empty({ status: 302, headers: { location: "/console/" } })
    yield* router.add("GET", "/", redirect)
  })
)
