/**
 * The seed reference's 37 endpoints as operations (38 tools: rollback is its own).
 *
 * @internal
 */
import { Effect, Schema } from "effect"
import * as HerokuError from "../HerokuError.js"
import * as Id from "../Identifiers.js"
import * as R from "../Resources.js"
import { appList, appName, defined, done, dynoSizeRef, itself, logFilter, type Operation, type Params, read, stages, variables, write } from "./operationKit.js"
import * as SourceBundle from "./sourceBundle.js"

export const platformOperations: ReadonlyArray<Operation> = [
  // Apps
  appList(
    "heroku_apps_list",
    "/apps",
    "List every app this account can access (its own, those it collaborates on, its teams'), sorted by name; space filters by private space."
  ),
  {
    ...read("apps"),
    tool: "heroku_apps_info",
    template: "/apps/{app}",
    description: "Get one app: region, stack, maintenance mode, web URL, when it was last released.",
    parameters: appName,
    result: R.App
  },
  {
    ...write("apps", "POST"),
    tool: "heroku_apps_create",
    template: "/apps",
    description: "Create an app. The name must be lowercase letters, digits and dashes (3-30 chars), starting with a letter.",
    parameters: {
      name: Schema.optional(Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9-]{1,28}[a-z0-9]$/u))),
      region: Schema.optional(Schema.String.annotate({ description: "e.g. us or eu" })),
      stack: Schema.optional(Schema.String.annotate({ description: "e.g. heroku-24" }))
    },
    result: R.App,
    body: (p) => defined({ name: p["name"], region: p["region"], stack: p["stack"] })
  },
  {
    ...write("apps", "PATCH", ["write", "takes_offline"]),
    tool: "heroku_apps_update",
    template: "/apps/{app}",
    description: "Rename an app, or turn maintenance mode on or off (maintenance shows a page instead of the app).",
    parameters: { ...appName, name: Schema.optional(Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9-]{1,28}[a-z0-9]$/u))), maintenance: Schema.optional(Schema.Boolean) },
    result: R.App,
    body: (p) => defined({ name: p["name"], maintenance: p["maintenance"] })
  },
  {
    ...write("apps", "DELETE", ["write", "destructive", "takes_offline"]),
    tool: "heroku_apps_delete",
    template: "/apps/{app}",
    description: "Delete an app permanently. Irreversible: it takes down everything running on it.",
    parameters: appName,
    result: R.App
  },
  // Dynos
  {
    ...read("dynos"),
    tool: "heroku_dynos_list",
    template: "/apps/{app}/dynos",
    description: "List an app's dynos with their state (up, starting, crashed, idle, down), type, size and command.",
    parameters: appName,
    result: R.Dyno,
    list: { field: "id" }
  },
  {
    ...read("dynos"),
    tool: "heroku_dynos_info",
    template: "/apps/{app}/dynos/{dyno}",
    description: "Get one dyno by name (e.g. web.1) or id: its state, command, size and release.",
    parameters: { ...appName, dyno: Id.DynoIdentity },
    result: R.Dyno
  },
  {
    ...write("dynos", "POST", ["write", "changes_runtime", "costs_money", "exposes_secrets"]),
    tool: "heroku_dynos_run",
    template: "/apps/{app}/dynos",
    description:
      "Run a one-off dyno with a command (e.g. a migration). It runs with the app's config vars, so it can reach its secrets. files are written to a fresh directory the command runs in.",
    parameters: {
      ...appName,
      command: Schema.String,
      files: Schema.optional(
        SourceBundle.files(SourceBundle.MAX_DYNO_FILES, SourceBundle.MAX_DYNO_BYTES).annotate({
          description: `Files to write before the command runs (at most ${SourceBundle.MAX_DYNO_FILES}, ${SourceBundle.MAX_DYNO_BYTES / 1000} kB in all), e.g. a script it runs.`
        })
      ),
      size: Schema.optional(Schema.String),
      time_to_live: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 86_400 }))),
      env: Schema.optional(variables(Schema.String))
    },
    result: R.Dyno,
    body: (p) => defined({ command: p["files"] === undefined ? p["command"] : SourceBundle.stagedCommand(p["files"], p["command"]), size: p["size"], time_to_live: p["time_to_live"], env: p["env"], attach: false, type: "run" })
  },
  {
    ...write("dynos", "DELETE", ["write", "changes_runtime"]),
    tool: "heroku_dynos_restart",
    template: "/apps/{app}/dynos/{dyno}",
    description: "Restart one dyno (a one-off dyno is stopped instead).",
    parameters: { ...appName, dyno: Id.DynoIdentity },
    result: R.Done,
    present: done((p) => `restarted ${p["dyno"]} on ${p["app"]}`)
  },
  {
    ...write("dynos", "DELETE", ["write", "changes_runtime", "takes_offline"]),
    tool: "heroku_dynos_restart_all",
    template: "/apps/{app}/dynos",
    description: "Restart every dyno of an app at once.",
    parameters: appName,
    result: R.Done,
    present: done((p) => `restarted all dynos of ${p["app"]}`)
  },
  // Formation
  {
    ...read("formation"),
    tool: "heroku_formation_list",
    template: "/apps/{app}/formation",
    description: "List an app's process types with how many dynos of each run and their size.",
    parameters: appName,
    result: R.Formation,
    list: { field: "id" }
  },
  {
    ...write("formation", "PATCH", ["write", "changes_runtime", "takes_offline", "costs_money"]),
    tool: "heroku_formation_update",
    template: "/apps/{app}/formation/{type}",
    description: "Scale one process type: set how many dynos run and/or their size. Changes capacity and cost.",
    parameters: {
      ...appName,
      type: Id.FormationType,
      quantity: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
      size: Schema.optional(Schema.String.annotate({ description: "A dyno size name (e.g. Standard-1X) or id." }))
    },
    result: R.Formation,
    body: (p) => defined({ quantity: p["quantity"], dyno_size: p["size"] === undefined ? undefined : dynoSizeRef(p["size"]) })
  },
  {
    ...write("formation", "PATCH", ["write", "changes_runtime", "takes_offline", "costs_money"]),
    tool: "heroku_formation_batch_update",
    template: "/apps/{app}/formation",
    description: "Scale several process types in one call.",
    parameters: {
      ...appName,
      updates: Schema.Array(
        Schema.Struct({
          type: Id.FormationType,
          quantity: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
          size: Schema.optional(Schema.String.annotate({ description: "A dyno size name (e.g. Standard-1X) or id." }))
        })
      ).check(Schema.isMinLength(1))
    },
    result: Schema.Array(R.Formation),
    body: (p) => ({
      updates: (p["updates"] as ReadonlyArray<Params>).map((u) =>
        defined({ type: u["type"], quantity: u["quantity"], dyno_size: u["size"] === undefined ? undefined : dynoSizeRef(u["size"]) })
      )
    })
  },
  // Config vars
  {
    tool: "heroku_config_vars_info",
    group: "config_vars",
    access: "read",
    scope: "read-protected",
    risks: ["read", "exposes_secrets"],
    method: "GET",
    template: "/apps/{app}/config-vars",
    description: "Read an app's config vars (environment variables). Values are hidden unless secrets are granted.",
    parameters: appName,
    result: R.ConfigVars
  },
  {
    tool: "heroku_config_vars_update",
    group: "config_vars",
    access: "write",
    scope: "write-protected",
    risks: ["write", "changes_runtime", "exposes_secrets"],
    method: "PATCH",
    template: "/apps/{app}/config-vars",
    description: "Set config vars (restarts the app). Set a value to null to remove that key.",
    parameters: {
      ...appName,
      vars: variables(Schema.NullOr(Schema.String))
    },
    result: R.ConfigVars,
    body: (p) => p["vars"]
  },
  // Releases
  {
    ...read("releases"),
    tool: "heroku_releases_list",
    template: "/apps/{app}/releases",
    description: "List an app's releases, newest first: version, status, description, and whether it is current.",
    parameters: appName,
    result: R.Release,
    list: { field: "version", order: "desc" }
  },
  {
    ...read("releases"),
    tool: "heroku_releases_info",
    template: "/apps/{app}/releases/{release}",
    description: "Get one release by version number or id: status, description and the slug it runs.",
    parameters: { ...appName, release: Id.ReleaseIdentity },
    result: R.Release
  },
  {
    ...write("releases", "POST", ["write", "deploys"]),
    tool: "heroku_releases_create",
    template: "/apps/{app}/releases",
    description: "Release a built slug, making it the live code for users.",
    parameters: { ...appName, slug: Id.SlugId, description: Schema.optional(Schema.String) },
    result: R.Release,
    body: (p) => defined({ slug: p["slug"], description: p["description"] })
  },
  {
    ...write("releases", "POST", ["write", "deploys"]),
    tool: "heroku_releases_rollback",
    template: "/apps/{app}/releases",
    description: "Roll back to an earlier release (by its id): a new release that runs that release's slug.",
    parameters: { ...appName, release: Id.ReleaseId },
    result: R.Release,
    body: (p) => ({ release: p["release"] })
  },
  // Builds
  {
    ...read("builds"),
    tool: "heroku_builds_list",
    template: "/apps/{app}/builds",
    description: "List an app's builds with their status (pending, succeeded, failed).",
    parameters: appName,
    result: R.Build,
    list: { field: "id" }
  },
  {
    ...read("builds"),
    tool: "heroku_builds_info",
    template: "/apps/{app}/builds/{build}",
    description: "Get one build by id: its status, source version and the slug and release it produced.",
    parameters: { ...appName, build: Id.BuildId },
    result: R.Build
  },
  {
    ...write("builds", "POST", ["write", "deploys"]),
    tool: "heroku_builds_create",
    template: "/apps/{app}/builds",
    description: "Build the source at a URL (a tarball) into a slug; a successful build is released.",
    parameters: {
      ...appName,
      url: Schema.String,
      version: Schema.optional(Schema.String),
      checksum: Schema.optional(Schema.String)
    },
    result: R.Build,
    body: (p) => ({ source_blob: defined({ url: p["url"], version: p["version"], checksum: p["checksum"] }) })
  },
  // Add-ons
  {
    ...read("addons"),
    tool: "heroku_addons_list",
    template: "/apps/{app}/addons",
    description: "List an app's add-ons (databases, queues, ...) with plan and state.",
    parameters: appName,
    result: R.AddOn,
    list: { field: "id" }
  },
  {
    ...read("addons"),
    tool: "heroku_addons_info",
    template: "/apps/{app}/addons/{addon}",
    description: "Get one add-on by name or id: its plan, state and the config vars it sets.",
    parameters: { ...appName, addon: Id.AddOnIdentity },
    result: R.AddOn
  },
  {
    ...write("addons", "POST", ["write", "costs_money"]),
    tool: "heroku_addons_create",
    template: "/apps/{app}/addons",
    description:
      "Provision an add-on (plan like heroku-postgresql:essential-0, or heroku-inference:<model> for an AI model). A paid plan starts billing at once.",
    parameters: {
      ...appName,
      plan: Schema.String,
      name: Schema.optional(Schema.String),
      as: Schema.optional(
        Schema.String.annotate({ description: "The attachment name, the prefix of its config vars (e.g. DATABASE_FOLLOWER)." }).check(Schema.isPattern(/^[A-Z][A-Z0-9_]{0,62}$/u))
      ),
      config: Schema.optional(Schema.Record(Schema.String, Schema.String))
    },
    result: R.AddOn,
    body: (p) => defined({ plan: p["plan"], name: p["name"], attachment: p["as"] === undefined ? undefined : { name: p["as"] }, config: p["config"] })
  },
  {
    ...write("addons", "DELETE", ["write", "destructive"]),
    tool: "heroku_addons_delete",
    template: "/apps/{app}/addons/{addon}",
    description: "Remove an add-on. Irreversible: destroys its data (e.g. a database).",
    parameters: { ...appName, addon: Id.AddOnIdentity },
    result: R.AddOn
  },
  // Domains
  {
    ...read("domains"),
    tool: "heroku_domains_list",
    template: "/apps/{app}/domains",
    description: "List the domains that serve an app, with the DNS target (cname) for each.",
    parameters: appName,
    result: R.Domain,
    list: { field: "id" }
  },
  {
    ...write("domains", "POST"),
    tool: "heroku_domains_create",
    template: "/apps/{app}/domains",
    description: "Add a custom domain to an app; point its DNS at the returned cname.",
    parameters: { ...appName, hostname: Schema.String, sni_endpoint: Schema.optional(Schema.NullOr(Schema.String)) },
    result: R.Domain,
    body: (p) => ({ hostname: p["hostname"], sni_endpoint: p["sni_endpoint"] ?? null })
  },
  {
    ...write("domains", "DELETE", ["write", "destructive", "takes_offline"]),
    tool: "heroku_domains_delete",
    template: "/apps/{app}/domains/{domain}",
    description: "Remove a domain: the app stops serving that hostname.",
    parameters: { ...appName, domain: Id.DomainIdentity },
    result: R.Domain
  },
  // Collaborators
  {
    ...read("collaborators"),
    tool: "heroku_collaborators_list",
    template: "/apps/{app}/collaborators",
    description: "List the people who can access an app.",
    parameters: appName,
    result: R.Collaborator,
    list: { field: "id" }
  },
  {
    ...write("collaborators", "POST", ["write", "exposes_secrets"]),
    tool: "heroku_collaborators_create",
    template: "/apps/{app}/collaborators",
    description: "Give a person (by email) access to an app, including its config vars.",
    parameters: { ...appName, user: Schema.String, silent: Schema.optional(Schema.Boolean) },
    result: R.Collaborator,
    body: (p) => defined({ user: p["user"], silent: p["silent"] })
  },
  {
    ...write("collaborators", "DELETE", ["write", "removes_access"]),
    tool: "heroku_collaborators_delete",
    template: "/apps/{app}/collaborators/{collaborator}",
    description: "Revoke a person's access to an app.",
    parameters: { ...appName, collaborator: Id.CollaboratorIdentity },
    result: R.Collaborator
  },
  // Pipelines
  {
    ...read("pipelines"),
    tool: "heroku_pipelines_list",
    template: "/pipelines",
    description: "List pipelines (groups of apps for staging and production).",
    parameters: {},
    result: R.Pipeline,
    list: { field: "id" },
    owner: { kind: "pipeline", of: itself }
  },
  {
    ...read("pipelines"),
    tool: "heroku_pipelines_info",
    template: "/pipelines/{pipeline}",
    description: "Get one pipeline by name or id, with its owner.",
    parameters: { pipeline: Id.PipelineIdentity },
    result: R.Pipeline
  },
  {
    ...write("pipelines", "POST"),
    tool: "heroku_pipelines_create",
    template: "/pipelines",
    description:
      "Create a pipeline (owned by a team when team is given), and with app, put that app in it at stage (default production). Name: lowercase letters, digits and dashes, 3-30 chars.",
    parameters: {
      name: Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9-]{2,29}$/u)),
      team: Schema.optional(Id.TeamIdentity.annotate({ description: "The team that owns the pipeline (name or id); default the account." })),
      app: Schema.optional(Id.AppIdentity.annotate({ description: "An app to add to the new pipeline." })),
      stage: Schema.optional(Schema.Literals(stages).annotate({ description: "The app's stage (with app); default production." }))
    },
    result: R.Pipeline,
    needsIds: true,
    // The schema takes the owner by id only: a team given by name is looked up first.
    before: (p, _, client) =>
      p["team"] === undefined
        ? Effect.succeed({})
        : Id.isUuid(p["team"])
          ? Effect.succeed({ teamId: p["team"] })
          : Effect.flatMap(client.request({ method: "GET", path: `/teams/${encodeURIComponent(p["team"])}`, template: "/teams/{team}" }), (team) =>
              typeof (team.body as { id?: unknown })?.id === "string"
                ? Effect.succeed({ teamId: (team.body as { id: string }).id })
                : Effect.fail(
                    new HerokuError.HerokuApiError({ status: team.status, id: "invalid_team", message: "the team has no id", method: "GET", path: "/teams/{team}" })
                  )
            ),
    body: (p) => defined({ name: p["name"], owner: p["teamId"] === undefined ? undefined : { id: p["teamId"], type: "team" } }),
    // As Heroku's CLI does it: the pipeline first, then the app's coupling; the answer carries both.
    after: (pipeline, p, ids, client) =>
      ids.app === undefined
        ? Effect.succeed(pipeline)
        : Effect.map(
            client.request({
              method: "POST",
              path: "/pipeline-couplings",
              template: "/pipeline-couplings",
              body: { app: ids.app, pipeline: (pipeline as { id: string }).id, stage: p["stage"] ?? "production" }
            }),
            (coupling) => ({ ...(pipeline as object), coupling: coupling.body })
          )
  },
  // Logs
  {
    tool: "heroku_logs_read",
    group: "logs",
    access: "read",
    scope: "write",
    risks: ["read"],
    method: "POST",
    template: "/apps/{app}/log-sessions",
    description: "Read an app's recent log lines (router, dynos, Heroku platform). Filter by dyno or source.",
    parameters: {
      ...appName,
      lines: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1500 }))),
      dyno: Schema.optional(Schema.String.annotate({ description: "A dyno (web.1) or process type (web, router)." })),
      source: Schema.optional(Schema.String.annotate({ description: "app or heroku" }))
    },
    result: R.LogLines,
    body: (p) => defined({ lines: p["lines"] ?? 100, ...logFilter(p["dyno"]), source: p["source"], tail: false })
  },
  // Account & limits
  {
    tool: "heroku_account_info",
    group: "account",
    access: "read",
    scope: "identity",
    risks: ["read"],
    method: "GET",
    template: "/account",
    description: "Get the authenticated account: email, name, two-factor status.",
    parameters: {},
    result: R.Account
  },
  {
    tool: "heroku_rate_limits_info",
    group: "account",
    access: "read",
    scope: "identity",
    risks: ["read"],
    method: "GET",
    template: "/account/rate-limits",
    description: "How many API requests remain in the account's pool (this call itself is free).",
    parameters: {},
    result: R.RateLimit
  }
]

