import { Effect } from "effect"
import { expect, it } from "vitest"
import { makeLayer, program } from "../examples/readme-example.js"

it("the README example suspends on deploy, resumes with the approval and completes on the terminal tool", async () => {
  const outcome = await Effect.runPromise(program.pipe(Effect.provide(makeLayer())))
  expect(outcome).toMatchObject({ _tag: "Completed", reason: "terminal_tool", steps: 2 })
})
