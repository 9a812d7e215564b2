// The conversation page: microphone and typed messages in, transcript and agent audio out.
// Protocol: docs/browser-protocol.md.

import {
  api, el, formatMs, newSessionId, rememberSession, sessionHeaders, sessionToken, storedSessionId, wsUrl,
} from "./api.js";
import { Microphone } from "./audio/mic.js";
import { Player } from "./audio/player.js";
import { Transcript, agentLabel } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const FINAL_CLOSE_CODES = new Set([1000, 4400, 4401, 4403, 4500]);

const state = {
  sessionId: storedSessionId() || newSessionId(),
  mode: sessionStorage.getItem("voice.mode") || "realtime",
  email: sessionStorage.getItem("voice.user_email") || "",
  ws: null,
  wantConnected: false,
  retries: 0,
  pending: [],
  cancelledTurn: -1,
  turns: new Map(),
};
rememberSession(state.sessionId);
window.__conversation = { messages: 0, bargeIns: 0, pauses: 0, status: "idle", sessionId: state.sessionId };

const transcript = new Transcript($("transcript"), {
  onAgent: (agent) => { $("active-agent").textContent = agentLabel(agent); },
  onMetrics: addLatencyRow,
  onStatus: (payload) => {
    if (payload.active_agent) $("active-agent").textContent = agentLabel(payload.active_agent);
    if (payload.event === "agent_ready" && payload.resumed) transcript.system("Session resumed");
  },
});

const player = new Player({
  sampleRate: 16000,
  onStats: (stats) => {
    $("playback-stats").textContent = `Played ${(stats.played / 16000).toFixed(1)} s of agent audio.`;
  },
});

const mic = new Microphone({
  onFrame: (pcm) => {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(pcm);
  },
  onLevel: (level) => { $("mic-level").style.width = `${Math.min(100, (level / 6000) * 100)}%`; },
});

function setStatus(text, tone = "") {
  const pill = $("conn-status");
  pill.textContent = text;
  pill.className = `pill ${tone}`;
  window.__conversation.status = text;
}

function refreshSessionUi() {
  $("session-id").textContent = state.sessionId;
  $("dashboard-link").href = `/dashboard/?session_id=${encodeURIComponent(state.sessionId)}`;
  $("mode-select").value = state.mode;
  const connected = state.ws && state.ws.readyState === WebSocket.OPEN;
  $("interrupt-btn").disabled = !connected;
  $("end-btn").disabled = !state.wantConnected;
  $("mute-btn").disabled = !mic.running;
  $("start-btn").textContent = mic.running ? "Stop talking" : "Start talking";
}

function connect() {
  if (state.ws && state.ws.readyState <= WebSocket.OPEN) return;
  state.wantConnected = true;
  setStatus("connecting…", "warn");
  const ws = new WebSocket(wsUrl("/api/v1/browser/conversation", {
    session_id: state.sessionId,
    session_token: sessionToken(state.sessionId),
    streaming_mode: state.mode,
    user_email: state.email,
  }));
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => {
    state.retries = 0;
    setStatus("connected", "ok");
    for (const text of state.pending.splice(0)) ws.send(text);
    refreshSessionUi();
  };
  ws.onmessage = (event) => onMessage(event.data);
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    refreshSessionUi();
    if (FINAL_CLOSE_CODES.has(event.code) || !state.wantConnected) {
      state.wantConnected = false;
      setStatus(event.code === 1000 || !event.reason ? "not connected" : "refused", event.code === 1000 ? "" : "bad");
      if (event.reason) transcript.system(`Connection closed: ${event.reason}`, "error");
      mic.stop().then(refreshSessionUi);
      return;
    }
    const delay = Math.min(5000, 250 * 2 ** state.retries++);
    setStatus(`reconnecting in ${(delay / 1000).toFixed(1)} s`, "warn");
    setTimeout(() => { if (state.wantConnected) connect(); }, delay);
  };
}

function onMessage(data) {
  let message;
  try { message = JSON.parse(data); } catch { return; }
  window.__conversation.messages += 1;
  if (message.type === "audio_data") {
    if ((message.turn_id ?? 0) > state.cancelledTurn || message.turn_id === undefined) {
      player.enqueueBase64(message.data, message.sample_rate);
    }
    return;
  }
  if (message.type === "control" && message.action === "audio_stop" && message.resumable) {
    // The caller may be starting to talk: stop now; the same turn's audio may resume.
    player.clear();
    window.__conversation.pauses += 1;
    return;
  }
  if (message.type === "control" && (message.action === "audio_stop" || message.action === "tts_cancelled")) {
    // Barge-in: drop what is queued now, and anything late from the cancelled turn.
    player.clear();
    state.cancelledTurn = Math.max(state.cancelledTurn, message.turn_id ?? state.cancelledTurn);
    if (message.action === "audio_stop") window.__conversation.bargeIns += 1;
  }
  if (message.type === "pong") return;
  if (message.type === "status" && message.session_id && message.payload?.event === "session_started") {
    // The first socket of a new anonymous session carries its token, once.
    state.sessionId = message.session_id;
    rememberSession(state.sessionId, message.payload.session_token);
    refreshSessionUi();
  }
  transcript.handle(message);
}

function send(payload) {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(text);
  else state.pending.push(text);
}

function disconnect() {
  state.wantConnected = false;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "end" }));
  else if (state.ws) state.ws.close();
  player.clear();
}

function addLatencyRow(metrics) {
  const turn = metrics.turn_id ?? metrics.turn_number;
  const row = el("tr", { dataset: { turn } },
    el("td", {}, String(turn)),
    el("td", {}, formatMs(metrics.stt_latency_ms)),
    el("td", {}, formatMs(metrics.llm_ttft_ms)),
    el("td", {}, formatMs(metrics.tts_ttfb_ms)),
    el("td", {}, formatMs(metrics.first_audio_ms)),
    el("td", {}, formatMs(metrics.barge_in_ms)));
  const body = $("latency-table").querySelector("tbody");
  body.querySelector(`tr[data-turn="${turn}"]`)?.remove();
  body.prepend(row);
}

// --- controls -------------------------------------------------------------------------------

$("start-btn").addEventListener("click", async () => {
  try {
    if (mic.running) {
      await mic.stop();
    } else {
      player.start(); // inside the click: browsers allow audio to start
      connect();
      await mic.start();
      transcript.system("Listening… speak now.");
    }
  } catch (error) {
    transcript.system(`Microphone: ${error.message}`, "error");
  }
  refreshSessionUi();
});

$("mute-btn").addEventListener("click", () => {
  mic.setMuted(!mic.muted);
  $("mute-btn").textContent = mic.muted ? "Unmute" : "Mute";
  send({ type: mic.muted ? "mute" : "unmute" });
});

$("interrupt-btn").addEventListener("click", () => {
  player.clear();
  send({ type: "stop" });
});

$("end-btn").addEventListener("click", async () => {
  disconnect();
  await mic.stop();
  refreshSessionUi();
});

$("new-session-btn").addEventListener("click", async () => {
  disconnect();
  await mic.stop();
  state.sessionId = newSessionId();
  rememberSession(state.sessionId);
  window.__conversation.sessionId = state.sessionId;
  transcript.clear();
  $("latency-table").querySelector("tbody").replaceChildren();
  transcript.system("New session. Press Start talking or type a message.");
  refreshSessionUi();
});

$("mode-select").addEventListener("change", (event) => {
  state.mode = event.target.value;
  sessionStorage.setItem("voice.mode", state.mode);
  if (state.wantConnected) {
    transcript.system(`Switching to ${event.target.selectedOptions[0].textContent}…`);
    const ws = state.ws;
    state.ws = null;
    if (ws) ws.close();
    connect();
  }
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("message-input");
  const text = input.value.trim();
  if (!text) return;
  player.start();
  connect();
  send(text);
  input.value = "";
});

async function useProfile(profile) {
  state.email = profile.email || profile.profile?.email || state.email;
  sessionStorage.setItem("voice.user_email", state.email);
  const p = profile.profile || profile;
  const shown = [
    el("p", {}, el("b", {}, p.full_name || ""), ` · ${p.institution_name || ""} · ${p.relationship_tier || ""}`),
  ];
  const codes = p.verification_codes;
  if (codes) {
    // Only the creation answer carries the codes (stored hashed): shown once, to this visitor.
    shown.push(el("p", { class: "codes" },
      `Verify as ${p.full_name}: SSN last four ${codes.ssn4} · MFA code ${codes.mfa_code}` +
      ` · e-signature code ${codes.esignature_code} (shown once; note them now).`));
  }
  shown.push(el("p", { class: "muted" },
    "The agent now knows this profile. Try: \"Verify me, my name is " + (p.full_name || "…") +
    " and my last four are …\", then \"What is my account balance?\""));
  $("profile-result").replaceChildren(...shown);
  if (state.wantConnected) {
    const ws = state.ws;
    state.ws = null;
    if (ws) ws.close();
    connect();
  }
}

$("profile-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { full_name: form.get("full_name"), email: form.get("email"), session_id: state.sessionId };
  if (form.get("phone_number")) body.phone_number = form.get("phone_number");
  try {
    const created = await api("/api/v1/demo-env/temporary-user", {
      method: "POST", body, headers: sessionHeaders(state.sessionId),
    });
    // The profile may be the first use of this session: then its token comes with it.
    if (created.session_id === state.sessionId) rememberSession(state.sessionId, created.session_token);
    await useProfile(created);
  } catch (error) {
    $("profile-result").textContent = error.message;
  }
});

$("lookup-profile-btn").addEventListener("click", async () => {
  const email = new FormData($("profile-form")).get("email");
  if (!email) { $("profile-result").textContent = "Enter the profile's email first."; return; }
  try {
    await useProfile(await api("/api/v1/demo-env/temporary-user", {
      query: { email, session_id: state.sessionId }, headers: sessionHeaders(state.sessionId),
    }));
  } catch (error) {
    $("profile-result").textContent = error.message;
  }
});

refreshSessionUi();
import("./session_history.js").then((m) => m.restoreConversation({ sessionId: state.sessionId, transcript, agentBadge: $("active-agent") }));
