/**
 * Files a tool sends to Heroku: a code bundle for a build or an app setup (a gzipped tarball, uploaded to
 * the URL `POST /sources` hands out), or a few files staged for a one-off dyno's command. The model gives
 * the files in the arguments (paths and contents); nothing is read from this machine's disk.
 *
 * Paths are relative and plain (letters, digits, `.`, `_`, `-` between `/`; no `..`, no leading `/`), the
 * rule Heroku's MCP server applies to a one-off dyno's files, so no file can land outside the bundle or the
 * dyno's temporary directory, and none needs quoting in a shell. Sizes are capped.
 *
 * @internal
 */
import { Effect, Schema } from "effect"
import type { Service as Client } from "../HerokuClient.js"
import * as HerokuError from "../HerokuError.js"

const SEGMENT = /^[A-Za-z0-9._-]+$/u
/** ustar holds a path of up to 255 bytes (a 155-byte prefix and a 100-byte name). */
export const MAX_PATH = 255
/** A code bundle: at most this many files, and this many bytes of contents in all. */
export const MAX_BUNDLE_FILES = 500
export const MAX_BUNDLE_BYTES = 5_000_000
/** Files staged for a one-off dyno travel in its command line: far less room. */
export const MAX_DYNO_FILES = 20
export const MAX_DYNO_BYTES = 64_000

/** Why `path` is not a plain relative path, or `undefined` when it is. */
export const pathProblem = (path: string): string | undefined => {
  if (path.length === 0 || path.length > MAX_PATH) return `must be 1 to ${MAX_PATH} characters`
  if (path.startsWith("/")) return "must be relative (no leading /)"
  for (const segment of path.replace(/^\.\/+/u, "").split("/")) {
    if (segment === "" || segment === "." || segment === "..") return "must not contain empty, . or .. segments"
    if (!SEGMENT.test(segment)) return "segments may hold only letters, digits, '.', '_' and '-'"
  }
  return undefined
}

const plainPath = Schema.String.annotate({ description: "A relative path such as src/index.js (letters, digits, . _ - and /; no ..)." }).check(
  Schema.makeFilter((path: string) => pathProblem(path))
)

export const SourceFile = Schema.Struct({
  path: plainPath,
  content: Schema.String.annotate({ description: "The file's text (UTF-8)." }),
  executable: Schema.optional(Schema.Boolean.annotate({ description: "Mark the file executable (a bin/ script)." }))
})
export type SourceFile = typeof SourceFile.Type

const byteLength = (files: ReadonlyArray<SourceFile>): number => files.reduce((n, file) => n + new TextEncoder().encode(file.content).length, 0)

/** A list of files: no path twice, at most `maxFiles` files and `maxBytes` bytes of contents. */
export const files = (maxFiles: number, maxBytes: number) =>
  Schema.Array(SourceFile).check(
    Schema.isMinLength(1),
    Schema.isMaxLength(maxFiles),
    Schema.makeFilter((list: ReadonlyArray<SourceFile>) => {
      const seen = new Set<string>()
      for (const file of list) {
        const path = file.path.replace(/^\.\/+/u, "")
        if (seen.has(path)) return `the path ${path} is given twice`
        seen.add(path)
      }
      const bytes = byteLength(list)
      return bytes > maxBytes ? `the files hold ${bytes} bytes; at most ${maxBytes}` : undefined
    })
  )

// ---------------------------------------------------------------------------------------------------------
// A ustar archive, gzipped: what Heroku's builds and app setups take as a source blob.

const encoder = new TextEncoder()

const octal = (value: number, width: number): string => value.toString(8).padStart(width - 1, "0")

const header = (path: string, size: number, executable: boolean): Uint8Array => {
  const block = new Uint8Array(512)
  const write = (text: string, at: number) => block.set(encoder.encode(text), at)
  // Paths over 100 bytes are split at a `/` into prefix (up to 155) and name (up to 100).
  let name = path
  let prefix = ""
  if (path.length > 100) {
    const cut = path.lastIndexOf("/", 155)
    prefix = path.slice(0, cut)
    name = path.slice(cut + 1)
  }
  write(name, 0)
  write(octal(executable ? 0o755 : 0o644, 8), 100)
  write(octal(0, 8), 108)
  write(octal(0, 8), 116)
  write(octal(size, 12), 124)
  write(octal(0, 12), 136)
  write("        ", 148)
  write("0", 156)
  write("ustar\u000000", 257)
  write(prefix, 345)
  const sum = block.reduce((n, byte) => n + byte, 0)
  write(`${octal(sum, 7)}\u0000 `, 148)
  return block
}

/** The files as an uncompressed ustar archive (pure). */
export const tar = (list: ReadonlyArray<SourceFile>): Uint8Array => {
  const parts: Array<Uint8Array> = []
  for (const file of list) {
    const content = encoder.encode(file.content)
    parts.push(header(file.path.replace(/^\.\/+/u, ""), content.length, file.executable === true), content)
    if (content.length % 512 !== 0) parts.push(new Uint8Array(512 - (content.length % 512)))
  }
  parts.push(new Uint8Array(1024))
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** The files as a gzipped tarball (`CompressionStream`, so no Node-only module). */
export const tarball = (list: ReadonlyArray<SourceFile>): Effect.Effect<Uint8Array> =>
  Effect.promise(async () => {
    const stream = new Blob([tar(list) as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"))
    return new Uint8Array(await new Response(stream).arrayBuffer())
  })

/**
 * Uploads the files as a source: `POST /sources` gives a `put_url` and a `get_url`; the tarball is PUT to
 * the first (no Heroku token goes there) and the second is what a build or an app setup reads.
 */
export const upload = (client: Client, list: ReadonlyArray<SourceFile>): Effect.Effect<{ readonly url: string }, HerokuError.HerokuError> =>
  Effect.gen(function* () {
    const created = yield* client.request({ method: "POST", path: "/sources", template: "/sources" })
    const blob = ((created.body ?? {}) as { source_blob?: { get_url?: unknown; put_url?: unknown } }).source_blob
    const putUrl = blob?.put_url
    const getUrl = blob?.get_url
    if (typeof putUrl !== "string" || typeof getUrl !== "string") {
      return yield* new HerokuError.HerokuApiError({
        status: created.status,
        id: "invalid_source",
        message: "POST /sources answered without source_blob.put_url and get_url",
        method: "POST",
        path: "/sources",
        ...(created.requestId === undefined ? {} : { requestId: created.requestId })
      })
    }
    const bytes = yield* tarball(list)
    yield* client.external({ method: "PUT", url: putUrl, label: "(source upload)", body: { bytes, contentType: "" } }) // Heroku's docs PUT with an empty Content-Type
    return { url: getUrl }
  })

const shellQuote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`

/**
 * A one-off dyno's command that first writes the files into a fresh temporary directory, then runs
 * `command` there (as Heroku's MCP server stages them), and removes the directory after.
 */
export const stagedCommand = (list: ReadonlyArray<SourceFile>, command: string): string => {
  const paths = list.map((file) => file.path.replace(/^\.\/+/u, ""))
  const directories = [...new Set(paths.filter((path) => path.includes("/")).map((path) => path.slice(0, path.lastIndexOf("/"))))]
  return [
    "STAGE=$(mktemp -d)",
    'cd "$STAGE"',
    ...(directories.length === 0 ? [] : [`mkdir -p ${directories.map(shellQuote).join(" ")}`]),
    ...list.map((file, i) => `printf '%s' ${shellQuote(file.content)} > ${shellQuote(paths[i]!)}${file.executable === true ? ` && chmod +x ${shellQuote(paths[i]!)}` : ""}`),
    `{ ${command}\n}; STATUS=$?; cd / && rm -rf "$STAGE"; exit $STATUS`
  ].join(" && ")
}
