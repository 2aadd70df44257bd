// @ts-check
// The demo page: pick two photos, see both faces boxed and the verdict.
import { FaceVerifier } from './faceverify.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const status = $('status');
const result = $('result');
const inputs = [/** @type {HTMLInputElement} */ ($('file-a')), /** @type {HTMLInputElement} */ ($('file-b'))];
const canvases = [/** @type {HTMLCanvasElement} */ ($('canvas-a')), /** @type {HTMLCanvasElement} */ ($('canvas-b'))];
const captions = [$('faces-a'), $('faces-b')];

/** @param {number} bytes */
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

const verifier = await FaceVerifier.load({
  onProgress(loaded, total) {
    const bar = /** @type {HTMLProgressElement} */ ($('progress'));
    bar.max = total || 1;
    bar.value = loaded;
    $('progress-text').textContent = total ? `${mb(loaded)} of ${mb(total)}` : mb(loaded);
  },
}).catch((error) => {
  status.textContent = `Could not load the models: ${error.message}`;
  throw error;
});
status.dataset.testid = 'ready';
status.textContent = `Ready: ${verifier.models?.detector.id} detector, ${verifier.models?.model.id} recognition.`;

/**
 * Draw the photo and its detected faces; the face that was compared is drawn thicker.
 * @param {HTMLCanvasElement} canvas
 * @param {ImageBitmap | null} bitmap
 * @param {import('./faceverify.js').Analysis | null} analysis
 */
function draw(canvas, bitmap, analysis) {
  if (!bitmap) return;
  const scale = Math.min(1, 640 / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  analysis?.faces.forEach((face, i) => {
    ctx.strokeStyle = i === analysis.chosen ? '#00e05a' : '#ffd400';
    ctx.lineWidth = i === analysis.chosen ? 3 : 1.5;
    const { x, y, width, height } = face.box;
    ctx.strokeRect(x * scale, y * scale, width * scale, height * scale);
    ctx.fillStyle = '#ff3b30';
    for (const k of face.keypoints) ctx.fillRect(k.x * scale - 2, k.y * scale - 2, 4, 4);
  });
}

/** @type {Array<File | null>} */
const files = [null, null];
let run = 0;

async function verify() {
  if (!files[0] || !files[1]) return;
  const current = ++run;
  result.className = '';
  delete result.dataset.verified;
  delete result.dataset.error;
  result.textContent = 'Comparing…';
  // The browser's decoder is only for display; the wasm core decodes for itself, so an
  // image the browser cannot show still gets the core's verdict or typed error.
  const bitmaps = await Promise.all(
    files.map((f) => createImageBitmap(/** @type {File} */ (f), { imageOrientation: 'from-image' }).catch(() => null)),
  );
  try {
    const analyses = [];
    for (const [i, file] of files.entries()) {
      try {
        analyses.push(await verifier.analyze(/** @type {File} */ (file)));
      } catch (error) {
        draw(canvases[i], bitmaps[i], null);
        throw Object.assign(error, { message: `${i === 0 ? 'First' : 'Second'} photo: ${error.message}` });
      }
    }
    const verdict = await verifier.compare(analyses[0].embedding, analyses[1].embedding);
    if (current !== run) return;
    analyses.forEach((a, i) => {
      draw(canvases[i], bitmaps[i], a);
      captions[i].textContent = a.faces.length === 1 ? '1 face found' : `${a.faces.length} faces found; the largest was compared`;
    });
    result.dataset.verified = String(verdict.verified);
    result.textContent = `${verdict.verified ? 'Same person' : 'Different people'} — ${verdict.metric} distance ${verdict.distance.toFixed(3)} (threshold ${verdict.threshold.toFixed(3)}, ${verdict.model})`;
  } catch (error) {
    if (current !== run) return;
    result.className = 'error';
    result.dataset.error = error.name;
    result.textContent = error.message;
  }
}

inputs.forEach((input, i) =>
  input.addEventListener('change', () => {
    files[i] = input.files?.[0] ?? null;
    verify();
  }),
);
