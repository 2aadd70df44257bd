// @ts-check
// The wasm core behind the API: downloads (or finds cached) models, builds one Verifier and
// the gallery of its recognition model, then answers requests (see protocol.js). It runs in
// a thread of its own, never the page's or Node's main thread: worker.js (or
// worker-threads.js) in browsers, node-worker.js in Node, each with its own copy of this
// module's state. Each of those imports its wasm build statically, so that bundlers see it.

import { relaxedSimd } from './features.js';
import defaultModels from './pkg/default-models.js';

/**
 * The wasm core: one of the three builds of the same Rust code, as the thread imported it
 * ({@link serve}). All export the same API; the threaded one adds its pool.
 * @type {typeof import('./pkg/faceverify.js')}
 */
let core;
/** Whether `core` is the threaded build. */
let threaded = false;

/** Models are immutable per sha256, so cached copies are used without asking the network. */
const MODEL_CACHE = 'faceverify-models';

/** @type {Promise<import('./protocol.js').Backend> | null} */
let started = null;
/** The instance's exports (its memory), once started. @type {any} */
let instance = null;
/** @type {import('./pkg/faceverify.js').Verifier | null} */
let verifier = null;
/** @type {{detectors: any[], model: any} | null} */
let loaded = null;
/** @type {import('./pkg/faceverify.js').Gallery | null} */
let gallery = null;
/** Where the models are (from the load request). @type {string | undefined} */
let modelsUrl;
/**
 * Reads a `file:` URL (Node, where fetch cannot); null in browsers.
 * @type {((url: URL) => Promise<Uint8Array>) | null}
 */
let readLocal = null;
/** Ids of the attribute models the current verifier has loaded. */
let attributesLoaded = new Set();
/** @type {import('./pkg/faceverify.js').LivenessChallenge | null} The running liveness challenge. */
let challenge = null;
/**
 * Embeddings of faces that passed a liveness challenge here, with when (performance.now()):
 * an enrolment can require its faces to be among them ({@link galleryOp}, `liveWithinMs`).
 * Kept in the worker, so a page cannot vouch for a face it made up.
 * @type {{embeddings: number[][], at: number}[]}
 */
let liveFaces = [];

/** @param {string} name @param {string} message */
function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * Fetch `url` fully, reporting bytes received against the total: `size` (the file's, from
 * the manifest) when known, else the Content-Length of a response sent as it is. A compressed
 * response's Content-Length counts encoded bytes, the reader decoded ones.
 * @param {string} url
 * @param {number | undefined} size
 * @param {(loaded: number, total: number) => void} progress
 */
async function download(url, size, progress) {
  if (readLocal && url.startsWith('file:')) {
    const bytes = await readLocal(new URL(url)).catch((error) => {
      throw named('MODEL_INVALID', `cannot read ${url}: ${error.message}`);
    });
    progress(bytes.length, bytes.length);
    return bytes;
  }
  const response = await fetch(url);
  if (!response.ok || !response.body) throw named('MODEL_INVALID', `cannot fetch ${url}: HTTP ${response.status}`);
  const total = size ?? (response.headers.get('Content-Encoding') ? 0 : Number(response.headers.get('Content-Length')) || 0);
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    progress(received, total);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * A model's bytes from the Cache API, else from the network. Nothing is cached here: only
 * bytes the core has accepted are ({@link keep}), so an error page or a cut download served
 * in place of a model costs one failed load, not every visit after it.
 * @param {string} url
 * @param {{sha256: string, bytes?: number}} file the manifest's hash and size of it
 * @param {(loaded: number, total: number) => void} progress
 * @returns {Promise<{key: string, bytes: Uint8Array, cached: boolean}>}
 */
async function modelBytes(url, { sha256, bytes: size }, progress) {
  // The sha256 in the key: a new model version is a new key.
  const key = `${url}?sha256=${sha256}`;
  const hit = await (await modelCache())?.match(key);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    progress(bytes.length, bytes.length);
    return { key, bytes, cached: true };
  }
  return { key, bytes: await download(key, size, progress), cached: false };
}

/** The model cache's pending writes, in order (a load does not wait for them). */
let stored = Promise.resolve();

/** The model cache, or undefined without the Cache API (an insecure origin). */
const modelCache = () => globalThis.caches?.open(MODEL_CACHE).catch(() => undefined);

/**
 * After a load: store what came from the network and drop older versions of those files (and
 * ONNX files an earlier version stored); after a failed one, drop the cached copies it used
 * (they cannot be trusted).
 * @param {{key: string, bytes: Uint8Array, cached: boolean}[]} files
 * @param {boolean} accepted
 */
async function keep(files, accepted) {
  const cache = await modelCache();
  if (!cache) return;
  for (const { key, bytes, cached } of files) {
    if (!accepted) {
      if (cached) await cache.delete(key);
      continue;
    }
    if (cached) continue;
    const url = key.split('?')[0];
    for (const old of await cache.keys()) {
      const oldUrl = old.url.split('?')[0];
      // Older versions of this file, and any ONNX file: what earlier versions downloaded
      // before every network came as NNEF (the wasm reads no ONNX).
      if ((oldUrl === url && old.url !== key) || oldUrl.endsWith('.onnx')) await cache.delete(old);
    }
    // A full quota only costs the next visit a download.
    await cache.put(key, new Response(bytes)).catch(() => undefined);
  }
}

/**
 * A model file's URL: in `modelsUrl` if the page gave one, else in the package's `models/`
 * (written so that bundlers find and copy every model: Vite turns it into a glob).
 * @param {string} file
 */
const modelUrl = (file) => (modelsUrl ? new URL(file, modelsUrl) : new URL(`./models/${file}`, import.meta.url)).href;

/**
 * The file the browser downloads for a model: a network's NNEF file (tract loads it without
 * parsing, typing or decluttering an ONNX graph; the wasm reads no ONNX), else the model's own
 * file (dlib's landmarker). The core checks it by sha256.
 * @param {{file: string, sha256: string, bytes?: number, nnef?: {file: string, sha256: string, bytes?: number}}} spec
 */
const fileOf = (spec) => spec.nnef ?? spec;

/** `image instanceof ImageBitmap`, also where there are none (Node). @param {unknown} image */
const isBitmap = (image) => typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap;

/**
 * Instantiate `core` (one build's glue, just imported) with the wasm `file` (a path inside the
 * package): under `wasmUrl` if given, else beside this module (a URL bundlers see and copy).
 * Its exports go to `instance`; returns the URL the wasm came from.
 * @param {'pkg/faceverify_bg.wasm' | 'pkg/faceverify_relaxed_bg.wasm' | 'pkg-threads/faceverify_bg.wasm'} file
 * @param {string | undefined} wasmUrl
 */
async function instantiate(file, wasmUrl) {
  const url = wasmUrl ? new URL(file, wasmUrl) : packaged[file];
  // In Node the glue's default (fetch) cannot read files: the same file, read here. Else from
  // the network or the HTTP cache, where the browser also keeps the compiled code; with the
  // network cut, a copy a service worker stored with the Cache API (the demo's sw.js stores
  // the wasm the page ran, but leaves its requests to the browser, for that compiled code).
  const source = readLocal && url.protocol === 'file:'
    ? await readLocal(url)
    : fetch(url).catch(async (error) => (await globalThis.caches?.match(url.href)) ?? Promise.reject(error));
  instance = await core.default({ module_or_path: source });
  return url.href;
}

/** The package's wasm files, each named in full so that bundlers find and copy it. */
const packaged = {
  'pkg/faceverify_bg.wasm': new URL('./pkg/faceverify_bg.wasm', import.meta.url),
  'pkg/faceverify_relaxed_bg.wasm': new URL('./pkg/faceverify_relaxed_bg.wasm', import.meta.url),
  'pkg-threads/faceverify_bg.wasm': new URL('./pkg-threads/faceverify_bg.wasm', import.meta.url),
};

/**
 * Instantiate the build, and for the threaded one start its pool of `threads` workers. The
 * one-thread worker takes the relaxed-SIMD wasm where the engine validates it and `relaxed`
 * is not false. A pool that cannot start is THREADS_UNAVAILABLE, which faceverify.js answers
 * by loading the one-thread build in a new worker.
 * @param {number} threads
 * @param {string | undefined} wasmUrl
 * @param {boolean} relaxed
 * @returns {Promise<import('./protocol.js').Backend>}
 */
async function start(threads, wasmUrl, relaxed) {
  const gemm = () => /** @type {string} */ (core.gemmKernel());
  if (!threaded) {
    const build = relaxed && relaxedSimd() ? 'relaxed-simd' : 'simd128';
    const wasm = await instantiate(build === 'relaxed-simd' ? 'pkg/faceverify_relaxed_bg.wasm' : 'pkg/faceverify_bg.wasm', wasmUrl);
    return { build, threads: 1, gemm: gemm(), wasm, fallback: null };
  }
  try {
    const wasm = await instantiate('pkg-threads/faceverify_bg.wasm', wasmUrl);
    // A pool worker whose script fails to load never reports back: give up after 20 s
    // (it starts in ~0.1 s) rather than never finishing the load.
    const pool = /** @type {any} */ (core).initThreadPool(threads);
    await Promise.race([pool, new Promise((_, reject) => setTimeout(() => reject(new Error('the thread pool did not start in 20 s')), 20_000))]);
    /** @type {any} */ (core).useThreadPool();
    return { build: 'relaxed-simd-threads', threads, gemm: gemm(), wasm, fallback: null };
  } catch (e) {
    throw named('THREADS_UNAVAILABLE', `threaded build failed: ${/** @type {Error} */ (e).message ?? e}`);
  }
}

/**
 * @param {import('./protocol.js').LoadRequest} request
 * @param {(message: import('./protocol.js').Reply) => void} post
 */
async function load(request, post) {
  modelsUrl = request.modelsUrl;
  // Bytes received and expected per file, over every fetch this load started.
  /** @type {Map<string, [number, number]>} */ const progress = new Map();
  const sum = (/** @type {0 | 1} */ i) => [...progress.values()].reduce((total, p) => total + p[i], 0);
  const fetchModel = (/** @type {{file: string, sha256: string, bytes?: number}} */ file) =>
    modelBytes(modelUrl(file.file), file, (done, total) => {
      progress.set(file.file, [done, total]);
      post({ id: request.id, progress: { loaded: sum(0), total: sum(1) } });
    });
  // Only the wasm can say which files a verifier needs, and it is not compiled yet on the
  // first load: the default set as the build named it starts downloading meanwhile (by
  // sha256: a download is used only for the very file the core asks for).
  /** @type {Map<string, ReturnType<typeof modelBytes>>} */ const early = new Map();
  if (!started && request.detector == null && request.model == null) {
    for (const spec of defaultModels) {
      const bytes = fetchModel(spec);
      // A fetch the core's set turns out not to need must not fail the load.
      bytes.catch(() => undefined);
      early.set(spec.sha256, bytes);
    }
  }
  started ??= start(request.threads ?? 1, request.wasmUrl, request.relaxedSimd !== false);
  const backend = await started;
  const manifest = JSON.parse(core.modelManifest());
  // Which files a verifier needs (detectors, face check, landmarks, recognition) is the
  // core's decision, from the manifest.
  const specs = JSON.parse(core.modelSet(request.detector ?? undefined, request.model ?? undefined));
  const files = await Promise.all(specs.map((/** @type {any} */ spec) => early.get(fileOf(spec).sha256) ?? fetchModel(fileOf(spec))));
  // Build the new set before dropping the old: a failed load leaves the working one. The
  // core checks every file's sha256 against the manifest before parsing it.
  /** @type {import('./pkg/faceverify.js').Verifier} */ let next;
  try {
    next = new core.Verifier(specs.map((/** @type {any} */ s) => s.id), files.map((f) => f.bytes));
  } catch (error) {
    await (stored = stored.then(() => keep(files, false)).catch(() => undefined));
    throw error;
  }
  // Stored after the reply (storing is best effort): a first visit's 10.7 MB kept "ready"
  // waiting 60-100 ms.
  stored = stored.then(() => keep(files, true)).catch(() => undefined);
  verifier?.free();
  verifier = next;
  attributesLoaded = new Set();
  const model = specs.find((/** @type {any} */ s) => s.kind === 'embedder');
  if (loaded?.model.id !== model.id) {
    gallery?.free();
    gallery = new core.Gallery(model.id, model.output.size);
  }
  const detectors = specs.filter((/** @type {any} */ s) => s.kind === 'detector' && s.decoder.type === 'blazeface');
  loaded = { detectors, model };
  return { ...loaded, detector: request.detector ?? null, models: manifest.models, backend };
}

/**
 * `fromBytes` on encoded images, `fromImage` on the browser's own (ImageData, ImageBitmap),
 * which the core reads itself. A bitmap is closed afterwards, whatever happened: it was
 * transferred here, and an open one holds its pixels until collected.
 * @template T
 * @param {import('./protocol.js').Image} image
 * @param {(bytes: Uint8Array) => T} fromBytes
 * @param {(image: ImageData | ImageBitmap) => T} fromImage
 */
function onImage(image, fromBytes, fromImage) {
  if (image instanceof ArrayBuffer) {
    core.checkImageFile(image.byteLength);
    return fromBytes(new Uint8Array(image));
  }
  try {
    return fromImage(image);
  } finally {
    if (isBitmap(image)) image.close();
  }
}

/**
 * Load the attribute models that `attributes` need, once: they are not part of the default
 * download, so verify alone never fetches them. Cached as the other models are.
 * @param {import('./pkg/faceverify.js').Verifier} v
 * @param {string[] | undefined} attributes
 */
async function ensureAttributes(v, attributes) {
  if (!attributes?.length) return;
  for (const spec of JSON.parse(core.attributeModels(attributes))) {
    if (attributesLoaded.has(spec.id)) continue;
    const file = await modelBytes(modelUrl(fileOf(spec).file), fileOf(spec), () => {});
    try {
      v.loadAttributes(spec.id, file.bytes);
    } catch (error) {
      await keep([file], false);
      throw error;
    }
    await keep([file], true);
    attributesLoaded.add(spec.id);
  }
}

/** What the page shows and stores after every gallery change. @param {import('./pkg/faceverify.js').Gallery} g */
const galleryState = (g) => ({ identities: JSON.parse(g.identities()), json: g.toJson() });

/**
 * @param {import('./pkg/faceverify.js').Verifier} v
 * @param {import('./pkg/faceverify.js').Gallery} g
 * @param {{model: any}} models
 * @param {import('./protocol.js').GalleryRequest} request
 */
function galleryOp(v, g, models, request) {
  switch (request.op) {
    case 'state':
      return galleryState(g);
    case 'import': {
      // Validated whole by fromJson before it replaces anything.
      const next = core.Gallery.fromJson(request.json, models.model.id, models.model.output.size);
      g.free();
      gallery = next;
      return galleryState(next);
    }
    case 'enroll':
      // Every face is judged before any is enrolled: one poor photo enrols none.
      for (const quality of request.qualities ?? []) if (quality) core.admitQuality(quality, request.minQuality);
      if (request.liveWithinMs !== undefined) requireLive(request.embeddings, request.liveWithinMs);
      for (const embedding of request.embeddings) g.enroll(request.name, Float32Array.from(embedding));
      return galleryState(g);
    case 'rename':
      if (!g.rename(request.from, request.to)) throw named('INVALID_INPUT', `"${request.from}" is not enrolled`);
      return galleryState(g);
    case 'remove':
      g.remove(request.name);
      return galleryState(g);
    case 'clear': {
      g.free();
      gallery = new core.Gallery(models.model.id, models.model.output.size);
      return galleryState(gallery);
    }
    case 'find': {
      const threshold = v.threshold(request.metric, request.threshold);
      return JSON.parse(g.find(Float32Array.from(request.embedding), request.metric, threshold, request.limit));
    }
    default:
      throw named('INVALID_INPUT', 'unknown gallery operation');
  }
}

/**
 * NOT_LIVE unless every embedding is one that passed a liveness challenge here within the
 * last `withinMs` ms.
 * @param {number[][]} embeddings
 * @param {number} withinMs
 */
function requireLive(embeddings, withinMs) {
  const since = performance.now() - withinMs;
  liveFaces = liveFaces.filter((live) => live.at >= since);
  const same = (/** @type {number[]} */ a, /** @type {number[]} */ b) => a.length === b.length && a.every((x, i) => Math.fround(x) === Math.fround(b[i]));
  for (const embedding of embeddings) {
    if (!liveFaces.some((live) => live.embeddings.some((e) => same(e, embedding)))) {
      throw named('NOT_LIVE', `a face to enrol did not pass a liveness challenge in the last ${Math.round(withinMs / 1000)} s`);
    }
  }
}

/**
 * @param {import('./pkg/faceverify.js').Verifier} v
 * @param {import('./protocol.js').LivenessRequest} request
 */
function livenessOp(v, request) {
  switch (request.op) {
    case 'start': {
      const actions = request.actions ?? core.pickLivenessActions(request.random, request.count);
      const next = new core.LivenessChallenge(v, actions, request.timeoutMs, request.metric, request.threshold);
      challenge?.free();
      challenge = next;
      return { actions };
    }
    case 'frame': {
      const c = challenge;
      if (!c) {
        if (isBitmap(request.image)) request.image.close();
        throw named('INVALID_INPUT', 'no liveness challenge was started');
      }
      const frame = request.image === null ? { progress: JSON.parse(c.missing(request.time)), faces: [], chosen: -1 } : JSON.parse(onImage(request.image, () => {
        throw named('INVALID_INPUT', 'liveness takes camera frames (ImageBitmap or ImageData), not encoded files');
      }, (i) => v.livenessFrame(c, i, request.time)));
      const result = frame.progress.result;
      if (result) {
        // Ended: recorded once, so frames sent to it afterwards cannot renew its time.
        if (result.passed) liveFaces.push({ embeddings: [result.embedding, ...result.embeddings], at: performance.now() });
        c.free();
        challenge = null;
      }
      return frame;
    }
    case 'cancel':
      return challenge ? JSON.parse(challenge.cancel()) : null;
    default:
      throw named('INVALID_INPUT', 'unknown liveness operation');
  }
}

/**
 * @param {import('./protocol.js').Request} request
 * @param {(message: import('./protocol.js').Reply) => void} post
 */
async function handle(request, post) {
  if (request.type === 'load') return load(request, post);
  // Linear memory only grows (wasm cannot give pages back), so its size is the peak so far.
  if (request.type === 'memory') return { wasm_bytes: instance ? instance.memory.buffer.byteLength : 0 };
  if (!verifier || !gallery || !loaded) throw named('NOT_LOADED', 'models are not loaded yet');
  const v = verifier;
  switch (request.type) {
    case 'analyze': {
      const camera = request.camera ?? false;
      const attributes = request.attributes ?? [];
      await ensureAttributes(v, attributes).catch((error) => {
        if (isBitmap(request.image)) request.image.close();
        throw error;
      });
      return onImage(request.image, (b) => v.analyze(b, camera, attributes), (i) => v.analyzeImage(i, camera, attributes));
    }
    case 'detect': {
      const camera = request.camera ?? false;
      return JSON.parse(onImage(request.image, (b) => v.detect(b, camera), (i) => v.detectImage(i, camera)));
    }
    case 'verify':
      return JSON.parse(v.verify(request.a, request.b, request.metric, request.threshold, request.qualities));
    case 'gallery':
      return galleryOp(v, gallery, loaded, request);
    case 'liveness':
      return livenessOp(v, request);
    default:
      throw named('INVALID_INPUT', 'unknown request type');
  }
}

/**
 * The request handler of a thread that runs the core: every request gets one reply (and a
 * load its progress messages) through `post`.
 * @param {(message: import('./protocol.js').Reply) => void} post
 * @param {{core: any, threaded?: boolean, readFile?: (url: URL) => Promise<Uint8Array>}} platform
 *   core: the wasm build's glue module (`import * as core`); threaded: it is pkg-threads;
 *   readFile: how to read `file:` URLs (models and wasm in Node).
 * @returns {(request: import('./protocol.js').Request) => Promise<void>}
 */
export function serve(post, platform) {
  core = platform.core;
  threaded = platform.threaded ?? false;
  readLocal = platform.readFile ?? null;
  return async (request) => {
    try {
      post({ id: request.id, ok: true, value: await handle(request, post) });
    } catch (e) {
      const error = /** @type {Error} */ (e);
      post({ id: request.id, ok: false, error: { name: error.name ?? 'Error', message: error.message ?? String(e) } });
    }
  };
}
