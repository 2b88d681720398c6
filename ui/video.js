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
  }

  draw(width, height, seq, bytes) {
    this.seen = seq;
    this.renderer.draw(width, height, bytes);
    this.drawn += 1;
    this.el.dataset.drawn = String(this.drawn);
  }

  stop() {
    this.feed = null;
  }
}

// One request in flight for all tiles (WebKit serializes custom-scheme requests, so one per tile
// would share its round trips): Rust answers as soon as any tile has a new picture, with every
// new picture at once, or with 204 after 250 ms.
async function pumpFrames() {
  for (;;) {
    const all = [...tiles.values()];
    if (previewTile) all.push(previewTile);
    const wanted = all.filter((t) => t.feed !== null);
    if (wanted.length === 0) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const seen = wanted.map((t) => `${t.feed}:${t.seen}`).join(",");
    try {
      const response = await fetch(`${FRAME_BASE}batch?seen=${seen}`);
      if (response.status !== 200) continue;
      const buffer = await response.arrayBuffer();
      const view = new DataView(buffer);
      let at = 4;
      for (let i = view.getUint32(0, true); i > 0; i--) {
        const feed = Number(view.getBigUint64(at, true));
        const width = view.getUint32(at + 8, true);
        const height = view.getUint32(at + 12, true);
        const seq = view.getUint32(at + 16, true);
        const length = view.getUint32(at + 20, true);
        const bytes = new Uint8Array(buffer, at + 24, length);
        at += 24 + length;
        for (const t of wanted) if (t.feed === feed) t.draw(width, height, seq, bytes);
      }
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
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
  } else if (!on && previewTile) {
    previewTile.stop();
    previewTile.el.remove();
    previewTile = null;
  }
}

pumpFrames();
