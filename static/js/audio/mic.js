// Microphone capture: getUserMedia -> AudioWorklet -> 640-byte PCM16 frames at 16 kHz.

const WORKLET_URL = new URL("./capture-worklet.js", import.meta.url);

export class Microphone {
  constructor({ onFrame, onLevel } = {}) {
    this.onFrame = onFrame || (() => {});
    this.onLevel = onLevel || (() => {});
    this.context = null;
    this.stream = null;
    this.node = null;
    this.muted = false;
  }

  get running() {
    return this.context !== null;
  }

  async start() {
    if (this.context) return;
    if (!navigator.mediaDevices || !window.AudioWorkletNode) {
      throw new Error(
        "This page needs a secure origin for the microphone: open it on https:// or http://localhost.",
      );
    }
    // Keep the browser's echo cancellation: it stops the agent from hearing itself.
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule(WORKLET_URL);
    const source = this.context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.context, "pcm16-capture", {
      processorOptions: { targetRate: 16000, frameSamples: 320 },
    });
    this.node.port.onmessage = (event) => {
      this.onFrame(event.data.pcm);
      this.onLevel(event.data.level);
    };
    this.node.port.postMessage({ muted: this.muted });
    source.connect(this.node);
    // The node's output is silent, but it must be connected for the graph to pull it.
    this.node.connect(this.context.destination);
    await this.context.resume();
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.node) this.node.port.postMessage({ muted });
  }

  async stop() {
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    if (this.context) await this.context.close().catch(() => {});
    this.context = null;
    this.stream = null;
    this.node = null;
    this.onLevel(0);
  }
}
