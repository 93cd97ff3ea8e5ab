// panslice studio: knobs, monitor, transport, presets and the live panogram, over one WebSocket.
// Every knob is generated from the registry the server sends in its "hello"; every change goes
// to the server, which validates it, applies it and echoes it to every page and OSC subscriber.
"use strict";

const $ = (id) => document.getElementById(id);
const S = window.studio = { state: {}, params: {}, knobs: {}, monitor: "mix", transport: null,
                            frames: 0, connected: false, info: {}, dragging: null };
let ws = null;
const NEG_INF = -Infinity;
const DB_FLOOR = -60;

// ---- values: the wire, the knob's travel (0..1) and text ------------------------------------
const fromWire = (v) => (v === "-inf" ? NEG_INF : v);
const toWire = (v) => (v === NEG_INF ? "-inf" : v);
function nyquist() { return (S.info.sample_rate || 44100) / 2; }

function toPos(p, v) {
  if (p.scale === "db") return v === NEG_INF ? 0 : Math.max(0, (v - DB_FLOOR) / (p.max - DB_FLOOR));
  if (p.scale === "hz") {
    if (v <= 20) return 0;
    return Math.min(1, Math.log(v / 20) / Math.log(nyquist() / 20));
  }
  if (p.scale === "choice") return p.choices.indexOf(v) / Math.max(1, p.choices.length - 1);
  return (v - p.min) / (p.max - p.min);
}

function fromPos(p, t) {
  t = Math.min(1, Math.max(0, t));
  if (p.scale === "db") {
    if (t < 0.004 && p.min === NEG_INF) return NEG_INF;
    return Math.round((DB_FLOOR + t * (p.max - DB_FLOOR)) * 10) / 10;
  }
  if (p.scale === "hz") {
    if (t <= 0) return p.name.endsWith("low_hz") ? 0 : 20;
    if (t >= 1 && p.name.endsWith("high_hz")) return p.max;
    return Math.round(20 * Math.pow(nyquist() / 20, t));
  }
  if (p.scale === "choice") return p.choices[Math.round(t * (p.choices.length - 1))];
  const v = p.min + t * (p.max - p.min);
  if (p.scale === "int") return Math.round(v);
  return Math.round(v * 1000) / 1000;
}

function fmt(p, v) {
  if (v === NEG_INF) return "-inf dB";
  if (p.scale === "hz") {
    if (p.name.endsWith("high_hz") && v >= nyquist()) return "top";
    return v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 1 : 2) + " kHz" : Math.round(v) + " Hz";
  }
  const txt = Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
  return p.unit ? `${txt} ${p.unit}` : txt;
}

// ---- knobs ------------------------------------------------------------------------------------
const PRETTY = { center: "center", width: "width", softness: "softness", phase_tolerance: "phase tol.",
  target_gain_db: "slice gain", rest_gain_db: "rest gain", band_count: "bands", low_hz: "low",
  high_hz: "high", gain_db: "gain", ml_prior: "ML prior", ml_contrast: "ML contrast",
  ml_spatial: "ML spatial", percussion_reject: "drums out", smooth_ms: "smooth time",
  smooth_hz: "smooth freq", ambience_ms: "ambience", fft_size: "FFT size", overlap: "overlap" };

function knobSvg() {
  return `<svg viewBox="0 0 44 44"><circle cx="22" cy="22" r="17" fill="#15151b" stroke="#3a3a48" stroke-width="4"/>
    <path class="arc" fill="none" stroke="#f2b441" stroke-width="4" stroke-linecap="round"/>
    <line class="tick" x1="22" y1="22" x2="22" y2="8" stroke="#e6e6ea" stroke-width="2.5" stroke-linecap="round"/></svg>`;
}

function arcPath(t) {
  const a0 = -135, a1 = -135 + 270 * t, r = 17, c = 22;
  const pt = (a) => [c + r * Math.sin(a * Math.PI / 180), c - r * Math.cos(a * Math.PI / 180)];
  const [x0, y0] = pt(a0), [x1, y1] = pt(a1);
  return `M${x0},${y0} A${r},${r} 0 ${t > 2 / 3 ? 1 : 0} 1 ${x1},${y1}`;
}

function makeKnob(p) {
  const el = document.createElement("div");
  el.className = "knob" + (p.live ? "" : " fixed");
  el.dataset.name = p.name;
  const short = p.name.startsWith("band.") ? p.name.split(".")[2] : p.name;
  el.title = `${p.name}: ${p.doc}\nDrag up/down (Shift: fine), double-click: default (${fmt(p, fromWire(p.default))})`;
  el.innerHTML = `${knobSvg()}<div class="name">${PRETTY[short] || short}</div><div class="val"></div>`;
  S.knobs[p.name] = el;
  if (p.live) attachDrag(el, p);
  return el;
}

function showKnob(name) {
  const el = S.knobs[name], p = S.params[name];
  if (!el) return;
  const v = S.state[name], t = toPos(p, v);
  el.querySelector(".arc").setAttribute("d", t > 0.001 ? arcPath(t) : "M0,0");
  const ang = -135 + 270 * t;
  el.querySelector(".tick").setAttribute("transform", `rotate(${ang} 22 22)`);
  el.querySelector(".val").textContent = fmt(p, v);
  el.dataset.value = String(toWire(v));
}

function attachDrag(el, p) {
  el.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    el.setPointerCapture(ev.pointerId);
    let last = ev.clientY, t = toPos(p, S.state[p.name]);
    S.dragging = p.name;
    const snap = gesture([p.name]);
    const move = (e) => {
      t += (last - e.clientY) / (e.shiftKey ? 1500 : 150);
      last = e.clientY;
      t = Math.min(1, Math.max(0, t));
      setParam(p.name, fromPos(p, t));
    };
    const up = () => { el.removeEventListener("pointermove", move); S.dragging = null; flush(); endGesture(snap); };
    el.addEventListener("pointermove", move);
    el.addEventListener("pointerup", up, { once: true });
    el.addEventListener("pointercancel", up, { once: true });
  });
  el.addEventListener("dblclick", () => {
    const snap = gesture([p.name]);
    setParam(p.name, p.default); flush(); endGesture(snap);
  });
}

function buildKnobs(params, order) {
  const box = $("knobs");
  box.innerHTML = "";
  const groups = {};
  params = [...params].sort((a, b) => order.indexOf(a.group) - order.indexOf(b.group));
  for (const p of params) {
    p.min = fromWire(p.min); p.default = fromWire(p.default);
    S.params[p.name] = p;
    if (!groups[p.group]) {
      const g = document.createElement("div");
      g.className = "group";
      g.innerHTML = `<h3>${p.group}</h3><div class="row"></div>`;
      box.appendChild(g);
      groups[p.group] = g.querySelector(".row");
    }
    const m = p.name.match(/^band\.(\d+)\.low_hz$/);
    if (m) {
      const t = document.createElement("div");
      t.className = "band-title"; t.dataset.band = m[1]; t.textContent = `band ${m[1]}`;
      groups[p.group].appendChild(t);
    }
    groups[p.group].appendChild(makeKnob(p));
  }
}

function showBands() {  // inactive bands are dimmed: band_count says how many count
  const n = S.state.band_count || 1;
  for (const [name, el] of Object.entries(S.knobs)) {
    const m = name.match(/^band\.(\d+)\./);
    if (m) el.classList.toggle("off", +m[1] > n);
  }
  for (const t of document.querySelectorAll(".band-title")) t.classList.toggle("off", +t.dataset.band > n);
}

// ---- sending: at most one change per knob per animation frame, no duplicates ---------------------
const pending = new Map();
const sent = new Map();
let flushQueued = false;
function setParam(name, value) {
  S.state[name] = value;
  showKnob(name); showBands(); drawOverlay();
  pending.set(name, value);
  if (!flushQueued) { flushQueued = true; requestAnimationFrame(flush); }
}
function flush() {
  flushQueued = false;
  for (const [name, value] of pending) {
    if (sent.get(name) !== value) send({ t: "set", name, value: toWire(value) });
    sent.set(name, value);
  }
  pending.clear();
}
function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }

// ---- undo / redo: knob gestures and region edits made on this page ---------------------------------
const History = { done: [], undone: [] };
function gesture(names) { return Object.fromEntries(names.map((n) => [n, S.state[n]])); }
function endGesture(snap) {
  const params = {};
  for (const [n, v] of Object.entries(snap)) if (S.state[n] !== v) params[n] = [v, S.state[n]];
  if (Object.keys(params).length) remember({ params });
}
function remember(entry) {
  History.done.push(entry); History.undone.length = 0;
  if (History.done.length > 500) History.done.shift();
}
function replay(e, which) {
  if (e.params) { for (const [n, pair] of Object.entries(e.params)) setParam(n, pair[which]); flush(); }
  if (e.regions) commitRegions(e.regions[which], true);
}
function undo() { const e = History.done.pop(); if (e) { replay(e, 0); History.undone.push(e); say("undone"); } }
function redo() { const e = History.undone.pop(); if (e) { replay(e, 1); History.done.push(e); say("redone"); } }

// ---- incoming ---------------------------------------------------------------------------------
function onParam(name, value) {
  value = fromWire(value);
  sent.set(name, value);
  if (S.dragging === name) return;  // the hand on the knob wins; its own echo comes back anyway
  S.state[name] = value;
  showKnob(name); showBands(); drawOverlay();
}

function applyState(state) {
  for (const [k, v] of Object.entries(state)) { S.state[k] = fromWire(v); sent.set(k, S.state[k]); showKnob(k); }
  showBands(); drawOverlay();
}

const handlers = {
  hello(m) {
    S.info = m.info;
    $("song").textContent = m.info.song ? "· " + m.info.song.split("/").pop() : "· live input";
    buildKnobs(m.params, m.groups);
    applyState(m.state);
    showMonitor(m.monitor);
    showTransport(m.transport);
    showPresets(m.presets, m.preset);
    showSources(m.sources || []);
    Pano.setup(m.info);
    showRegions(m.regions || []);
    if (m.overview && m.transport) TV.setup(m.overview, m.transport.length);
    else if (!m.transport) LiveTV.setup(m.info);
    $("edits-path").textContent = m.files.edits;
    $("bounce-box").hidden = !m.info.song;
    $("bounce-stems").hidden = !!m.files.chain;  // a chain has one output, as 'bounce --chain' says
    document.querySelectorAll(".song-only").forEach((el) => { el.hidden = !m.info.song; });
    send({ t: "command" });
  },
  regions(m) { showRegions(m.regions); drawOverlay(); },
  bounce(m) { showBounce(m); },
  state(m) { applyState(m.state); showMonitor(m.monitor); showTransport(m.transport); },
  param(m) { onParam(m.name, m.value); },
  monitor(m) { showMonitor(m.mode); },
  transport(m) { showTransport(m); },
  presets(m) { showPresets(m.presets); },
  command(m) { $("cmd").textContent = m.text; S.command = m.text; },
  notice(m) { say(m.text); send({ t: "command" }); },
  error(m) { say(m.text, true); if (m.about === "set") send({ t: "get" }); },
};

function say(text, err) { const el = $("msg"); el.textContent = text; el.classList.toggle("err", !!err); }

// ---- monitor, transport, presets --------------------------------------------------------------
function showMonitor(mode) {
  S.monitor = mode;
  for (const b of document.querySelectorAll("#monitor button")) b.classList.toggle("on", b.dataset.mode === mode);
}
for (const b of document.querySelectorAll("#monitor button")) {
  b.addEventListener("click", () => send({ t: "monitor", mode: b.dataset.mode }));
}

const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
function showTransport(tr) {
  S.transport = tr;
  if (!tr) { $("transport").hidden = true; return; }
  $("transport").hidden = false;
  $("play").innerHTML = tr.playing ? "&#10074;&#10074; Pause" : "&#9654; Play";
  $("seek").max = tr.length;
  showPosition(tr.seconds);
}
function showPosition(s) {
  if (!S.transport || s < 0) return;
  S.transport.seconds = s;
  if (!S.seeking) $("seek").value = s;
  $("time").textContent = `${clock(s)} / ${clock(S.transport.length)}`;
  TV.draw();
}
$("play").addEventListener("click", () => send({ t: "transport", action: S.transport && S.transport.playing ? "pause" : "play" }));
$("seek").addEventListener("input", () => { S.seeking = true; });
$("seek").addEventListener("change", () => { S.seeking = false; send({ t: "transport", action: "seek", seconds: +$("seek").value }); });

function showPresets(names, current) {
  const sel = $("preset-list"), cur = current || sel.value;
  sel.innerHTML = names.map((n) => `<option>${n.replace(/[<&]/g, "")}</option>`).join("");
  if (names.includes(cur)) sel.value = cur;
}
// One source alone (solo) or all but it (mute), as OSC's /panslice/source/<n>/solo|mute; "all" hears everything.
function showSources(sources) {
  $("sources-box").hidden = !sources.length;
  const box = $("sources");
  box.innerHTML = "";
  const button = (text, title, msg) => {
    const b = document.createElement("button");
    b.textContent = text; b.title = title;
    b.addEventListener("click", () => send(msg));
    box.appendChild(b);
  };
  for (const s of sources) {
    const where = `azimuth ${s.center.toFixed(2)}, delay ${s.delay_ms.toFixed(3)} ms`;
    button(`${s.n} solo`, `hear source ${s.n} alone (${where})`, { t: "source", n: s.n, mode: "solo" });
    button("mute", `hear all but source ${s.n} (${where})`, { t: "source", n: s.n, mode: "mute" });
  }
  button("all", "hear every source", { t: "source", n: 1, mode: "solo", on: false });
}
$("preset-load").addEventListener("click", () => send({ t: "preset_load", name: $("preset-list").value }));
$("preset-save").addEventListener("click", () => send({ t: "preset_save", name: $("preset-name").value.trim() }));
$("copy-cmd").addEventListener("click", async () => {
  send({ t: "command" });
  try { await navigator.clipboard.writeText(S.command || ""); say("command copied"); }
  catch (e) { say("select the command below and copy it (the browser refused the clipboard)"); }
});

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  if ((e.ctrlKey || e.metaKey) && (e.code === "KeyZ" || e.code === "KeyY")) {
    e.preventDefault();
    if (e.shiftKey || e.code === "KeyY") redo(); else undo();
    return;
  }
  if (e.code === "Space" && S.transport) { e.preventDefault(); $("play").click(); }
  const mode = { Digit1: "mix", Digit2: "slice", Digit3: "rest", Digit4: "bypass" }[e.code];
  if (mode) send({ t: "monitor", mode });
});

// ---- meters -------------------------------------------------------------------------------------
function meter(id, rms) {
  const db = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
  const w = Math.max(0, Math.min(1, (db + 60) / 60));
  $("m-" + id).style.width = (100 * w).toFixed(1) + "%";
  $("v-" + id).textContent = db === -Infinity ? "-inf" : db.toFixed(1);
}

// ---- connection -----------------------------------------------------------------------------------
function connect() {
  const token = new URLSearchParams(location.search).get("token");
  const url = `ws://${location.host}/ws` + (token ? `?token=${encodeURIComponent(token)}` : "");
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { S.connected = true; $("conn").textContent = "connected"; $("conn").className = "conn ok"; };
  ws.onclose = () => {
    S.connected = false;
    $("conn").textContent = "disconnected: retrying"; $("conn").className = "conn bad";
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") { Pano.frame(ev.data); return; }
    const m = JSON.parse(ev.data);
    (handlers[m.t] || (() => {}))(m);
  };
}
