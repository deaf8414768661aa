/**
 * The fake's fixed data: dyno sizes, stacks, regions, generations and an add-on catalog, with stable ids.
 *
 * @internal
 */
import type { Json } from "./http.js"

export const STACK = { id: "5c7e1c4e-6b3c-4e0e-9f0e-24a4b1e0c024", name: "heroku-24" }
export const CEDAR = { id: "c0000000-0000-4000-8000-00000000ceda", name: "cedar" }
export const regionOf = (name: string) => ({ id: name === "eu" ? "ed30241c-ed8c-4bb6-9714-61953675d0b4" : "59accabd-516d-4f0e-83e6-6e3757701145", name })

/** Dyno sizes (Heroku's names; ids fixed uuids, as `GET /dyno-sizes` would give them). */
export const DYNO_SIZES: ReadonlyArray<{ readonly id: string; readonly name: string }> = [
  "Eco",
  "Basic",
  "Standard-1X",
  "Standard-2X",
  "Performance-M",
  "Performance-L",
  "Performance-L-RAM",
  "Performance-XL",
  "Performance-2XL",
  "Private-S",
  "Private-M",
  "Private-L",
  "Shield-S",
  "Shield-M",
  "Shield-L"
].map((name, i) => ({ id: `d0000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`, name }))

/** A dyno size by name (any case, as Heroku takes it) or id. */
export const dynoSize = (given: string): { readonly id: string; readonly name: string } | undefined =>
  DYNO_SIZES.find((size) => size.id === given || size.name.toLowerCase() === given.toLowerCase())

/** The add-on catalog the fake offers: a few services, each with its plans. */
const CATALOG_SOURCE: ReadonlyArray<readonly [string, string, ReadonlyArray<readonly [string, number]>]> = [
  ["heroku-postgresql", "Heroku Postgres", [["essential-0", 500], ["essential-1", 900], ["standard-0", 5000]]],
  ["heroku-redis", "Heroku Key-Value Store", [["mini", 300], ["premium-0", 1500]]],
  ["papertrail", "Papertrail", [["choklad", 0], ["fixa", 700]]],
  // Managed Inference: one plan per model, metered (no monthly price).
  ["heroku-inference", "Heroku Managed Inference and Agents", [["claude-4-5-sonnet", 0], ["claude-4-5-haiku", 0], ["gpt-oss-120b", 0], ["cohere-embed-multilingual", 0]]]
]
export const CATALOG: ReadonlyArray<{ readonly service: Json; readonly plans: ReadonlyArray<Json> }> = CATALOG_SOURCE.map(([name, human, plans], i) => {
  const serviceId = `a0000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`
  const at = "2024-01-01T00:00:00Z"
  return {
    service: {
      id: serviceId,
      name,
      human_name: human,
      cli_plugin_name: null,
      state: "ga",
      supports_multiple_installations: true,
      supports_sharing: true,
      supported_generations: [{ id: "c0000000-0000-4000-8000-00000000ceda", name: "cedar" }],
      created_at: at,
      updated_at: at
    },
    plans: plans.map(([plan, cents], j) => ({
      id: `b0000000-0000-4000-8${i}00-${String(j + 1).padStart(12, "0")}`,
      name: `${name}:${plan}`,
      human_name: plan,
      description: `${human} ${plan}`,
      addon_service: { id: serviceId, name },
      price: { cents, contract: false, unit: "month" },
      state: "public",
      default: j === 0,
      compliance: null,
      installable_inside_private_network: true,
      installable_outside_private_network: true,
      space_default: false,
      visible: true,
      created_at: at,
      updated_at: at
    }))
  }
})

