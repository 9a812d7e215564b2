// Backend readiness pill in the top bar (polls /api/v1/readiness).
const pill = document.getElementById("backend-health");

async function check() {
  if (!pill) return;
  try {
    const response = await fetch("/api/v1/readiness", { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    const status = body.status || (response.ok ? "ready" : "unhealthy");
    pill.textContent = status === "ready" ? "backend ready" : `backend ${status}`;
    pill.className = `pill ${status === "ready" ? "ok" : status === "degraded" ? "warn" : "bad"}`;
    const failing = (body.checks || []).filter((c) => c.status !== "healthy").map((c) => c.component);
    pill.title = failing.length ? `Not healthy: ${failing.join(", ")}` : "All checks healthy";
  } catch {
    pill.textContent = "backend unreachable";
    pill.className = "pill bad";
  }
}

check();
setInterval(check, 30000);
