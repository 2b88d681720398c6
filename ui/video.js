// Video tiles. Two ways to get a participant's video onto the page (src-tauri/src/frames.rs):
// - "i420": fetch the newest picture the app decoded, raw I420, and draw it with a WebGL shader
//   that converts YUV to RGB on the GPU;
// - "h264": fetch the H.264 access units the app received and decode them here with WebCodecs.
"use strict";

// "auto" until the first meeting: then "h264" where WebCodecs can decode H.264, else "i420".
const videoTransport = { name: "auto" };
// Constrained Baseline, level 3.1 (up to 1280x720 at 30 fps): what OpenH264 sends.
const H264_CODEC = "avc1.42C01F";

async function chooseVideoTransport() {
  if (videoTransport.name !== "auto") return videoTransport.name;
  videoTransport.name = (await canDecodeH264()) ? "h264" : "i420";
  return videoTransport.name;
}

// Whether this webview decodes H.264: it must say so and then really turn the app's probe
// keyframe into a picture (a claim is not a decoder: WebKitGTK decodes with GStreamer plugins,
// which may be missing).
async function canDecodeH264() {
  try {
    if (typeof VideoDecoder === "undefined") return false;
    if (!(await VideoDecoder.isConfigSupported({ codec: H264_CODEC })).supported) return false;
    const probe = new Uint8Array(await invoke("h264_probe"));
    if (probe.length === 0) return false;
    let decoder = null;
    const decoded = await new Promise((resolve) => {
      decoder = new VideoDecoder({
        output: (frame) => {
          frame.close();
          resolve(true);
        },
        error: () => resolve(false),
      });
      decoder.configure({ codec: H264_CODEC, optimizeForLatency: true });
      decoder.decode(new EncodedVideoChunk({ type: "key", timestamp: 0, data: probe }));
      // Outputs come before the flush completes: a flush alone means no picture.
      decoder.flush().then(
        () => resolve(false),
        () => resolve(false),
      );
      setTimeout(() => resolve(false), 3000);
    });
    if (decoder.state !== "closed") decoder.close();
    return decoded;
  } catch {
    return false;
  }
}

const FRAME_BASE = navigator.userAgent.includes("Windows")
  ? "http://frame.localhost/"
  : "frame://localhost/";
const HEADER = 16;
const UNIT_HEADER = 16;

// Milliseconds from the app having a picture (or access unit) to it being drawn, from the low
// 32 bits of Unix time the app stamps on it.
function sinceArrival(arrivedLow32) {
  const now = Date.now() % 2 ** 32;
  return now >= arrivedLow32 ? now - arrivedLow32 : now + 2 ** 32 - arrivedLow32;
}

const VERTEX = `
attribute vec2 pos;
varying vec2 uv;
void main() {
  uv = vec2((pos.x + 1.0) / 2.0, (1.0 - pos.y) / 2.0);
  gl_Position = vec4(pos, 0.0, 1.0);
}`;

// BT.601, limited range: what OpenH264 decodes to.
const FRAGMENT = `
precision mediump float;
varying vec2 uv;
uniform sampler2D ty, tu, tv;
void main() {
  float y = 1.164 * (texture2D(ty, uv).r - 0.0625);
  float u = texture2D(tu, uv).r - 0.5;
  float v = texture2D(tv, uv).r - 0.5;
  gl_FragColor = vec4(y + 1.596 * v, y - 0.392 * u - 0.813 * v, y + 2.017 * u, 1.0);
}`;

class YuvRenderer {
  constructor(canvas) {
    this.canvas = canvas;
    // preserveDrawingBuffer: the picture can be read back (tests check its pixels).
    const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias: false });
    this.gl = gl;
    const shader = (type, source) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, source);
      gl.compileShader(s);
      return s;
    };
    const program = gl.createProgram();
    gl.attachShader(program, shader(gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(program);
    gl.useProgram(program);
    const buffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const pos = gl.getAttribLocation(program, "pos");
    gl.enableVertexAttribArray(pos);
    gl.vertexAttribPointer(pos, 2, gl.FLOAT, false, 0, 0);
    this.textures = ["ty", "tu", "tv"].map((name, i) => {
      const t = gl.createTexture();
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, t);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      gl.uniform1i(gl.getUniformLocation(program, name), i);
      return t;
    });
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  }

  draw(width, height, bytes) {
    const gl = this.gl;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    gl.viewport(0, 0, width, height);
    const ySize = width * height;
    const cSize = ySize / 4;
    const planes = [
      [bytes.subarray(0, ySize), width, height],
      [bytes.subarray(ySize, ySize + cSize), width / 2, height / 2],
      [bytes.subarray(ySize + cSize, ySize + 2 * cSize), width / 2, height / 2],
    ];
    planes.forEach(([data, w, h], i) => {
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[i]);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, w, h, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
    });
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }
}

// One tile per remote participant, kept across re-renders (its canvas and WebGL state persist).
class VideoTile {
  constructor(transport) {
    this.transport = transport;
    this.el = document.createElement("div");
    this.el.className = "tile";
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("aria-hidden", "true");
    this.label = document.createElement("span");
    this.label.className = "label";
    this.el.append(this.canvas, this.label);
    this.el.dataset.transport = transport;
    this.renderer = null;
    this.feed = null;
    this.seen = 0;
    this.drawn = 0;
    this.latencyMs = 0; // summed over what was drawn
    this.running = false;
  }

  counted(arrivedLow32) {
    this.drawn += 1;
    this.latencyMs += sinceArrival(arrivedLow32);
    this.el.dataset.drawn = String(this.drawn);
    this.el.dataset.latencyMs = String(this.latencyMs);
  }

  run() {
    return this.transport === "h264" ? this.runH264() : this.runI420();
  }

  // One request in flight per tile: Rust answers when a new picture exists (or after 250 ms
  // with 204), so the loop runs at the sender's frame rate without polling.
  async runI420() {
    this.renderer = new YuvRenderer(this.canvas);
    this.running = true;
    while (this.running) {
      await shown();
      if (this.feed === null) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        const response = await fetch(`${FRAME_BASE}${this.feed}?seen=${this.seen}`);
        if (response.status === 200) {
          const buffer = await response.arrayBuffer();
          const head = new DataView(buffer, 0, HEADER);
          const width = head.getUint32(0, true);
          const height = head.getUint32(4, true);
          this.seen = head.getUint32(8, true);
          this.renderer.draw(width, height, new Uint8Array(buffer, HEADER));
          this.counted(head.getUint32(12, true));
        }
      } catch {
        // The meeting ended or the feed changed: wait a moment and ask again.
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  // H.264 tiles get their access units from the shared pump (below) and decode them here.
  runH264() {
    this.running = true;
    this.context = this.canvas.getContext("2d");
    this.arrivals = new Map(); // chunk timestamp -> arrival stamp
    this.decoder = null;
    this.after = 0; // the last access unit taken
    this.askedFeed = null;
    this.needKey = true;
    h264Pump.add(this);
  }

  // Before each request: what to ask for. A new feed, a broken decoder or one falling behind
  // starts again at a fresh keyframe rather than show the past late.
  ask() {
    const decoder = this.decoder;
    if (this.askedFeed !== this.feed || !decoder || decoder.state === "closed" || decoder.decodeQueueSize > 15) {
      this.askedFeed = this.feed;
      this.after = 0;
      this.startDecoder();
    }
    return `${this.askedFeed}.${this.after}.${this.needKey ? 1 : 0}`;
  }

  startDecoder() {
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    this.arrivals.clear();
    this.needKey = true;
    this.decoder = new VideoDecoder({
      output: (frame) => {
        if (this.canvas.width !== frame.displayWidth || this.canvas.height !== frame.displayHeight) {
          this.canvas.width = frame.displayWidth;
          this.canvas.height = frame.displayHeight;
        }
        this.context.drawImage(frame, 0, 0);
        const arrived = this.arrivals.get(frame.timestamp);
        this.arrivals.delete(frame.timestamp);
        frame.close();
        if (arrived !== undefined) this.counted(arrived);
      },
      // A broken stream: the next ask starts again from a keyframe.
      error: () => {},
    });
    this.decoder.configure({ codec: H264_CODEC, optimizeForLatency: true });
  }

  // One access unit for the feed this tile asked for (dropped if it shows another one since).
  take(seq, arrived, keyframe, data) {
    if (this.feed !== this.askedFeed || this.decoder.state === "closed") return;
    if (this.needKey && !keyframe) return;
    this.needKey = false;
    this.after = seq;
    const timestamp = seq * 33333;
    this.arrivals.set(timestamp, arrived);
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: keyframe ? "key" : "delta", timestamp, data }));
    } catch {
      this.decoder.close();
    }
  }

  stop() {
    this.running = false;
    if (this.transport === "h264") {
      h264Pump.remove(this);
      if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    }
  }
}

// Resolves once the page is shown: true if it had to wait. While the window is hidden (a call
// kept in the tray) the tiles fetch and decode nothing.
function shown() {
  if (!document.hidden) return Promise.resolve(false);
  return new Promise((resolve) => {
    const check = () => {
      if (document.hidden) return;
      document.removeEventListener("visibilitychange", check);
      resolve(true);
    };
    document.addEventListener("visibilitychange", check);
  });
}

// One request in flight for all H.264 tiles: Rust answers with every access unit each tile has
// not taken (waiting while there is none, and gathering for a moment once some arrived), so the
// page makes one round trip per picture time instead of one per tile and picture.
const h264Pump = {
  tiles: new Set(),
  running: false,

  add(tile) {
    this.tiles.add(tile);
    if (!this.running) this.run();
  },

  remove(tile) {
    this.tiles.delete(tile);
  },

  async run() {
    this.running = true;
    while (this.tiles.size > 0) {
      // Back from hiding: each tile starts again with a new decoder at a fresh keyframe (which
      // the app asks the sender for) instead of decoding what it missed, or trusting a decoder
      // WebKit held while hidden.
      if (await shown()) for (const tile of this.tiles) tile.askedFeed = null;
      const asking = [...this.tiles].filter((t) => t.feed !== null);
      if (asking.length === 0) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const feeds = asking.map((t) => t.ask());
      try {
        const response = await fetch(`${FRAME_BASE}h264?feeds=${feeds.join(",")}`);
        if (response.status !== 200) continue;
        const buffer = await response.arrayBuffer();
        const view = new DataView(buffer);
        for (let at = 0; at + UNIT_HEADER <= buffer.byteLength; ) {
          const seq = view.getUint32(at, true);
          const arrived = view.getUint32(at + 4, true);
          const flags = view.getUint32(at + 8, true);
          const length = view.getUint32(at + 12, true);
          const data = new Uint8Array(buffer, at + UNIT_HEADER, length);
          at += UNIT_HEADER + length;
          asking[flags >>> 8]?.take(seq, arrived, (flags & 1) === 1, data);
        }
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.running = false;
  },
};

const tiles = new Map(); // participant id -> VideoTile

// One tile per participant in `participants` (in their order) inside `container`; a tile whose
// participant is gone goes. `decorate(tile, p, created)` draws the rest of each (name, badges).
function syncTiles(container, participants, decorate) {
  const present = new Set(participants.map((p) => p.id));
  for (const [key, tile] of tiles) {
    if (!present.has(key)) {
      tile.stop();
      tile.el.remove();
      tiles.delete(key);
    }
  }
  for (const p of participants) {
    let tile = tiles.get(p.id);
    const created = !tile;
    if (!tile) {
      tile = new VideoTile(videoTransport.name === "h264" ? "h264" : "i420");
      tile.el.dataset.id = p.id;
      tiles.set(p.id, tile);
      tile.run();
    }
    if (tile.feed !== p.feed) {
      tile.feed = p.feed;
      tile.seen = 0;
    }
    tile.label.textContent = p.name || "…";
    decorate(tile, p, created);
    if (tile.el.parentNode !== container) container.append(tile.el);
  }
}

function clearTiles() {
  for (const tile of tiles.values()) {
    tile.stop();
    tile.el.remove();
  }
  tiles.clear();
}

// The pre-join preview: our own camera, under feed 0 (src/client/preview.rs).
let previewTile = null;

// Our own camera in `container` (the join screen's preview, or the meeting's self-view): one
// tile, moved between them.
function showPreview(container, on) {
  if (on && previewTile && previewTile.el.parentElement !== container) {
    container.replaceChildren(previewTile.el);
  }
  if (on && !previewTile) {
    previewTile = new VideoTile("i420");
    previewTile.feed = 0;
    container.replaceChildren(previewTile.el);
    previewTile.run();
  } else if (!on && previewTile?.el.parentElement === container) {
    previewTile.stop();
    previewTile.el.remove();
    previewTile = null;
  }
}
