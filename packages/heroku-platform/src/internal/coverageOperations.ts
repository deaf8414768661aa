/**
 * The operations that cover what Heroku's own MCP server (`@heroku/mcp-server` 1.2.8) offers beyond the seed
 * reference, where the Platform API can serve it: teams and their apps, private spaces, the add-on catalog
 * (services, plans), account-wide add-ons and attachments, pipeline couplings and promotions, and the
 * schema's dyno stops, restarts by process type and formation info.
 *
 * @internal
 */
import { Effect, Schema } from "effect"
import * as Id from "../Identifiers.js"
import * as R from "../Resources.js"
import { appList, appName, defined, done, type Operation, ownerAt, read, stages, write } from "./operationKit.js"

const APP_NAME = /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/u

export const coverageOperations: ReadonlyArray<Operation> = [
  // Dynos and formation: the schema's stops, restarts by process type, and one formation entry.
  {
    ...write("dynos", "POST", ["write", "changes_runtime", "takes_offline"]),
    tool: "heroku_dynos_stop",
    template: "/apps/{app}/dynos/{dyno}/actions/stop",
    description: "Stop one dyno (it is not restarted until the formation or a deploy starts it again).",
    parameters: { ...appName, dyno: Id.DynoIdentity },
    result: R.Done,
    present: done((p) => `stopped ${p["dyno"]} on ${p["app"]}`)
  },
  {
    ...write("dynos", "DELETE", ["write", "changes_runtime", "takes_offline"]),
    tool: "heroku_dynos_restart_type",
    template: "/apps/{app}/formations/{type}",
    description: "Restart every dyno of one process type (e.g. all web dynos) of an app.",
    parameters: { ...appName, type: Id.FormationType },
    result: R.Done,
    present: done((p) => `restarted the ${p["type"]} dynos of ${p["app"]}`)
  },
  {
    ...write("dynos", "POST", ["write", "changes_runtime", "takes_offline"]),
    tool: "heroku_dynos_stop_type",
    template: "/apps/{app}/formations/{type}/actions/stop",
    description: "Stop every dyno of one process type of an app (e.g. all workers).",
    parameters: { ...appName, type: Id.FormationType },
    result: R.Done,
    present: done((p) => `stopped the ${p["type"]} dynos of ${p["app"]}`)
  },
  {
    ...read("formation"),
    tool: "heroku_formation_info",
    template: "/apps/{app}/formation/{type}",
    description: "Get one process type's formation: how many dynos run, their size and command.",
    parameters: { ...appName, type: Id.FormationType },
    result: R.Formation
  },
  // Teams and their apps.
  {
    ...read("teams"),
    tool: "heroku_teams_list",
    template: "/teams",
    description: "List the teams this account belongs to, with its role in each.",
    parameters: {},
    result: R.Team,
    list: { field: "name" }
  },
  appList("heroku_team_apps_list", "/teams/{team}/apps", "List a team's apps (by team name or id), sorted by name; space filters by private space.", {
    team: Id.TeamIdentity
  }),
  appList(
    "heroku_user_apps_list",
    "/users/~/apps",
    "List the apps this account owns or collaborates on (not its teams' other apps), sorted by name; space filters by private space."
  ),
  {
    ...write("apps", "POST"),
    tool: "heroku_team_apps_create",
    template: "/teams/apps",
    description: "Create an app owned by a team, optionally in one of its private spaces. Name: lowercase letters, digits and dashes (3-30 chars).",
    parameters: {
      team: Id.TeamIdentity,
      name: Schema.optional(Schema.String.check(Schema.isPattern(APP_NAME))),
      region: Schema.optional(Schema.String.annotate({ description: "e.g. us or eu (not with space)" })),
      space: Schema.optional(Id.SpaceIdentity),
      stack: Schema.optional(Schema.String.annotate({ description: "e.g. heroku-24" })),
      locked: Schema.optional(Schema.Boolean.annotate({ description: "Forbid other team members from joining the app." }))
    },
    result: R.App,
    body: (p) => defined({ team: p["team"], name: p["name"], region: p["region"], space: p["space"], stack: p["stack"], locked: p["locked"] })
  },
  // Private spaces.
  {
    ...read("spaces"),
    tool: "heroku_spaces_list",
    template: "/spaces",
    description: "List the private spaces this account can see: region, team, state, whether Shield.",
    parameters: {},
    result: R.Space,
    list: { field: "name" }
  },
  {
    ...read("spaces"),
    tool: "heroku_spaces_info",
    template: "/spaces/{space}",
    description: "Get one private space by name or id: region, team, state, CIDR ranges.",
    parameters: { space: Id.SpaceIdentity },
    result: R.Space
  },
  // The add-on catalog, add-ons across apps, attachments.
  {
    ...read("addons"),
    tool: "heroku_addon_services_list",
    template: "/addon-services",
    description: "List the add-on services one can provision (databases, caches, queues, monitoring ...).",
    parameters: {},
    result: R.AddOnService,
    list: { field: "name" }
  },
  {
    ...read("addons"),
    tool: "heroku_addon_plans_list",
    template: "/addon-services/{service}/plans",
    description: "List an add-on service's plans with their prices, e.g. for heroku-postgresql.",
    parameters: { service: Id.AddOnServiceIdentity },
    result: R.Plan,
    list: { field: "name" }
  },
  {
    ...read("addons"),
    tool: "heroku_addons_list_all",
    template: "/addons",
    description: "List the add-ons of every app this agent may see, with their app, plan and state.",
    parameters: {},
    result: R.AddOn,
    list: { field: "id" },
    owner: { kind: "app", of: ownerAt("app") }
  },
  {
    ...read("addons"),
    tool: "heroku_addons_lookup",
    template: "/addons/{addon}",
    description: "Get one add-on by its id or globally unique name, without knowing its app: plan, state, app, config vars.",
    parameters: { addon: Id.AddOnIdentity },
    result: R.AddOn,
    owner: { kind: "app", of: ownerAt("app") }
  },
  {
    ...read("addons"),
    tool: "heroku_addon_attachments_list",
    template: "/apps/{app}/addon-attachments",
    description: "List the add-ons attached to an app under their attachment names (DATABASE, REDIS ...), the prefixes of their config vars.",
    parameters: appName,
    result: R.AddOnAttachment,
    list: { field: "id" }
  },
  {
    ...read("addons"),
    tool: "heroku_addon_attachments_info",
    template: "/apps/{app}/addon-attachments/{attachment}",
    description:
      "Get the add-on an app knows by an attachment name (DATABASE, REDIS ...), in one call: the attachment, with its add-on's plan, state and config var names.",
    parameters: { ...appName, attachment: Id.AttachmentIdentity },
    result: R.AddOnAttachment,
    // The attachment names its add-on by id; the add-on is read through the same (granted) app.
    after: (attachment, _, ids, client) => {
      const addon = ((attachment ?? {}) as { addon?: { id?: unknown } }).addon?.id
      return typeof addon !== "string" || ids.app === undefined
        ? Effect.succeed(attachment)
        : Effect.map(
            client.request({ method: "GET", path: `/apps/${encodeURIComponent(ids.app)}/addons/${encodeURIComponent(addon)}`, template: "/apps/{app}/addons/{addon}" }),
            (found) => ({ ...(attachment as object), addon: found.body })
          )
    }
  },
  // Pipelines: couplings (which app is at which stage) and promotions.
  {
    ...read("pipelines"),
    tool: "heroku_pipeline_couplings_list",
    template: "/pipelines/{pipeline}/pipeline-couplings",
    description: "List a pipeline's apps and the stage each is at (development, staging, production ...).",
    parameters: { pipeline: Id.PipelineIdentity },
    result: R.PipelineCoupling,
    list: { field: "id" },
    needsIds: true,
    owner: { kind: "app", of: ownerAt("app") }
  },
  {
    ...write("pipelines", "POST"),
    tool: "heroku_pipeline_couplings_create",
    template: "/pipeline-couplings",
    description: "Add an app to a pipeline at a stage (development, staging, production ...).",
    parameters: { pipeline: Id.PipelineIdentity, ...appName, stage: Schema.Literals(stages) },
    result: R.PipelineCoupling,
    needsIds: true,
    body: (p, ids) => ({ app: ids.app, pipeline: ids.pipeline, stage: p["stage"] })
  },
  {
    ...write("pipelines", "POST", ["write", "deploys"]),
    tool: "heroku_pipelines_promote",
    template: "/pipeline-promotions",
    description:
      "Promote an app's current release to other apps of its pipeline (e.g. staging to production): the targets then run that code.",
    parameters: {
      pipeline: Id.PipelineIdentity,
      ...appName,
      to: Schema.Array(Id.AppIdentity).annotate({ description: "The apps to promote to (1 to 20)." }).check(Schema.isMinLength(1), Schema.isMaxLength(20))
    },
    result: R.PipelinePromotion,
    targets: (p) => p["to"] as ReadonlyArray<string>,
    needsIds: true,
    body: (_, ids) => ({
      pipeline: { id: ids.pipeline },
      source: { app: { id: ids.app } },
      targets: (ids.targets ?? []).map((id) => ({ app: { id } }))
    })
  },
  {
    ...read("pipelines"),
    tool: "heroku_pipeline_promotions_info",
    template: "/pipeline-promotions/{promotion}",
    description: "Get a pipeline promotion by id: whether it is pending or completed.",
    parameters: { promotion: Id.PromotionId },
    result: R.PipelinePromotion,
    owner: { kind: "pipeline", of: ownerAt("pipeline") }
  }
]
