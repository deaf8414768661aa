/**
 * Connection settings for Heroku Managed Inference: the add-on's `INFERENCE_URL`, `INFERENCE_KEY` and
 * `INFERENCE_MODEL_ID` config vars.
 *
 * @since 0.1.0
 */
import { Config, Effect, Redacted } from "effect"

export interface Connection {
  /** e.g. `https://us.inference.heroku.com` (a missing scheme is added, a trailing `/` removed). */
  readonly url: string
  readonly key: Redacted.Redacted<string>
  readonly model: string
}

export const normalizeUrl = (url: string): string => {
  const trimmed = url.trim().replace(/\/+$/, "")
  return /^https?:\/\//.test(trimmed) ? trimmed : `https://${trimmed}`
}

/** Reads `INFERENCE_URL`, `INFERENCE_KEY` (redacted) and `INFERENCE_MODEL_ID`. */
export const fromEnv: Effect.Effect<Connection, Config.ConfigError> = Effect.gen(function* () {
  const url = yield* Config.String("INFERENCE_URL")
  const key = yield* Config.Redacted("INFERENCE_KEY")
  const model = yield* Config.String("INFERENCE_MODEL_ID")
  return { url: normalizeUrl(url), key, model }
})

export const authHeaders = (key: Redacted.Redacted<string>): Record<string, string> => ({
  Authorization: `Bearer ${Redacted.value(key)}`,
  "Content-Type": "application/json"
})
