// The time view (the whole song's spectrogram, the playhead) and the painted regions: draw a box
// in time x frequency; its pan range starts as the slice's and is dragged on the panogram.
// The whole list goes to the server on every change; it checks it, saves it to the edits file
// that 'bounce --edits' reads, applies it and echoes it to every page.
"use strict";

const ACTIONS = {  // what a region does, as the edits file says it
  silence: { target_gain_db: "-inf", rest_gain_db: "-inf", move_to: "", label: "remove" },
  noslice: { target_gain_db: "-inf", rest_gain_db: 0, move_to: "", label: "remove from slice" },
  norest: { target_gain_db: 0, rest_gain_db: "-inf", move_to: "", label: "remove from rest" },
  toslice: { target_gain_db: 0, rest_gain_db: 0, move_to: "target", label: "move into slice" },
  torest: { target_gain_db: 0, rest_gain_db: 0, move_to: "rest", label: "move into rest" },
};
function actionOf(r) {
  if (r.move_to) return r.move_to === "target" ? "toslice" : "torest";
  for (const [k, a] of Object.entries(ACTIONS)) {
    if (!a.move_to && String(a.target_gain_db) === String(r.target_gain_db)
        && String(a.rest_gain_db) === String(r.rest_gain_db)) return k;
  }
  return "custom";
}

const TM = { l: 56, r: 12, t: 8, b: 22 };
const TV = {
  canvas: null, ctx: null, off: null, edges: [], length: 0, box: null, selected: -1,
  setup(ov, length) {
    this.canvas = $("tv"); this.ctx = this.canvas.getContext("2d");
    this.length = length; this.edges = ov.edges;
    const raw = atob(ov.data), img = new ImageData(ov.cols, ov.rows);
    for (let r = 0; r < ov.rows; r++) {
      for (let c = 0; c < ov.cols; c++) {
        const v = raw.charCodeAt(r * ov.cols + c), o = 4 * ((ov.rows - 1 - r) * ov.cols + c);
        img.data[o] = LUT[3 * v]; img.data[o + 1] = LUT[3 * v + 1]; img.data[o + 2] = LUT[3 * v + 2]; img.data[o + 3] = 255;
      }
    }
    this.off = document.createElement("canvas"); this.off.width = ov.cols; this.off.height = ov.rows;
    this.off.getContext("2d").putImageData(img, 0, 0);
    $("time-view").hidden = false;
    this.draw();
  },
  plot() { const c = this.canvas; return { x: TM.l, y: TM.t, w: c.width - TM.l - TM.r, h: c.height - TM.t - TM.b }; },
  xOf(t) { const p = this.plot(); return p.x + t / this.length * p.w; },
  tOf(x) { const p = this.plot(); return Math.min(this.length, Math.max(0, (x - p.x) / p.w * this.length)); },
  yOf(hz) {
    const p = this.plot(), lo = this.edges[0], hi = this.edges[this.edges.length - 1];
    return p.y + p.h * (1 - Math.log(Math.min(Math.max(hz, lo), hi) / lo) / Math.log(hi / lo));
  },
  hzOf(y) {
    const p = this.plot(), lo = this.edges[0], hi = this.edges[this.edges.length - 1];
    return lo * Math.pow(hi / lo, 1 - Math.min(1, Math.max(0, (y - p.y) / p.h)));
  },
  draw() {
    if (!this.ctx || !this.off) return;
    const ctx = this.ctx, p = this.plot();
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = true; ctx.drawImage(this.off, p.x, p.y, p.w, p.h);
    this.axes();
    (S.regions || []).forEach((r, i) => this.region(r, i));
    if (this.box) {
      ctx.setLineDash([4, 3]); ctx.strokeStyle = "#5fe0e0"; ctx.lineWidth = 1.5;
      ctx.strokeRect(this.box.x0, this.box.y0, this.box.x1 - this.box.x0, this.box.y1 - this.box.y0);
      ctx.setLineDash([]);
    }
    const tr = S.transport;
    if (tr) {
      const x = this.xOf(tr.seconds || 0);
      ctx.strokeStyle = "#7CFC00"; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(x, p.y); ctx.lineTo(x, p.y + p.h); ctx.stroke();
    }
  },
  axes() {
    const ctx = this.ctx, p = this.plot();
    ctx.fillStyle = "#bbb"; ctx.font = "11px system-ui"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const hz of [100, 1000, 10000]) ctx.fillText(hz >= 1000 ? hz / 1000 + "k" : String(hz), p.x - 6, this.yOf(hz));
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    const step = [1, 2, 5, 10, 15, 30, 60].find((s) => this.length / s <= 12) || 120;
    for (let t = 0; t <= this.length; t += step) ctx.fillText(clock(t), this.xOf(t), p.y + p.h + 4);
  },
  region(r, i) {
    const ctx = this.ctx, x0 = this.xOf(r.start), x1 = this.xOf(r.end), y0 = this.yOf(r.high_hz), y1 = this.yOf(r.low_hz);
    ctx.fillStyle = i === this.selected ? "rgba(95,224,224,0.25)" : "rgba(95,224,224,0.12)";
    ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
    ctx.strokeStyle = "#5fe0e0"; ctx.lineWidth = i === this.selected ? 2.5 : 1.5; ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.fillStyle = "#5fe0e0"; ctx.font = "bold 12px system-ui"; ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText(String(i + 1), x0 + 3, y0 + 2);
  },
  hit(x, y) {
    const rs = S.regions || [];
    for (let i = rs.length - 1; i >= 0; i--) {
      const r = rs[i];
      if (x >= this.xOf(r.start) && x <= this.xOf(r.end) && y >= this.yOf(r.high_hz) && y <= this.yOf(r.low_hz)) return i;
    }
    return -1;
  },
};

function tvXY(ev) {
  const r = TV.canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * TV.canvas.width / r.width, (ev.clientY - r.top) * TV.canvas.height / r.height];
}

function sliceRange() {
  const c = S.state.center, w = S.state.width;
  return [Math.max(-1, Math.round((c - w) * 1000) / 1000), Math.min(1, Math.round((c + w) * 1000) / 1000)];
}

function newRegion(b) {
  const t0 = TV.tOf(Math.min(b.x0, b.x1)), t1 = TV.tOf(Math.max(b.x0, b.x1));
  const lo = TV.hzOf(Math.max(b.y0, b.y1)), hi = TV.hzOf(Math.min(b.y0, b.y1));
  const r3 = (v) => Math.round(v * 1000) / 1000;
  return { name: "", start: r3(t0), end: r3(t1), low_hz: Math.round(lo), high_hz: Math.round(hi),
           azimuth: sliceRange(), fade: 0.02, ...actionFields("silence") };
}
function actionFields(k) { const a = ACTIONS[k]; return { target_gain_db: a.target_gain_db, rest_gain_db: a.rest_gain_db, move_to: a.move_to }; }

$("tv").addEventListener("pointerdown", (ev) => {
  const [x, y] = tvXY(ev);
  ev.preventDefault();
  TV.canvas.setPointerCapture(ev.pointerId);
  TV.box = { x0: x, y0: y, x1: x, y1: y };
  const move = (e) => { const [mx, my] = tvXY(e); TV.box.x1 = mx; TV.box.y1 = my; TV.draw(); };
  const up = () => {
    TV.canvas.removeEventListener("pointermove", move);
    const b = TV.box; TV.box = null;
    if (Math.abs(b.x1 - b.x0) > 4 && Math.abs(b.y1 - b.y0) > 4) {
      const list = [...S.regions, newRegion(b)];
      TV.selected = list.length - 1;
      commitRegions(list);
    } else {
      const i = TV.hit(x, y);
      if (i >= 0) selectRegion(i);
      else if (S.transport) send({ t: "transport", action: "seek", seconds: TV.tOf(x) });
    }
    TV.draw();
  };
  TV.canvas.addEventListener("pointermove", move);
  TV.canvas.addEventListener("pointerup", up, { once: true });
});

function selectRegion(i) { TV.selected = i; showRegions(S.regions); drawOverlay(); }

// ---- the list ------------------------------------------------------------------------------------
const FIELDS = [["name", "name"], ["start", "n"], ["end", "n"], ["low_hz", "n"], ["high_hz", "n"], ["az0", "n"], ["az1", "n"]];
function cellValue(r, k) { return k === "az0" ? r.azimuth[0] : k === "az1" ? r.azimuth[1] : r[k]; }

function regionRow(r, i) {
  const tr = document.createElement("tr");
  tr.className = i === TV.selected ? "sel" : "";
  tr.dataset.index = i;
  const opts = Object.entries(ACTIONS).map(([k, a]) => `<option value="${k}">${a.label}</option>`).join("");
  tr.innerHTML = `<td class="num" title="select: its pan range shows on the panogram">${i + 1}</td>`
    + FIELDS.map(([k, kind]) => `<td><input class="${kind === "name" ? "name" : ""}" data-k="${k}"></td>`).join("")
    + `<td><select data-k="action">${opts}<option value="custom">gains below</option></select></td>`
    + `<td><input data-k="target_gain_db"></td><td><input data-k="rest_gain_db"></td>`
    + `<td><button class="del" title="delete this region">&times;</button></td>`;
  for (const inp of tr.querySelectorAll("input")) {
    const k = inp.dataset.k;
    inp.value = k.endsWith("gain_db") ? String(r[k]) : cellValue(r, k);
    inp.addEventListener("change", () => editRegion(i, k, inp.value));
  }
  const sel = tr.querySelector("select");
  sel.value = actionOf(r);
  sel.addEventListener("change", () => { if (sel.value !== "custom") editRegion(i, "action", sel.value); });
  tr.querySelector(".num").addEventListener("click", () => selectRegion(i));
  tr.querySelector(".del").addEventListener("click", () => {
    TV.selected = -1; commitRegions(S.regions.filter((_, j) => j !== i));
  });
  return tr;
}

function editRegion(i, k, v) {
  const list = S.regions.map((r) => ({ ...r, azimuth: [...r.azimuth] })), r = list[i];
  if (k === "action") Object.assign(r, actionFields(v));
  else if (k === "name") r.name = v;
  else if (k === "az0" || k === "az1") r.azimuth[k === "az0" ? 0 : 1] = +v;
  else if (k.endsWith("gain_db")) r[k] = v.trim() === "-inf" ? "-inf" : +v;
  else r[k] = +v;
  TV.selected = i;
  commitRegions(list);
}

function showRegions(list) {
  S.regions = list;
  if (TV.selected >= list.length) TV.selected = list.length - 1;
  const body = document.querySelector("#regions tbody");
  body.replaceChildren(...list.map(regionRow));
  TV.draw();
}

function commitRegions(list, noHistory) {
  if (!noHistory) remember({ regions: [S.regions, list] });
  showRegions(list);
  send({ t: "regions", regions: list });
}

// ---- a region's pan range, dragged on the panogram outside the slice box -------------------------
function drawRegionOnPano() {
  const r = (S.regions || [])[TV.selected];
  if (!r || !Pano.ctx) return;
  const ctx = Pano.ctx, x0 = Pano.xOf(r.azimuth[0]), x1 = Pano.xOf(r.azimuth[1]);
  const y0 = Pano.yOf(r.high_hz), y1 = Pano.yOf(r.low_hz);
  ctx.setLineDash([6, 3]); ctx.strokeStyle = "#5fe0e0"; ctx.lineWidth = 2;
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0); ctx.setLineDash([]);
  ctx.fillStyle = "#5fe0e0"; ctx.font = "bold 12px system-ui"; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
  ctx.fillText(`region ${TV.selected + 1}`, x0 + 3, y1 - 2);
}

function panoRegionDrag(ev, x) {  // a press on the panogram outside the slice box, a region selected
  if (TV.selected < 0 || !S.regions[TV.selected]) return false;
  const start = Pano.azOf(x);
  const move = (e) => {
    const [mx] = canvasXY(e), a = Pano.azOf(mx), r = S.regions[TV.selected];
    r.azimuth = [Math.max(-1, Math.min(start, a)), Math.min(1, Math.max(start, a))].map((v) => Math.round(v * 1000) / 1000);
    drawOverlay();
  };
  const before = S.regions.map((r) => ({ ...r, azimuth: [...r.azimuth] }));
  const up = () => {
    Pano.canvas.removeEventListener("pointermove", move);
    const r = S.regions[TV.selected];
    if (r.azimuth[1] - r.azimuth[0] < 0.01) { S.regions = before; drawOverlay(); return; }
    const after = S.regions; S.regions = before; commitRegions(after);
  };
  Pano.canvas.addEventListener("pointermove", move);
  Pano.canvas.addEventListener("pointerup", up, { once: true });
  return true;
}

// ---- bounce ----------------------------------------------------------------------------------------
$("bounce-mix").addEventListener("click", () => send({ t: "bounce", stems: false }));
$("bounce-stems").addEventListener("click", () => send({ t: "bounce", stems: true }));
function showBounce(m) {
  if (m.error) { $("bounce-msg").textContent = "bounce failed: " + m.error; return; }
  $("bounce-bar").style.width = (100 * (m.done || 0)).toFixed(0) + "%";
  if (m.to) $("bounce-msg").textContent = "bouncing to " + m.to + " …";
  if (m.wrote) $("bounce-msg").textContent = "wrote " + m.wrote.join(", ");
  S.bounce = m;
}

connect();  // last: every script of the page is loaded before the first message
