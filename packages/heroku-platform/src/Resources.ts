/**
 * Platform API resource Schemas. Lenient on purpose: the fields an agent or app relies on are typed, every
 * other field Heroku sends is kept as it is (the API adds fields without a new version).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const Rest = [Schema.Record(Schema.String, Schema.Unknown)] as const

/** A struct that keeps fields it does not name, on decode and encode (a struct with an `unknown` rest). */
export const lenient = <const Fields extends Schema.Struct.Fields>(fields: Fields) => Schema.StructWithRest(Schema.Struct(fields), Rest)

const opt = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))
const Str = Schema.String

export const NamedRef = lenient({ id: Schema.optional(Str), name: Schema.optional(Str) })
const Timestamps = { created_at: opt(Str), updated_at: opt(Str) }

export const App = lenient({
  id: Str,
  name: Str,
  maintenance: opt(Schema.Boolean),
  region: opt(NamedRef),
  stack: opt(NamedRef),
  web_url: opt(Str),
  released_at: opt(Str),
  owner: opt(lenient({ id: Schema.optional(Str), email: Schema.optional(Str) })),
  ...Timestamps
})

export const Dyno = lenient({
  id: Str,
  name: Str,
  type: opt(Str),
  command: opt(Str),
  /** crashed, down, idle, starting or up */
  state: opt(Str),
  size: opt(Str),
  attach_url: opt(Str),
  release: opt(lenient({ id: Schema.optional(Str), version: Schema.optional(Schema.Number) })),
  ...Timestamps
})

export const Formation = lenient({
  id: Str,
  type: Str,
  quantity: Schema.Number,
  command: opt(Str),
  size: opt(Str),
  dyno_size: opt(NamedRef),
  ...Timestamps
})

export const ConfigVars = Schema.Record(Str, Schema.NullOr(Str))

export const Release = lenient({
  id: Str,
  version: Schema.Number,
  /** failed, pending, succeeded or expired */
  status: opt(Str),
  description: opt(Str),
  current: opt(Schema.Boolean),
  eligible_for_rollback: opt(Schema.Boolean),
  slug: opt(lenient({ id: Schema.optional(Str) })),
  user: opt(lenient({ id: Schema.optional(Str), email: Schema.optional(Str) })),
  ...Timestamps
})

export const Build = lenient({
  id: Str,
  /** failed, pending or succeeded */
  status: Str,
  source_blob: opt(lenient({ url: Schema.optional(Str), version: opt(Str), checksum: opt(Str) })),
  release: opt(lenient({ id: Schema.optional(Str) })),
  slug: opt(lenient({ id: Schema.optional(Str) })),
  output_stream_url: opt(Str),
  ...Timestamps
})

export const AddOn = lenient({
  id: Str,
  name: Str,
  addon_service: opt(NamedRef),
  plan: opt(NamedRef),
  /** provisioning, provisioned or deprovisioned */
  state: opt(Str),
  config_vars: opt(Schema.Array(Str)),
  web_url: opt(Str),
  ...Timestamps
})

export const Domain = lenient({
  id: Str,
  hostname: Str,
  kind: opt(Str),
  cname: opt(Str),
  status: opt(Str),
  sni_endpoint: opt(NamedRef),
  ...Timestamps
})

export const Collaborator = lenient({
  id: Str,
  user: lenient({ id: Schema.optional(Str), email: Schema.optional(Str) }),
  role: opt(Str),
  ...Timestamps
})

export const Pipeline = lenient({
  id: Str,
  name: Str,
  owner: opt(lenient({ id: Schema.optional(Str), type: Schema.optional(Str) })),
  ...Timestamps
})

export const Account = lenient({
  id: Str,
  email: Str,
  name: opt(Str),
  verified: opt(Schema.Boolean),
  two_factor_authentication: opt(Schema.Boolean),
  ...Timestamps
})

export const RateLimit = lenient({ remaining: Schema.Number })

/** A log session as the tool returns it: the log text, never the session's bearer URL. */
export const LogLines = Schema.Struct({
  logSessionId: Str,
  lines: Str,
  truncated: Schema.Boolean
})

/** Restarts and other `{}` answers, made explicit for the model. */
export const Done = Schema.Struct({ ok: Schema.Literal(true), detail: Str })

export const Team = lenient({
  id: Str,
  name: Str,
  /** enterprise or team */
  type: opt(Str),
  role: opt(Str),
  default: opt(Schema.Boolean),
  ...Timestamps
})

export const Space = lenient({
  id: Str,
  name: Str,
  /** allocating, allocated or deleting */
  state: opt(Str),
  shield: opt(Schema.Boolean),
  region: opt(NamedRef),
  team: opt(NamedRef),
  cidr: opt(Str),
  data_cidr: opt(Str),
  ...Timestamps
})

export const AddOnService = lenient({
  id: Str,
  name: Str,
  human_name: opt(Str),
  /** alpha, beta, ga or shutdown */
  state: opt(Str),
  supports_multiple_installations: opt(Schema.Boolean),
  supports_sharing: opt(Schema.Boolean),
  ...Timestamps
})

export const Plan = lenient({
  id: Str,
  name: Str,
  human_name: opt(Str),
  description: opt(Str),
  price: opt(lenient({ cents: Schema.optional(Schema.Number), unit: Schema.optional(Str), contract: Schema.optional(Schema.Boolean) })),
  state: opt(Str),
  default: opt(Schema.Boolean),
  installable_inside_private_network: opt(Schema.Boolean),
  installable_outside_private_network: opt(Schema.Boolean),
  ...Timestamps
})

export const AddOnAttachment = lenient({
  id: Str,
  /** The attachment's name, also the prefix of its config vars (DATABASE -> DATABASE_URL). */
  name: Str,
  addon: opt(lenient({ id: Schema.optional(Str), name: Schema.optional(Str), app: Schema.optional(Schema.Unknown) })),
  app: opt(NamedRef),
  namespace: opt(Str),
  ...Timestamps
})

const IdRef = lenient({ id: Schema.optional(Str) })

export const PipelineCoupling = lenient({
  id: Str,
  /** test, review, development, staging or production */
  stage: Str,
  app: opt(IdRef),
  pipeline: opt(IdRef),
  ...Timestamps
})

export const PipelinePromotion = lenient({
  id: Str,
  /** pending or completed */
  status: opt(Str),
  pipeline: opt(IdRef),
  source: opt(lenient({ app: Schema.optional(IdRef), release: Schema.optional(IdRef) })),
  ...Timestamps
})

/** An app set up from a source bundle with an `app.json` (`POST /app-setups`): the app, its first build, its state. */
export const AppSetup = lenient({
  id: Str,
  /** pending, succeeded or failed */
  status: Str,
  app: opt(NamedRef),
  build: opt(lenient({ id: Schema.optional(Str), status: Schema.optional(Str) })),
  failure_message: opt(Str),
  manifest_errors: opt(Schema.Array(Str)),
  ...Timestamps
})

/** A model Heroku Managed Inference offers (`GET /available-models` on its host). */
export const AiModel = lenient({
  model_id: Str,
  /** e.g. text-to-text, text-to-embedding, text-to-image */
  type: opt(Schema.Array(Str)),
  regions: opt(Schema.Array(Str))
})

/**
 * One inference through an app's model resource: the answer's text, never the endpoint or its key (nor the
 * model id: like every config value of the app, it is scrubbed from what the model sees).
 */
export const AiInference = Schema.Struct({
  /** The model resource's name (the prefix of its config vars). */
  resource: Str,
  text: Str,
  finishReason: Str,
  usage: Schema.Struct({ inputTokens: Schema.Number, outputTokens: Schema.Number })
})
