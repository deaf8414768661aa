/**
 * Deploying code the model gives as files, as Heroku's MCP server does (`deploy_to_heroku`): the files
 * become a gzipped tarball uploaded through `POST /sources`, then an existing app builds it, or a new app
 * is set up from it (its `app.json`: buildpacks, env, add-ons). Both always need a human's approval
 * (`deploys`); setting up an app also needs the grant's `create.apps`.
 *
 * @internal
 */
import { Schema } from "effect"
import * as Id from "../Identifiers.js"
import * as R from "../Resources.js"
import { appName, defined, type Operation, variables, write } from "./operationKit.js"
import * as SourceBundle from "./sourceBundle.js"

const APP_NAME = /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/u

const bundle = SourceBundle.files(SourceBundle.MAX_BUNDLE_FILES, SourceBundle.MAX_BUNDLE_BYTES).annotate({
  description: `The code, file by file (at most ${SourceBundle.MAX_BUNDLE_FILES} files, ${SourceBundle.MAX_BUNDLE_BYTES / 1_000_000} MB in all).`
})

export const deployOperations: ReadonlyArray<Operation> = [
  {
    ...write("builds", "POST", ["write", "deploys"]),
    tool: "heroku_builds_create_from_files",
    template: "/apps/{app}/builds",
    description:
      "Deploy code given as files to an app: they are uploaded as a source tarball and built; a successful build is released. Follow it with heroku_builds_info.",
    parameters: { ...appName, files: bundle, version: Schema.optional(Schema.String.check(Schema.isMaxLength(100))) },
    result: R.Build,
    before: (p, _, client) => SourceBundle.upload(client, p["files"]),
    body: (p) => ({ source_blob: defined({ url: p["url"], version: p["version"] }) })
  },
  {
    ...write("apps", "POST", ["write", "deploys"]),
    tool: "heroku_app_setups_create",
    template: "/app-setups",
    description:
      "Create a new app from code given as files, set up by its app.json (buildpacks, env, add-ons, scripts): uploaded as a source tarball, then built. Follow it with heroku_app_setups_info.",
    parameters: {
      name: Schema.optional(Schema.String.check(Schema.isPattern(APP_NAME))),
      team: Schema.optional(Id.TeamIdentity),
      space: Schema.optional(Id.SpaceIdentity),
      region: Schema.optional(Schema.String.annotate({ description: "e.g. us or eu (not with space)" })),
      env: Schema.optional(variables(Schema.String).annotate({ description: "Overrides of app.json's env." })),
      files: bundle.annotate({ description: "The code, file by file, with an app.json at its root." })
    },
    result: R.AppSetup,
    before: (p, _, client) => SourceBundle.upload(client, p["files"]),
    body: (p) =>
      defined({
        source_blob: { url: p["url"] },
        app: defined({ name: p["name"], organization: p["team"], space: p["space"], region: p["region"] }),
        overrides: p["env"] === undefined ? undefined : { env: p["env"] }
      })
  },
  {
    tool: "heroku_app_setups_info",
    group: "apps",
    access: "read",
    scope: "read",
    risks: ["read"],
    method: "GET",
    template: "/app-setups/{setup}",
    description: "Get an app setup by id: pending, succeeded or failed (with why), and the app and build it made.",
    parameters: { setup: Id.AppSetupId },
    result: R.AppSetup,
    owner: { kind: "app", of: (item) => ownerOfSetup(item) }
  }
]

const ownerOfSetup = (item: unknown) => {
  const app = ((item ?? {}) as { app?: { id?: unknown; name?: unknown } | null }).app
  return app !== null && app !== undefined && typeof app.id === "string"
    ? { id: app.id.toLowerCase(), ...(typeof app.name === "string" ? { name: app.name } : {}) }
    : undefined
}
