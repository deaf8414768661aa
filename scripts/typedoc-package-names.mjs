/**
 * A TypeDoc plugin: names each module of the API reference after its package (`@agentloop/core`) instead of
 * its path (`core/src`), reading packages/<dir>/package.json, so a new package needs no configuration. A
 * subpath entry point (`core/src/EffectAi`, `heroku-platform/src/Postgres`) is named as it is imported
 * (`@agentloop/core/EffectAi`, `@agentloop/heroku-platform/Postgres`).
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Converter } from "typedoc"

const packagesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "packages")

/** @param {import("typedoc").Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.children ?? []) {
      const [, dir, subpath] = /^([^/]+)\/src(?:\/(.+))?$/.exec(module.name) ?? []
      const manifest = dir === undefined ? undefined : join(packagesDir, dir, "package.json")
      if (manifest !== undefined && existsSync(manifest)) {
        const name = JSON.parse(readFileSync(manifest, "utf8")).name
        module.name = subpath === undefined ? name : `${name}/${subpath}`
      }
    }
  })
}
