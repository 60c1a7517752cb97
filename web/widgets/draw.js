import { P } from "../canvas/theme.js";
// Shared drawing helpers for widget rows.

// Shared drawing of a widget row: rounded box, label at left, value at right.
export function drawRow(ctx, r, label, value, { arrows = false, active = false, missing = false } = {}) {
  ctx.fillStyle = active ? P.rowActive : P.rowBg;
  ctx.strokeStyle = P.rowLine; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.roundRect(r.x, r.y, r.w, r.h, r.h / 2); ctx.fill(); ctx.stroke();
  ctx.font = "12px sans-serif"; ctx.textBaseline = "middle";
  const cy = r.y + r.h / 2;
  const pad = arrows ? 20 : 10;
  if (arrows) {
    ctx.fillStyle = P.rowLabel;
    ctx.beginPath(); ctx.moveTo(r.x + 12, cy - 5); ctx.lineTo(r.x + 6, cy); ctx.lineTo(r.x + 12, cy + 5); ctx.fill();
    ctx.beginPath(); ctx.moveTo(r.x + r.w - 12, cy - 5); ctx.lineTo(r.x + r.w - 6, cy); ctx.lineTo(r.x + r.w - 12, cy + 5); ctx.fill();
  }
  ctx.fillStyle = P.rowLabel; ctx.textAlign = "left";
  ctx.fillText(label, r.x + pad, cy);
  ctx.fillStyle = missing ? P.error : P.rowValue; ctx.textAlign = "right";
  let v = String(value);
  const room = r.w - pad * 2 - ctx.measureText(label).width - 10;
  while (v.length > 1 && ctx.measureText(v).width > room) v = v.slice(0, -2) + "…";
  ctx.fillText(v, r.x + r.w - pad, cy);
  ctx.textAlign = "left";
}

// Which part of a row was hit: "left" arrow, "right" arrow, or "middle".
export function rowZone(r, wx) {
  if (wx < r.x + 20) return "left";
  if (wx > r.x + r.w - 20) return "right";
  return "middle";
}
