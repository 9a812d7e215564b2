// AudioWorklet processor: a FIFO of agent audio chunks played at the context rate (16 kHz).
//
// `{type: "clear"}` empties the queue at once (barge-in): the next render quantum is silence.
// Counts the non-zero samples it has written and reports `{played, queued, clears}` every
// 25 render quanta (and right after a clear), so the page can show and tests can check playback.

class Pcm16PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.offset = 0; // read offset into queue[0]
    this.queued = 0; // samples waiting
    this.played = 0; // non-zero samples written so far
    this.clears = 0;
    this.quanta = 0;
    this.port.onmessage = (event) => {
      const data = event.data;
      if (data.type === "chunk") {
        this.queue.push(data.samples);
        this.queued += data.samples.length;
      } else if (data.type === "clear") {
        this.queue = [];
        this.offset = 0;
        this.queued = 0;
        this.clears += 1;
        this.report();
      }
    };
  }

  report() {
    this.port.postMessage({ played: this.played, queued: this.queued, clears: this.clears });
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    let written = 0;
    while (written < out.length && this.queue.length) {
      const chunk = this.queue[0];
      const take = Math.min(out.length - written, chunk.length - this.offset);
      for (let k = 0; k < take; k++) {
        const sample = chunk[this.offset + k];
        out[written + k] = sample;
        if (sample !== 0) this.played += 1;
      }
      written += take;
      this.offset += take;
      this.queued -= take;
      if (this.offset >= chunk.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    for (let k = written; k < out.length; k++) out[k] = 0;
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (++this.quanta % 25 === 0) this.report();
    return true;
  }
}

registerProcessor("pcm16-player", Pcm16PlayerProcessor);
