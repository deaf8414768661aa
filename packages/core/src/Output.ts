/**
 * Typed final output: an agent made with `output: Schema` ends its run with the answer decoded by that
 * schema (`Completed.output`). The schema is sent as a JSON-schema response format to models that support
 * one (chat completions); every backend's last text is parsed and decoded. An answer that fails is
 * returned to the model with the schema error, a bounded number of times, then the run ends as
 * `Stopped { reason: "invalid_output" }`.
 *
 * @since 0.1.0
 */
import { Either, Option, ParseResult, Schema } from "effect"
import type { ResponseFormat } from "./LanguageModel.js"
import type { RunOutcome } from "./RunState.js"
import { jsonSchemaOf } from "./Tool.js"

export interface Spec<A> {
  /** The schema's decoder (a function rather than the schema, so a `Spec<A>` is a `Spec<unknown>` too). */
  readonly decodeUnknown: (json: unknown) => Either.Either<A, ParseResult.ParseError>
  /** What the model is told the answer must look like (sent where the provider supports it). */
  readonly responseFormat: ResponseFormat
  /** How many invalid answers are returned to the model before the run stops. */
  readonly retries: number
}

const validName = /^[a-zA-Z0-9_-]{1,64}$/

/** A spec for `schema`: its JSON Schema is generated once, when the agent is made. */
export const make = <A, I>(schema: Schema.Schema<A, I>, options: { readonly name: string; readonly retries?: number }): Spec<A> => {
  const retries = options.retries ?? 2
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError(`Output "${options.name}": retries must be an integer >= 0`)
  const name = validName.test(options.name) ? options.name : "final_answer"
  return { decodeUnknown: Schema.decodeUnknownEither(schema), responseFormat: { name, schema: jsonSchemaOf(schema) }, retries }
}

/** Models often fence JSON in markdown even when told not to: read the fenced part. */
const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/

/** Decodes a final answer's text: the value, or the reason (for the model) it does not fit. */
export const decode = <A>(spec: Spec<A>, text: string): Either.Either<A, string> => {
  const trimmed = text.trim()
  if (trimmed.length === 0) return Either.left("the answer was empty; a JSON value was expected")
  const body = fenced.exec(trimmed)?.[1] ?? trimmed
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch (error) {
    return Either.left(`the answer is not valid JSON (${(error as Error).message})`)
  }
  return Either.mapLeft(spec.decodeUnknown(json), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}

/** What the model is told after an answer that does not fit. */
export const reprompt = (reason: string): string =>
  `Your final answer does not match the required output schema: ${reason}\nAnswer again with only a JSON value that matches the schema.`

/** The reason a run stops once the model has used up its retries. */
export const stopDetail = (attempts: number, reason: string): string =>
  `the final answer did not match the output schema after ${attempts} attempt(s): ${reason}`

/** The decoded output of a completed run of an agent with `output`, typed by that agent's schema. */
export const of = <A>(_agent: { readonly output: Spec<A> | undefined }, outcome: RunOutcome): Option.Option<A> =>
  outcome._tag === "Completed" && "output" in outcome ? Option.some(outcome.output as A) : Option.none()
