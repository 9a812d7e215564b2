// Calls page: dial out, hang up, and the call list with status (refreshes while open).

import { api, el, formatTime, sessionHeaders, storedSessionId } from "./api.js";

const $ = (id) => document.getElementById(id);
const ENDED = new Set(["disconnected", "failed"]);
const state = { page: 1, limit: 10, total: 0 };

function notice(text, tone = "") {
  const box = $("dial-result");
  box.hidden = false;
  box.className = `notice ${tone}`;
  box.textContent = text;
}

async function hangUp(call) {
  try {
    const body = await api("/api/v1/calls/terminate", { method: "POST", body: { call_id: call.call_id } });
    notice(body.message || `Call ${call.call_id} ${body.status}.`, "ok");
  } catch (error) {
    notice(`Hang up failed: ${error.message}`, "bad");
  }
  load();
}

async function load() {
  const tbody = $("call-table").querySelector("tbody");
  try {
    const body = await api("/api/v1/calls/", {
      query: { page: state.page, limit: state.limit, status_filter: $("status-filter").value },
    });
    state.total = body.total || 0;
    const calls = body.calls || [];
    tbody.replaceChildren(...(calls.length ? calls.map((call) => el("tr", { dataset: { call: call.call_id } },
      el("td", {}, call.to_number || call.participants?.join(", ") || "—"),
      el("td", {}, el("span", { class: `pill ${ENDED.has(call.status) ? "" : "live"}` }, call.status)),
      el("td", {}, call.streaming_mode || ""),
      el("td", {}, formatTime(call.created_at)),
      el("td", {}, call.duration == null ? "—" : `${Math.round(call.duration)} s`),
      el("td", {}, ENDED.has(call.status) ? "" :
        el("button", { class: "danger", type: "button", onclick: () => hangUp(call) }, "Hang up"))))
      : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No calls yet."))]));
    const pages = Math.max(1, Math.ceil(state.total / state.limit));
    $("page-info").textContent = `page ${state.page} of ${pages} · ${state.total} calls`;
    $("prev-btn").disabled = state.page <= 1;
    $("next-btn").disabled = state.page >= pages;
  } catch (error) {
    // The filtered list shrank under the page shown (calls ended): back to the first page.
    if (error.status === 404 && state.page > 1) { state.page = 1; load(); return; }
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error" }, error.message)));
  }
}

$("dial-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {
    target_number: form.get("target_number"),
    streaming_mode: form.get("streaming_mode"),
    record_call: form.get("record_call") === "on",
    browser_session_id: storedSessionId(),
  };
  notice("Dialling…");
  try {
    const result = await api("/api/v1/calls/initiate", {
      method: "POST", body, headers: sessionHeaders(body.browser_session_id),
    });
    notice(`${result.message || "Calling"} · call ${result.call_id} (${result.status})`, "ok");
  } catch (error) {
    notice(`Could not call: ${error.message}`, "bad");
  }
  load();
});

$("refresh-btn").addEventListener("click", load);
$("status-filter").addEventListener("change", () => { state.page = 1; load(); });
$("prev-btn").addEventListener("click", () => { state.page -= 1; load(); });
$("next-btn").addEventListener("click", () => { state.page += 1; load(); });
load();
setInterval(load, 5000);
