// @ts-check
// Drawing shared by the photo, camera and gallery views.

const CHOSEN = '#00e05a';
const OTHER = '#ffd400';
const KEYPOINT = '#ff3b30';

/**
 * Boxes and keypoints of `faces` on `ctx`, image coordinates times `scale`; the face at
 * `chosen` (the one compared) is drawn thicker, with `label` above it when given; `labels`
 * puts one above each face.
 * @param {CanvasRenderingContext2D} ctx
 * @param {import('faceverify').Face[]} faces
 * @param {{scale?: number, chosen?: number, label?: string, labels?: string[]}} [options]
 */
export function drawFaces(ctx, faces, { scale = 1, chosen = -1, label, labels = [] } = {}) {
  faces.forEach((face, i) => {
    const { x, y, width, height } = face.box;
    ctx.strokeStyle = i === chosen ? CHOSEN : OTHER;
    ctx.lineWidth = i === chosen ? 3 : 1.5;
    ctx.strokeRect(x * scale, y * scale, width * scale, height * scale);
    ctx.fillStyle = KEYPOINT;
    for (const k of face.keypoints) ctx.fillRect(k.x * scale - 2, k.y * scale - 2, 4, 4);
    const text = i === chosen && label ? label : labels[i];
    if (text) {
      ctx.font = '600 16px system-ui, sans-serif';
      const textWidth = ctx.measureText(text).width;
      const top = Math.max(0, y * scale - 24);
      ctx.fillStyle = 'rgba(0, 0, 0, 0.75)';
      ctx.fillRect(x * scale, top, textWidth + 10, 22);
      ctx.fillStyle = '#fff';
      ctx.fillText(text, x * scale + 5, top + 16);
    }
  });
}

/**
 * Show `bitmap` (scaled to at most `maxSide`) with its faces on `canvas`.
 * @param {HTMLCanvasElement} canvas
 * @param {ImageBitmap | null} bitmap
 * @param {import('faceverify').Face[]} faces
 * @param {{chosen?: number, label?: string, labels?: string[], maxSide?: number}} [options]
 */
export function drawPhoto(canvas, bitmap, faces, { maxSide = 640, ...options } = {}) {
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  if (!bitmap) {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    return;
  }
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  drawFaces(ctx, faces, { scale, ...options });
}

/**
 * The aligned crop the model saw.
 * @param {HTMLCanvasElement} canvas
 * @param {import('faceverify').Crop | null} crop
 */
export function drawCrop(canvas, crop) {
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  if (!crop) {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    return;
  }
  canvas.width = crop.width;
  canvas.height = crop.height;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(crop.rgba), crop.width, crop.height), 0, 0);
}

/**
 * A gauge of `distance` against `threshold` as SVG: green left of the threshold (same
 * person), red right of it, a tick at the threshold and a needle at the distance.
 * @param {SVGSVGElement} svg
 * @param {{distance: number, threshold: number, verified: boolean}} verdict
 */
export function drawGauge(svg, { distance, threshold, verified }) {
  const max = Math.max(threshold * 2, distance * 1.1);
  const x = (/** @type {number} */ v) => (Math.min(v, max) / max) * 300;
  svg.setAttribute('viewBox', '0 0 300 44');
  svg.innerHTML = `
    <rect x="0" y="10" width="${x(threshold)}" height="14" fill="#bfe8c8"/>
    <rect x="${x(threshold)}" y="10" width="${300 - x(threshold)}" height="14" fill="#f6c7c4"/>
    <line x1="${x(threshold)}" x2="${x(threshold)}" y1="4" y2="30" stroke="#1b1b1b" stroke-width="2"/>
    <text x="${x(threshold)}" y="42" font-size="10" text-anchor="middle">threshold ${threshold.toFixed(3)}</text>
    <polygon points="${x(distance) - 6},2 ${x(distance) + 6},2 ${x(distance)},14" fill="${verified ? '#0b6b26' : '#9b1c17'}"/>
    <line x1="${x(distance)}" x2="${x(distance)}" y1="10" y2="24" stroke="${verified ? '#0b6b26' : '#9b1c17'}" stroke-width="3"/>`;
  svg.setAttribute('aria-label', `distance ${distance.toFixed(3)}, threshold ${threshold.toFixed(3)}`);
}
