// @ts-check
// Browser timings of the wasm core, on the main thread (the demo runs the same code in a
// worker). bench/run.mjs serves the photo at ./photo.jpg and reads window.benchResult.
import init, { Verifier, modelManifest } from '../pkg/faceverify.js';

const params = new URLSearchParams(location.search);
const runs = Number(params.get('runs') ?? 30);
const warmUpMs = Number(params.get('warmup') ?? 4000);
const verifies = Number(params.get('verifies') ?? 1000);

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

/** JS heap (needs --enable-precise-memory-info) plus wasm linear memory, after a GC. */
function memoryBytes(/** @type {WebAssembly.Memory} */ memory) {
  /** @type {any} */ (globalThis).gc?.();
  return /** @type {any} */ (performance).memory.usedJSHeapSize + memory.buffer.byteLength;
}

/** A 640×480 frame with `bitmap` fitted in, aspect kept (as a webcam frame would be). */
function frame640(/** @type {ImageBitmap} */ bitmap) {
  const canvas = new OffscreenCanvas(640, 480);
  const scale = Math.min(640 / bitmap.width, 480 / bitmap.height);
  const [w, h] = [bitmap.width * scale, bitmap.height * scale];
  /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d')).drawImage(bitmap, (640 - w) / 2, (480 - h) / 2, w, h);
  return canvas;
}

/** @param {ImageBitmap} bitmap */
async function jpeg640(bitmap) {
  const blob = await frame640(bitmap).convertToBlob({ type: 'image/jpeg', quality: 0.9 });
  return new Uint8Array(await blob.arrayBuffer());
}

/**
 * Memory growth over `verifies` consecutive verifies of two 640×480 JPEGs, measured
 * after one verify so that one-time allocations (plans, allocator arenas) are excluded.
 * @param {Verifier} verifier
 * @param {WebAssembly.Memory} memory
 */
async function heapGrowth(verifier, memory) {
  const [a, b] = await Promise.all(['photo.jpg', 'photo2.jpg'].map(async (url) => jpeg640(await createImageBitmap(await (await fetch(url)).blob()))));
  const verify = () => {
    const [ea, eb] = [a, b].map((bytes) => Float32Array.from(verifier.analyze(bytes).embedding));
    return JSON.parse(verifier.verify(ea, eb, 'euclidean', undefined));
  };
  const first = verify();
  const before = memoryBytes(memory);
  for (let i = 1; i < verifies; i++) verify();
  const after = memoryBytes(memory);
  return { verifies, heap_growth_bytes: after - before, verified: first.verified, distance: first.distance };
}

async function main() {
  const { memory } = await init();
  const manifest = JSON.parse(modelManifest());
  const spec = (/** @type {string} */ id) => manifest.models.find((/** @type {any} */ m) => m.id === id);
  const [detector, model] = [spec(manifest.default_detector), spec(manifest.default_embedder)];
  const bytes = async (/** @type {any} */ m) => new Uint8Array(await (await fetch(`../models/${m.file}`)).arrayBuffer());
  const [detectorBytes, modelBytes] = [await bytes(detector), await bytes(model)];
  const loadStart = performance.now();
  const verifier = new Verifier(detector.id, detectorBytes, model.id, modelBytes);
  const loadMs = performance.now() - loadStart;

  const bitmap = await createImageBitmap(await (await fetch('photo.jpg')).blob());
  const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (frame640(bitmap).getContext('2d'));
  const frame = ctx.getImageData(0, 0, 640, 480).data;
  // Any pixels of the right size time the embedder alike; take the frame's middle.
  const [w, h] = [model.input.width, model.input.height];
  const crop = ctx.getImageData(320 - w / 2, 240 - h / 2, w, h).data;

  const detectMs = medianMs(() => verifier.detectRgba(frame, 640, 480));
  const embedMs = medianMs(() => verifier.embedAligned(crop, w, h));
  const pipelineMs = medianMs(() => verifier.analyzeRgba(frame, 640, 480));
  const memoryResult = await heapGrowth(verifier, memory);
  return { load_ms: loadMs, detect_ms: detectMs, embed_ms: embedMs, pipeline_ms: pipelineMs, runs, memory: memoryResult };
}

main().then(
  (result) => {
    Object.assign(window, { benchResult: result });
    /** @type {HTMLElement} */ (document.getElementById('status')).textContent = JSON.stringify(result);
  },
  (error) => Object.assign(window, { benchResult: { error: String(error) } }),
);
