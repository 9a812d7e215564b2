// AudioWorklet processor: microphone -> 20 ms frames of PCM16 mono at 16 kHz.
//
// The context runs at the device rate (often 44.1 or 48 kHz; never assume one), so each
// 128-sample render block is resampled by linear interpolation, carrying the fractional read
// position and the previous block's last sample across blocks. Frames are posted to the main
// thread as transferable ArrayBuffers of little-endian Int16 (640 bytes each).

class Pcm16CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 16000;
    this.frameSamples = opts.frameSamples || 320;
    this.ratio = sampleRate / this.targetRate; // input samples per output sample
    this.position = 0; // read position relative to the current block
    this.last = 0; // last input sample of the previous block (index -1)
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
    this.muted = false;
    this.sumSquares = 0;
    this.port.onmessage = (event) => {
      if (event.data && typeof event.data.muted === "boolean") this.muted = event.data.muted;
    };
  }

  push(sample) {
    const clamped = this.muted ? 0 : Math.max(-1, Math.min(1, sample));
    const value = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    this.frame[this.filled++] = value;
    this.sumSquares += value * value;
    if (this.filled === this.frameSamples) {
      const level = Math.sqrt(this.sumSquares / this.frameSamples);
      const buffer = this.frame.buffer;
      this.port.postMessage({ pcm: buffer, level }, [buffer]);
      this.frame = new Int16Array(this.frameSamples);
      this.filled = 0;
      this.sumSquares = 0;
    }
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input || input.length === 0) return true;
    const n = input.length;
    let t = this.position;
    while (t < n - 1) {
      const i = Math.floor(t);
      const frac = t - i;
      const a = i < 0 ? this.last : input[i];
      const b = input[i + 1];
      this.push(a + (b - a) * frac);
      t += this.ratio;
    }
    this.position = t - n;
    this.last = input[n - 1];
    return true;
  }
}

registerProcessor("pcm16-capture", Pcm16CaptureProcessor);
