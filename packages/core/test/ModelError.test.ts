import { describe, expect, it } from "@effect/vitest"
import { LanguageModel } from "../src/index.js"

describe("LanguageModel.modelErrorWith", () => {
  it("keeps every field of the error (message and cause included) and applies the changes", () => {
    const cause = new Error("socket hang up")
    const received = [{ _tag: "TextDelta", text: "par" }] as unknown as LanguageModel.ModelErrorFields["received"] & {}
    const error = new LanguageModel.ModelError({ message: "boom", retryable: true, provider: "p", status: 503, reason: "status", received, cause })
    const changed = LanguageModel.modelErrorWith(error, { message: "scrubbed", retryable: false })
    expect(changed).toBeInstanceOf(LanguageModel.ModelError)
    expect(changed).not.toBe(error)
    expect({ ...changed, message: changed.message, cause: changed.cause }).toEqual({
      _tag: "ModelError", message: "scrubbed", retryable: false, provider: "p", status: 503, reason: "status", received, cause
    })
    // The original is unchanged.
    expect([error.message, error.retryable]).toEqual(["boom", true])
  })

  it("leaves absent optional fields absent", () => {
    const changed = LanguageModel.modelErrorWith(new LanguageModel.ModelError({ message: "m", retryable: false }), { status: 400 })
    expect(Object.keys(changed).sort()).toEqual(["_tag", "retryable", "status"])
    expect([changed.message, changed.cause]).toEqual(["m", undefined])
  })
})
