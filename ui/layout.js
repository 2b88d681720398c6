// The meeting's stage: where each picture goes, and the bar's icons. Pure placement: which
// participants there are, who speaks and who shares comes from the meeting (app.js renders it).
"use strict";

const GAP = 8;
const PAD = 8;
const ASPECT = 16 / 9;
// The narrowest picture in a strip that still carries a name and its badges.
const STRIP_MIN = 112;

// The largest tiles of 16:9 of which `n` fit in `box` ({ x, y, w, h }), row by row, each row
// centred: the grid that fills the stage and never scrolls.
function gridRects(n, box) {
  if (n <= 0 || box.w <= 0 || box.h <= 0) return [];
  let best = null;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    let w = (box.w - GAP * (cols - 1)) / cols;
    let h = w / ASPECT;
    if (h * rows + GAP * (rows - 1) > box.h) {
      h = (box.h - GAP * (rows - 1)) / rows;
      w = h * ASPECT;
    }
    if (!best || w > best.w + 0.5) best = { cols, rows, w, h };
  }
  const { cols, rows, w, h } = best;
  const rects = [];
  const top = box.y + (box.h - (rows * h + GAP * (rows - 1))) / 2;
  for (let r = 0; r < rows; r++) {
    const inRow = Math.min(cols, n - r * cols);
    const left = box.x + (box.w - (inRow * w + GAP * (inRow - 1))) / 2;
    for (let c = 0; c < inRow; c++) rects.push({ x: left + c * (w + GAP), y: top + r * (h + GAP), w, h });
  }
  return rects;
}

// `n` tiles side by side in one row of `box`, as large as the row allows.
function stripRects(n, box) {
  if (n <= 0) return [];
  const w = Math.max(1, Math.min(box.h * ASPECT, (box.w - GAP * (n - 1)) / n));
  const h = w / ASPECT;
  const left = box.x + (box.w - (n * w + GAP * (n - 1))) / 2;
  const top = box.y + (box.h - h) / 2;
  return Array.from({ length: n }, (_, i) => ({ x: left + i * (w + GAP), y: top, w, h }));
}

// Where each of `items` (keys, in order) goes in an area `width`×`height` whose top `reserved`
// pixels hold a message: all in a grid, or `featured` large with the others in a strip below.
// The featured item (a share) may take the whole box rather than a 16:9 part of it (`fill`).
// Returns a Map key -> { x, y, w, h }.
function arrange({ width, height, reserved = 0, items, featured = null, fill = false }) {
  const inner = { x: PAD, y: PAD + reserved, w: width - 2 * PAD, h: height - 2 * PAD - reserved };
  const out = new Map();
  const shown = featured !== null && items.includes(featured) ? featured : null;
  if (shown === null) {
    gridRects(items.length, inner).forEach((r, i) => out.set(items[i], r));
    return out;
  }
  const others = items.filter((k) => k !== shown);
  const stripH = others.length === 0 ? 0 : Math.max(STRIP_MIN / ASPECT, Math.min(150, inner.h * 0.22));
  const main = { x: inner.x, y: inner.y, w: inner.w, h: inner.h - (stripH ? stripH + GAP : 0) };
  out.set(shown, fill ? main : gridRects(1, main)[0]);
  // As many as fit at a legible size; where not all do, the last place says how many more there
  // are (key "more"), and those have no place.
  const fit = Math.max(1, Math.floor((inner.w + GAP) / (STRIP_MIN + GAP)));
  const inStrip = others.length > fit ? [...others.slice(0, fit - 1), "more"] : others;
  stripRects(inStrip.length, { x: inner.x, y: main.y + main.h + GAP, w: inner.w, h: stripH }).forEach((r, i) =>
    out.set(inStrip[i], r),
  );
  return out;
}

// Puts `el` at `rect` (pixels in its positioned parent), or hides it without one.
function place(el, rect) {
  if (!rect || rect.w <= 1 || rect.h <= 1) {
    el.style.display = "none";
    return;
  }
  el.style.display = "";
  el.style.left = `${Math.round(rect.x)}px`;
  el.style.top = `${Math.round(rect.y)}px`;
  el.style.width = `${Math.round(rect.w)}px`;
  el.style.height = `${Math.round(rect.h)}px`;
}

// Icons: 24×24, drawn with the text's colour.
const ICONS = {
  mic: '<rect x="9" y="2" width="6" height="12" rx="3"/><path d="M5 10v1a7 7 0 0 0 14 0v-1M12 18v4M8 22h8"/>',
  micOff:
    '<path d="M15 9.3V5a3 3 0 0 0-5.7-1.3M9 9v2a3 3 0 0 0 5 2.2M19 10v1a7 7 0 0 1-1.1 3.8M5 10v1a7 7 0 0 0 11 5.7M12 18v4M8 22h8M3 3l18 18"/>',
  camera: '<rect x="2" y="6" width="14" height="12" rx="2"/><path d="M16 10l6-3v10l-6-3z"/>',
  cameraOff: '<path d="M16 16v1a1 1 0 0 1-1 1H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h1M9 6h6a1 1 0 0 1 1 1v3l6-3v10M3 3l18 18"/>',
  share: '<rect x="2" y="4" width="20" height="13" rx="2"/><path d="M8 21h8M12 17v4M12 14V8M9 11l3-3 3 3"/>',
  hand: '<path d="M18 11V6a2 2 0 0 0-4 0v5M14 10V4a2 2 0 0 0-4 0v6M10 10.5V6a2 2 0 0 0-4 0v8M18 8a2 2 0 1 1 4 0v6a8 8 0 0 1-8 8h-2c-2.8 0-4.5-.9-6-2.4l-3.6-3.6a2 2 0 0 1 2.8-2.8L7 15"/>',
  smile: '<circle cx="12" cy="12" r="10"/><path d="M8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01"/>',
  speaker: '<rect x="3" y="3" width="18" height="12" rx="1"/><rect x="3" y="18" width="5" height="3"/><rect x="9.5" y="18" width="5" height="3"/><rect x="16" y="18" width="5" height="3"/>',
  grid: '<rect x="3" y="3" width="8" height="8" rx="1"/><rect x="13" y="3" width="8" height="8" rx="1"/><rect x="3" y="13" width="8" height="8" rx="1"/><rect x="13" y="13" width="8" height="8" rx="1"/>',
  people:
    '<circle cx="9" cy="7" r="4"/><path d="M2 21v-2a4 4 0 0 1 4-4h6a4 4 0 0 1 4 4v2M16 3.1a4 4 0 0 1 0 7.8M22 21v-2a4 4 0 0 0-3-3.9"/>',
  chat: '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>',
  sliders: '<path d="M4 21v-7M4 10V3M12 21v-9M12 8V3M20 21v-5M20 12V3M1 14h6M9 8h6M17 16h6"/>',
  link: '<path d="M10 13a5 5 0 0 0 7.5.5l3-3a5 5 0 0 0-7-7l-1.7 1.7M14 11a5 5 0 0 0-7.5-.5l-3 3a5 5 0 0 0 7 7l1.7-1.7"/>',
  leave: '<path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9"/>',
  lock: '<rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
  pin: '<path d="M12 17v5M8 3h8l-1 2v5l3 4H6l3-4V5z"/>',
  expand: '<path d="M8 3H5a2 2 0 0 0-2 2v3M21 8V5a2 2 0 0 0-2-2h-3M3 16v3a2 2 0 0 0 2 2h3M16 21h3a2 2 0 0 0 2-2v-3"/>',
  shrink: '<path d="M4 14h6v6M20 10h-6V4M14 10l7-7M3 21l7-7"/>',
};

// An icon's markup (a constant from the table above: never text from the meeting).
function iconSvg(name) {
  return `<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${ICONS[name] || ""}</svg>`;
}

// Fills every `[data-icon]` under `root` with its icon.
function drawIcons(root) {
  for (const el of root.querySelectorAll("[data-icon]")) {
    if (el.dataset.iconDrawn !== el.dataset.icon) {
      el.innerHTML = iconSvg(el.dataset.icon);
      el.dataset.iconDrawn = el.dataset.icon;
    }
  }
}

// Up to two initials of a name, for a tile without a picture.
function initials(name) {
  const words = (name || "").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return "?";
  const first = [...words[0]][0] || "";
  const last = words.length > 1 ? [...words[words.length - 1]][0] || "" : "";
  return (first + last).toUpperCase();
}
