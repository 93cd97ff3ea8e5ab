// The live panogram: azimuth across, log frequency up, the slice drawn on it and dragged on it.
// Frames arrive binned by the server: 4 float32 (slice RMS, rest RMS, position s, top dB), then
// rows x azimuth bins of uint8 levels, low row first, then one column for the live spectrogram.
"use strict";

const MAGMA = [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
               [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]];
const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (MAGMA.length - 1), k = Math.min(MAGMA.length - 2, Math.floor(x)), f = x - k;
    for (let c = 0; c < 3; c++) lut[3 * i + c] = MAGMA[k][c] + f * (MAGMA[k + 1][c] - MAGMA[k][c]);
  }
  return lut;
})();

const M = { l: 56, r: 12, t: 12, b: 34 };  // plot margins (canvas pixels)
const Pano = {
  canvas: null, ctx: null, img: null, off: null, rows: 0, cols: 0, edges: [], last: null,
  fpsCount: 0, fpsT0: 0, fps: 0,
  setup(info) {
    this.canvas = $("pano"); this.ctx = this.canvas.getContext("2d");
    this.rows = info.row_edges.length - 1; this.cols = info.az_bins; this.edges = info.row_edges;
    this.off = document.createElement("canvas");
    this.off.width = this.cols; this.off.height = this.rows;
    this.img = this.off.getContext("2d").createImageData(this.cols, this.rows);
    this.last = null;
    this.draw();
  },
  frame(buf) {
    if (!this.img) return;
    const head = new Float32Array(buf, 0, 4), lv = new Uint8Array(buf, 16, this.rows * this.cols);
    meter("target", head[0]); meter("rest", head[1]); showPosition(head[2]);
    this.last = lv;
    const tail = 16 + this.rows * this.cols;
    if (LiveTV.on && buf.byteLength >= tail + this.rows) LiveTV.column(new Uint8Array(buf, tail, this.rows));
    S.frames++; this.fpsCount++;
    const now = performance.now();
    if (now - this.fpsT0 > 1000) { this.fps = this.fpsCount * 1000 / (now - this.fpsT0); this.fpsCount = 0; this.fpsT0 = now; }
    if (!this.queued) { this.queued = true; requestAnimationFrame(() => { this.queued = false; this.draw(); }); }
  },
  plot() { const c = this.canvas; return { x: M.l, y: M.t, w: c.width - M.l - M.r, h: c.height - M.t - M.b }; },
  xOf(az) { const p = this.plot(); return p.x + (az + 1) / 2 * p.w; },
  azOf(x) { const p = this.plot(); return (x - p.x) / p.w * 2 - 1; },
  yOf(hz) {
    const p = this.plot(), lo = this.edges[0], hi = this.edges[this.edges.length - 1];
    const t = Math.log(Math.min(Math.max(hz, lo), hi) / lo) / Math.log(hi / lo);
    return p.y + p.h * (1 - t);
  },
  hzOf(y) {
    const p = this.plot(), lo = this.edges[0], hi = this.edges[this.edges.length - 1];
    return lo * Math.pow(hi / lo, 1 - (y - p.y) / p.h);
  },
  draw() {
    const ctx = this.ctx, p = this.plot();
    if (!ctx) return;
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.last) {
      const d = this.img.data, rows = this.rows, cols = this.cols;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const v = this.last[r * cols + c], o = 4 * ((rows - 1 - r) * cols + c);
          d[o] = LUT[3 * v]; d[o + 1] = LUT[3 * v + 1]; d[o + 2] = LUT[3 * v + 2]; d[o + 3] = 255;
        }
      }
      this.off.getContext("2d").putImageData(this.img, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.off, p.x, p.y, p.w, p.h);
    }
    this.axes(); this.overlay(); drawRegionOnPano();
  },
  axes() {
    const ctx = this.ctx, p = this.plot();
    ctx.fillStyle = "#bbb"; ctx.strokeStyle = "rgba(255,255,255,0.12)"; ctx.font = "12px system-ui";
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const [az, txt] of [[-1, "L"], [-0.5, "-0.5"], [0, "centre"], [0.5, "+0.5"], [1, "R"]]) {
      const x = this.xOf(az);
      ctx.beginPath(); ctx.moveTo(x, p.y); ctx.lineTo(x, p.y + p.h); ctx.stroke();
      ctx.fillText(txt, Math.min(Math.max(x, p.x + 8), p.x + p.w - 8), p.y + p.h + 4);
    }
    ctx.fillText("pan position (azimuth)", p.x + p.w / 2, p.y + p.h + 18);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const hz of [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]) {
      if (hz < this.edges[0] || hz > this.edges[this.edges.length - 1]) continue;
      const y = this.yOf(hz);
      ctx.beginPath(); ctx.moveTo(p.x, y); ctx.lineTo(p.x + p.w, y); ctx.stroke();
      ctx.fillText(hz >= 1000 ? hz / 1000 + "k" : String(hz), p.x - 6, y);
    }
    ctx.save(); ctx.translate(12, p.y + p.h / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText("frequency (Hz)", 0, 0); ctx.restore();
  },
  bands() {
    const n = S.state.band_count || 1, out = [];
    for (let i = 1; i <= n; i++) {
      out.push({ i, lo: Math.max(S.state[`band.${i}.low_hz`], this.edges[0]),
                 hi: Math.min(S.state[`band.${i}.high_hz`], this.edges[this.edges.length - 1]) });
    }
    return out;
  },
  overlay() {
    if (S.state.center === undefined || !this.edges.length) return;
    const ctx = this.ctx, c = S.state.center, w = S.state.width, s = S.state.softness;
    for (const b of this.bands()) {
      const y0 = this.yOf(b.hi), y1 = this.yOf(b.lo);
      const box = (a0, a1) => [this.xOf(Math.max(-1, a0)), y0, this.xOf(Math.min(1, a1)) - this.xOf(Math.max(-1, a0)), y1 - y0];
      ctx.setLineDash([5, 4]); ctx.strokeStyle = "rgba(255,255,255,0.55)"; ctx.lineWidth = 1;
      ctx.strokeRect(...box(c - w * (1 + s), c + w * (1 + s)));
      if (s < 1) ctx.strokeRect(...box(c - w * (1 - s), c + w * (1 - s)));
      ctx.setLineDash([]); ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
      ctx.fillStyle = "rgba(255,255,255,0.06)";
      ctx.fillRect(...box(c - w, c + w)); ctx.strokeRect(...box(c - w, c + w));
      ctx.fillStyle = "#fff"; ctx.font = "12px system-ui"; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
      ctx.fillText(b.i === 1 ? "slice" : `band ${b.i}`, box(c - w, c + w)[0] + 4, y0 - 2);
    }
  },
  hit(x, y) {  // what a press at (x, y) grabs: an edge of the box, or the box itself
    const c = S.state.center, w = S.state.width, near = 7;
    const xl = this.xOf(Math.max(-1, c - w)), xr = this.xOf(Math.min(1, c + w));
    for (const b of this.bands()) {
      const yt = this.yOf(b.hi), yb = this.yOf(b.lo);
      if (x < xl - near || x > xr + near || y < yt - near || y > yb + near) continue;
      if (Math.abs(y - yt) <= near) return { kind: "band", name: `band.${b.i}.high_hz` };
      if (Math.abs(y - yb) <= near) return { kind: "band", name: `band.${b.i}.low_hz` };
      if (Math.abs(x - xl) <= near || Math.abs(x - xr) <= near) return { kind: "width" };
      return { kind: "center", offset: this.azOf(x) - c };
    }
    return null;
  },
};

function drawOverlay() { if (Pano.ctx) Pano.draw(); }

function canvasXY(ev) {
  const r = Pano.canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * Pano.canvas.width / r.width, (ev.clientY - r.top) * Pano.canvas.height / r.height];
}

$("pano").addEventListener("pointerdown", (ev) => {
  const [x, y] = canvasXY(ev), grab = Pano.hit(x, y);
  if (!grab) { if (panoRegionDrag(ev, x)) { ev.preventDefault(); Pano.canvas.setPointerCapture(ev.pointerId); } return; }
  ev.preventDefault();
  Pano.canvas.setPointerCapture(ev.pointerId);
  const start = { x, y, c: S.state.center, w: S.state.width };
  const snap = gesture(grab.kind === "band" ? [grab.name] : ["center", "width"]);
  const move = (e) => {
    const [mx, my] = canvasXY(e), fine = e.shiftKey ? 0.1 : 1;
    const daz = (Pano.azOf(mx) - Pano.azOf(start.x)) * fine;
    if (grab.kind === "center") setParam("center", clampRound(start.c + daz, -1, 1));
    else if (grab.kind === "width") {
      const side = Pano.azOf(start.x) >= start.c ? 1 : -1;
      setParam("width", clampRound(start.w + side * daz, 0, 2));
    } else {
      setParam(grab.name, Math.round(Pano.hzOf(start.y + (my - start.y) * fine)));
    }
  };
  const up = () => { Pano.canvas.removeEventListener("pointermove", move); S.dragging = null; flush(); endGesture(snap); };
  S.dragging = grab.kind === "band" ? grab.name : grab.kind;
  Pano.canvas.addEventListener("pointermove", move);
  Pano.canvas.addEventListener("pointerup", up, { once: true });
});

$("pano").addEventListener("pointermove", (ev) => {
  if (S.dragging) return;
  const [x, y] = canvasXY(ev), g = Pano.hit(x, y);
  Pano.canvas.style.cursor = !g ? "crosshair" : g.kind === "center" ? "move" : g.kind === "width" ? "ew-resize" : "ns-resize";
});

function clampRound(v, lo, hi) { return Math.round(Math.min(hi, Math.max(lo, v)) * 1000) / 1000; }
