// @ts-check
// Browser timings of the wasm core, on the main thread (the demo runs the same code in a
// worker). bench/run.mjs serves the photo at ./photo.jpg and reads window.benchResult.
import init, { Verifier, modelManifest } from '../pkg/faceverify.js';

const params = new URLSearchParams(location.search);
const runs = Number(params.get('runs') ?? 30);
const warmUpMs = Number(params.get('warmup') ?? 4000);

/** @param {() => void} f */
function medianMs(f) {
  // V8 tiers wasm up after dozens of calls: time only after a warm-up of wall time.
  const start = performance.now();
  while (performance.now() - start < warmUpMs) f();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function main() {
  await init();
  const manifest = JSON.parse(modelManifest());
  const spec = (/** @type {string} */ id) => manifest.models.find((/** @type {any} */ m) => m.id === id);
  const [detector, model] = [spec(manifest.default_detector), spec(manifest.default_embedder)];
  const bytes = async (/** @type {any} */ m) => new Uint8Array(await (await fetch(`../models/${m.file}`)).arrayBuffer());
  const [detectorBytes, modelBytes] = [await bytes(detector), await bytes(model)];
  const loadStart = performance.now();
  const verifier = new Verifier(detector.id, detectorBytes, model.id, modelBytes);
  const loadMs = performance.now() - loadStart;

  const bitmap = await createImageBitmap(await (await fetch('photo.jpg')).blob());
  const canvas = new OffscreenCanvas(640, 480);
  const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.drawImage(bitmap, 0, 0, 640, 480);
  const frame = ctx.getImageData(0, 0, 640, 480).data;
  const [w, h] = [model.input.width, model.input.height];
  const crop = ctx.getImageData(200, 100, w, h).data;

  const detectMs = medianMs(() => verifier.detectRgba(frame, 640, 480));
  const embedMs = medianMs(() => verifier.embedAligned(crop, w, h));
  const pipelineMs = medianMs(() => verifier.analyzeRgba(frame, 640, 480));
  return { load_ms: loadMs, detect_ms: detectMs, embed_ms: embedMs, pipeline_ms: pipelineMs, runs };
}

main().then(
  (result) => {
    Object.assign(window, { benchResult: result });
    /** @type {HTMLElement} */ (document.getElementById('status')).textContent = JSON.stringify(result);
  },
  (error) => Object.assign(window, { benchResult: { error: String(error) } }),
);
