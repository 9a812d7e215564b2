// Renders the conversation protocol (browser.protocol) as a live transcript.
// Shared by the conversation page and the dashboard.

import { el, formatMs } from "./api.js";

export const LATENCY_STAGES = [
  ["stt_latency_ms", "STT"],
  ["llm_ttft_ms", "LLM first token"],
  ["tts_ttfb_ms", "TTS first byte"],
  ["first_audio_ms", "first audio"],
  ["barge_in_ms", "barge-in"],
];

export function agentLabel(name) {
  return (name || "").replace(/[_-]+/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());
}

export class Transcript {
  constructor(container, { onAgent, onMetrics, onStatus, onControl } = {}) {
    this.container = container;
    this.onAgent = onAgent || (() => {});
    this.onMetrics = onMetrics || (() => {});
    this.onStatus = onStatus || (() => {});
    this.onControl = onControl || (() => {});
    this.users = new Map(); // turn_id -> bubble
    this.assistants = new Map(); // `${turn_id}:${agent}` -> bubble
    this.tools = new Map(); // call_id -> card
  }

  clear() {
    this.container.replaceChildren();
    this.users.clear();
    this.assistants.clear();
    this.tools.clear();
  }

  add(node) {
    const nearBottom =
      this.container.scrollHeight - this.container.scrollTop - this.container.clientHeight < 80;
    this.container.append(node);
    if (nearBottom) this.container.scrollTop = this.container.scrollHeight;
    return node;
  }

  system(text, cls = "system") {
    return this.add(el("div", { class: `msg ${cls}` }, text));
  }

  userBubble(turnId) {
    let bubble = this.users.get(turnId);
    if (!bubble) {
      bubble = el("div", { class: "msg user partial", dataset: { turn: turnId } },
        el("span", { class: "who" }, "You"), el("span", { class: "text" }));
      this.users.set(turnId, bubble);
      this.add(bubble);
    }
    return bubble;
  }

  assistantBubble(turnId, agent) {
    const key = `${turnId}:${agent}`;
    let bubble = this.assistants.get(key);
    if (!bubble) {
      bubble = el("div", { class: "msg assistant streaming", dataset: { turn: turnId, agent } },
        el("span", { class: "who" }, agentLabel(agent) || "Agent"), el("span", { class: "text" }));
      this.assistants.set(key, bubble);
      this.add(bubble);
    }
    return bubble;
  }

  lastAssistantForTurn(turnId) {
    let found = null;
    for (const [key, bubble] of this.assistants) if (key.startsWith(`${turnId}:`)) found = bubble;
    return found;
  }

  handle(message) {
    if (!message || typeof message !== "object") return;
    const payload = message.payload || {};
    switch (message.type) {
      case "event":
        return this.handleEvent(payload, message);
      case "assistant_streaming": {
        const bubble = this.assistantBubble(payload.turn_id ?? 0, payload.active_agent || message.sender);
        bubble.querySelector(".text").textContent += payload.content || "";
        return;
      }
      case "assistant":
        return this.assistantFinal(payload, message);
      case "turn_metrics":
        return this.metrics(payload);
      case "status":
        this.onStatus(payload, message);
        if (payload.statusTone === "error" || payload.statusTone === "warning") this.system(payload.message, "error");
        return;
      case "error":
        return this.system(`⚠ ${payload.message || "error"}`, "error");
      case "exit":
        return this.system(payload.message || "Conversation ended.");
      case "tool_start":
        return this.toolStart(message);
      case "tool_end":
        return this.toolEnd(message);
      case "control":
        this.onControl(message);
        if (message.action === "audio_stop" && !message.resumable) this.system("Agent interrupted");
        return;
      default:
        return;
    }
  }

  handleEvent(payload, message) {
    if (payload.event_type === "stt_partial") {
      const bubble = this.userBubble(payload.turn_id ?? 0);
      if (bubble.classList.contains("partial")) {
        bubble.querySelector(".text").textContent = payload.data?.content || "";
      }
      return;
    }
    if (payload.type === "user") {
      const bubble = this.userBubble(payload.turn_id ?? 0);
      bubble.classList.remove("partial");
      bubble.dataset.final = "1";
      bubble.querySelector(".text").textContent = payload.message || payload.content || "";
      if (payload.source === "text") bubble.querySelector(".who").textContent = "You (typed)";
      return;
    }
    if (payload.type === "assistant") return this.assistantFinal(payload, message);
    if (payload.event_type === "agent_change") {
      this.onAgent(payload.agent_name, payload);
      const from = agentLabel(payload.previous_agent);
      return this.system(`Handoff: ${from || "—"} → ${payload.agent_label || agentLabel(payload.agent_name)}`);
    }
    if (payload.message) this.system(payload.message);
  }

  assistantFinal(payload, message) {
    const agent = payload.active_agent || message.sender || "";
    const bubble = this.assistantBubble(payload.turn_id ?? 0, agent);
    bubble.classList.remove("streaming");
    bubble.dataset.final = "1";
    if (payload.interrupted || payload.status === "interrupted") bubble.classList.add("interrupted");
    const text = payload.message || payload.content || "";
    bubble.querySelector(".text").textContent = text || (bubble.classList.contains("interrupted") ? "…" : "");
    if (agent) this.onAgent(agent, payload);
  }

  metrics(payload) {
    const bubble = this.lastAssistantForTurn(payload.turn_id ?? payload.turn_number);
    const chips = el("div", { class: "latency", title: "Latency of this turn" },
      LATENCY_STAGES.filter(([key]) => payload[key] !== null && payload[key] !== undefined)
        .map(([key, label]) => el("span", {}, `${label} `, el("b", {}, formatMs(payload[key])))));
    if (bubble) {
      bubble.querySelector(".latency")?.remove();
      bubble.append(chips);
    } else if (chips.childElementCount) {
      this.add(el("div", { class: "msg system" }, chips));
    }
    this.onMetrics(payload);
  }

  toolStart(message) {
    const args = JSON.stringify(message.arguments || {}, null, 1);
    const card = el("div", { class: "msg tool", dataset: { tool: message.tool } },
      el("span", { class: "who" }, `Tool · ${agentLabel(message.agent)}`),
      el("strong", {}, message.tool), " ", el("span", { class: "state muted" }, "running…"),
      el("pre", {}, args));
    this.tools.set(message.call_id, card);
    this.add(card);
  }

  toolEnd(message) {
    let card = this.tools.get(message.call_id);
    if (!card) {
      this.toolStart(message);
      card = this.tools.get(message.call_id);
    }
    const state = card.querySelector(".state");
    state.textContent = `${message.status} · ${formatMs(message.duration_ms)}`;
    state.className = `state ${message.status === "success" ? "" : "error"}`;
    card.append(el("pre", {}, JSON.stringify(message.result ?? {}, null, 1)));
  }
}
