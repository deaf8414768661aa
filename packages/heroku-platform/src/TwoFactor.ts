/**
 * A second factor for calls Heroku protects with two-factor authentication (an answer `403` with id
 * `two_factor`). When a handler gets that answer and a `TwoFactor` service is provided, it asks for a code
 * and repeats the call once with it in the `Heroku-Two-Factor-Code` header. The code is a `Redacted`: it
 * never reaches the model, an event, an error or the audit log (which records who supplied it).
 *
 * @since 0.1.0
 */
import { Approval } from "@agentloop/core"
import { Context, Effect, Layer, Option, Redacted } from "effect"

/** What the human is asked about. */
export interface Challenge {
  readonly runId: string
  readonly toolCallId: string
  readonly agent: string
  readonly tool: string
  readonly app: string | undefined
}

export interface Answer {
  readonly code: Redacted.Redacted<string>
  /** Who supplied the code (for the audit log). */
  readonly by: string | undefined
}

export interface Service {
  /** A code for this call, or none (the call then fails with Heroku's `two_factor` error). */
  readonly request: (challenge: Challenge) => Effect.Effect<Option.Option<Answer>>
}

export class TwoFactor extends Context.Service<TwoFactor, Service>()("@agentloop/heroku-platform/TwoFactor") {}

/** The tool name a two-factor challenge is asked under (for approval policies and UIs). */
export const CHALLENGE_TOOL = "heroku_two_factor"

/** Your own prompt (a chat message, a CLI question, a secrets manager). */
export const layer = (request: Service["request"]): Layer.Layer<TwoFactor> => Layer.succeed(TwoFactor, { request })

/**
 * Through the run's `Approvals` service: the challenge is an approval request for `heroku_two_factor`
 * (arguments `{ tool, app }`, tool call id `<call>#two-factor`), and an approval's answer carries the code in
 * its `reason` (`Verdict.approved({ by, reason: code })`). A denial, or a verdict that would suspend, gives
 * no code. The answer stays inside the handler: it is not a run event.
 */
export const layerFromApprovals: Layer.Layer<TwoFactor, never, Approval.Approvals> = Layer.effect(
  TwoFactor,
  Effect.map(Approval.Approvals, (approvals) => ({
    request: (challenge: Challenge) => {
      const args = { tool: challenge.tool, ...(challenge.app === undefined ? {} : { app: challenge.app }) }
      return Effect.map(
        approvals.decide({
          runId: challenge.runId,
          step: 0,
          toolCallId: `${challenge.toolCallId}#two-factor`,
          toolName: CHALLENGE_TOOL,
          arguments: args,
          argumentsDigest: Approval.argumentsDigest(args)
        }),
        (verdict): Option.Option<Answer> =>
          verdict._tag === "Approved" && verdict.reason !== undefined && verdict.reason.trim() !== ""
            ? Option.some({ code: Redacted.make(verdict.reason.trim()), by: verdict.by })
            : Option.none()
      )
    }
  }))
)
