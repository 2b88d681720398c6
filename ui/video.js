// Video tiles: each fetches its participant's newest decoded picture (raw I420, see
// src-tauri/src/frames.rs) and draws it with a WebGL shader that converts YUV to RGB on the GPU.
"use strict";

const FRAME_BASE = navigator.userAgent.includes("Windows")
  ? "http://frame.localhost/"
  : "frame://localhost/";
const HEADER = 16;

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
  constructor() {
    this.el = document.createElement("div");
    this.el.className = "tile";
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("aria-hidden", "true");
    this.label = document.createElement("span");
    this.label.className = "label";
    this.frames = document.createElement("span");
    this.frames.className = "frames";
    this.el.append(this.canvas, this.label, this.frames);
    this.renderer = new YuvRenderer(this.canvas);
    this.feed = null;
    this.seen = 0;
    this.drawn = 0;
    this.running = false;
  }

  // One request in flight per tile: Rust answers when a new picture exists (or after 250 ms
  // with 204), so the loop runs at the sender's frame rate without polling.
  async run() {
    this.running = true;
    while (this.running) {
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
          this.drawn += 1;
          this.el.dataset.drawn = String(this.drawn);
        }
      } catch {
        // The meeting ended or the feed changed: wait a moment and ask again.
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  stop() {
    this.running = false;
  }
}

const tiles = new Map(); // pseudonym -> VideoTile

function syncTiles(container, participants, labels) {
  const present = new Set(participants.map((p) => p.pseudonym));
  for (const [key, tile] of tiles) {
    if (!present.has(key)) {
      tile.stop();
      tile.el.remove();
      tiles.delete(key);
    }
  }
  for (const p of participants) {
    let tile = tiles.get(p.pseudonym);
    if (!tile) {
      tile = new VideoTile();
      tile.el.dataset.pseudonym = p.pseudonym;
      tiles.set(p.pseudonym, tile);
      tile.run();
    }
    const feed = p.feeds[p.feeds.length - 1];
    if (tile.feed !== feed) {
      tile.feed = feed;
      tile.seen = 0;
    }
    tile.label.textContent = p.display_name || "…";
    tile.frames.textContent = labels.frames(p.video.frames_decoded);
    tile.el.classList.toggle("speaking", labels.speaking(p));
    tile.el.classList.toggle("camera-off", p.sending_video === false);
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

function showPreview(container, on) {
  if (on && !previewTile) {
    previewTile = new VideoTile();
    previewTile.feed = 0;
    container.replaceChildren(previewTile.el);
    previewTile.run();
  } else if (!on && previewTile) {
    previewTile.stop();
    previewTile.el.remove();
    previewTile = null;
  }
}
