/**
 * A check of exported spans against the OpenTelemetry GenAI semantic conventions (the agent and model span
 * documents of open-telemetry/semantic-conventions, as of their move to the semantic-conventions-genai
 * repository): per span kind, the span name, the span kind and the required (and, where the loop has the
 * value, conditionally required) attributes; `error.type` exactly on spans that ended in an error; and every
 * `gen_ai.*` attribute a name of the registry. Returns the problems, one line each (none: conformant).
 */
import { type ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"

/** The `gen_ai.*` attribute names of the conventions' registry that spans may carry. */
const registry = new Set([
  "gen_ai.agent.description",
  "gen_ai.agent.id",
  "gen_ai.agent.name",
  "gen_ai.agent.version",
  "gen_ai.conversation.id",
  "gen_ai.data_source.id",
  "gen_ai.input.messages",
  "gen_ai.operation.name",
  "gen_ai.output.messages",
  "gen_ai.output.type",
  "gen_ai.provider.name",
  "gen_ai.request.choice.count",
  "gen_ai.request.frequency_penalty",
  "gen_ai.request.max_tokens",
  "gen_ai.request.model",
  "gen_ai.request.presence_penalty",
  "gen_ai.request.seed",
  "gen_ai.request.stop_sequences",
  "gen_ai.request.stream",
  "gen_ai.request.temperature",
  "gen_ai.request.top_k",
  "gen_ai.request.top_p",
  "gen_ai.response.finish_reasons",
  "gen_ai.response.id",
  "gen_ai.response.model",
  "gen_ai.system_instructions",
  "gen_ai.tool.call.arguments",
  "gen_ai.tool.call.id",
  "gen_ai.tool.call.result",
  "gen_ai.tool.definitions",
  "gen_ai.tool.description",
  "gen_ai.tool.name",
  "gen_ai.tool.type",
  "gen_ai.usage.cache_creation.input_tokens",
  "gen_ai.usage.cache_read.input_tokens",
  "gen_ai.usage.input_tokens",
  "gen_ai.usage.output_tokens",
  "gen_ai.usage.reasoning.output_tokens"
])

interface Rule {
  readonly name: (span: ReadableSpan) => string
  readonly kind: SpanKind
  /** Required, and conditionally required where the loop knows the value. */
  readonly required: ReadonlyArray<string>
  readonly types: Readonly<Record<string, "string" | "int" | "boolean" | "string[]">>
}

const str = (span: ReadableSpan, key: string) => String(span.attributes[key])

const rules: Readonly<Record<string, Rule>> = {
  // "Invoke agent internal span": an agent run in this process.
  invoke_agent: {
    name: (s) => `invoke_agent ${str(s, "gen_ai.agent.name")}`,
    kind: SpanKind.INTERNAL,
    required: ["gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.agent.name", "gen_ai.conversation.id"],
    types: { "gen_ai.usage.input_tokens": "int", "gen_ai.usage.output_tokens": "int", "gen_ai.conversation.id": "string" }
  },
  // "Inference" span.
  chat: {
    name: (s) => (s.attributes["gen_ai.request.model"] === undefined ? "chat" : `chat ${str(s, "gen_ai.request.model")}`),
    kind: SpanKind.CLIENT,
    required: ["gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.conversation.id"],
    types: {
      "gen_ai.usage.input_tokens": "int",
      "gen_ai.usage.output_tokens": "int",
      "gen_ai.response.finish_reasons": "string[]",
      "gen_ai.request.stream": "boolean",
      "gen_ai.output.type": "string"
    }
  },
  // "Execute tool span".
  execute_tool: {
    name: (s) => `execute_tool ${str(s, "gen_ai.tool.name")}`,
    kind: SpanKind.INTERNAL,
    required: ["gen_ai.operation.name", "gen_ai.tool.name"],
    types: { "gen_ai.tool.call.id": "string", "gen_ai.tool.type": "string" }
  }
}

const typeOf = (value: unknown): string =>
  Array.isArray(value)
    ? value.every((v) => typeof v === "string")
      ? "string[]"
      : "array"
    : typeof value === "number"
      ? Number.isInteger(value)
        ? "int"
        : "double"
      : typeof value

/**
 * The problems of the spans whose `gen_ai.operation.name` is set (other spans are the app's, the handlers', the
 * model's own). `model` is what the tracing layer was given, so `gen_ai.request.model` is required when set.
 */
export const conventionProblems = (spans: ReadonlyArray<ReadableSpan>, options: { readonly model?: string; readonly registryOnly?: boolean } = {}): Array<string> => {
  const problems: Array<string> = []
  for (const span of spans) {
    const operation = span.attributes["gen_ai.operation.name"]
    if (operation === undefined) continue
    const at = `${span.name} (${span.spanContext().spanId})`
    const rule = rules[String(operation)]
    if (rule === undefined) {
      problems.push(`${at}: gen_ai.operation.name "${String(operation)}" is not one the loop emits`)
      continue
    }
    if (span.name !== rule.name(span)) problems.push(`${at}: the name should be "${rule.name(span)}"`)
    if (span.kind !== rule.kind) problems.push(`${at}: the kind is ${SpanKind[span.kind]}, should be ${SpanKind[rule.kind]}`)
    const required = [...rule.required, ...(options.model !== undefined && operation !== "execute_tool" ? ["gen_ai.request.model"] : [])]
    for (const key of required) {
      const value = span.attributes[key]
      if (value === undefined || value === "") problems.push(`${at}: required attribute ${key} is missing`)
    }
    for (const [key, type] of Object.entries(rule.types)) {
      const value = span.attributes[key]
      if (value !== undefined && typeOf(value) !== type) problems.push(`${at}: ${key} should be ${type}, is ${typeOf(value)}`)
    }
    const failed = span.status.code === SpanStatusCode.ERROR
    const errorType = span.attributes["error.type"]
    if (failed && errorType === undefined) problems.push(`${at}: ended in an error without error.type`)
    if (!failed && errorType !== undefined) problems.push(`${at}: has error.type "${String(errorType)}" but its status is not ERROR`)
    if (options.registryOnly !== false) {
      for (const key of Object.keys(span.attributes)) {
        if (key.startsWith("gen_ai.") && !registry.has(key)) problems.push(`${at}: ${key} is not a gen_ai attribute of the registry`)
      }
    }
  }
  return problems
}

/** The exported spans as an indented tree (children in start order), `name [attribute=value ...]` per line. */
export const renderTree = (spans: ReadonlyArray<ReadableSpan>, show: (span: ReadableSpan) => string = () => ""): string => {
  const ids = new Set(spans.map((s) => s.spanContext().spanId))
  const children = new Map<string | undefined, Array<ReadableSpan>>()
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId
    const key = parent !== undefined && ids.has(parent) ? parent : undefined
    children.set(key, [...(children.get(key) ?? []), span])
  }
  const time = (s: ReadableSpan) => s.startTime[0] * 1e9 + s.startTime[1]
  const lines: Array<string> = []
  const walk = (parent: string | undefined, depth: number) => {
    for (const span of [...(children.get(parent) ?? [])].sort((a, b) => time(a) - time(b))) {
      const extra = show(span)
      lines.push(`${"  ".repeat(depth)}${span.name}${extra === "" ? "" : ` ${extra}`}`)
      walk(span.spanContext().spanId, depth + 1)
    }
  }
  walk(undefined, 0)
  return lines.join("\n")
}
