/**
 * The HTTP API as an `HttpApi`: every endpoint, its inputs, its outputs and its errors, from which the
 * server's handlers are checked and its OpenAPI document (served at `/api/openapi.json`) is generated.
 * Every endpoint needs a bearer credential (`Authentication`); what each identity may do is its role's
 * (see `Auth`).
 *
 * @since 0.1.0
 */
import { Context, Schema } from "effect"
import { AgUiSchema } from "effect/ai"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "effect/http-api"
import type { Identity } from "./Auth.js"
import {
  AgentInfo,
  AgentNotFound,
  AlreadyDecided,
  ApprovalExpired,
  ApprovalNotFound,
  AuditTrail,
  Decide,
  DecisionAccepted,
  DecisionRejected,
  Forbidden,
  Frame,
  InvalidAgUiInput,
  Me,
  RunConflict,
  RunDetail,
  RunFailed,
  RunId,
  RunList,
  RunNotFound,
  RunStatus,
  RunSummary,
  StartRun,
  Unauthorized
} from "./Model.js"

/** The identity of the request being served (provided by `Authentication`). */
export class CurrentIdentity extends Context.Service<CurrentIdentity, Identity>()("@agentloop/server/CurrentIdentity") {}

/** Bearer authentication: refuses every request without a credential the `Authenticator` knows. */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentIdentity }>()(
  "@agentloop/server/Authentication",
  { security: { bearer: HttpApiSecurity.bearer }, error: Unauthorized }
) {}

/** A run's events as Server-Sent Events: `id` is the event's number, `event` its `_tag`, `data` its JSON. */
export const EventStream = HttpApiSchema.StreamSse({ events: Frame, keepAlive: "15 seconds" })

const runParams = { runId: RunId }

export class RunsGroup extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.get("me", "/me", { success: Me }),
    HttpApiEndpoint.get("agents", "/agents", { success: Schema.Struct({ agents: Schema.Array(AgentInfo) }) }),
    HttpApiEndpoint.post("start", "/agents/:agent/runs", {
      params: { agent: Schema.String },
      payload: StartRun,
      success: EventStream,
      error: [Forbidden, AgentNotFound, RunConflict, RunFailed]
    }).annotate(OpenApi.Description, "Starts a run (admin) and streams its events as SSE. The run goes on if the client disconnects."),
    HttpApiEndpoint.get("list", "/runs", {
      query: { status: Schema.optional(RunStatus) },
      success: RunList
    }).annotate(OpenApi.Description, "The runs on this server: suspended first, then running, then the rest; most recent first."),
    HttpApiEndpoint.get("get", "/runs/:runId", { params: runParams, success: RunDetail, error: RunNotFound }),
    HttpApiEndpoint.get("events", "/runs/:runId/events", {
      params: runParams,
      headers: { "last-event-id": Schema.optional(Schema.String) },
      query: { after: Schema.optional(Schema.String) },
      success: EventStream,
      error: RunNotFound
    }).annotate(
      OpenApi.Description,
      "The run's events from the start, or after `Last-Event-ID` (or `?after=`): a reconnecting client loses and duplicates nothing. Ends when the run has completed or stopped."
    ),
    HttpApiEndpoint.get("audit", "/runs/:runId/audit", { params: runParams, success: AuditTrail, error: RunNotFound }),
    HttpApiEndpoint.post("decide", "/runs/:runId/approvals/:approvalId", {
      params: { runId: RunId, approvalId: Schema.String },
      payload: Decide,
      success: DecisionAccepted,
      error: [Forbidden, RunNotFound, ApprovalNotFound, AlreadyDecided, ApprovalExpired, DecisionRejected]
    }).annotate(
      OpenApi.Description,
      "Approves or denies a pending approval (approver or admin). The approver recorded is the authenticated identity. One decision per approval: a second gets 409."
    ),
    HttpApiEndpoint.post("interrupt", "/runs/:runId/interrupt", {
      params: runParams,
      success: RunSummary,
      error: [Forbidden, RunNotFound, RunConflict]
    }).annotate(OpenApi.Description, "Interrupts a running run (admin); it is stored as interrupted."),
    HttpApiEndpoint.post("agui", "/agents/:agent/agui", {
      params: { agent: Schema.String },
      payload: AgUiSchema.RunAgentInput,
      success: HttpApiSchema.StreamSse({ data: AgUiSchema.Event, keepAlive: "15 seconds" }),
      error: [Forbidden, InvalidAgUiInput, AgentNotFound, RunConflict, RunFailed, RunNotFound, ApprovalNotFound, AlreadyDecided, ApprovalExpired, DecisionRejected]
    }).annotate(
      OpenApi.Description,
      "AG-UI 1.0: a RunAgentInput in, AG-UI events out. A suspension ends with RUN_FINISHED { outcome: interrupt }, one interrupt per pending approval; `resume` entries decide them (approver or admin), a new conversation turn starts a run (admin)."
    )
  )
  .middleware(Authentication)
  .prefix("/api") {}

export class ServerApi extends HttpApi.make("agentloop-server")
  .add(RunsGroup)
  // Input that does not decode gets a 400 problem (RFC 9457) listing each field and what was wrong with it.
  .middleware(HttpApiMiddleware.ProblemDetails)
  .annotateMerge(
    OpenApi.annotations({
      title: "agentloop server",
      description: "Runs of agentloop agents over HTTP: events as SSE, approvals decided by authenticated people."
    })
  ) {}
