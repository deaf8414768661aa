// The approvals console: plain DOM, no framework. Everything shown comes from the server's HTTP API with the
// operator's bearer token; text is always set with textContent, never parsed as HTML.
const $ = (id) => document.getElementById(id)
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props)
  for (const child of children) node.append(child)
  return node
}

let token = sessionStorage.getItem("agentloop-token") ?? ""
let me = undefined
let selected = undefined
let follow = undefined
const timers = new Set()

async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers ?? {}) }
  })
  const text = await response.text()
  let body
  try { body = text === "" ? undefined : JSON.parse(text) } catch { body = text }
  if (!response.ok) throw Object.assign(new Error(describeError(response.status, body)), { status: response.status, body })
  return body
}

function describeError(status, body) {
  if (body?._tag === "AlreadyDecided") {
    const how = body.approved === undefined ? "decided" : body.approved ? "approved" : "denied"
    return `Already ${how}${body.decidedBy ? ` by ${body.decidedBy}` : ""}: your decision was not applied.`
  }
  if (body?._tag === "ApprovalExpired") return "This approval expired before your decision arrived; the call will be denied as expired."
  if (body?._tag === "Forbidden" || status === 403) return body?.message ?? "You are not allowed to do that."
  if (status === 401) return "Your token was not accepted."
  return body?.message ?? body?.detail ?? `The server answered ${status}.`
}

function notice(text, isError = false) {
  const node = $("notice")
  node.textContent = text
  node.className = isError ? "error" : ""
}

const fmtTime = (ms) => new Date(ms).toLocaleTimeString()
const remaining = (ms) => {
  if (ms <= 0) return "expired"
  const s = Math.floor(ms / 1000)
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`
}

async function signIn(candidate) {
  token = candidate
  try {
    me = await api("/api/me")
  } catch (error) {
    $("signin-error").textContent = error.message
    return
  }
  sessionStorage.setItem("agentloop-token", token)
  $("who").textContent = `Signed in as ${me.subject} (${me.role})`
  $("signin").hidden = true
  $("app").hidden = false
  await refresh()
  timers.add(setInterval(refresh, 1000))
  timers.add(setInterval(tickExpiries, 1000))
}

let clockSkew = 0
let pendingKey = undefined

async function refresh() {
  try {
    const { runs } = await api("/api/runs")
    renderRuns(runs)
    const details = await Promise.all(runs.filter((r) => r.status === "suspended").map((r) => api(`/api/runs/${encodeURIComponent(r.runId)}`)))
    if (details.length > 0) clockSkew = details[0].serverTime - Date.now()
    renderPending(details.flatMap((d) => d.pending))
    if (selected !== undefined) await refreshRun()
  } catch (error) {
    notice(error.message, true)
  }
}

function renderRuns(runs) {
  const list = $("runs")
  list.replaceChildren(...runs.map((run) => {
    const button = el("button", { type: "button" },
      el("span", { textContent: `${run.agent} · ${run.runId}` }),
      el("span", { className: `status ${run.status}`, textContent: run.status + (run.pendingCount > 0 ? ` (${run.pendingCount})` : "") }))
    button.dataset.runId = run.runId
    button.setAttribute("aria-current", String(run.runId === selected))
    button.addEventListener("click", () => select(run.runId))
    return el("li", {}, button)
  }))
  if (selected === undefined && runs.length > 0) select(runs[0].runId)
}

function renderPending(pending) {
  const key = pending.map((p) => p.approvalId).join(",")
  $("pending-empty").hidden = pending.length > 0
  // Re-rendering would drop a reason being typed: only redraw when the set of approvals changed.
  if (key === pendingKey) return
  pendingKey = key
  const canDecide = me.permissions.includes("decide")
  $("pending").replaceChildren(...pending.map((p) => {
    const id = `reason-${p.approvalId}`
    const title = el("h3", { id: `title-${p.approvalId}`, textContent: `${p.toolName} in run ${p.runId}` })
    const expires = el("dd", { className: "expires" })
    expires.dataset.expiresAt = p.expiresAt ?? ""
    const card = el("article", { className: "approval" }, title,
      el("dl", {},
        el("dt", { textContent: "Tool" }), el("dd", { textContent: p.toolName }),
        el("dt", { textContent: "Risk" }), el("dd", { textContent: p.risk, className: "risk" }),
        el("dt", { textContent: "Agent path" }), el("dd", { textContent: p.agentPath.join(" › ") }),
        el("dt", { textContent: "Arguments" }), el("dd", {}, el("pre", { textContent: JSON.stringify(p.arguments, null, 2) })),
        el("dt", { textContent: "Requested" }), el("dd", { textContent: fmtTime(p.requestedAt) }),
        el("dt", { textContent: "Expires in" }), expires))
    card.dataset.approvalId = p.approvalId
    card.setAttribute("aria-labelledby", title.id)
    if (canDecide) {
      const reason = el("textarea", { id, name: "reason", rows: 1 })
      const decideWith = (approved) => async () => {
        for (const b of card.querySelectorAll("button")) b.disabled = true
        try {
          const made = await api(`/api/runs/${encodeURIComponent(p.runId)}/approvals/${encodeURIComponent(p.approvalId)}`, {
            method: "POST",
            body: JSON.stringify({ approved, ...(reason.value.trim() === "" ? {} : { reason: reason.value.trim() }) })
          })
          notice(`${made.approved ? "Approved" : "Denied"} ${p.toolName} as ${made.decidedBy}.`)
          select(p.runId)
        } catch (error) {
          notice(error.message, true)
        }
        pendingKey = undefined
        await refresh()
      }
      const approve = el("button", { type: "button", className: "approve", textContent: "Approve" })
      const deny = el("button", { type: "button", className: "deny", textContent: "Deny" })
      approve.addEventListener("click", decideWith(true))
      deny.addEventListener("click", decideWith(false))
      card.append(el("div", { className: "actions" }, el("label", { htmlFor: id, textContent: "Reason" }), reason, approve, deny))
    } else {
      card.append(el("p", { className: "muted", textContent: `Your role (${me.role}) can see this approval but not decide it.` }))
    }
    return card
  }))
  tickExpiries()
}

function tickExpiries() {
  for (const node of document.querySelectorAll("dd.expires")) {
    const at = Number(node.dataset.expiresAt)
    node.textContent = node.dataset.expiresAt === "" ? "never" : remaining(at - (Date.now() + clockSkew))
  }
}

function select(runId) {
  if (selected === runId) return
  selected = runId
  for (const b of document.querySelectorAll("#runs button")) b.setAttribute("aria-current", String(b.dataset.runId === runId))
  $("events").replaceChildren()
  follow?.abort()
  follow = new AbortController()
  followEvents(runId, follow.signal)
  refreshRun()
}

async function refreshRun() {
  const runId = selected
  const [run, audit] = await Promise.all([api(`/api/runs/${encodeURIComponent(runId)}`), api(`/api/runs/${encodeURIComponent(runId)}/audit`)])
  if (runId !== selected) return
  $("run-title").textContent = `Run ${run.runId}`
  $("run-summary").textContent = `${run.agent} · ${run.status} · started by ${run.startedBy} at ${fmtTime(run.createdAt)}` +
    (run.outcome?._tag === "Completed" ? ` · answer: ${run.outcome.text}` : "") + (run.error ? ` · error: ${run.error}` : "")
  $("run-summary").dataset.status = run.status
  $("audit").tBodies[0].replaceChildren(...audit.entries.map((e) => el("tr", {},
    el("td", { textContent: fmtTime(e.at) }),
    el("td", { textContent: e.agentPath.join(" › ") }),
    el("td", { textContent: e.kind.replace("_", " ") + (e.approved === undefined ? "" : e.approved ? " (approved)" : " (denied)") }),
    el("td", { textContent: e.tool ?? "" }),
    el("td", { textContent: [e.by ? `by ${e.by}` : "", e.reason ?? "", e.detail ?? "", e.arguments === undefined ? "" : JSON.stringify(e.arguments)].filter(Boolean).join(" · ") }))))
}

// Server-Sent Events over fetch (EventSource cannot send the bearer token), resuming with Last-Event-ID.
async function followEvents(runId, signal) {
  let last
  while (!signal.aborted) {
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/events`, {
        headers: { authorization: `Bearer ${token}`, ...(last === undefined ? {} : { "last-event-id": last }) },
        signal
      })
      if (!response.ok) return
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buffer += value
        let end
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = parseFrame(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
          if (frame === undefined) continue
          if (frame.id !== undefined) last = frame.id
          showEvent(frame)
        }
      }
    } catch {
      if (signal.aborted) return
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }
}

function parseFrame(block) {
  const fields = {}
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue
    const colon = line.indexOf(":")
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "")
  }
  return fields.data === undefined ? undefined : { id: fields.id, event: fields.event ?? "message", data: JSON.parse(fields.data) }
}

function describeEvent({ event, data }) {
  const e = data._tag === "SubAgentEvent" ? data.event : data
  const via = data._tag === "SubAgentEvent" ? `[${data.path.map((h) => h.agent).join(" › ")}] ` : ""
  switch (e._tag ?? event) {
    case "RunStarted": return `${via}run ${e.resumed ? "resumed" : "started"} (${e.agent})`
    case "StepStarted": return `${via}step ${e.step}`
    case "TextDelta": return `${via}text: ${e.delta}`
    case "ToolCalled": return `${via}call ${e.toolName} ${JSON.stringify(e.arguments)}`
    case "ToolResult": return `${via}${e.isError ? "error" : "result"} ${e.toolName}: ${e.content.slice(0, 160)}`
    case "ApprovalRequested": return `${via}approval requested for ${e.approval.toolName}`
    case "ApprovalDecided": return `${via}${e.approved ? "approved" : "denied"} ${e.toolName}${e.decidedBy ? ` by ${e.decidedBy}` : ""}${e.reason ? `: ${e.reason}` : ""}`
    case "RunFinished": return `${via}run ${e.outcome._tag.toLowerCase()}${e.outcome.text ? `: ${e.outcome.text}` : ""}`
    case "gap": return `events ${data.from}–${data.to} are no longer kept`
    default: return `${via}${e._tag ?? event}`
  }
}

function showEvent(frame) {
  if (frame.event === "UsageReported" || frame.event === "StepFinished") return
  const list = $("events")
  list.append(el("li", { value: Number(frame.id ?? 0), textContent: describeEvent(frame) }))
  list.scrollTop = list.scrollHeight
}

$("signin").addEventListener("submit", (event) => {
  event.preventDefault()
  $("signin-error").textContent = ""
  signIn($("token").value.trim())
})
if (token !== "") signIn(token)
