/**
 * A long conversation under a token budget: `ContextPolicy.layerTokenBudget` trims what the model sees
 * before each step (oldest turns first, never a tool call without its result, never the system message or
 * the newest question); the run state keeps everything. Offline (a scripted model that reports what it was
 * sent); run with `tsx examples/token-budget.ts`; tested by test/composition-examples.test.ts.
 */
import { Agent, AgentBackend, Approval, ContextPolicy, Message, RunStore, Toolkit } from "@agentloop/core"
import { ScriptedModel as S } from "@agentloop/testing"
import { Effect, Layer, Option } from "effect"

const agent = Agent.make({ name: "support", instructions: "You are a patient support agent.", toolkit: Toolkit.make() })

/** 200 earlier exchanges, then a new question: returns how many messages each side saw. */
export const main = (maxTokens = 500) => {
  const conversation: Array<Message.Message> = []
  for (let i = 1; i <= 200; i++) {
    conversation.push(Message.user(`Question ${i}: ${"details ".repeat(10)}`), Message.assistant(`Answer ${i}.`))
  }
  conversation.push(Message.user("What was my first question?"))
  let sent: ReadonlyArray<Message.Message> = []
  const model = S.make([
    S.respond((request) => {
      sent = request.messages
      return S.text("I no longer see it: it was too long ago.")
    })
  ])
  const program = Effect.gen(function* () {
    const backend = yield* AgentBackend.AgentBackend
    const outcome = yield* backend.run({ input: conversation, runId: "long-chat" })
    const stored = Option.getOrThrow(yield* backend.getRun("long-chat"))
    const tokens = sent.reduce((n, m) => n + ContextPolicy.approximateTokens(m), 0)
    return { outcome, sentMessages: sent.length, sentTokens: tokens, storedMessages: stored.messages.length, firstSent: sent[0], secondSent: sent[1] }
  })
  return program.pipe(
    Effect.provide(
      AgentBackend.layerLocal(agent).pipe(
        Layer.provide(
          Layer.mergeAll(model.layer, Approval.layerAutoApprove, RunStore.layerMemory, ContextPolicy.layerTokenBudget({ maxTokens }))
        )
      )
    )
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main()).then(({ sentMessages, sentTokens, storedMessages }) =>
    console.log(`the model saw ${sentMessages} messages (~${sentTokens} tokens); the run state holds ${storedMessages}`)
  )
}
