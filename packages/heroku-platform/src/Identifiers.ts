/**
 * Schemas for the ids and names that go into a request path. Each follows the pattern Heroku's schema gives
 * for that identity, and none admits an empty value, `.`, `..`, `/`, `%` or whitespace, so a tool argument
 * can never turn `/apps/{app}/dynos/{dyno}` into another endpoint (`/apps/{app}/` is the app itself).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

const oneOf = (name: string, description: string, ...patterns: ReadonlyArray<RegExp>) =>
  // The description goes on the string itself: JSON Schema (what the model reads) keeps it there.
  Schema.String.annotate({ description: `${name}: ${description}.` }).check(
    Schema.makeFilter((value: string) =>
      patterns.some((pattern) => pattern.test(value)) ? undefined : `${name} must be ${description}; got ${JSON.stringify(value.slice(0, 80))}`
    )
  )

/** An app: its name (`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`) or its id (a uuid). */
export const AppIdentity = oneOf("app", "an app name (lowercase letters, digits, dashes) or an app id (uuid)", /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/, UUID_PATTERN)

/** A dyno: its name (`web.1`, `run.1234`) or id. */
export const DynoIdentity = oneOf("dyno", "a dyno name such as web.1 or a dyno id", /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(\.[0-9]{1,6})?$/, UUID_PATTERN)

/** A process type (`^[-\w]{1,128}$`, and not only dashes/dots) or a formation id. */
export const FormationType = oneOf("type", "a process type such as web or worker", /^[A-Za-z0-9_][-\w]{0,127}$/, UUID_PATTERN)

/** A release: its version number or id. */
export const ReleaseIdentity = oneOf("release", "a release version number or a release id (uuid)", /^[1-9][0-9]{0,9}$/, UUID_PATTERN)

/** A release id (a rollback names the release by id only). */
export const ReleaseId = oneOf("release", "a release id (uuid)", UUID_PATTERN)

/** A slug id. */
export const SlugId = oneOf("slug", "a slug id (uuid)", UUID_PATTERN)

/** A build id. */
export const BuildId = oneOf("build", "a build id (uuid)", UUID_PATTERN)

/** An add-on: its name (`^[a-zA-Z][A-Za-z0-9_-]+$`) or id. */
export const AddOnIdentity = oneOf("addon", "an add-on name or id", /^[a-zA-Z][A-Za-z0-9_-]{1,255}$/, UUID_PATTERN)

/** A domain: its hostname (a wildcard `*.` prefix allowed) or id. */
export const DomainIdentity = oneOf(
  "domain",
  "a hostname or a domain id",
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/,
  UUID_PATTERN
)

/** A collaborator: an email or id. */
export const CollaboratorIdentity = oneOf("collaborator", "an email address or a collaborator id", /^[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, UUID_PATTERN)

/** A pipeline: its name (`^[a-z][a-z0-9-]{2,29}$`) or id. */
export const PipelineIdentity = oneOf("pipeline", "a pipeline name or id", /^[a-z][a-z0-9-]{2,29}$/, UUID_PATTERN)

/** A team: its name (lowercase letters, digits, dashes) or id. */
export const TeamIdentity = oneOf("team", "a team name or id", /^[a-z0-9][a-z0-9-]{0,62}$/, UUID_PATTERN)

/** A private space: its name (`^[a-z0-9](?:[a-z0-9]|-(?!-))+[a-z0-9]$`) or id. */
export const SpaceIdentity = oneOf("space", "a space name or id", /^[a-z0-9](?:[a-z0-9]|-(?!-)){1,62}[a-z0-9]$/, UUID_PATTERN)

/** An add-on service: its name (`heroku-postgresql`) or id. */
export const AddOnServiceIdentity = oneOf("service", "an add-on service name such as heroku-postgresql, or its id", /^[a-z0-9][a-z0-9-]{0,62}$/, UUID_PATTERN)

/** A pipeline promotion id. */
export const PromotionId = oneOf("promotion", "a pipeline promotion id (uuid)", UUID_PATTERN)

/** The way Heroku compares identities: uuids case-insensitively, names as given (they are lowercase). */
/** An add-on attachment: its name on the app (the prefix of its config vars, `DATABASE`) or its id. */
export const AttachmentIdentity = oneOf("attachment", "an attachment name such as DATABASE, or an attachment id", /^[A-Z][A-Z0-9_]{0,62}$/, UUID_PATTERN)

/** An app setup's id (`POST /app-setups` answers it). */
export const AppSetupId = oneOf("setup", "an app setup id (uuid)", UUID_PATTERN)

export const canonical = (identity: string): string => (UUID_PATTERN.test(identity) ? identity.toLowerCase() : identity)

export const isUuid = (value: string): boolean => UUID_PATTERN.test(value)
