// A small canvas chart (lines or grouped bars) for latency figures: no library, no build step.

export const STAGE_COLORS = {
  stt_latency_ms: "#7c3aed",
  llm_ttft_ms: "#2563eb",
  tts_ttfb_ms: "#0891b2",
  first_audio_ms: "#15803d",
  barge_in_ms: "#b45309",
};

function niceMax(value) {
  if (!(value > 0)) return 100;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= value) return step * exp;
  return 10 * exp;
}

export class Chart {
  // series: [{key, label, color}]; kind: "line" | "bar"; empty: text without data; dots: mark
  // each point of a line (off for dense series)
  constructor(canvas, { series, kind = "line", unit = "ms", legend, empty = "No turns measured yet", dots = true } = {}) {
    this.canvas = canvas;
    this.series = series;
    this.kind = kind;
    this.unit = unit;
    this.empty = empty;
    this.dots = dots;
    this.labels = [];
    this.rows = [];
    if (legend) {
      legend.replaceChildren(...series.map((s) => {
        const item = document.createElement("span");
        const swatch = document.createElement("i");
        swatch.style.background = s.color;
        item.append(swatch, s.label);
        return item;
      }));
    }
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // labels: x labels; rows: [{key: value|null}] aligned with labels
  setData(labels, rows) {
    this.labels = labels;
    this.rows = rows;
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    const values = this.rows.flatMap((row) => this.series.map((s) => row[s.key]))
      .filter((v) => typeof v === "number");
    const max = niceMax(values.length ? Math.max(...values) : 0);
    const ticks = [0, 1, 2, 3, 4].map((i) => (max / 4) * i);
    const tickLabels = ticks.map((v) => `${Math.round(v)} ${this.unit}`);
    // The y labels are right-aligned against the plot: pad by the widest one as drawn.
    const labelW = Math.max(...tickLabels.map((text) => ctx.measureText(text).width));
    const pad = { left: Math.ceil(labelW) + 8, right: 10, top: 10, bottom: 24 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    if (!values.length) {
      ctx.fillStyle = "#667085";
      ctx.fillText(this.empty, 8, pad.top + plotH / 2);
      return;
    }
    const y = (v) => pad.top + plotH - (v / max) * plotH;
    ctx.strokeStyle = "#e3e6eb";
    ctx.fillStyle = "#667085";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ticks.forEach((v, i) => {
      ctx.beginPath();
      ctx.moveTo(pad.left, y(v));
      ctx.lineTo(width - pad.right, y(v));
      ctx.stroke();
      ctx.fillText(tickLabels[i], pad.left - 4, y(v));
    });
    const n = this.labels.length;
    const slot = plotW / Math.max(1, n);
    const x = (i) => pad.left + slot * i + slot / 2;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const every = Math.ceil(n / Math.max(1, Math.floor(plotW / 40)));
    this.labels.forEach((label, i) => {
      if (i % every === 0) ctx.fillText(String(label), x(i), pad.top + plotH + 6);
    });
    if (this.kind === "bar") {
      const barW = Math.max(2, (slot * 0.8) / this.series.length);
      this.series.forEach((s, k) => {
        ctx.fillStyle = s.color;
        this.rows.forEach((row, i) => {
          const v = row[s.key];
          if (typeof v !== "number") return;
          const left = x(i) - (barW * this.series.length) / 2 + k * barW;
          ctx.fillRect(left, y(v), barW - 1, pad.top + plotH - y(v));
        });
      });
      return;
    }
    for (const s of this.series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let drawing = false;
      this.rows.forEach((row, i) => {
        const v = row[s.key];
        if (typeof v !== "number") { drawing = false; return; }
        if (drawing) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
        drawing = true;
      });
      ctx.stroke();
      if (!this.dots) continue;
      this.rows.forEach((row, i) => {
        const v = row[s.key];
        if (typeof v !== "number") return;
        ctx.beginPath();
        ctx.arc(x(i), y(v), 3, 0, Math.PI * 2);
        ctx.fill();
      });
    }
  }
}
