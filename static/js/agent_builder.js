// Agent builder page: template -> tools and voice -> create or update the session's agent.

import { api, el, newSessionId, rememberSession, sessionHeaders, storedSessionId } from "./api.js";

const $ = (id) => document.getElementById(id);
const form = $("builder-form");
let existing = false;

function notice(text, tone = "") {
  const box = $("builder-result");
  box.hidden = false;
  box.className = `notice ${tone}`;
  box.textContent = text;
}

function sessionId() {
  return form.elements.session_id.value.trim();
}

function selectedTools() {
  return [...$("tools-picker").querySelectorAll("input:checked")].map((input) => input.value);
}

function setTools(names) {
  const wanted = new Set(names || []);
  for (const input of $("tools-picker").querySelectorAll("input")) input.checked = wanted.has(input.value);
}

async function loadTools() {
  try {
    const body = await api("/api/v1/agent-builder/tools", { query: { include_handoffs: "true" } });
    $("tools-picker").replaceChildren(...(body.tools || []).map((tool) => el("label", { dataset: { name: tool.name } },
      el("input", { type: "checkbox", value: tool.name }),
      el("span", {}, el("b", {}, tool.name), tool.is_handoff ? " (handoff)" : "",
        el("br"), el("small", { class: "muted" }, tool.description || "")))));
  } catch (error) {
    $("tools-picker").textContent = `Tools unavailable: ${error.message}`;
  }
}

async function loadVoices() {
  try {
    const body = await api("/api/v1/agent-builder/voices");
    const select = form.elements.voice;
    const groups = new Map();  // category -> its voices, in the catalogue's order
    for (const voice of body.voices || []) {
      const category = voice.category || "other";
      if (!groups.has(category)) groups.set(category, []);
      groups.get(category).push(el("option", { value: voice.name }, voice.display_name || voice.name));
    }
    select.replaceChildren(...[...groups].map(([category, options]) =>
      el("optgroup", { label: category.toUpperCase() === "HD" ? "HD" : category[0].toUpperCase() + category.slice(1) }, ...options)));
    if (body.default_voice) select.value = body.default_voice;
  } catch (error) {
    notice(`Voices unavailable: ${error.message}`, "bad");
  }
}

async function loadTemplates() {
  try {
    const body = await api("/api/v1/agent-builder/templates");
    const select = $("template-select");
    for (const template of body.templates || []) {
      select.append(el("option", { value: template.id }, `${template.name}${template.is_entry_point ? " (entry point)" : ""}`));
    }
  } catch (error) {
    notice(`Templates unavailable: ${error.message}`, "bad");
  }
}

function fill(config) {
  form.elements.name.value = config.name || "";
  form.elements.description.value = config.description || "";
  form.elements.greeting.value = config.greeting || "";
  form.elements.prompt.value = config.prompt || config.prompt_full || config.prompt_preview || "";
  const voice = typeof config.voice === "string" ? config.voice : config.voice?.name;
  if (voice) form.elements.voice.value = voice;
  const temperature = config.model?.temperature;
  if (temperature !== undefined) form.elements.temperature.value = temperature;
  setTools(config.tools);
}

$("template-select").addEventListener("change", async (event) => {
  if (!event.target.value) return;
  try {
    const body = await api(`/api/v1/agent-builder/templates/${encodeURIComponent(event.target.value)}`);
    fill(body.template || body);
  } catch (error) {
    notice(`Template unavailable: ${error.message}`, "bad");
  }
});

$("tool-filter").addEventListener("input", (event) => {
  const needle = event.target.value.toLowerCase();
  for (const label of $("tools-picker").querySelectorAll("label")) {
    label.hidden = needle && !label.textContent.toLowerCase().includes(needle);
  }
});

async function loadSessionAgent() {
  const id = sessionId();
  if (!id) return;
  try {
    const body = await api(`/api/v1/agent-builder/session/${encodeURIComponent(id)}`, {
      headers: sessionHeaders(id),
    });
    existing = true;
    $("current-agent").textContent = JSON.stringify(body.config || body, null, 2);
    fill(body.config || {});
  } catch (error) {
    existing = false;
    $("current-agent").textContent = error.status === 404 ? "None yet: the session uses the default agents." : error.message;
  }
  $("save-btn").textContent = existing ? "Update the session's agent" : "Create agent for this session";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = sessionId();
  rememberSession(id);
  const body = {
    name: form.elements.name.value.trim(),
    description: form.elements.description.value.trim(),
    greeting: form.elements.greeting.value.trim(),
    prompt: form.elements.prompt.value.trim(),
    tools: selectedTools(),
    voice: { name: form.elements.voice.value },
    model: { temperature: Number(form.elements.temperature.value) },
  };
  try {
    const headers = sessionHeaders(id);
    const result = existing
      ? await api(`/api/v1/agent-builder/session/${encodeURIComponent(id)}`, { method: "PUT", body, headers })
      : await api("/api/v1/agent-builder/create", { method: "POST", body, headers, query: { session_id: id } });
    rememberSession(id, result.session_token);  // handed out when this started the session
    notice(`Agent "${result.agent_name || body.name}" is ${result.status || "saved"} for session ${id}. Talk to it on the conversation page.`, "ok");
    await loadSessionAgent();
  } catch (error) {
    notice(`Could not save: ${error.message}`, "bad");
  }
});

$("reset-btn").addEventListener("click", async () => {
  const id = sessionId();
  try {
    const result = await api(`/api/v1/agent-builder/session/${encodeURIComponent(id)}`, {
      method: "DELETE", headers: sessionHeaders(id),
    });
    notice(result.message || "Back to the default agents.", "ok");
  } catch (error) {
    notice(`Could not reset: ${error.message}`, "bad");
  }
  await loadSessionAgent();
});

form.elements.session_id.value = storedSessionId() || newSessionId();
form.elements.session_id.addEventListener("change", loadSessionAgent);
await Promise.all([loadTools(), loadVoices(), loadTemplates()]);
await loadSessionAgent();
