// The page: pre-join form, meeting view, language. All decisions live in Rust; this file shows
// state and forwards clicks. Nothing here talks to the network.
"use strict";

const tauri = window.__TAURI__;
const invoke = (cmd, args) => tauri.core.invoke(cmd, args);
const $ = (id) => document.getElementById(id);
// Sets an element's text only where it changed. The meeting renders on every update; writing
// the same text again replaces the text node, and a click whose press and release straddle
// that is lost (WebKit fires none when the node pressed is gone): the stage test's "+4" button
// took a press and a release 574 ms apart on a busy machine and never its click.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
// Gives `parent` these children only where they differ from those it has (see setText: the
// participants' list, rebuilt on every render, lost clicks on its safety-number buttons).
function setChildren(parent, children) {
  const now = parent.children;
  const same =
    now.length === children.length &&
    parent.childNodes.length === children.length &&
    children.every((c, i) => now[i].outerHTML === c.outerHTML);
  if (!same) parent.replaceChildren(...children);
}

let language = defaultLanguage();
let info = null;
let screen = "prejoin";
let state = null; // the last meeting_state: numbers (frames, devices), polled
let poll = null;
// What the meeting's events say (src-tauri/src/events.rs): the page renders it, decides nothing.
const meeting = {
  connection: "connecting",
  roster: new Map(), // id -> participant, as the last event about them said
  speaker: null, // the id on stage
  code: null, // { digits, emoji, wordsEn, wordsDe }
  hand: false, // our hand is raised
  unread: 0, // chat messages arrived while the chat panel was closed
  sharing: false, // we share a screen or window
  stage: null, // whose shared screen is on the stage (the meeting decides: the newest share)
  gridOnly: false, // the user chose the grid over the stage
  view: "grid", // "grid" or "speaker": the user's choice of layout
  pinned: null, // the participant the user put on the stage
  selfOverlay: false, // our own picture as a small overlay instead of a tile
};
// The reactions there are (crates/room/src/control.rs, REACTIONS).
const REACTIONS = ["👍", "👏", "😂", "😮", "❤️", "🎉"];
let pendingSwitch = null; // a link waiting for "leave and join"
let joining = null; // { server } while a join waits to be in a meeting
let leftOutside = false; // the join was left before it was a meeting
let unreachable = null; // the server a join gave up on
let linkServer = null; // the server of the link in the field
let meetingOver = false; // the end of the last meeting has been shown
let lastError = null; // { code } or { key }
let settings = null; // what the user chose to keep (settings.json)

function tr(key, ...args) {
  return t(language, key, ...args);
}

// ---- rendering -------------------------------------------------------------------------------

function renderStatic() {
  document.documentElement.lang = language;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = tr(el.dataset.i18n);
  }
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === language));
  }
  $("about").textContent = info ? tr("about", info.version, info.cipherSuite) : tr("noBackend");
  $("error").textContent = !lastError ? "" : lastError.code ? errorText(lastError) : tr(lastError.key, lastError.arg);
  for (const select of [...DEVICE_KINDS, ...DEVICE_KINDS.map((k) => `meeting-${k}`)]) {
    const none = $(select).querySelector('option[value="none"]');
    if (none) none.textContent = tr("noDevice");
    const def = $(select).querySelector('option[data-default]');
    if (def) def.textContent = tr("systemDefault");
  }
  labelAll(document);
  // Tooltips: what a control does, and its shortcut.
  for (const el of document.querySelectorAll("[data-tip]")) el.title = tr(el.dataset.tip);
  for (const li of $("toasts").children) li.textContent = tr(li.dataset.key, li.dataset.arg);
  drawIcons(document);
  validateLink();
  renderPreviewProblems();
  renderTestResult();
  renderLobby();
  renderMeeting();
}

function show(which) {
  screen = which;
  if (which !== "meeting") showPreview($("self-picture"), false);
  document.body.classList.toggle("in-meeting", which === "meeting");
  $("prejoin").hidden = which !== "prejoin";
  $("meeting").hidden = which !== "meeting";
  $("connection").hidden = which !== "meeting";
}

// Participants whose safety number is shown (asked for by clicking "verified").
const showingSafety = new Set();

// The order in which raised hands went up: 1 for the first.
function handRank(p) {
  if (p.hand == null) return null;
  return [...meeting.roster.values()].filter((q) => q.hand != null && q.hand <= p.hand).length;
}

// One chat message, as text (never markup), with who sent it, whether they are verified and when.
function addChat(m) {
  const li = document.createElement("li");
  li.className = "chat-message";
  li.dataset.private = String(m.private);
  const head = document.createElement("span");
  head.className = "chat-head";
  const who = m.from == null ? tr("you") : m.name || "…";
  const time = new Date().toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit" });
  let line = `${who} · ${time}`;
  if (m.from != null) line += ` · ${m.verified ? tr("verified") : tr("unverified")}`;
  if (m.private) {
    const to = m.to ? meeting.roster.get(m.to)?.name || "…" : null;
    line += ` · ${to ? tr("privateTo", to) : tr("privateMessage")}`;
  }
  head.textContent = line;
  const text = document.createElement("span");
  text.className = "chat-text";
  text.append(...linkify(m.text));
  li.dataset.line = `${time} ${who}: ${m.text}`;
  li.append(head, text);
  $("chat-log").append(li);
  li.scrollIntoView({ block: "end" });
  if (m.from != null) {
    announce(tr("chatFrom", who, m.text));
    if ($("chat-panel").hidden) {
      meeting.unread += 1;
      $("notice").textContent = tr("chatFrom", who, m.text.length > 80 ? `${m.text.slice(0, 80)}…` : m.text);
    }
  }
}

// Text with its web addresses as links (text nodes and anchors only, never markup): a link opens
// in the system browser only after the user confirms.
function linkify(text) {
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(/\bhttps?:\/\/[^\s<>"']+/g)) {
    if (match.index > at) parts.push(document.createTextNode(text.slice(at, match.index)));
    const a = document.createElement("a");
    a.href = "#";
    a.className = "chat-link";
    a.dataset.url = match[0];
    a.textContent = match[0];
    a.addEventListener("click", (event) => {
      event.preventDefault();
      $("open-link-url").textContent = a.dataset.url;
      $("open-link-dialog").showModal();
    });
    parts.push(a);
    at = match.index + match[0].length;
  }
  if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
  return parts;
}

// A reaction floats over the sender's tile (ours over the self-view) for a few seconds.
function showReaction(from, emoji) {
  const where = from == null ? $("self-view") : document.querySelector(`#tiles .tile[data-id="${from}"]`);
  const name = from == null ? tr("you") : meeting.roster.get(from)?.name || "…";
  announce(tr("reacted", name, emoji));
  if (!where) return;
  const r = document.createElement("span");
  r.className = "reaction";
  r.textContent = emoji;
  r.setAttribute("aria-hidden", "true");
  where.append(r);
  setTimeout(() => r.remove(), 4000);
}

// Everyone and each verified participant present, for private messages.
function renderChatTo() {
  const select = $("chat-to");
  const chosen = select.value;
  const everyone = document.createElement("option");
  everyone.value = "";
  everyone.textContent = tr("everyone");
  const options = [...meeting.roster.values()]
    .filter((p) => p.verified === true && p.presence === "present" && p.name)
    .map((p) => {
      const o = document.createElement("option");
      o.value = p.id;
      o.textContent = p.name;
      return o;
    });
  // Not rebuilt while the same: one open in the user's hands would close.
  setChildren(select, [everyone, ...options]);
  select.value = options.some((o) => o.value === chosen) ? chosen : "";
}

function participantItem(p) {
  const li = document.createElement("li");
  li.dataset.id = p.id;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = p.name || "…";
  // Verified: a button that shows the safety number the two of you can compare.
  const verification = document.createElement(p.safetyNumber ? "button" : "span");
  verification.className = "verification";
  verification.dataset.verified = String(p.verified);
  verification.textContent =
    p.verified === true ? tr("verified") : p.verified === false ? tr("unverified") : tr("verifying");
  let safety = null;
  if (p.safetyNumber) {
    const showing = showingSafety.has(p.id);
    verification.type = "button";
    verification.title = tr("showSafetyNumber");
    verification.setAttribute("aria-expanded", String(showing));
    verification.addEventListener("click", () => {
      if (!showingSafety.delete(p.id)) showingSafety.add(p.id);
      renderMeeting();
    });
    if (showing) {
      safety = document.createElement("span");
      safety.className = "safety-number";
      safety.textContent = tr("safetyNumber", p.safetyNumber);
    }
  }
  li.append(name, " · ");
  // Their microphone's state comes with their (encrypted) hello: unknown until one arrives.
  if (typeof p.audio === "boolean") {
    const mic = document.createElement("span");
    mic.className = "mic";
    mic.dataset.on = String(p.audio);
    mic.textContent = p.audio ? tr("micOn") : tr("micOff");
    li.append(mic, " · ");
  }
  li.append(verification);
  if (safety) li.append(" · ", safety);
  if (p.hand != null) {
    const hand = document.createElement("span");
    hand.className = "hand";
    hand.textContent = tr("handRaised", handRank(p));
    li.append(" · ", hand);
  }
  if (p.presence === "away") {
    const away = document.createElement("span");
    away.className = "away";
    away.textContent = tr("reconnectingPeer");
    li.append(" · ", away);
  }
  if (p.video === false) {
    const cam = document.createElement("span");
    cam.className = "cam";
    cam.textContent = tr("camOff");
    li.append(" · ", cam);
  }
  return li;
}

// A notice on the stage for a few seconds (who came, who went); screen readers hear it through
// the announcer instead. Worded again when the language changes.
function toast(key, arg) {
  const li = document.createElement("li");
  li.dataset.key = key;
  li.dataset.arg = arg;
  li.textContent = tr(key, arg);
  $("toasts").append(li);
  while ($("toasts").children.length > 3) $("toasts").firstElementChild.remove();
  setTimeout(() => li.remove(), 5000);
}

// A short chime, rising when someone comes and falling when someone goes, where the user asked
// for it (Settings → Sound). Played by the page, on the system's default output.
let chimeContext = null;
function chime(up) {
  if (!settings?.joinSound) return;
  try {
    chimeContext ??= new AudioContext();
    if (chimeContext.state === "suspended") chimeContext.resume();
    const at = chimeContext.currentTime + 0.02;
    const gain = chimeContext.createGain();
    gain.connect(chimeContext.destination);
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
    gain.gain.setValueAtTime(0.3, at + 0.3);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.45);
    const tone = chimeContext.createOscillator();
    tone.frequency.setValueAtTime(up ? 660 : 880, at);
    tone.frequency.setValueAtTime(up ? 880 : 660, at + 0.15);
    tone.connect(gain);
    tone.start(at);
    tone.stop(at + 0.5);
    document.body.dataset.chimes = String(Number(document.body.dataset.chimes || 0) + 1);
  } catch {
    // No sound output for the page: the notice on the stage stays.
  }
}

// Said to screen readers (a polite live region) as the meeting's notices come.
function announce(line) {
  // Emptied first, so that a sentence equal to the last one is still read out.
  const announcer = $("announcer");
  announcer.textContent = "";
  setTimeout(() => (announcer.textContent = line), 100);
}

// One event of the meeting (src-tauri/src/events.rs).
function onMeetingEvent(e) {
  switch (e.type) {
    case "connection":
      meeting.connection = e.state;
      // A server a join never reached sends it back to the join screen, saying so.
      if (joining && e.state === "unreachable") giveUp();
      if (e.state === "left" || e.state === "failed") refreshState();
      renderLobby();
      break;
    case "admission":
      // A join shows the meeting only once it is one: alone, or with someone who holds the
      // link's room key (or by the user's choice); until then the join screen says why not.
      meeting.admission = e;
      if (joining && e.state === "in") enterMeeting();
      else renderLobby();
      break;
    case "participant":
      if (e.participant.presence === "left") meeting.roster.delete(e.participant.id);
      else meeting.roster.set(e.participant.id, e.participant);
      break;
    case "merged":
      meeting.roster.delete(e.from);
      break;
    case "present":
      announce(tr("inMeeting", e.name));
      break;
    case "joined":
      announce(tr("joinedMeeting", e.name));
      toast("joinedMeeting", e.name);
      chime(true);
      break;
    case "left":
      announce(tr("leftMeeting", e.name));
      toast("leftMeeting", e.name);
      chime(false);
      break;
    case "forged":
      // Someone holding the link (with the server) sent pictures or sound as this person.
      $("notice").textContent = tr("forgedFrames", e.name);
      announce(tr("forgedFrames", e.name));
      break;
    case "speaker":
      meeting.speaker = e.id;
      break;
    case "groupCode":
      meeting.code = e;
      break;
    case "chat":
      addChat(e);
      break;
    case "chatNotSent":
      // Nothing typed is lost: the text goes back into the box.
      if (!$("chat-text").value) $("chat-text").value = e.text;
      $("chat-error").textContent = tr(`chatNotSent_${e.reason}`);
      break;
    case "reaction":
      showReaction(e.from, e.emoji);
      break;
    case "stage":
      // Someone new on the stage: it shows, even after "Show everyone".
      if (e.id !== null && e.id !== meeting.stage) meeting.gridOnly = false;
      meeting.stage = e.id;
      break;
    case "local":
      meeting.hand = e.hand;
      meeting.sharing = e.sharing;
      refreshState();
      break;
    default:
      // Our own switches, or the end: the polled state says the rest.
      refreshState();
  }
  renderMeeting();
}

function resetMeeting() {
  showingSafety.clear();
  meeting.connection = "connecting";
  meeting.admission = null;
  meeting.roster.clear();
  meeting.speaker = null;
  meeting.code = null;
  meeting.hand = false;
  meeting.sharing = false;
  meeting.stage = null;
  meeting.gridOnly = false;
  meeting.pinned = null;
  showStage(null);
  $("toasts").replaceChildren();
  meeting.unread = 0;
  // Nothing of a meeting's chat outlives it.
  $("chat-log").replaceChildren();
  $("chat-text").value = "";
  $("chat-error").textContent = "";
}

function renderMeeting() {
  if (screen !== "meeting" || !state) return;
  const connection = $("connection");
  connection.dataset.state = meeting.connection;
  setText(connection, tr(meeting.connection));
  // A code being agreed after someone came or went is not shown as one to compare.
  setText($("group-code"), meeting.code?.digits || (meeting.code ? tr("codeSettling") : "–"));
  setText($("group-emoji"), meeting.code?.emoji || "");
  const words = ((language === "de" ? meeting.code?.wordsDe : meeting.code?.wordsEn) || []).join(" · ");
  $("group-emoji").setAttribute("aria-label", words);
  setText($("group-words"), words);
  const everyone = [...meeting.roster.values()];
  // On the stage: those verified to hold the room's key. Someone still being verified waits in
  // the list; a stranger (another key, or none) is never a tile.
  const seen = everyone.filter((p) => p.verified === true);
  const verifying = everyone.filter((p) => p.verified !== true && p.verified !== false);
  const strangers = everyone.filter((p) => p.verified === false);
  const count = seen.length + 1;
  setText($("people-title"), tr("peopleTitle", count));
  setText($("people-count"), String(count));
  $("toggle-people").setAttribute("aria-label", tr("peopleCount", count));
  const list = $("participants");
  const me = document.createElement("li");
  me.className = "me";
  // No microphone (none chosen, not found, unplugged) is neither on nor off.
  const noMic =
    inUse.microphone === "none" || state.device_problems.some((p) => p.device === "microphone");
  const mic = noMic ? tr("micNone") : state.sending_audio ? tr("micOn") : tr("micOff");
  me.textContent = `${tr("you")} · ${mic}`;
  const strangerItems = strangers.map((p) => {
    const li = participantItem(p);
    li.classList.add("stranger");
    return li;
  });
  const stats = new Map(state.participants.map((p) => [p.id, p]));
  syncTiles($("tiles"), seen, (tile, p, created) => decorateTile(tile, p, created, stats.get(p.id)));
  // The list in the tiles' order.
  const order = [...tiles.keys()];
  seen.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  setChildren(list, [me, ...seen.map(participantItem), ...verifying.map(participantItem), ...strangerItems]);
  const over = meeting.connection === "left" || meeting.connection === "failed";
  renderSelf(over);
  $("alone").hidden = everyone.length > 0 || over;
  $("strangers").hidden = strangers.length === 0;
  $("strangers-title").textContent =
    seen.length === 0 ? tr("strangersOnly", strangers.length) : tr("strangersToo", strangers.length);
  $("muted-hint").hidden = !state.speaking_while_muted;
  setSwitch($("toggle-mic"), state.sending_audio, "mic", "micOff");
  setSwitch($("toggle-cam"), state.sending_video, "camera", "cameraOff");
  renderShares(seen, over);
  $("toggle-hand").setAttribute("aria-pressed", String(meeting.hand));
  setText($("toggle-hand").querySelector(".text"), meeting.hand ? tr("lowerHand") : tr("raiseHand"));
  const speakerView = meeting.view === "speaker";
  $("toggle-layout").setAttribute("aria-pressed", String(speakerView));
  $("toggle-layout").querySelector(".icon").dataset.icon = speakerView ? "grid" : "speaker";
  setText($("toggle-layout").querySelector(".text"), speakerView ? tr("gridView") : tr("speakerView"));
  $("chat-unread").hidden = meeting.unread === 0;
  setText($("chat-unread"), String(meeting.unread));
  $("toggle-chat").setAttribute("aria-label", meeting.unread ? tr("chatUnread", meeting.unread) : tr("chat"));
  renderChatTo();
  setText($("meeting-error"), endText(state));
  // The participants' troubles (the app names them) in the UI's language.
  const troubles = state.troubles.map((t) =>
    t.kind === "undecryptable" ? tr("undecryptable", t.name, t.frames) : tr("notVerified", t.name, tr(t.reason)),
  );
  $("warnings").replaceChildren(
    ...[...state.device_problems.map((p) => tr("deviceProblem", p)), ...troubles].map((w) => {
      const li = document.createElement("li");
      li.textContent = w;
      return li;
    }),
  );
  drawIcons($("meeting"));
  placeStage();
}

// A switch of ours (microphone, camera): pressed while on, its icon struck through while off.
function setSwitch(button, on, icon, offIcon) {
  button.setAttribute("aria-pressed", String(on));
  button.querySelector(".icon").dataset.icon = on ? icon : offIcon;
}

// A participant's tile beyond its picture: initials while there is no picture, a badge for a
// microphone off and a raised hand, the connection's quality, a ring while speaking (not the
// orange of the keyboard focus), and buttons to pin it or show it full screen.
function decorateTile(tile, p, created, stats) {
  const el = tile.el;
  if (created) {
    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    const badges = document.createElement("span");
    badges.className = "badges";
    const quality = document.createElement("span");
    quality.className = "quality";
    quality.append(...[1, 2, 3].map(() => document.createElement("i")));
    const actions = document.createElement("span");
    actions.className = "tile-actions";
    const pin = document.createElement("button");
    pin.type = "button";
    pin.className = "tile-action pin";
    pin.innerHTML = iconSvg("pin");
    pin.addEventListener("click", () => {
      meeting.pinned = meeting.pinned === el.dataset.id ? null : el.dataset.id;
      renderMeeting();
    });
    const full = document.createElement("button");
    full.type = "button";
    full.className = "tile-action fullscreen";
    full.innerHTML = iconSvg("expand");
    full.addEventListener("click", () => {
      if (document.fullscreenElement === el) document.exitFullscreen?.();
      else el.requestFullscreen?.();
    });
    actions.append(pin, full);
    el.append(avatar, badges, quality, actions);
    tile.parts = { avatar, badges, quality, pin, full };
  }
  const { avatar, badges, quality, pin, full } = tile.parts;
  const name = p.name || "…";
  // Pictures received intact (decrypted), for those who look closer (tests): not shown.
  el.dataset.frames = String(stats?.video.frames_decrypted || 0);
  el.classList.toggle("speaking", p.id === meeting.speaker && p.audio !== false);
  el.classList.toggle("camera-off", p.video === false);
  el.classList.toggle("no-picture", p.video !== false && tile.drawn === 0);
  el.classList.toggle("away", p.presence === "away");
  el.classList.toggle("pinned", meeting.pinned === p.id);
  avatar.textContent = initials(name);
  const marks = [];
  if (p.audio === false) marks.push(badge("micOff", tr("micOff")));
  if (p.hand != null) marks.push(badge(null, tr("handRaised", handRank(p)), `✋ ${handRank(p)}`));
  if (p.presence === "away") marks.push(badge(null, tr("reconnectingPeer"), "…"));
  badges.replaceChildren(...marks);
  const q = state.quality?.[p.id] || "unknown";
  quality.dataset.quality = q;
  quality.title = tr(`quality_${q}`);
  quality.setAttribute("role", "img");
  quality.setAttribute("aria-label", tr(`quality_${q}`));
  pin.setAttribute("aria-pressed", String(meeting.pinned === p.id));
  pin.title = meeting.pinned === p.id ? tr("unpin", name) : tr("pin", name);
  pin.setAttribute("aria-label", pin.title);
  full.title = tr("fullScreenOf", name);
  full.setAttribute("aria-label", full.title);
}

// A small mark on a tile: an icon or a few characters, with its meaning for screen readers.
function badge(icon, label, text) {
  const b = document.createElement("span");
  b.className = "mark";
  b.setAttribute("role", "img");
  b.setAttribute("aria-label", label);
  b.title = label;
  if (icon) b.innerHTML = iconSvg(icon);
  else b.textContent = text;
  return b;
}

// Our own tile: the camera's picture (mirrored) while it is on and works, else our initials;
// "You", and a badge while our microphone is off.
function renderSelf(over) {
  const cameraWorks =
    inUse.camera !== "none" && !state.device_problems.some((p) => p.device === "camera");
  const picture = state.sending_video && cameraWorks && !over;
  showPreview($("self-picture"), picture);
  const view = $("self-view");
  view.classList.toggle("camera-off", !picture);
  view.classList.toggle("overlay", meeting.selfOverlay);
  $("self-avatar").textContent = initials($("name").value || tr("you"));
  $("self-badges").replaceChildren(...(state.sending_audio ? [] : [badge("micOff", tr("micOff"))]));
  if (meeting.hand) $("self-badges").append(badge(null, tr("lowerHand"), "✋"));
  const mode = $("self-mode");
  mode.title = meeting.selfOverlay ? tr("tipSelfTile") : tr("tipSelfOverlay");
  mode.setAttribute("aria-label", mode.title);
  mode.querySelector(".icon").dataset.icon = meeting.selfOverlay ? "expand" : "shrink";
}

// Places the stage's pictures: everyone in a grid, or one large (a share, the pinned person, the
// speaker in speaker view) with the others in a strip; our own picture among them or as an
// overlay in a corner. Runs on every render and whenever the stage changes size.
function placeStage() {
  if (screen !== "meeting") return;
  const area = $("stage-area");
  const width = area.clientWidth;
  const height = area.clientHeight;
  const top = $("stage-top");
  const reserved = top.offsetHeight > 0 ? top.offsetHeight + GAP : 0;
  const ids = [...tiles.keys()];
  const sharing = !$("stage").hidden;
  const items = [...(meeting.selfOverlay ? [] : ["self"]), ...ids, ...(sharing ? ["share"] : [])];
  let featured = null;
  if (sharing) featured = "share";
  else if (meeting.pinned && tiles.has(meeting.pinned)) featured = meeting.pinned;
  else if (meeting.view === "speaker" && ids.length > 0)
    featured = tiles.has(meeting.speaker) ? meeting.speaker : ids[0];
  const rects = arrange({ width, height, reserved, items, featured, fill: featured === "share" });
  for (const [id, tile] of tiles) place(tile.el, rects.get(id));
  if (sharing) place($("stage"), rects.get("share"));
  if (meeting.selfOverlay) {
    const w = Math.max(112, Math.min(220, width * 0.2));
    const h = w / ASPECT;
    place($("self-view"), { x: width - PAD - w, y: height - PAD - h, w, h });
  } else {
    place($("self-view"), rects.get("self"));
  }
  for (const [id, tile] of tiles) tile.el.classList.toggle("featured", id === featured);
  // Those the strip has no room for: how many, on a button that shows everyone.
  const more = rects.get("more");
  const hidden = items.filter((k) => k !== featured && !rects.has(k)).length;
  place($("strip-more"), more);
  if (more) {
    setText($("strip-more"), `+${hidden}`);
    $("strip-more").dataset.more = String(hidden);
    $("strip-more").setAttribute("aria-label", tr("stripMore", hidden));
    $("strip-more").title = tr("stripMore", hidden);
  }
  fitBar();
}

// The control bar in one row: labels while they fit, the lock's dropped first, then all.
function fitBar() {
  const bar = document.querySelector(".meeting-bar");
  // Named by their labels also when those are not shown (those naming themselves aside).
  for (const b of bar.querySelectorAll("button")) {
    const text = b.querySelector(".text");
    if (text && !b.hasAttribute("data-own-label")) b.setAttribute("aria-label", text.textContent);
  }
  const over = () => bar.scrollWidth > bar.clientWidth + 1;
  bar.classList.remove("tight", "compact");
  if (over()) bar.classList.add("tight");
  if (over()) bar.classList.add("compact");
}

// Sharing: our own (the button, the banner) and the others' (the share the meeting puts on the
// stage, the newest, above everyone's tiles, unless the user chose the grid).
function renderShares(present, over) {
  const sharing = !over && (meeting.sharing || state.sharing);
  $("toggle-share").setAttribute("aria-pressed", String(sharing));
  $("toggle-share").querySelector(".text").textContent = sharing ? tr("stopSharing") : tr("share");
  $("sharing-banner").hidden = !sharing;
  const here = new Map(present.map((p) => [p.id, p]));
  const onStage = over ? null : meeting.stage;
  const feed = state.participants.find((p) => p.id === onStage)?.share_feed ?? null;
  $("stage-caption").textContent = onStage === null ? "" : tr("isSharing", here.get(onStage)?.name || "…");
  $("stage-back").hidden = onStage === null || !meeting.gridOnly;
  showStage(meeting.gridOnly ? null : feed);
}

// The stage's tile, showing `feed` (or nothing: hidden).
let stageTile = null;
function showStage(feed) {
  $("stage").hidden = feed == null;
  if (feed == null) {
    if (stageTile) {
      stageTile.stop();
      stageTile.el.remove();
      stageTile = null;
    }
    if (document.fullscreenElement === $("stage")) document.exitFullscreen?.();
    return;
  }
  if (!stageTile) {
    stageTile = new VideoTile(videoTransport.name === "h264" ? "h264" : "i420");
    stageTile.el.classList.add("share");
    $("stage-view").replaceChildren(stageTile.el);
    stageTile.run();
  }
  if (stageTile.feed !== feed) {
    stageTile.feed = feed;
    stageTile.seen = 0;
  }
}

// The picker: the whole screen and each window, with a picture of each as it is now, renewed
// every 1.5 s while the picker is open (the choice stays).
let sharePickerTimer = null;
async function fillSharePicker() {
  const sources = (await invoke("share_sources")) || [];
  const list = $("share-list");
  const chosen = document.querySelector('input[name="share-source"]:checked')?.value;
  list.replaceChildren(
    ...sources.map((s, i) => {
      const li = document.createElement("li");
      const label = document.createElement("label");
      label.className = "share-source";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "share-source";
      input.value = s.target;
      input.checked = chosen ? s.target === chosen : i === 0;
      const text = document.createElement("span");
      // Window titles are shown as text, never as markup.
      text.textContent = s.target === "portal" ? tr("systemDialog") : s.title || tr("entireScreen");
      if (s.thumbnail) {
        const [width, height, rgba] = s.thumbnail;
        const canvas = document.createElement("canvas");
        canvas.width = width;
        canvas.height = height;
        canvas.setAttribute("aria-hidden", "true");
        const bytes = Uint8ClampedArray.from(atob(rgba), (c) => c.charCodeAt(0));
        canvas.getContext("2d").putImageData(new ImageData(bytes, width, height), 0, 0);
        label.append(canvas);
      }
      label.append(input, text);
      li.append(label);
      return li;
    }),
  );
  $("share-none").hidden = sources.length > 0;
  $("share-start").disabled = sources.length === 0;
}

async function openShareDialog() {
  if (!state) return;
  await fillSharePicker();
  if (!$("share-dialog").open) $("share-dialog").showModal();
  clearInterval(sharePickerTimer);
  sharePickerTimer = setInterval(() => {
    if ($("share-dialog").open) fillSharePicker();
    else clearInterval(sharePickerTimer);
  }, 1500);
}

async function toggleShare() {
  if (!state) return;
  if (meeting.sharing || state.sharing) {
    await invoke("share", { target: null });
    meeting.sharing = false;
    renderMeeting();
  } else {
    await openShareDialog();
  }
}

// Why the meeting ended: in the UI's language for the reasons the app names, else as it words it.
function endText(s) {
  const key = {
    sfu_refused: "endSfuRefused",
    connection_lost: "endConnectionLost",
    no_turn_server: "endNoTurnServer",
    no_relay: "endNoRelay",
    bad_ice_server: "endBadIceServer",
    untrusted_server: "endUntrustedServer",
    bad_ca: "endBadCa",
  }[s.error_kind];
  return key ? tr(key, s.error) : s.error || "";
}

// ---- actions ---------------------------------------------------------------------------------

async function validateLink() {
  const value = $("link").value.trim();
  const status = $("link-status");
  if (!value || !tauri) {
    status.textContent = "";
    return false;
  }
  try {
    const summary = await invoke("check_link", { link: value });
    linkServer = summary.server;
    status.textContent = tr("linkOk", summary.room, summary.server);
    // Unencrypted signalling to another machine: said, not refused (a test server may be so).
    if (summary.insecure) status.textContent += ` ${tr("insecureLink")}`;
    status.dataset.insecure = String(summary.insecure);
    status.dataset.valid = "true";
    $("link").removeAttribute("aria-invalid");
    await prepareInvitation(value);
    // A join refused for the link before: this one is fine, so that message goes.
    if (lastError?.code === "invalidLink") {
      lastError = null;
      $("error").textContent = "";
    }
    return true;
  } catch (e) {
    // Exactly what is wrong with it, as the app found it.
    status.textContent = errorText(e);
    status.dataset.valid = "false";
    $("link").setAttribute("aria-invalid", "true");
    return false;
  }
}

// An error from the app in the UI's language: the precise reason where there is one.
function errorText(e) {
  return e?.reason ? tr(e.reason, e.arg) : tr(e?.code || "invalidLink");
}

async function refreshState() {
  try {
    state = await invoke("meeting_state");
  } catch {
    return;
  }
  if (!state) return;
  if (state.connection === "left" || state.connection === "failed") {
    // Once per meeting: later refreshes (an end event, our switches) change nothing here.
    if (meetingOver) return;
    meetingOver = true;
    stopPolling();
    clearTiles();
    // The meeting's chat ends with it.
    $("chat-log").replaceChildren();
    $("chat-panel").hidden = true;
    $("people-panel").hidden = true;
    show("prejoin");
    // A room remembered when joining is in the list now.
    loadSettings();
    // A join that never got in: the server could not be reached (we gave up, or the client
    // did), or it refused; either way the join screen says so and offers Retry.
    const neverIn = joining != null || unreachable != null;
    const server = unreachable || joining?.server || "";
    joining = null;
    unreachable = null;
    $("lobby").hidden = true;
    lockJoinForm(false);
    $("join-status").textContent = "";
    $("retry").hidden = !neverIn;
    if (neverIn && (state.connection === "left" || state.error_kind === "connection_lost")) {
      lastError = { key: "cannotReach", arg: server };
      $("error").textContent = tr("cannotReach", server);
    } else {
      lastError = state.connection === "failed" ? { key: "failed" } : null;
      $("error").textContent = state.error ? `${tr("failed")} ${endText(state)}` : lastError ? tr("failed") : "";
      // Left by choice: said, so that the join screen is not mistaken for a dropped call (not
      // after leaving from outside: that was no meeting).
      if (!lastError && !state.error && !leftOutside) $("join-status").textContent = tr("youLeft");
      leftOutside = false;
    }
    const previewing = startPreview();
    // The message sits by the join button, below the preview: in view once the preview has
    // taken its place.
    if (lastError) previewing.finally(() => $("error").scrollIntoView({ block: "nearest" }));
    if (pendingSwitch) {
      const link = pendingSwitch;
      pendingSwitch = null;
      $("link").value = link;
      await join();
    }
    return;
  }
  renderMeeting();
}

function startPolling() {
  stopPolling();
  poll = setInterval(refreshState, 500);
}

function stopPolling() {
  if (poll) clearInterval(poll);
  poll = null;
}

function devices() {
  return {
    camera: $("camera").value,
    microphone: $("microphone").value,
    speaker: $("speaker").value,
    startMuted: $("start-muted").checked,
    startCameraOff: $("start-camera-off").checked,
  };
}

// The test call's outcome, kept so that switching the language words it again: null (none yet),
// { testing: "speak" | "listen" }, { report } or { code } (an error).
let testOutcome = null;

function renderTestResult() {
  const out = $("test-result");
  if (!testOutcome) return;
  if (testOutcome.testing) {
    out.textContent = tr(testOutcome.testing === "listen" ? "testListen" : "testSpeak");
  } else if (testOutcome.code) {
    out.textContent = tr(testOutcome.code);
  } else {
    const { video: v, audio: a, device_problems: problems } = testOutcome.report;
    // A plain verdict first, the figures after it.
    const verdict = document.createElement("strong");
    verdict.className = "verdict";
    verdict.textContent = problems.length
      ? tr("testVerdictProblem")
      : a && a.loudest_dbfs < -50
        ? tr("testVerdictSilent")
        : tr("testVerdictOk", Boolean(v), Boolean(a));
    const details = document.createElement("span");
    details.textContent = ["",
      v
        ? tr("testVideo", v.end_to_end_ms.p50.toFixed(0), v.end_to_end_ms.p95.toFixed(0), v.psnr_db.toLocaleString(language, { minimumFractionDigits: 1, maximumFractionDigits: 1 }), v.frames_lost)
        : tr("testNoVideo"),
      a ? tr("testAudio", a.frames_played, a.frames_concealed) : tr("testNoAudio"),
      ...problems.map((p) => tr("deviceProblem", p)),
    ].join(" ");
    out.replaceChildren(verdict, details);
  }
}

async function testCall() {
  const button = $("test-call");
  button.disabled = true;
  // You speak for three seconds, then hear it played back.
  testOutcome = { testing: "speak" };
  renderTestResult();
  const listen = setTimeout(() => {
    if (testOutcome?.testing) {
      testOutcome = { testing: "listen" };
      renderTestResult();
    }
  }, 3000);
  try {
    testOutcome = { report: await invoke("test_call", { devices: devices() }) };
    renderTestResult();
    $("test-result").dataset.done = "true";
  } catch (e) {
    testOutcome = { code: e.code || "internal" };
    renderTestResult();
  } finally {
    clearTimeout(listen);
    // Not while a join, which took the devices, is under way.
    button.disabled = joining != null;
  }
}

// ---- preview ---------------------------------------------------------------------------------

let meter = null;
let previewProblems = []; // devices the preview could not open

function renderPreviewProblems() {
  $("preview-warnings").textContent = previewProblems.map((p) => tr("deviceProblem", p)).join(" ");
}

async function startPreview() {
  if (!tauri || screen !== "prejoin") return;
  try {
    previewProblems = await invoke("preview_start", { devices: devices() });
  } catch (e) {
    lastError = { code: e.code || "internal" };
    $("error").textContent = tr(lastError.code);
    return;
  }
  // Joined meanwhile: the tile is the meeting's self-view now, not the preview's.
  if (screen !== "prejoin") return;
  // A camera that could not be opened shows nothing (not the last picture of the one before).
  const noCamera = previewProblems.some((p) => p.device === "camera");
  showPreview($("preview"), $("camera").value !== "none" && !noCamera);
  renderPreviewProblems();
  if (!meter) {
    meter = setInterval(async () => {
      $("mic-level").value = await invoke("preview_level");
    }, 100);
  }
}

async function stopPreview() {
  if (meter) clearInterval(meter);
  meter = null;
  $("mic-level").value = 0;
  showPreview($("preview"), false);
  if (tauri) await invoke("preview_stop");
}

// ---- devices during a meeting ------------------------------------------------------------------

const DEVICE_KINDS = ["camera", "microphone", "speaker"];
let inUse = {}; // the devices the meeting uses, by kind, as the pickers name them

// The app's device lists by the pickers' kinds.
function byKind(devices) {
  return { camera: devices.cameras, microphone: devices.microphones, speaker: devices.speakers };
}

// The dialog opens at once with the lists as the join screen last saw them; the devices are
// asked again meanwhile (that can take seconds on a busy machine) and the lists follow.
async function openDevices() {
  // What is chosen in the dialog stays chosen when the lists are renewed.
  const fill = (lists, chosen) => {
    for (const kind of DEVICE_KINDS) fillSelect(`meeting-${kind}`, lists[kind], chosen(kind), true);
  };
  fill(lastDeviceLists || byKind({ cameras: [], microphones: [], speakers: [] }), (kind) => inUse[kind]);
  $("devices-dialog").showModal();
  try {
    lastDeviceLists = byKind(await invoke("devices"));
    if ($("devices-dialog").open) fill(lastDeviceLists, (kind) => $(`meeting-${kind}`).value || inUse[kind]);
  } catch {
    // The lists stay as they were.
  }
}

// Only what changed is replaced: a new microphone does not restart the camera.
async function applyDevices() {
  const changed = {};
  for (const kind of DEVICE_KINDS) {
    const value = $(`meeting-${kind}`).value;
    if (value !== inUse[kind]) changed[kind] = value;
  }
  $("devices-dialog").close();
  if (Object.keys(changed).length === 0) return;
  inUse = { ...inUse, ...changed };
  // The join screen offers the same ones next time.
  for (const [kind, value] of Object.entries(changed)) {
    if ($(kind).querySelector(`option[value="${CSS.escape(value)}"]`)) $(kind).value = value;
  }
  try {
    await invoke("set_devices", { devices: changed });
  } catch (e) {
    $("notice").textContent = tr(e.code || "internal");
  }
  await refreshState();
}

// While a join is under way (connecting, or waiting outside), the join form is what it joined
// with: its fields and Join are locked, not left to be edited to no effect.
const JOIN_FIELDS = ["link", "name", "camera", "microphone", "speaker", "start-muted", "start-camera-off", "remember", "test-call"];
function lockJoinForm(locked) {
  $("join").disabled = locked;
  for (const id of JOIN_FIELDS) $(id).disabled = locked;
}

// A join waiting to be a meeting, on the join screen: connected, while those here are checked
// for the link's room key, or when none of them has it (the user may go in anyway, or leave).
function renderLobby() {
  const a = meeting.admission;
  const waiting = joining != null && meeting.connection === "connected" && a?.state === "waiting";
  $("lobby").hidden = !waiting;
  if (!waiting) {
    $("go-in").hidden = true;
    return;
  }
  $("join-status").textContent = "";
  const nobody = a.checking === 0 && a.strangers > 0;
  $("lobby-title").textContent =
    a.strangers === 0 ? tr("lobbyChecking", a.checking) : tr(nobody ? "strangersOnly" : "strangersToo", a.strangers);
  $("lobby-text").textContent = a.strangers === 0 ? "" : `${tr("strangersText")} ${tr("lobbyWait")}`;
  const choice = $("go-in").hidden && nobody;
  $("go-in").hidden = !nobody;
  // The choice it now offers is in view.
  if (choice) $("lobby").scrollIntoView({ block: "nearest" });
}

// The meeting screen, once it is one.
function enterMeeting() {
  joining = null;
  $("lobby").hidden = true;
  lockJoinForm(false);
  $("join-status").textContent = "";
  show("meeting");
  renderMeeting();
  startPolling();
}

// The server was never reached: the attempt ends, and the join screen says so with Retry.
function giveUp() {
  unreachable = joining?.server || "?";
  joining = null;
  invoke("leave");
}

async function join() {
  lastError = null;
  $("error").textContent = "";
  $("retry").hidden = true;
  meetingOver = false;
  await validateLink();
  joining = { server: linkServer };
  unreachable = null;
  lockJoinForm(true);
  $("join-status").textContent = tr("joiningServer", linkServer || "");
  await stopPreview();
  // The meeting's events may come before the answer.
  resetMeeting();
  let notice = null;
  try {
    notice = await invoke("join", {
      request: {
        link: $("link").value.trim(),
        name: $("name").value,
        devices: devices(),
        remember: $("remember").checked,
        pageDecodes: (await chooseVideoTransport()) === "h264",
      },
    });
  } catch (e) {
    joining = null;
    lockJoinForm(false);
    $("join-status").textContent = "";
    lastError = { code: e.code || "internal", reason: e.reason, arg: e.arg };
    $("error").textContent = errorText(lastError);
    // The field at fault gets the focus.
    if (lastError.code === "invalidLink") $("link").focus();
    if (lastError.code === "noName") $("name").focus();
    startPreview();
    return;
  }
  state = null;
  inUse = Object.fromEntries(DEVICE_KINDS.map((k) => [k, $(k).value]));
  $("announcer").textContent = "";
  // Joined, but the room could not be remembered (no keyring): say so in the meeting.
  $("notice").textContent = notice ? tr(notice.code) : "";
  // Over already (refused, unreachable) or in already: the events took care of it.
  if (!joining) return;
  await refreshState();
  // In already (the event came before the answer): in.
  if (joining && meeting.admission?.state === "in") enterMeeting();
}

// Device lists, refreshed every few seconds on the pre-join screen so that a camera or headset
// plugged in now appears; the user's choice (or the saved preference) stays selected.
let deviceSignature = "";
let lastDeviceLists = null; // the devices last asked for, by kind

// A device picker with `list` ({ id, label }) and "none", `wanted` selected if it is there. With
// `keep`, a `wanted` that is not there (unplugged) stays listed as unavailable, so that leaving
// the picker alone keeps it.
function fillSelect(select, list, wanted, keep = false) {
  const options = list.map((d) => {
    const o = document.createElement("option");
    o.value = d.id;
    // The system's default under the page's own name (the sound system's own is in English).
    o.textContent = d.id === "" ? tr("systemDefault") : d.label;
    if (d.id === "") o.dataset.default = "";
    return o;
  });
  const none = document.createElement("option");
  none.value = "none";
  none.textContent = tr("noDevice");
  options.push(none);
  if (keep && wanted != null && !options.some((o) => o.value === wanted)) {
    const gone = document.createElement("option");
    gone.value = wanted;
    gone.textContent = tr("unavailableDevice");
    options.unshift(gone);
  }
  $(select).replaceChildren(...options);
  if (wanted != null && options.some((o) => o.value === wanted)) $(select).value = wanted;
}

async function fillDevices() {
  if (!tauri) return;
  const devices = await invoke("devices");
  const signature = JSON.stringify(devices);
  if (signature === deviceSignature) return;
  const first = deviceSignature === "";
  deviceSignature = signature;
  const lists = byKind(devices);
  lastDeviceLists = lists;
  for (const kind of DEVICE_KINDS) {
    fillSelect(kind, lists[kind], first ? settings?.[kind] : $(kind).value);
  }
  if (!first) startPreview();
}

async function takeLink() {
  const link = await invoke("take_pending_link");
  if (!link) return;
  if (screen === "meeting") {
    pendingSwitch = null;
    $("link-dialog").dataset.link = link;
    $("link-dialog").showModal();
  } else {
    $("link").value = link;
    await validateLink();
    $("name").focus();
  }
}

// ---- settings and remembered rooms -----------------------------------------------------------

async function loadSettings() {
  try {
    settings = await invoke("settings_get");
  } catch {
    settings = null;
  }
  if (!settings) return;
  if (settings.language) language = settings.language;
  if (settings.name && !$("name").value) $("name").value = settings.name;
  renderSavedRooms();
}

function renderSavedRooms() {
  const rooms = settings?.rooms || [];
  $("saved").hidden = rooms.length === 0;
  $("saved-rooms").replaceChildren(
    ...rooms.map((r) => {
      const li = document.createElement("li");
      const use = document.createElement("button");
      use.type = "button";
      use.className = "room";
      use.textContent = r.room;
      use.addEventListener("click", async () => {
        $("link").value = await invoke("room_link", { id: r.id });
        validateLink();
        $("name").focus();
      });
      const forget = document.createElement("button");
      forget.type = "button";
      forget.className = "forget";
      forget.textContent = tr("forget");
      forget.setAttribute("aria-label", `${tr("forget")}: ${r.room}`);
      forget.addEventListener("click", async () => {
        await invoke("forget_room", { id: r.id });
        await loadSettings();
      });
      // Which server the room is on: two rooms of one name on two servers are told apart.
      const server = document.createElement("span");
      server.className = "room-server hint";
      try {
        server.textContent = new URL(r.linkWithoutSecret).searchParams.get("sfu") || "";
      } catch {
        server.textContent = "";
      }
      li.append(use, " ", server, " ", forget);
      return li;
    }),
  );
}

// The STUN/TURN servers in the settings: one row per server, its password in a masked field.
function iceRow({ url = "", username = "", credential = "" } = {}) {
  const li = document.createElement("li");
  li.className = "ice-server";
  const field = (name, type, value, label) => {
    const input = document.createElement("input");
    Object.assign(input, { name, type, value, spellcheck: false, autocomplete: "off" });
    if (type === "password") input.autocomplete = "new-password";
    input.dataset.i18nLabel = label;
    return input;
  };
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.dataset.i18nLabel = "iceRemove";
  remove.addEventListener("click", () => li.remove());
  li.append(
    field("url", "text", url, "iceUrl"),
    field("username", "text", username, "iceUser"),
    field("credential", "password", credential, "icePassword"),
    remove,
  );
  labelAll(li);
  return li;
}

// Elements named by `data-i18n-label`: their accessible name, shown as an input's placeholder
// and as a button's text.
function labelAll(root) {
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    const label = tr(el.dataset.i18nLabel);
    el.setAttribute("aria-label", label);
    if (el.tagName === "INPUT") el.placeholder = label;
    if (el.tagName === "BUTTON") el.textContent = label;
  }
}

function showIce(servers) {
  $("ice-list").replaceChildren(...servers.map(iceRow));
}

function readIce() {
  return [...$("ice-list").children]
    .map((li) => {
      const value = (name) => li.querySelector(`[name="${name}"]`).value.trim();
      return { url: value("url"), username: value("username"), credential: value("credential") };
    })
    .filter((s) => s.url);
}

async function saveSettings(changes) {
  const next = { ...(settings || {}), ...changes };
  try {
    settings = await invoke("settings_save", { settings: next });
    return true;
  } catch (e) {
    const known = {
      relayWithoutTurn: "relayWithoutTurn",
      keyring: "keyringSettings",
      badIceServer: "badIceServer",
      badCa: "badCa",
      invalidLink: "badMeetingServer",
      badInvitationPage: "badInvitationPage",
    };
    $("settings-error").textContent = tr(known[e?.code] || "settingsFailed", e?.message);
    return false;
  }
}

$("open-settings").addEventListener("click", async () => {
  $("default-name").value = settings?.name || "";
  $("keep-identity").checked = Boolean(settings?.keepIdentity);
  $("join-sound").checked = Boolean(settings?.joinSound);
  showIce(settings?.ice_servers || settings?.iceServers || []);
  $("relay-only").checked = Boolean(settings?.relayOnly);
  // The microphone's clean-up: on unless turned off.
  const sound = settings?.sound || {};
  $("echo-cancellation").checked = sound.echoCancellation !== false;
  $("noise-suppression").checked = sound.noiseSuppression !== false;
  $("gain-control").checked = sound.gainControl !== false;
  $("trusted-ca").value = settings?.trustedCa || "";
  $("advanced").open = Boolean(settings?.trustedCa);
  $("meeting-server").value = settings?.meetingServer || "";
  $("invitation-page").value = settings?.invitationPage || "";
  $("settings-error").textContent = "";
  $("forgotten").textContent = "";
  await showPolicy();
  $("settings-dialog").showModal();
});

// What the organisation's policy file locks is shown greyed out; the app keeps it as it is.
async function showPolicy() {
  let policy = { locked: [], problem: null };
  try {
    policy = await invoke("policy_get");
  } catch {
    // An older shell without policies: nothing is locked.
  }
  const locked = new Set(policy.locked);
  $("meeting-server").disabled = locked.has("meetingServer");
  $("invitation-page").disabled = locked.has("invitationPage");
  for (const el of $("ice-servers").querySelectorAll("input, button")) {
    el.disabled = locked.has("iceServers");
  }
  $("relay-only").disabled = locked.has("relayOnly");
  $("trusted-ca").disabled = locked.has("trustedCa");
  const note = $("policy-note");
  note.hidden = !policy.problem && locked.size === 0;
  note.textContent = policy.problem ? tr("policyProblem", policy.problem) : tr("policyLocked");
}
$("settings-cancel").addEventListener("click", () => $("settings-dialog").close());
$("open-devices").addEventListener("click", openDevices);
$("devices-apply").addEventListener("click", applyDevices);
$("devices-cancel").addEventListener("click", () => $("devices-dialog").close());
$("ice-add").addEventListener("click", () => {
  const row = iceRow();
  $("ice-list").append(row);
  row.querySelector("input").focus();
});
$("settings-save").addEventListener("click", async () => {
  // The devices chosen on the pre-join screen become the preferred ones.
  const ok = await saveSettings({
    name: $("default-name").value.trim(),
    iceServers: readIce(),
    keepIdentity: $("keep-identity").checked,
    joinSound: $("join-sound").checked,
    relayOnly: $("relay-only").checked,
    sound: {
      echoCancellation: $("echo-cancellation").checked,
      noiseSuppression: $("noise-suppression").checked,
      gainControl: $("gain-control").checked,
    },
    trustedCa: $("trusted-ca").value.trim() || null,
    meetingServer: $("meeting-server").value.trim() || null,
    invitationPage: $("invitation-page").value.trim() || null,
    language,
    camera: $("camera").value,
    microphone: $("microphone").value,
    speaker: $("speaker").value,
  });
  if (ok) {
    if (settings.name) $("name").value = settings.name;
    $("settings-dialog").close();
    // The invitation page may have changed: the invitation follows.
    if (tauri) validateLink();
  }
});
// Forgetting asks first: it cannot be undone.
$("forget-everything").addEventListener("click", () => $("forget-dialog").showModal());
$("forget-no").addEventListener("click", () => $("forget-dialog").close());
$("forget-yes").addEventListener("click", async () => {
  $("forget-dialog").close();
  await invoke("forget_everything");
  // Nothing of a remembered room stays on the screen either.
  $("link").value = "";
  $("invitation").hidden = true;
  validateLink();
  settings = null;
  await loadSettings();
  $("name").value = "";
  $("default-name").value = "";
  showIce([]);
  $("relay-only").checked = false;
  $("join-sound").checked = false;
  for (const id of ["echo-cancellation", "noise-suppression", "gain-control"]) $(id).checked = true;
  $("trusted-ca").value = "";
  $("forgotten").textContent = tr("forgotten");
});

// ---- wiring ----------------------------------------------------------------------------------

for (const button of document.querySelectorAll("[data-lang]")) {
  button.addEventListener("click", () => {
    language = button.dataset.lang;
    if (tauri) invoke("set_language", { language });
    if (tauri) saveSettings({ language });
    renderStatic();
  });
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  join();
});
$("link").addEventListener("input", validateLink);
$("retry").addEventListener("click", () => join());
// Outside a meeting nobody here shares the key of: in anyway (two who came at once with different
// links each see the other as the stranger), or away.
$("go-in").addEventListener("click", () => invoke("go_in"));
$("cancel-join").addEventListener("click", () => {
  joining = null;
  unreachable = null;
  leftOutside = true;
  $("lobby").hidden = true;
  invoke("leave");
});
$("test-call").addEventListener("click", async () => {
  // The test call opens the devices itself.
  await stopPreview();
  await testCall();
  startPreview();
});
for (const id of ["camera", "microphone"]) $(id).addEventListener("change", startPreview);
$("toggle-mic").addEventListener("click", async () => {
  if (!state) return;
  const on = await invoke("set_audio", { on: !state.sending_audio });
  if (on !== null) state.sending_audio = on;
  renderMeeting();
});
$("toggle-cam").addEventListener("click", async () => {
  if (!state) return;
  const on = await invoke("set_video", { on: !state.sending_video });
  if (on !== null) state.sending_video = on;
  renderMeeting();
});
$("leave").addEventListener("click", () => invoke("leave"));
$("toggle-share").addEventListener("click", toggleShare);
$("stop-sharing").addEventListener("click", toggleShare);
$("share-cancel").addEventListener("click", () => $("share-dialog").close());
$("share-start").addEventListener("click", async () => {
  const chosen = document.querySelector('input[name="share-source"]:checked');
  $("share-dialog").close();
  if (!chosen) return;
  if (await invoke("share", { target: chosen.value })) meeting.sharing = true;
  renderMeeting();
});
// Everyone, from a strip with no room for them all: the grid (a share steps aside for it too).
$("strip-more").addEventListener("click", () => {
  if (!$("stage").hidden) meeting.gridOnly = true;
  meeting.view = "grid";
  meeting.pinned = null;
  renderMeeting();
});
$("stage-grid").addEventListener("click", () => {
  meeting.gridOnly = true;
  renderMeeting();
});
$("stage-show").addEventListener("click", () => {
  meeting.gridOnly = false;
  renderMeeting();
});
$("stage-fullscreen").addEventListener("click", () => {
  const stage = $("stage");
  if (document.fullscreenElement === stage) document.exitFullscreen?.();
  else stage.requestFullscreen?.();
});
// Ctrl+Shift+S starts or stops sharing while the meeting is shown.
document.addEventListener("keydown", (event) => {
  if (screen !== "meeting" || !event.ctrlKey || !event.shiftKey || event.code !== "KeyS") return;
  event.preventDefault();
  toggleShare();
});
$("toggle-hand").addEventListener("click", () => invoke("raise_hand", { up: !meeting.hand }));
$("open-reactions").addEventListener("click", () => {
  const box = $("reactions");
  box.hidden = !box.hidden;
  $("open-reactions").setAttribute("aria-expanded", String(!box.hidden));
  if (!box.hidden) box.querySelector("button")?.focus();
});
$("reactions").replaceChildren(
  ...REACTIONS.map((emoji) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "reaction-choice";
    b.textContent = emoji;
    b.addEventListener("click", () => {
      invoke("react", { emoji });
      $("reactions").hidden = true;
      $("open-reactions").setAttribute("aria-expanded", "false");
    });
    return b;
  }),
);
// One side panel at a time (people and verification, or chat), beside the stage: opening one
// closes the other; the stage shrinks to make room and keeps its layout.
function openPanel(which) {
  const panels = { people: $("people-panel"), chat: $("chat-panel") };
  for (const [name, panel] of Object.entries(panels)) panel.hidden = name !== which;
  $("toggle-people").setAttribute("aria-expanded", String(which === "people"));
  $("open-verify").setAttribute("aria-expanded", String(which === "people"));
  $("toggle-chat").setAttribute("aria-expanded", String(which === "chat"));
  if (which === "chat") {
    meeting.unread = 0;
    $("chat-text").focus();
  }
  renderMeeting();
}
$("toggle-chat").addEventListener("click", () => openPanel($("chat-panel").hidden ? "chat" : null));
$("toggle-people").addEventListener("click", () => openPanel($("people-panel").hidden ? "people" : null));
// The lock opens the verification: the group code at the top of the people panel.
$("open-verify").addEventListener("click", () => {
  const open = $("people-panel").hidden;
  openPanel(open ? "people" : null);
  if (open) $("e2ee-badge").scrollIntoView({ block: "start" });
});
$("toggle-layout").addEventListener("click", () => {
  meeting.view = meeting.view === "speaker" ? "grid" : "speaker";
  // The grid is everyone: a pinned person goes back among them.
  if (meeting.view === "grid") meeting.pinned = null;
  renderMeeting();
});
$("self-mode").addEventListener("click", () => {
  meeting.selfOverlay = !meeting.selfOverlay;
  renderMeeting();
});
$("waiting-invite").addEventListener("click", () => copyInvitation($("notice")));
new ResizeObserver(() => placeStage()).observe($("stage-area"));
// The invitation to the meeting of `link`: what to paste into a mail or a chat.
// The invitation to `link`: with the https:// link as well where the organisation hosts the join
// page (any mail program opens that one; it opens Conclave). Made ready when the link is checked,
// since copying must happen in the click itself (the clipboard wants the user's gesture).
let invitationLinks = null; // { link, conclave, https } for the link last checked
function invitationText(link) {
  const links = invitationLinks?.link === link ? invitationLinks : { conclave: link, https: null };
  return links.https ? tr("invitationTextBoth", links.https, links.conclave) : tr("invitationText", links.conclave);
}
async function prepareInvitation(link) {
  try {
    invitationLinks = { link, ...(await invoke("invitation", { link })) };
  } catch {
    invitationLinks = null;
  }
}

// Onto the clipboard: the web API where the webview allows it, else the old way.
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

$("new-meeting").addEventListener("click", async () => {
  $("new-meeting-error").textContent = "";
  try {
    const created = await invoke("new_meeting");
    $("link").value = created.link;
    $("invitation-room").textContent = tr("invitationRoom", created.room);
    $("invitation-status").textContent = "";
    $("invitation").hidden = false;
    await validateLink();
    $("name").focus();
  } catch (e) {
    $("new-meeting-error").textContent = tr(e.code === "noMeetingServer" ? "noMeetingServer" : "badMeetingServer");
  }
});
// Copies the invitation to the meeting in the link field and says so in `status`.
async function copyInvitation(status) {
  const ok = await copyText(invitationText($("link").value.trim()));
  status.textContent = ok ? tr("invitationCopied") : tr("invitationNotCopied");
  // On the stage, the note takes room the layout leaves.
  renderMeeting();
}
$("copy-invitation").addEventListener("click", () => copyInvitation($("invitation-status")));
$("invite").addEventListener("click", () => copyInvitation($("notice")));
$("open-link-no").addEventListener("click", () => $("open-link-dialog").close());
$("open-link-yes").addEventListener("click", async () => {
  const url = $("open-link-url").textContent;
  $("open-link-dialog").close();
  try {
    await invoke("open_web_address", { url });
  } catch (e) {
    $("chat-error").textContent = tr(e.code || "openLinkFailed");
  }
});
// Only on the user's request, to a file the user chooses.
$("chat-save").addEventListener("click", async () => {
  const lines = [...document.querySelectorAll("#chat-log .chat-message")].map((li) => li.dataset.line);
  $("chat-saved").textContent = "";
  try {
    const saved = await invoke("save_chat", { text: `${lines.join("\n")}\n`, title: tr("saveChat") });
    if (saved) $("chat-saved").textContent = tr("chatSaved");
  } catch (e) {
    $("chat-saved").textContent = tr("chatSaveFailed");
  }
});
$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-text").value;
  if (!text.trim()) return;
  $("chat-error").textContent = "";
  $("chat-text").value = "";
  invoke("chat_send", { to: $("chat-to").value || null, text });
});
// Enter sends, Shift+Enter starts a new line.
$("chat-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("chat-form").requestSubmit();
  }
});
$("switch-yes").addEventListener("click", () => {
  pendingSwitch = $("link-dialog").dataset.link;
  $("link-dialog").close();
  invoke("leave");
});
$("switch-no").addEventListener("click", () => $("link-dialog").close());

async function load() {
  if (tauri) {
    info = await invoke("app_info");
    await loadSettings();
    invoke("set_language", { language });
    await fillDevices();
    setInterval(() => {
      if (screen === "prejoin") fillDevices();
    }, 3000);
    await tauri.event.listen("link-opened", takeLink);
    await tauri.event.listen("switches", refreshState);
    await tauri.event.listen("open-share-picker", () => openShareDialog());
    await tauri.event.listen("share-stopped", () => {
      meeting.sharing = false;
      $("notice").textContent = tr("shareStoppedHidden");
      renderMeeting();
    });
    await tauri.event.listen("meeting", (e) => onMeetingEvent(e.payload));
    // A page reloaded during a meeting shows it again: the meeting never stopped.
    if (await resumeMeeting()) {
      renderStatic();
      return;
    }
    await takeLink();
  }
  show("prejoin");
  renderStatic();
  startPreview();
}

// Back into the running meeting (after a reload): how it was joined, and its state as the
// meeting's events last told it. False outside a meeting.
async function resumeMeeting() {
  let replay = null;
  try {
    replay = await invoke("meeting_replay");
  } catch {
    return false;
  }
  if (!replay) return false;
  resetMeeting();
  meetingOver = false;
  joining = null;
  videoTransport.name = replay.pageDecodes ? "h264" : "i420";
  inUse = { camera: replay.camera ?? "", microphone: replay.microphone ?? "", speaker: replay.speaker ?? "" };
  $("link").value = replay.link;
  await prepareInvitation(replay.link);
  for (const e of replay.events) onMeetingEvent(e);
  state = await invoke("meeting_state");
  if (meeting.admission?.state !== "in") {
    await validateLink();
    joining = { server: linkServer };
  }
  // In (by the replay, or by an event that came while the link was checked: the admission is
  // kept whether or not a join waits for it).
  if (meeting.admission?.state === "in") {
    enterMeeting();
    return true;
  }
  // Still outside: the join screen, waiting as before the reload.
  show("prejoin");
  renderStatic();
  lockJoinForm(true);
  renderLobby();
  return true;
}

// No browser around the app: WebKit's own menu (Back, Reload, Inspect Element, in English) does
// not open, except in text fields (copy and paste); nor does reloading by key.
document.addEventListener("contextmenu", (event) => {
  if (!event.target.closest?.("input, textarea")) event.preventDefault();
});
document.addEventListener("keydown", (event) => {
  const reload = event.key === "F5" || ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "r");
  if (reload) event.preventDefault();
});

load();
