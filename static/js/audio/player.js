// Agent audio playback: base64 PCM16 chunks -> a worklet FIFO at the server's rate (16 kHz).
//
// `clear()` empties the queue instantly (barge-in). Counters are mirrored on `window`
// (`__played`: non-zero samples played, `__queued`: samples waiting, `__playbackClears`) so a
// person can inspect them and browser tests can check what was heard.

const WORKLET_URL = new URL("./playback-worklet.js", import.meta.url);

export class Player {
  constructor({ sampleRate = 16000, onStats } = {}) {
    this.sampleRate = sampleRate;
    this.onStats = onStats || (() => {});
    this.context = null;
    this.node = null;
    this.ready = null;
    this.stats = { played: 0, queued: 0, clears: 0 };
    this.pending = []; // chunks that arrive while the worklet is still loading
    window.__played = 0;
    window.__queued = 0;
    window.__playbackClears = 0;
  }

  // Call from a user gesture (a click): browsers only start audio after one.
  start() {
    if (this.ready) return this.ready;
    this.context = new AudioContext({ sampleRate: this.sampleRate });
    this.ready = (async () => {
      await this.context.audioWorklet.addModule(WORKLET_URL);
      this.node = new AudioWorkletNode(this.context, "pcm16-player", { outputChannelCount: [1] });
      this.node.port.onmessage = (event) => {
        this.stats = event.data;
        window.__played = event.data.played;
        window.__queued = event.data.queued;
        window.__playbackClears = event.data.clears;
        this.onStats(this.stats);
      };
      this.node.connect(this.context.destination);
      for (const samples of this.pending.splice(0)) {
        this.node.port.postMessage({ type: "chunk", samples }, [samples.buffer]);
      }
      await this.context.resume();
    })();
    return this.ready;
  }

  enqueueBase64(data, sampleRate) {
    if (!this.ready || !data) return;
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    const count = bytes.length >> 1;
    let samples = new Float32Array(count);
    for (let i = 0; i < count; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
    if (sampleRate && sampleRate !== this.sampleRate) samples = resample(samples, sampleRate, this.sampleRate);
    if (this.node) this.node.port.postMessage({ type: "chunk", samples }, [samples.buffer]);
    else this.pending.push(samples);
  }

  clear() {
    this.pending = [];
    if (this.node) this.node.port.postMessage({ type: "clear" });
  }

  async close() {
    if (this.context) await this.context.close().catch(() => {});
    this.context = null;
    this.node = null;
    this.ready = null;
  }
}

function resample(input, fromRate, toRate) {
  const ratio = fromRate / toRate;
  const length = Math.floor(input.length / ratio);
  const output = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const t = i * ratio;
    const j = Math.floor(t);
    const a = input[j];
    const b = j + 1 < input.length ? input[j + 1] : a;
    output[i] = a + (b - a) * (t - j);
  }
  return output;
}
