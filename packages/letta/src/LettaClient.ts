/**
 * A typed client for Letta's REST API beyond messages: the agent's tools (list with cursor paging,
 * attach, detach, update approval, run) and its tool rules (update, then read back).
 *
 * @since 0.1.0
 */
import type { ToolRule } from "@agentloop/core"
import { Http } from "@agentloop/wire"
import type { HttpClient } from "effect/http"
import { Context, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import * as LettaRules from "./LettaRules.js"

export interface Options extends Http.ClientOptions {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.letta.com`. */
  readonly baseUrl?: string
}

export class LettaError extends Schema.TaggedError<LettaError>()("LettaError", {
  operation: Schema.String,
  status: Schema.optional(Schema.Number),
  message: Schema.String
}) {}

/** A tool rule as Letta returns it (`LettaRules.LettaToolRule`): its type, its tool, and whatever else it carries. */
const LettaToolRule: Schema.Codec<LettaRules.LettaToolRule> = Schema.StructWithRest(Schema.Struct({ type: Schema.String, tool_name: Schema.String }), [
  Schema.Record(Schema.String, Schema.Unknown)
])

/** Letta answered, but the rules it kept are not the rules we sent. */
export class LettaRulesNotPersisted extends Schema.TaggedError<LettaRulesNotPersisted>()("LettaRulesNotPersisted", {
  agentId: Schema.String,
  missing: Schema.Array(LettaToolRule)
}) {
  override get message(): string {
    return `Letta agent ${this.agentId} did not keep ${this.missing.length} tool rule(s): ${this.missing.map((r) => `${r.type}(${r.tool_name})`).join(", ")}`
  }
}

/** The fields Letta may add are kept as they are (decoding drops unknown keys unless a rest record covers them). */
const keepUnknown = <S extends Schema.Struct<Schema.Struct.Fields>>(struct: S) => Schema.StructWithRest(struct, [Schema.Record(Schema.String, Schema.Unknown)])

export const LettaTool = keepUnknown(
  Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    description: Schema.optional(Schema.NullOr(Schema.String)),
    tool_type: Schema.optional(Schema.NullOr(Schema.String)),
    json_schema: Schema.optional(Schema.NullOr(Schema.Unknown)),
    default_requires_approval: Schema.optional(Schema.NullOr(Schema.Boolean))
  })
)
export type LettaTool = typeof LettaTool.Type

export const ToolExecutionResult = keepUnknown(
  Schema.Struct({
    status: Schema.Literals(["success", "error"]),
    func_return: Schema.optional(Schema.Unknown),
    stdout: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
    stderr: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
  })
)
export type ToolExecutionResult = typeof ToolExecutionResult.Type

export interface ListOptions {
  readonly limit?: number
  readonly after?: string
  readonly before?: string
  readonly order?: "asc" | "desc"
}

export interface Service {
  /** One page of the agent's tools (Letta's default page size is 10). */
  readonly listTools: (agentId: string, options?: ListOptions) => Effect.Effect<ReadonlyArray<LettaTool>, LettaError>
  /** Every tool of the agent, page after page (cursor: the last tool's id). */
  readonly allTools: (agentId: string, options?: { readonly pageSize?: number }) => Stream.Stream<LettaTool, LettaError>
  readonly attachTool: (agentId: string, toolId: string) => Effect.Effect<void, LettaError>
  readonly detachTool: (agentId: string, toolId: string) => Effect.Effect<void, LettaError>
  /** Sends `{"requires_approval": bool}`: the key the server accepts (Letta's own TS client sends another). */
  readonly setToolApproval: (agentId: string, toolName: string, requiresApproval: boolean) => Effect.Effect<void, LettaError>
  /** Runs an attached tool directly (Letta applies no rules and no approval to this). */
  readonly runTool: (agentId: string, toolName: string, args: Readonly<Record<string, unknown>>) => Effect.Effect<ToolExecutionResult, LettaError>
  readonly getToolRules: (agentId: string) => Effect.Effect<ReadonlyArray<LettaRules.LettaToolRule>, LettaError>
  /** Replaces the agent's tool rules, then reads them back and fails if Letta did not keep them all. */
  readonly setToolRules: (agentId: string, rules: ReadonlyArray<ToolRule.ToolRule>) => Effect.Effect<void, LettaError | LettaRulesNotPersisted>
}

export class LettaClient extends Context.Service<LettaClient, Service>()("@agentloop/letta/LettaClient") {}

/** Letta Cloud; a self-hosted server is given as `baseUrl`. */
export const DEFAULT_BASE_URL = "https://api.letta.com"

export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(Effect.context<HttpClient.HttpClient>(), (context) => {
    const base = Http.baseUrl(options.baseUrl, DEFAULT_BASE_URL)
    const headers = { Authorization: `Bearer ${Redacted.value(options.apiKey)}`, "Content-Type": "application/json" }
    // GETs and PATCHes that set a value are idempotent; running a tool (POST) is not.
    const call = (operation: string, method: Http.Request["method"], path: string, body?: unknown) =>
      Http.json({
        provider: "letta",
        method,
        url: `${base}${path}`,
        headers,
        idempotent: method !== "POST",
        ...(body === undefined ? {} : { body }),
        ...Http.clientOptions(options)
      }).pipe(
        Effect.mapError((error) => new LettaError({ operation, message: error.message, ...(error.status === undefined ? {} : { status: error.status }) })),
        Effect.provide(context)
      )
    const decode = <S extends Schema.Decoder<unknown>>(operation: string, schema: S) => (value: unknown) =>
      Schema.decodeUnknownEffect(schema)(value).pipe(
        Effect.mapError((error) => new LettaError({ operation, message: `unexpected answer: ${error.message}` }))
      )
    const agentPath = (agentId: string) => `/v1/agents/${encodeURIComponent(agentId)}`

    const listTools = (agentId: string, list: ListOptions = {}) => {
      const query = new URLSearchParams(
        Object.entries({ limit: list.limit, after: list.after, before: list.before, order: list.order })
          .filter(([, v]) => v !== undefined)
          .map(([k, v]): [string, string] => [k, String(v)])
      ).toString()
      return call("listTools", "GET", `${agentPath(agentId)}/tools${query.length === 0 ? "" : `?${query}`}`).pipe(
        Effect.flatMap(decode("listTools", Schema.Array(LettaTool)))
      )
    }

    const getToolRules = (agentId: string) =>
      call("getAgent", "GET", agentPath(agentId)).pipe(
        Effect.map((agent) => (((agent as { tool_rules?: unknown } | null)?.tool_rules ?? []) as ReadonlyArray<LettaRules.LettaToolRule>))
      )

    return {
      listTools,
      allTools: (agentId, all) =>
        Stream.paginate(undefined as string | undefined, (after) =>
          Effect.map(listTools(agentId, { limit: all?.pageSize ?? 50, order: "asc", ...(after === undefined ? {} : { after }) }), (page) => {
            const last = page.at(-1)?.id
            return [page, page.length === 0 || last === undefined || last === after ? Option.none() : Option.some(last)] as const
          })
        ),
      attachTool: (agentId, toolId) => Effect.asVoid(call("attachTool", "PATCH", `${agentPath(agentId)}/tools/attach/${encodeURIComponent(toolId)}`)),
      detachTool: (agentId, toolId) => Effect.asVoid(call("detachTool", "PATCH", `${agentPath(agentId)}/tools/detach/${encodeURIComponent(toolId)}`)),
      setToolApproval: (agentId, toolName, requiresApproval) =>
        Effect.asVoid(call("setToolApproval", "PATCH", `${agentPath(agentId)}/tools/approval/${encodeURIComponent(toolName)}`, { requires_approval: requiresApproval })),
      runTool: (agentId, toolName, args) =>
        call("runTool", "POST", `${agentPath(agentId)}/tools/${encodeURIComponent(toolName)}/run`, { args }).pipe(
          Effect.flatMap(decode("runTool", ToolExecutionResult))
        ),
      getToolRules,
      setToolRules: (agentId, rules) =>
        Effect.gen(function* () {
          const wanted = rules.map(LettaRules.toLetta)
          yield* call("setToolRules", "PATCH", agentPath(agentId), { tool_rules: wanted })
          // Read back: Letta Cloud has been seen to accept rules and not keep them (letta#3445).
          const kept = yield* getToolRules(agentId)
          const keys = new Set(kept.map((r) => `${r.type}:${r.tool_name}`))
          const missing = wanted.filter((r) => !keys.has(`${r.type}:${r.tool_name}`))
          if (missing.length > 0) return yield* new LettaRulesNotPersisted({ agentId, missing })
        })
    } satisfies Service
  })

export const layer = (options: Options): Layer.Layer<LettaClient, never, HttpClient.HttpClient> => Layer.effect(LettaClient, make(options))
