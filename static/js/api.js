// REST helpers for the pages: same-origin fetch with the session cookie and CSRF token.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.describe(status, body));
    this.status = status;
    this.body = body;
  }

  static describe(status, body) {
    if (body && typeof body === "object") {
      const detail = body.detail || body.message || body.error;
      if (typeof detail === "string") return detail;
      if (detail && typeof detail === "object" && detail.message) return detail.message;
      const fields = Object.entries(body)
        .filter(([, v]) => Array.isArray(v))
        .map(([k, v]) => `${k}: ${v.join(" ")}`);
      if (fields.length) return fields.join("; ");
    }
    if (status === 401 || status === 403) return "Sign in to do this.";
    return `Request failed (HTTP ${status}).`;
  }
}

export async function api(path, { method = "GET", body, query, headers: extra } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json", ...(extra || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// This tab's conversation session: its id and, for an anonymous visitor, the token the server
// handed out when the id was first used. Only that token proves the session is this visitor's
// (docs/security.md): it is sent back with every request about the session, never shown.
const SESSION_KEY = "voice.session_id";
const TOKEN_KEY = "voice.session_token";

export function storedSessionId() {
  return sessionStorage.getItem(SESSION_KEY) || "";
}

// A new session id nobody can guess (the server makes the same kind): 144 random bits.
export function newSessionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const base64 = btoa(String.fromCharCode(...bytes));
  return `session_${base64.replaceAll("+", "-").replaceAll("/", "_")}`;
}

// Makes `sessionId` this tab's session; `token` when the server has just handed one out. A
// different id forgets the previous session's token.
export function rememberSession(sessionId, token = "") {
  if (sessionStorage.getItem(SESSION_KEY) !== sessionId) sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.setItem(SESSION_KEY, sessionId);
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
}

export function sessionToken(sessionId) {
  return sessionId && storedSessionId() === sessionId ? sessionStorage.getItem(TOKEN_KEY) || "" : "";
}

// Headers proving `sessionId` is this visitor's, for the REST API.
export function sessionHeaders(sessionId) {
  const token = sessionToken(sessionId);
  return token ? { "X-Session-Token": token } : {};
}

export function wsUrl(path, params = {}) {
  const url = new URL(path, window.location.origin);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url.toString();
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatMs(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleTimeString();
}
