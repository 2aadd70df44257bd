// @ts-check
// Browser timings of the wasm core: detect, embed, the whole pipeline by the camera path and
// by the photo path, 1:N search, model load and memory growth. The one-thread build runs on
// the page's main thread (`?build=simd128`: the plain wasm, else the relaxed-SIMD one);
// `?threads=N` (N > 1) runs the threaded build in a worker, as the demo does, with a pool of N
// (its figures: timings only, no memory or search).
import { frames, inWorker, median, medianMs, report } from './timing.js';

const params = new URLSearchParams(location.search);
const threads = Number(params.get('threads') ?? 1);
const build = threads > 1 ? 'relaxed-simd-threads' : params.get('build') ?? 'relaxed-simd';
const verifies = Number(params.get('verifies') ?? 1000);
const searchSizes = (params.get('search') ?? '1000,10000,100000,1000000').split(',').filter(Boolean).map(Number);

/**
 * JS heap (needs --enable-precise-memory-info) and wasm linear memory, after two full GCs:
 * one leaves garbage the next collects (with one, a flat heap read as 12–18 MB of growth).
 */
function memoryBytes(/** @type {WebAssembly.Memory} */ memory) {
  /** @type {any} */ (globalThis).gc?.();
  /** @type {any} */ (globalThis).gc?.();
  return { js: /** @type {any} */ (performance).memory.usedJSHeapSize, wasm: memory.buffer.byteLength };
}

/** @param {HTMLCanvasElement} canvas */
async function jpeg(canvas) {
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
  return new Uint8Array(await /** @type {Blob} */ (blob).arrayBuffer());
}

/**
 * Memory growth over `verifies` consecutive verifies of two 640×480 JPEGs, measured from
 * after the first verify (one-time allocations: plans, allocator arenas) and again from the
 * 100th, so a leak (steady growth) shows apart from one-off growth of the wasm memory.
 * @param {import('../faceverify/pkg/faceverify.js').Verifier} verifier
 * @param {WebAssembly.Memory} memory
 * @param {HTMLCanvasElement[]} pair
 */
async function heapGrowth(verifier, memory, pair) {
  const [a, b] = await Promise.all(pair.map(jpeg));
  const verify = () => {
    const [ea, eb] = [a, b].map((bytes) => Float32Array.from(verifier.analyze(bytes).embedding));
    return JSON.parse(verifier.verify(ea, eb, 'euclidean', undefined));
  };
  const first = verify();
  const after1 = memoryBytes(memory);
  const checkpoint = Math.min(100, verifies);
  for (let i = 1; i < checkpoint; i++) verify();
  const afterCheckpoint = memoryBytes(memory);
  for (let i = checkpoint; i < verifies; i++) verify();
  const end = memoryBytes(memory);
  const growth = (/** @type {{js: number, wasm: number}} */ from) => end.js + end.wasm - from.js - from.wasm;
  return {
    verifies,
    heap_growth_bytes: growth(after1),
    wasm_growth_bytes: end.wasm - after1.wasm,
    js_growth_bytes: end.js - after1.js,
    [`growth_after_${checkpoint}_bytes`]: growth(afterCheckpoint),
    verified: first.verified,
    distance: first.distance,
  };
}

/**
 * Exact 1:N search (top 5, euclidean) over galleries of random 128-d embeddings, one
 * identity per embedding, grown to each size in turn.
 */
async function searchTimings(/** @type {typeof import('../faceverify/pkg/faceverify.js')} */ core) {
  const gallery = new core.Gallery('bench', 128);
  const random = () => Float32Array.from({ length: 128 }, () => Math.random() * 0.2 - 0.1);
  const probe = random();
  /** @type {Record<string, number>} */ const ms = {};
  for (const size of searchSizes) {
    for (let i = gallery.size; i < size; i++) gallery.enroll(`person ${i}`, random());
    ms[size] = await medianMs(() => gallery.find(probe, 'euclidean', 0.6, 5));
  }
  gallery.free();
  return ms;
}

/**
 * The default set loaded again, after the page's first (cold) load: the median of five, ms.
 * @param {any} core
 * @param {string[]} ids
 * @param {Uint8Array[]} files
 */
async function warmLoadMs(core, ids, files) {
  const ms = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    new core.Verifier(ids, files).free();
    ms.push(performance.now() - start);
  }
  return median(ms);
}

async function main() {
  const core = threads > 1 ? await import('../faceverify/pkg-threads/faceverify.js') : await import('../faceverify/pkg/faceverify.js');
  const wasm = build === 'relaxed-simd' ? 'faceverify_relaxed_bg.wasm' : 'faceverify_bg.wasm';
  const { memory } = await core.default({ module_or_path: new URL(`../faceverify/${threads > 1 ? 'pkg-threads' : 'pkg'}/${wasm}`, import.meta.url) });
  if (threads > 1) {
    await /** @type {any} */ (core).initThreadPool(threads);
    /** @type {any} */ (core).useThreadPool();
  }
  const specs = JSON.parse(core.modelSet());
  const model = specs.find((/** @type {any} */ m) => m.kind === 'embedder');
  // The files the page downloads (engine.js): NNEF, for every network.
  const bytes = async (/** @type {any} */ m) => new Uint8Array(await (await fetch(`../faceverify/models/${(m.nnef ?? m).file}`)).arrayBuffer());
  const files = await Promise.all(specs.map(bytes));
  const loadStart = performance.now();
  const verifier = new core.Verifier(specs.map((/** @type {any} */ m) => m.id), files);
  const loadMs = performance.now() - loadStart;

  const pair = await frames('photo.jpg', 'photo2.jpg');
  const ctx = /** @type {CanvasRenderingContext2D} */ (pair[0].getContext('2d'));
  const frame = ctx.getImageData(0, 0, 640, 480);
  // Any pixels of the right size time the embedder alike; take the frame's middle.
  const [w, h] = [model.input.width, model.input.height];
  const crop = ctx.getImageData(320 - w / 2, 240 - h / 2, w, h).data;

  const detectMs = await medianMs(() => verifier.detectImage(frame, true));
  const photoDetectMs = await medianMs(() => verifier.detectImage(frame, false));
  const embedMs = await medianMs(() => verifier.embedAligned(crop, w, h));
  const pipelineMs = await medianMs(() => verifier.analyzeImage(frame, true));
  const photoPipelineMs = await medianMs(() => verifier.analyzeImage(frame, false));
  const timings = {
    threads, load_ms: loadMs, detect_ms: detectMs, photo_detect_ms: photoDetectMs, embed_ms: embedMs, pipeline_ms: pipelineMs,
    photo_pipeline_ms: photoPipelineMs, build, gemm: core.gemmKernel(),
  };
  if (threads > 1) {
    verifier.free();
    return timings;
  }
  const memoryResult = await heapGrowth(verifier, memory, pair);
  verifier.free();
  return { ...timings, memory: memoryResult, search_ms: await searchTimings(core), load_ms_warm: await warmLoadMs(core, specs.map((/** @type {any} */ m) => m.id), files) };
}

if (threads > 1 && typeof document !== 'undefined') inWorker(import.meta.url);
else report(main);
