/**
 * Our tool rules as Letta `tool_rules` and back. Pure.
 *
 * @since 0.1.0
 */
import { ToolRule } from "@agentloop/core"

/** A Letta tool rule on the wire (`letta/schemas/tool_rule.py`); unknown fields are kept on the way back. */
export type LettaToolRule = { readonly type: string; readonly tool_name: string; readonly [key: string]: unknown }

export const toLetta = (rule: ToolRule.ToolRule): LettaToolRule => {
  switch (rule._tag) {
    case "Init":
      return { type: "run_first", tool_name: rule.tool, ...(rule.args === undefined ? {} : { args: rule.args }) }
    case "Child":
      return {
        type: "constrain_child_tools",
        tool_name: rule.tool,
        children: rule.children,
        ...(rule.childArgNodes === undefined ? {} : { child_arg_nodes: rule.childArgNodes.map((n) => ({ name: n.name, ...(n.args === undefined ? {} : { args: n.args }) })) })
      }
    case "Parent":
      return { type: "parent_last_tool", tool_name: rule.tool, children: rule.children }
    case "Terminal":
      return { type: "exit_loop", tool_name: rule.tool }
    case "Continue":
      return { type: "continue_loop", tool_name: rule.tool }
    case "Conditional":
      return {
        type: "conditional",
        tool_name: rule.tool,
        child_output_mapping: rule.childOutputMapping,
        ...(rule.defaultChild === undefined ? {} : { default_child: rule.defaultChild }),
        require_output_mapping: rule.requireOutputMapping ?? false
      }
    case "RequiredBeforeExit":
      return { type: "required_before_exit", tool_name: rule.tool }
    case "MaxCountPerStep":
      return { type: "max_count_per_step", tool_name: rule.tool, max_count_limit: rule.maxCount }
    case "RequiresApproval":
      return { type: "requires_approval", tool_name: rule.tool }
  }
}

/** Letta's rules as ours; rule types we do not know are returned separately, never silently dropped. */
export const fromLetta = (
  rules: ReadonlyArray<LettaToolRule>
): { readonly rules: ReadonlyArray<ToolRule.ToolRule>; readonly unknown: ReadonlyArray<LettaToolRule> } => {
  const out: Array<ToolRule.ToolRule> = []
  const unknown: Array<LettaToolRule> = []
  for (const r of rules) {
    const tool = r.tool_name
    switch (r.type) {
      case "run_first":
        out.push(ToolRule.init(tool, r["args"] === undefined || r["args"] === null ? undefined : { args: r["args"] as Record<string, unknown> }))
        break
      case "constrain_child_tools": {
        const nodes = r["child_arg_nodes"] as ReadonlyArray<{ name: string; args?: Record<string, unknown> }> | null | undefined
        out.push(ToolRule.child(tool, (r["children"] as ReadonlyArray<string>) ?? [], nodes ? { childArgNodes: nodes } : undefined))
        break
      }
      case "parent_last_tool":
        out.push(ToolRule.parent(tool, (r["children"] as ReadonlyArray<string>) ?? []))
        break
      case "exit_loop":
        out.push(ToolRule.terminal(tool))
        break
      case "continue_loop":
        out.push(ToolRule.continue(tool))
        break
      case "conditional":
        out.push(
          ToolRule.conditional(tool, {
            childOutputMapping: (r["child_output_mapping"] as Record<string, string>) ?? {},
            ...(typeof r["default_child"] === "string" ? { defaultChild: r["default_child"] } : {}),
            requireOutputMapping: r["require_output_mapping"] === true
          })
        )
        break
      case "required_before_exit":
        out.push(ToolRule.requiredBeforeExit(tool))
        break
      case "max_count_per_step":
        out.push(ToolRule.maxCountPerStep(tool, Number(r["max_count_limit"])))
        break
      case "requires_approval":
        out.push(ToolRule.requiresApproval(tool))
        break
      default:
        unknown.push(r)
    }
  }
  return { rules: out, unknown }
}
