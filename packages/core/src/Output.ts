/**
 * Typed final output: an agent made with `output: Schema` ends its run with the answer decoded by that
 * schema (`Completed.output`). How the model is asked for it is the agent's `outputMode` (see `Mode`): a
 * JSON-schema response format (chat completions), a final-answer tool whose parameters are the schema, or
 * the schema in the instructions. In every mode a final text answer is parsed and decoded too. An answer
 * that fails is returned to the model with the schema error, a bounded number of times, then the run ends
 * as `Stopped { reason: "invalid_output" }`.
 *
 * @since 0.1.0
 */
import { Effect, Option, Result, Schema } from "effect"
import type { ResponseFormat } from "./LanguageModel.js"
import type { RunOutcome } from "./RunState.js"
import * as Tool from "./Tool.js"

/**
 * How the model is asked for the typed output:
 * - `"response_format"`: every request carries the schema as a JSON-schema response format (adapters
 *   without one ignore it); the final text is decoded. The default (the behaviour before modes existed).
 * - `"tool"`: the model is offered a final-answer tool whose parameters are the schema; a valid call ends
 *   the run. Needs a backend that runs client-side tools.
 * - `"text"`: the schema is added to the instructions; the final text is decoded.
 * - `"auto"`: what the model declares it does best (`LanguageModel` `outputMode`: chat completions
 *   `"response_format"`), else `"tool"`.
 */
export type Mode = "auto" | "response_format" | "tool" | "text"

/** The modes a run actually uses (`"auto"` resolved against the model). */
export type ResolvedMode = Exclude<Mode, "auto">

export interface Spec<A> {
  /** The schema's decoder (a function rather than the schema, so a `Spec<A>` is a `Spec<unknown>` too). */
  readonly decodeUnknown: (json: unknown) => Result.Result<A, Schema.SchemaError>
  /** What the model is told the answer must look like (sent where the provider supports it). */
  readonly responseFormat: ResponseFormat
  /** How many invalid answers are returned to the model before the run stops. */
  readonly retries: number
  /** How the model is asked for the answer. */
  readonly mode: Mode
  /** The final-answer tool offered in `"tool"` mode (its parameters are the schema). */
  readonly tool: Tool.Any
  /** The output's JSON value from the final-answer tool's arguments (a non-object schema is wrapped in `{ value }`). */
  readonly fromArguments: (args: unknown) => unknown
}

/** The final-answer tool's name unless the agent names another (`outputTool`). */
export const defaultToolName = "final_answer"

export interface Options {
  readonly name: string
  readonly retries?: number
  readonly mode?: Mode
  /** The final-answer tool's name in `"tool"` mode. Default `final_answer`. */
  readonly toolName?: string
}

/** A spec for `schema`: its JSON Schema is generated once, when the agent is made. */
export const make = <A, I>(schema: Schema.Codec<A, I>, options: Options): Spec<A> => {
  const retries = options.retries ?? 2
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError(`Output "${options.name}": retries must be an integer >= 0`)
  const toolName = options.toolName ?? defaultToolName
  if (!Tool.validName.test(toolName)) throw new TypeError(`Output "${options.name}": the tool name "${toolName}" must match ${Tool.validName.source}`)
  const name = Tool.validName.test(options.name) ? options.name : defaultToolName
  const json = Tool.jsonSchemaOf(schema) as Record<string, unknown>
  // Function-calling APIs take an object of arguments: any other schema is wrapped in `{ value }`.
  const isObject = json.type === "object"
  const parameters = (isObject ? schema : Schema.Struct({ value: schema })) as unknown as Schema.Struct<any>
  const description = "Call this with your final answer once you have it; its arguments are the answer. It ends your turn."
  // A tool like any other (`Tool.make`'s defaults), whose parameters are the output schema itself rather
  // than a struct of fields (the schema may be a class or carry transformations).
  const tool: Tool.Any = {
    ...Tool.make(toolName, { description, success: Schema.String }),
    parameters,
    definition: {
      name: toolName,
      description,
      parameters: isObject ? json : { type: "object", properties: { value: json }, required: ["value"], additionalProperties: false }
    }
  }
  return {
    decodeUnknown: Schema.decodeUnknownResult(schema),
    responseFormat: { name, schema: json },
    retries,
    mode: options.mode ?? "response_format",
    tool,
    fromArguments: isObject ? (args) => args : (args) => (args as { value?: unknown }).value
  }
}

/** The mode a run uses: `"auto"` becomes what the model declares (`LanguageModel` `outputMode`), else `"tool"`. */
export const resolveMode = (spec: Spec<unknown>, modelMode: ResolvedMode | undefined): ResolvedMode =>
  spec.mode === "auto" ? (modelMode ?? "tool") : spec.mode

/** The final-answer tool's handler: the arguments were decoded by the schema before it runs. */
export const acceptAnswer: Tool.AnyHandlerFn = () => Effect.succeed("Final answer recorded.")

/** What `"text"` mode adds to the instructions. */
export const instructions = (spec: Spec<unknown>): string =>
  `Answer with only a JSON value (no other text) matching this JSON Schema:\n${JSON.stringify(spec.responseFormat.schema)}`

/**
 * The final-answer tool's name is taken by a tool of the agent's toolkit, or the backend cannot run the
 * final-answer tool. Raised when the agent's backend is built.
 */
export class InvalidOutput extends Schema.TaggedError<InvalidOutput>()("InvalidOutput", {
  agent: Schema.String,
  tool: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Agent "${this.agent}": output tool "${this.tool}" ${this.reason}`
  }
}

/** Models often fence JSON in markdown even when told not to: read the fenced part. */
const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/

/** Decodes a final answer's text: the value, or the reason (for the model) it does not fit. */
export const decode = <A>(spec: Spec<A>, text: string): Result.Result<A, string> => {
  const trimmed = text.trim()
  if (trimmed.length === 0) return Result.fail("the answer was empty; a JSON value was expected")
  const body = fenced.exec(trimmed)?.[1] ?? trimmed
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch (error) {
    return Result.fail(`the answer is not valid JSON (${(error as Error).message})`)
  }
  return Result.mapError(spec.decodeUnknown(json), (error) => error.message)
}

/** What the model is told after an answer that does not fit (in `"tool"` mode: call the tool instead). */
export const reprompt = (reason: string, toolName?: string): string =>
  `Your final answer does not match the required output schema: ${reason}\n` +
  (toolName === undefined
    ? "Answer again with only a JSON value that matches the schema."
    : `Call the ${toolName} tool with your final answer as its arguments.`)

/** The reason a run stops once the model has used up its retries. */
export const stopDetail = (attempts: number, reason: string): string =>
  `the final answer did not match the output schema after ${attempts} attempt(s): ${reason}`

/**
 * The decoded output of a completed run of an agent with `output`, typed by that agent's schema. With
 * handoffs the answer may come from a target, decoded by the target's schema: use `ofAgent` there.
 */
export const of = <A>(_agent: { readonly output: Spec<A> | undefined }, outcome: RunOutcome): Option.Option<A> =>
  outcome._tag === "Completed" && "output" in outcome ? Option.some(outcome.output as A) : Option.none()

/**
 * The decoded output of a completed run that ended with `agent` (a handoff target, or the starting agent),
 * typed by `agent`'s schema: none when another agent gave the answer (`Completed.agent`, set on runs of
 * agents with handoffs) or it has no output.
 */
export const ofAgent = <A>(agent: { readonly name: string; readonly output: Spec<A> | undefined }, outcome: RunOutcome): Option.Option<A> =>
  outcome._tag === "Completed" && outcome.agent === agent.name && "output" in outcome ? Option.some(outcome.output as A) : Option.none()
