// The dashboard: live sessions and calls, a session's transcript as it happens, latency charts
// and the server's event-loop lag.
// Live traffic comes from the dashboard relay socket (all sessions for staff, else the chosen one).

import { api, el, formatMs, formatTime, sessionToken, wsUrl } from "./api.js";
import { Chart, STAGE_COLORS } from "./chart.js";
import { fetchSessionHistory, prependTurns } from "./session_history.js";
import { LATENCY_STAGES, Transcript, agentLabel } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const root = $("dashboard");
const isStaff = root.dataset.staff === "1";
const state = {
  selected: root.dataset.session || "",
  sessions: new Map(), // session_id -> {session_id, status, active_agent, start_time, live}
  relay: null,
  relayScope: null,
  retries: 0,
  turnRows: [],
  selection: 0, // bumped by each select(): a slow history answer for an older pick is dropped
  liveSince: null, // server time of the first live message of the selected session
  liveAgent: false, // the selected session's agent is known from a live message
};
window.__dashboard = { envelopes: 0, sessionEnvelopes: 0 };

const stageSeries = LATENCY_STAGES.filter(([key]) => key !== "barge_in_ms")
  .map(([key, label]) => ({ key, label, color: STAGE_COLORS[key] }));
const turnChart = new Chart($("turn-chart"), { series: stageSeries, legend: $("turn-legend") });
const summaryChart = new Chart($("summary-chart"), {
  kind: "bar",
  series: [
    { key: "p50", label: "p50", color: "#2563eb" },
    { key: "p95", label: "p95", color: "#93c5fd" },
  ],
  legend: $("summary-legend"),
});

const loopLagChart = new Chart($("loop-lag-chart"), {
  series: [
    { key: "max_ms", label: "max per second", color: "#b45309" },
    { key: "p99_ms", label: "p99 per second", color: "#2563eb" },
  ],
  legend: $("loop-lag-legend"),
  empty: "Not measured yet in this process",
  dots: false,
});

const transcript = new Transcript($("dashboard-transcript"), {
  onAgent: (agent) => {
    state.liveAgent = true;
    $("selected-agent").textContent = agentLabel(agent);
  },
  onMetrics: (m) => {
    const turn = m.turn_id ?? m.turn_number;
    state.turnRows = state.turnRows.filter((row) => row.turn !== turn);
    state.turnRows.push({ ...m, turn: m.turn_number ?? turn });
    drawTurns();
  },
});

function drawTurns() {
  const rows = state.turnRows.slice(-40);
  turnChart.setData(rows.map((r) => r.turn), rows);
}

// --- sessions -------------------------------------------------------------------------------

function renderSessions() {
  const list = $("session-list");
  const sessions = [...state.sessions.values()].sort((a, b) =>
    (b.live - a.live) || String(b.start_time || "").localeCompare(String(a.start_time || "")));
  list.replaceChildren(...sessions.slice(0, 60).map((s) => el("li", {
    class: s.session_id === state.selected ? "selected" : "",
    dataset: { session: s.session_id },
    onclick: () => select(s.session_id),
  },
  el("span", {}, s.session_id, " "),
  s.live || s.status === "active" ? el("span", { class: "pill live" }, "live") : null,
  el("small", {}, [s.transport_type, agentLabel(s.active_agent), formatTime(s.start_time)]
    .filter(Boolean).join(" · ")))));
  if (!sessions.length) list.replaceChildren(el("li", { class: "muted" }, "No sessions yet."));
}

async function loadSessions() {
  try {
    const body = await api("/api/v1/metrics/sessions", { query: { limit: 60 } });
    for (const s of body.sessions || []) {
      const known = state.sessions.get(s.session_id) || {};
      state.sessions.set(s.session_id, { ...known, ...s });
    }
    $("session-counts").textContent =
      `${body.total_active ?? 0} active · ${body.browser_sessions ?? 0} browser · ${body.media_sessions ?? 0} phone`;
  } catch (error) {
    $("session-counts").textContent = `Sessions unavailable: ${error.message}`;
  }
  renderSessions();
}

async function loadCalls() {
  try {
    const body = await api("/api/v1/calls/", { query: { limit: 10 } });
    const calls = body.calls || body.results || [];
    $("call-list").replaceChildren(...(calls.length ? calls.map((c) => el("li", {},
      el("span", {}, c.to_number || c.target_number || c.call_id, " "), el("span", { class: "pill" }, c.status),
      el("small", {}, c.call_id))) : [el("li", { class: "muted" }, "No calls.")]));
  } catch (error) {
    $("call-list").replaceChildren(el("li", { class: "muted" }, `Calls unavailable: ${error.message}`));
  }
}

async function loadSummary() {
  try {
    const body = await api("/api/v1/metrics/summary", { query: { window_minutes: 60 } });
    const summary = body.latency_summary || {};
    const stages = [["stt_final", "STT"], ["llm_ttft", "LLM 1st"], ["tts_ttfb", "TTS 1st"], ["first_audio", "first audio"]];
    const present = stages.filter(([key]) => summary[key]);
    summaryChart.setData(present.map(([, label]) => label),
      present.map(([key]) => ({ p50: summary[key].p50_ms, p95: summary[key].p95_ms })));
    $("summary-text").textContent =
      `${body.turn_count ?? 0} turns, ${body.interrupted_turns ?? 0} interrupted, ${body.error_count ?? 0} errors in the last hour.`;
  } catch (error) {
    $("summary-text").textContent = `Summary unavailable: ${error.message}`;
  }
}

// One second per point, the last five minutes up to the server's latest second; seconds the
// server has no figure for are gaps.
async function loadLoopLag() {
  try {
    const body = await api("/api/v1/metrics/loop");
    const points = new Map((body.series || []).map((p) => [p.t, p]));
    const last = body.series?.length ? body.series[body.series.length - 1].t : null;
    const labels = [];
    const rows = [];
    if (last !== null) {
      for (let t = last - 299; t <= last; t += 1) {
        labels.push(`${t - last} s`);
        rows.push(points.get(t) || {});
      }
    }
    loopLagChart.setData(labels, rows);
    const stalls = body.stalls || {};
    $("loop-lag-text").textContent = body.running
      ? `Last ${Math.round(body.window_s)} s: p50 ${formatMs(body.p50_ms)}, p99 ${formatMs(body.p99_ms)}, ` +
        `max ${formatMs(body.max_ms)}; ${stalls.over_100_ms ?? 0} stalls ≥ 100 ms, ` +
        `${stalls.over_1000_ms ?? 0} ≥ 1 s (${body.ticks} ticks of ${body.tick_ms} ms).` +
        (body.saturated ? " Saturated: readiness answers 503." : "")
      : "The server has not started measuring its event loop yet.";
  } catch (error) {
    $("loop-lag-text").textContent = `Event-loop lag unavailable: ${error.message}`;
  }
}

async function select(sessionId) {
  const selection = ++state.selection;
  state.selected = sessionId;
  state.turnRows = [];
  state.liveSince = null;
  state.liveAgent = false;
  const url = new URL(window.location.href);
  url.searchParams.set("session_id", sessionId);
  history.replaceState(null, "", url);
  $("selected-title").textContent = sessionId;
  $("selected-agent").textContent = "—";
  transcript.clear();
  drawTurns();
  renderSessions();
  if (!isStaff) connectRelay(sessionId);
  // Live messages are shown as they come while the history loads; the history goes above them,
  // and the stored agent (written after the fact) never replaces one a live message named.
  let detail;
  try {
    detail = await fetchSessionHistory(sessionId);
  } catch (error) {
    if (selection === state.selection) transcript.system(`History unavailable: ${error.message}`, "error");
    return;
  }
  if (!detail || selection !== state.selection) return;
  if (!state.liveAgent) $("selected-agent").textContent = agentLabel(detail.active_agent) || "—";
  const past = [];
  prependTurns(transcript, detail.turns, {
    liveSince: state.liveSince,
    onMetrics: (m) => past.push({ ...m, turn: m.turn_number }),
    note: "— live from here —",
  });
  state.turnRows = [...past, ...state.turnRows];
  drawTurns();
}

// --- live relay -----------------------------------------------------------------------------

function logEvent(envelope) {
  const what = envelope.type === "event"
    ? envelope.payload?.event_type || envelope.payload?.type || "event"
    : envelope.action ? `${envelope.type}:${envelope.action}` : envelope.type;
  const log = $("event-log");
  log.prepend(el("li", {}, el("b", {}, what), " ", el("small", {},
    `${envelope.session_id || ""} · ${formatTime(envelope.ts || envelope.timestamp || new Date().toISOString())}`)));
  while (log.childElementCount > 100) log.lastElementChild.remove();
}

function onEnvelope(envelope) {
  window.__dashboard.envelopes += 1;
  const sessionId = envelope.session_id;
  if (envelope.type === "status" && envelope.payload?.event === "relay_connected") return;
  if (sessionId) {
    const known = state.sessions.get(sessionId);
    if (!known || !known.live) {
      state.sessions.set(sessionId, { session_id: sessionId, start_time: new Date().toISOString(), ...known, live: true });
      renderSessions();
    }
    if (envelope.type === "exit") { state.sessions.get(sessionId).live = false; renderSessions(); }
  }
  if (envelope.type !== "assistant_streaming") logEvent(envelope);
  if (!state.selected && isStaff && sessionId) select(sessionId);
  if (sessionId && sessionId === state.selected) {
    window.__dashboard.sessionEnvelopes += 1;
    state.liveSince ??= envelope.ts || envelope.timestamp || envelope.at || null;
    transcript.handle(envelope);
  }
}

function connectRelay(sessionId) {
  const scope = isStaff ? "all" : sessionId;
  if (!scope) { $("relay-status").textContent = "pick a session"; return; }
  if (state.relay && state.relayScope === scope) return;
  if (state.relay) { const old = state.relay; state.relay = null; old.close(); }
  state.relayScope = scope;
  const ws = new WebSocket(wsUrl("/api/v1/browser/dashboard/relay", isStaff ? {} : {
    session_id: sessionId, session_token: sessionToken(sessionId),
  }));
  state.relay = ws;
  ws.onopen = () => {
    state.retries = 0;
    $("relay-status").textContent = isStaff ? "live · all sessions" : "live";
    $("relay-status").className = "pill ok";
  };
  ws.onmessage = (event) => { try { onEnvelope(JSON.parse(event.data)); } catch { /* not JSON */ } };
  ws.onclose = (event) => {
    if (state.relay !== ws) return;
    state.relay = null;
    $("relay-status").textContent = event.reason || "disconnected";
    $("relay-status").className = "pill bad";
    if (event.code >= 4400 && event.code < 4500) return;
    const delay = Math.min(5000, 250 * 2 ** state.retries++);
    setTimeout(() => { state.relayScope = null; connectRelay(state.selected); }, delay);
  };
}

connectRelay(state.selected);
loadSessions();
loadCalls();
loadSummary();
loadLoopLag();
if (state.selected) select(state.selected);
setInterval(loadSessions, 5000);
setInterval(loadCalls, 10000);
setInterval(loadSummary, 15000);
setInterval(loadLoopLag, 3000);
