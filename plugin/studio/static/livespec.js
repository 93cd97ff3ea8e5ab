// The scrolling spectrogram of live input (no song, so no whole-song overview): each picture
// frame ends with one column, this moment's level per log-frequency row over every azimuth;
// the newest column enters on the right and the last SECONDS scroll to the left.
"use strict";

const LiveTV = {
  on: false, canvas: null, ctx: null, off: null, col: null, rows: 0, cols: 0, edges: [], fps: 30,
  queued: false,
  SECONDS: 10,
  setup(info) {
    this.canvas = $("lv"); this.ctx = this.canvas.getContext("2d");
    this.rows = info.row_edges.length - 1; this.edges = info.row_edges; this.fps = info.fps || 30;
    this.cols = Math.round(this.SECONDS * this.fps);
    this.off = document.createElement("canvas"); this.off.width = this.cols; this.off.height = this.rows;
    const o = this.off.getContext("2d"); o.fillStyle = "#000"; o.fillRect(0, 0, this.cols, this.rows);
    this.col = o.createImageData(1, this.rows);
    this.on = true;
    $("live-view").hidden = false;
    this.draw();
  },
  column(lv) {  // uint8 [rows], low row first
    const o = this.off.getContext("2d"), d = this.col.data, rows = this.rows;
    o.drawImage(this.off, -1, 0);
    for (let r = 0; r < rows; r++) {
      const v = lv[r], i = 4 * (rows - 1 - r);
      d[i] = LUT[3 * v]; d[i + 1] = LUT[3 * v + 1]; d[i + 2] = LUT[3 * v + 2]; d[i + 3] = 255;
    }
    o.putImageData(this.col, this.cols - 1, 0);
    if (!this.queued) { this.queued = true; requestAnimationFrame(() => { this.queued = false; this.draw(); }); }
  },
  plot() { const c = this.canvas; return { x: TM.l, y: TM.t, w: c.width - TM.l - TM.r, h: c.height - TM.t - TM.b }; },
  draw() {
    const ctx = this.ctx, p = this.plot();
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = true; ctx.drawImage(this.off, p.x, p.y, p.w, p.h);
    ctx.fillStyle = "#bbb"; ctx.font = "11px system-ui"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    const lo = this.edges[0], hi = this.edges[this.edges.length - 1];
    for (const hz of [100, 1000, 10000]) {
      const y = p.y + p.h * (1 - Math.log(hz / lo) / Math.log(hi / lo));
      ctx.fillText(hz >= 1000 ? hz / 1000 + "k" : String(hz), p.x - 6, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (let s = 0; s <= this.SECONDS; s += 2) {
      ctx.fillText(s === 0 ? "now" : `-${s} s`, p.x + p.w * (1 - s / this.SECONDS), p.y + p.h + 4);
    }
  },
};
