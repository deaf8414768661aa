/**
 * The fake's source uploads, app setups, the account's own apps and Managed Inference add-ons:
 *
 * - `POST /sources` hands out an upload URL on the fake (`/source-blobs/<id>`), which takes a `PUT` of the
 *   tarball and refuses one that carries an `Authorization` header (the Heroku token must never go to the
 *   upload host); `files(url)` unpacks what was uploaded, for tests.
 * - `POST /app-setups` needs an uploaded tarball with an `app.json` (as Heroku does), creates the app (in a
 *   team or space if asked) with the manifest's `env` and the `overrides.env`, builds and releases it.
 * - `GET /users/~/apps`: the account's own apps (team apps are not listed).
 * - An add-on of `heroku-inference` sets `<NAME>_URL`, `<NAME>_KEY` and `<NAME>_MODEL_ID` (default name
 *   `INFERENCE`), pointing at the inference fake given in `Options.inference`.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { gunzipSync } from "node:zlib"
import { invalid, type Json, notFound, type Route } from "./http.js"
import type { Model } from "./model.js"

export interface SourceFile {
  readonly path: string
  readonly content: string
  readonly mode: number
}

/** The files of a ustar archive (regular files only). */
export const untar = (archive: Uint8Array): ReadonlyArray<SourceFile> => {
  const text = (from: number, length: number) => Buffer.from(archive.subarray(from, from + length)).toString("utf8").replace(/\0.*$/s, "")
  const files: Array<SourceFile> = []
  for (let at = 0; at + 512 <= archive.length; ) {
    const name = text(at, 100)
    if (name === "") break
    const size = parseInt(text(at + 124, 12).trim(), 8)
    const prefix = text(at + 345, 155)
    const type = text(at + 156, 1)
    if (type === "0" || type === "") {
      files.push({ path: prefix === "" ? name : `${prefix}/${name}`, content: Buffer.from(archive.subarray(at + 512, at + 512 + size)).toString("utf8"), mode: parseInt(text(at + 100, 8).trim(), 8) })
    }
    at += 512 + Math.ceil(size / 512) * 512
  }
  return files
}

export interface SourceStore {
  /** Serves `PUT`/`GET /source-blobs/<id>`; false when the path is not one. */
  readonly serve: (req: IncomingMessage, res: ServerResponse, path: string, bytes: Buffer) => boolean
  /** The files uploaded to a source's URL, or undefined when nothing (or no gzipped tarball) was uploaded. */
  readonly files: (url: string) => ReadonlyArray<SourceFile> | undefined
}

export const sourceStore = (baseUrl: () => string): SourceStore & { readonly create: () => Json } => {
  const blobs = new Map<string, Uint8Array | undefined>()
  const idOf = (url: string) => /\/source-blobs\/([^/?]+)/.exec(url)?.[1]
  const files = (url: string) => {
    const id = idOf(url)
    const bytes = id === undefined ? undefined : blobs.get(id)
    if (bytes === undefined) return undefined
    try {
      return untar(gunzipSync(bytes))
    } catch {
      return undefined
    }
  }
  return {
    create: () => {
      const id = randomUUID()
      blobs.set(id, undefined)
      // Presigned-looking: the signature is a credential of its own, like S3's.
      const url = `${baseUrl()}/source-blobs/${id}?signature=${randomUUID()}`
      return { source_blob: { get_url: url, put_url: url } }
    },
    serve: (req, res, path, bytes) => {
      const match = /^\/source-blobs\/([^/]+)$/.exec(path)
      if (match === null) return false
      const id = match[1]!
      if (!blobs.has(id)) res.writeHead(404).end("NoSuchUpload")
      else if (req.method === "PUT" && req.headers["authorization"] !== undefined) res.writeHead(400).end("Only one auth mechanism allowed")
      else if (req.method === "PUT") {
        blobs.set(id, new Uint8Array(bytes))
        res.writeHead(200).end()
      } else if (req.method === "GET" && blobs.get(id) !== undefined) res.writeHead(200, { "Content-Type": "application/octet-stream" }).end(blobs.get(id))
      else res.writeHead(404).end("NoSuchKey")
      return true
    },
    files
  }
}

export interface InferenceOptions {
  /** The inference fake's base URL (`FakeHerokuInference`). */
  readonly url: string
  readonly key: string
}

/** The config vars a `heroku-inference:<model>` add-on attached as `name` sets (`undefined` for other services). */
export const inferenceVars = (plan: string, name: string | undefined, inference: InferenceOptions | undefined): Record<string, string> | undefined => {
  const [service, model] = plan.split(":")
  if (service !== "heroku-inference" || model === undefined) return undefined
  const prefix = name ?? "INFERENCE"
  return {
    [`${prefix}_URL`]: inference?.url ?? "https://us.inference.heroku.com",
    [`${prefix}_KEY`]: inference?.key ?? `inf-${randomUUID()}`,
    [`${prefix}_MODEL_ID`]: model
  }
}

export const sourceRoutes = (model: Model, sources: ReturnType<typeof sourceStore>): ReadonlyArray<Route> => {
  const { addApp, build, findIn, need, stamp, state } = model
  const setups = new Map<string, Json>()
  return [
    { method: "POST", pattern: /^\/sources$/, scope: "write", handle: () => ({ status: 201, body: sources.create() }) },
    { method: "GET", pattern: /^\/teams\/([^/]+)$/, scope: "read", handle: ([team]) => ({ body: findIn(state.teams, team!, "team") }) },
    {
      method: "GET",
      pattern: /^\/users\/~\/apps$/,
      scope: "read",
      ranges: ["id", "name", "updated_at"],
      handle: () => ({ body: [...state.apps.values()].filter((app) => app["team"] === null) })
    },
    {
      method: "POST",
      pattern: /^\/app-setups$/,
      scope: "write",
      handle: (_, body) => {
        const blob = need(body, "source_blob")
        if (typeof blob["url"] !== "string") throw invalid("Missing required param: source_blob.url.")
        const files = sources.files(blob["url"])
        const wanted = (body["app"] ?? {}) as Json
        const id = randomUUID()
        const manifest = files?.find((file) => file.path === "app.json")
        const failed = (message: string) => {
          const setup = { id, status: "failed", app: null, build: null, failure_message: message, manifest_errors: [], postdeploy: null, resolved_success_url: null, created_at: stamp(), updated_at: stamp() }
          setups.set(id, setup)
          return { status: 202, body: setup }
        }
        if (files === undefined) return failed("could not download the source blob")
        if (manifest === undefined) return failed("app.json not found in the source blob")
        let env: Json = {}
        try {
          env = (JSON.parse(manifest.content) as Json)["env"] ?? {}
        } catch {
          return failed("app.json is not valid JSON")
        }
        const app = addApp(wanted["name"] ?? `app-${randomUUID().slice(0, 8)}`, {
          ...(typeof wanted["organization"] === "string" ? { team: wanted["organization"] } : {}),
          ...(typeof wanted["space"] === "string" ? { space: wanted["space"] } : {}),
          ...(typeof wanted["region"] === "string" ? { region: wanted["region"] } : {})
        })
        const vars = state.configVars.get(app["id"])!
        for (const [key, value] of Object.entries(env)) vars[key] = typeof value === "object" && value !== null ? String(value["value"] ?? "") : String(value)
        for (const [key, value] of Object.entries((body["overrides"]?.["env"] ?? {}) as Json)) vars[key] = String(value)
        const built = build(app, { url: blob["url"] })
        const setup = {
          id,
          status: "succeeded",
          app: { id: app["id"], name: app["name"] },
          build: { id: built["id"], status: built["status"], output_stream_url: built["output_stream_url"] },
          failure_message: null,
          manifest_errors: [],
          postdeploy: null,
          resolved_success_url: null,
          created_at: stamp(),
          updated_at: stamp()
        }
        setups.set(id, setup)
        return { status: 202, body: setup }
      }
    },
    {
      method: "GET",
      pattern: /^\/app-setups\/([^/]+)$/,
      scope: "read",
      handle: ([id]) => {
        const setup = setups.get(decodeURIComponent(id!))
        if (setup === undefined) throw notFound("app setup")
        return { body: setup }
      }
    }
  ]
}
