/**
 * A tool known only at runtime: its parameters are a JSON Schema handed on as it is (e.g. by an MCP
 * server), not an Effect Schema. Arguments reach the handler as the JSON object the model sent; whoever
 * owns the schema (the remote server) validates them. Results and failures are any JSON value.
 *
 * @since 0.1.0
 */
import { Duration, Schema } from "effect"
import * as Tool from "./Tool.js"

/** Any JSON object: every field the model sends is kept (a plain `Struct({})` would drop them). */
const AnyObject = Schema.StructWithRest(Schema.Struct({}), [Schema.Record(Schema.String, Schema.Unknown)])

export interface Options {
  readonly description: string
  /** The JSON Schema of the arguments object, offered to the model unchanged. */
  readonly parameters: unknown
  readonly requiresApproval?: boolean | ((params: Readonly<Record<string, unknown>>) => boolean)
  readonly parallel?: boolean
  readonly timeout?: Duration.Input
  readonly returnCharLimit?: number
}

/** Tool names must be usable by every provider (the same rule as `Tool.make`). */
export const validName: RegExp = Tool.validName

/** Makes a tool from a raw JSON Schema. Throws on a name outside `^[a-zA-Z0-9_-]{1,64}$`, like `Tool.make`. */
export const make = (name: string, options: Options): Tool.Any => {
  if (!validName.test(name)) throw new TypeError(`Tool name "${name}" must match ${validName.source}`)
  if (options.returnCharLimit !== undefined && !(options.returnCharLimit > 0)) {
    throw new TypeError(`Tool "${name}": returnCharLimit must be a positive number`)
  }
  return {
    [Tool.TypeId]: Tool.TypeId,
    name,
    description: options.description,
    parameters: AnyObject as unknown as Schema.Struct<any>,
    success: Schema.Unknown,
    failure: Schema.Unknown,
    requiresApproval: options.requiresApproval ?? false,
    parallel: options.parallel ?? true,
    timeout: options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout),
    returnCharLimit: options.returnCharLimit,
    definition: { name, description: options.description, parameters: options.parameters }
  }
}
