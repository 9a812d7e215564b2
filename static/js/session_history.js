// A session's stored turns (GET /api/v1/metrics/session/{id}?include_turns=true) shown in a
// transcript above whatever arrived live meanwhile. Used by the dashboard and the conversation page.

import { api, el, sessionHeaders } from "./api.js";
import { Transcript, agentLabel } from "./transcript.js";

// The session's detail with its turns; null when it is not stored yet or the visitor may not read
// its turns (only staff and the session's creator may: an anonymous visitor with its token).
export async function fetchSessionHistory(sessionId) {
  try {
    return await api(`/api/v1/metrics/session/${encodeURIComponent(sessionId)}`, {
      query: { include_turns: "true" }, headers: sessionHeaders(sessionId),
    });
  } catch (error) {
    if ([401, 403, 404].includes(error.status)) return null;
    throw error;
  }
}

// Renders `turns` before the transcript's current content; returns how many it took.
// liveSince: server time (ISO) of the first live message of this session the page received:
// a turn stored at or after it was already shown live. onMetrics gets each turn's latencies in
// the shape of a live `turn_metrics` payload.
export function prependTurns(transcript, turns, { liveSince, onMetrics, note } = {}) {
  const since = liveSince ? Date.parse(liveSince) : Infinity;
  const past = (turns || []).filter((turn) => !(Date.parse(turn.timestamp) >= since));
  if (!past.length) return 0;
  // A transcript of its own: turn ids of stored turns never meet the live ones.
  const holder = document.createElement("div");
  const history = new Transcript(holder, { onMetrics });
  let agent = "";
  for (const turn of past) {
    const turnId = `past-${turn.turn_number}`;
    const metrics = {
      turn_id: turnId, turn_number: turn.turn_number, stt_latency_ms: turn.stt_latency_ms,
      llm_ttft_ms: turn.llm_ttfb_ms, tts_ttfb_ms: turn.tts_ttfb_ms,
      first_audio_ms: turn.total_latency_ms, barge_in_ms: turn.barge_in_ms,
    };
    if (!turn.user_text && !turn.assistant_text && !(turn.tool_calls || []).length) {
      // Nothing was said (a greeting cut off at once): a point on the charts, no bubble.
      if (onMetrics) onMetrics(metrics);
      agent = turn.agent || agent;
      continue;
    }
    if (turn.user_text) {
      history.handle({ type: "event", payload: { type: "user", turn_id: turnId, message: turn.user_text } });
    }
    for (const call of turn.tool_calls || []) {
      history.add(el("div", { class: "msg tool", dataset: { tool: call.name } },
        el("span", { class: "who" }, "Tool"), el("strong", {}, call.name), " ",
        el("span", { class: `state ${call.status === "success" ? "" : "error"}` }, call.status || "")));
    }
    // A turn is stored under the agent active at its end: a change between turns is a handoff.
    if (agent && turn.agent && turn.agent !== agent) {
      history.system(`Handoff: ${agentLabel(agent)} → ${agentLabel(turn.agent)}`);
    }
    agent = turn.agent || agent;
    if (turn.assistant_text) {
      history.handle({ type: "event", sender: turn.agent, payload: {
        type: "assistant", turn_id: turnId, message: turn.assistant_text, active_agent: turn.agent,
        interrupted: turn.interrupted } });
    }
    history.handle({ type: "turn_metrics", payload: metrics });
  }
  if (note) history.system(note);
  for (const node of holder.children) node.classList.add("past");
  transcript.container.prepend(...holder.childNodes);
  transcript.container.scrollTop = transcript.container.scrollHeight;
  return past.length;
}

// The conversation page on load: a stored session's turns, and its agent until the socket says.
export async function restoreConversation({ sessionId, transcript, agentBadge }) {
  let detail = null;
  try {
    detail = await fetchSessionHistory(sessionId);
  } catch (error) {
    transcript.system(`Earlier turns unavailable: ${error.message}`, "error");
    return;
  }
  // Dropped when the visitor started a new session meanwhile.
  if (!detail || (window.__conversation && window.__conversation.sessionId !== sessionId)) return;
  if (agentBadge.textContent.trim() === "—" && detail.active_agent) {
    agentBadge.textContent = agentLabel(detail.active_agent);
  }
  const shown = prependTurns(transcript, detail.turns, { note: "Earlier in this session ↑" });
  if (window.__conversation) window.__conversation.restoredTurns = shown;
}
