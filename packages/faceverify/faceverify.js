// @ts-check
// faceverify's API. Everything runs on wasm in a thread of its own (a Web Worker in
// browsers; node.js, the package's Node entry, uses a worker_threads Worker); images and
// embeddings never leave the page or the process.
//
//   import { FaceVerifier } from 'faceverify';
//   const verifier = await FaceVerifier.load({ onProgress: (loaded, total) => {} });
//   const result = await verifier.verify(fileA, fileB);   // {verified, distance, threshold, ...}
//   const embedding = await verifier.embed(file);           // Float32Array(128)
//   await verifier.gallery.enroll('Ada', [embedding]);
//   const [best] = await verifier.gallery.find(await verifier.embed(other));
//
// Errors are `Error`s whose `name` is a stable code: NO_FACE, IMAGE_DECODE,
// IMAGE_TOO_LARGE, MODEL_INVALID, UNKNOWN_MODEL, INFERENCE, INVALID_INPUT, GALLERY_INVALID,
// LOW_QUALITY (enrolment of a face below the quality bar), NOT_LIVE (an enrolment that
// requires a passed liveness challenge without one), NOT_LOADED, WORKER_FAILED (the core's
// thread could not start, or stopped).

import { relaxedSimd } from './features.js';

/**
 * @typedef {{x: number, y: number, width: number, height: number}} Box
 * @typedef {{name: string, x: number, y: number}} Keypoint
 * @typedef {{code: string, message: string, score: number}} QualityReason
 * @typedef {{score: number, reasons: QualityReason[], inter_ocular_distance: number,
 *            sharpness: number, yaw: number, pitch: number, roll: number, luminance_mean: number,
 *            luminance_contrast: number, skin_colour: [number, number] | null, eyes_visible: number,
 *            mouth_visible: number, occlusion: number, detector_score: number}} Quality
 *   How far the face can be trusted for recognition, 0–1, and why it is low (docs/quality.md:
 *   units and ranges of every measure).
 * @typedef {'age' | 'gender' | 'expression'} Attribute
 * @typedef {{value?: number, unit?: string, label?: string, probability?: number,
 *            probabilities?: Record<string, number>, model: string}} Estimate
 *   age: `value` in years (apparent age); gender: `label` 'male' | 'female'; expression:
 *   `label` one of neutral, happy, sad, angry, fearful, disgusted, surprised; `probabilities`
 *   of every label. Estimates of appearance (docs/attributes.md), not facts about a person.
 * @typedef {{box: Box, score: number, keypoints: Keypoint[], cut: boolean, quality?: Quality,
 *            attributes?: Partial<Record<Attribute, Estimate>>}} Face
 *   In the image's own pixels; the box is clamped to the image and `cut` says the face runs
 *   past its border. Keypoints: the detector's, then dlib's 5 landmarks.
 * @typedef {{width: number, height: number, rgba: Uint8Array}} Crop
 * @typedef {{code: string, message: string}} Warning
 *   SIMILAR_FACES: other faces are nearly as large as the one embedded (crop to choose).
 *   LOW_QUALITY: a face is below the verification bar: too poor to decide.
 * @typedef {{faces: Face[], chosen: number, rotation: number, embedding: number[], aligned: Crop,
 *            warnings: Warning[]}} Analysis
 *   rotation: degrees the photo was turned clockwise to find its faces upright (0 unless no
 *   upright face was found); boxes and keypoints are in the image's own pixels either way.
 * @typedef {{verified: boolean, distance: number, threshold: number, confidence: number | null,
 *            metric: string, model: string, quality: [Quality | null, Quality | null],
 *            warnings: Warning[]}} Verdict
 *   confidence: P(same person | distance) at even prior odds, from the model's calibration.
 *   A LOW_QUALITY warning means either face is too poor for the verdict to be acted on.
 * @typedef {{camera?: boolean}} SourceOptions
 *   camera: a live camera frame (the fast detector alone, upright only) rather than a photo
 *   (every detector, small and border-cut faces, a face check, turned photos).
 * @typedef {{name: string, best_distance: number, mean_distance: number, verified: boolean}} Match
 * @typedef {{identities: {name: string, count: number}[], json: string}} GalleryState
 * @typedef {{metric?: string, threshold?: number}} CompareOptions
 * @typedef {ArrayLike<number> | Analysis} Enrolment
 *   An embedding, or an analysis (its embedding, gated by its face's quality).
 * @typedef {Blob | ArrayBuffer | Uint8Array | ImageData | ImageBitmap} ImageInput
 * @typedef {'turn_left' | 'turn_right' | 'look_up' | 'look_down'} LivenessAction
 *   Head movements from the person's own point of view: turns of 20° and tilts of 16° from
 *   their neutral pose (docs/liveness.md).
 * @typedef {{action: LivenessAction, passed: boolean, ms: number, peak_degrees: number}} ActionResult
 * @typedef {{passed: boolean, code: 'TIMEOUT' | 'FACE_LOST' | 'FACE_CHANGED' | 'SECOND_FACE' | 'CANCELLED' | null,
 *            message: string, actions: ActionResult[], embedding: number[] | null, embeddings: number[][],
 *            frames: number, ms: number}} LivenessResult
 *   embedding: the neutral face's; embeddings: the frames that completed each action.
 * @typedef {{state: 'running' | 'passed' | 'failed', completed: number, total: number,
 *            action: LivenessAction | null, prompt: string, progress: number, remaining_ms: number,
 *            result: LivenessResult | null}} LivenessProgress
 * @typedef {{faces: Face[], chosen: number, width: number, height: number}} LivenessFrame
 * @typedef {{postMessage: (message: any, transfer: Transferable[]) => void,
 *            onmessage: ((event: {data: any}) => void) | null,
 *            onerror: ((event: {message?: string}) => void) | null, terminate: () => void}} Port
 *   The thread the core runs in, as a Worker (or an adapter of Node's) presents it.
 * @typedef {{modelsUrl?: string | URL, wasmUrl?: string | URL, detector?: string, model?: string,
 *            threads?: number, relaxedSimd?: boolean, onProgress?: (loaded: number, total: number) => void}} LoadOptions
 */

export class FaceVerifier {
  /** @type {Port} */ #worker;
  /** @type {Map<number, {resolve: Function, reject: Function, progress?: Function}>} */ #pending = new Map();
  #nextId = 1;
  /** Where models and wasm are, when not in the package (absolute URLs). */
  #urls = /** @type {{modelsUrl?: string, wasmUrl?: string}} */ ({});
  /**
   * The loaded detectors and recognition model (manifest entries), the detector asked for
   * (null: the default set), and every model the manifest offers.
   */
  models = /** @type {{detectors: any[], detector: string | null, model: any, models: any[]} | null} */ (null);
  /**
   * The wasm build running, its threads and GEMM kernel, known after `load`:
   * `relaxed-simd-threads` on a cross-origin isolated page (COOP/COEP) in a browser with
   * relaxed SIMD, else `relaxed-simd` (one thread) or, without relaxed SIMD, `simd128`, with
   * `fallback` saying why not threads.
   * @type {import('./protocol.js').Backend | null}
   */
  backend = null;
  /** The recognition model's gallery, kept in the worker (see {@link GalleryClient}). */
  gallery = new GalleryClient((request) => this.#call({ type: 'gallery', ...request }));

  /** Why the thread is gone (it failed to start or crashed): every call fails with it. */
  #failed = /** @type {Error | null} */ (null);

  /** @param {Port} worker a thread running the core (see {@link FaceVerifier.connect}) */
  constructor(worker) {
    this.#worker = worker;
    // A worker script that cannot load, or a thread that dies, answers nothing: fail the
    // calls waiting on it, and every later one, rather than leave them pending forever.
    worker.onerror = (event) => {
      this.#failed = Object.assign(new Error(`the core's thread failed: ${event?.message || 'its script did not load, or it stopped'}`), { name: 'WORKER_FAILED' });
      for (const call of this.#pending.values()) call.reject(this.#failed);
      this.#pending.clear();
    };
    worker.onmessage = ({ data }) => {
      const call = this.#pending.get(data.id);
      if (!call) return;
      if (data.progress) return call.progress?.(data.progress.loaded, data.progress.total);
      this.#pending.delete(data.id);
      if (data.ok) call.resolve(data.value);
      else call.reject(Object.assign(new Error(data.error.message), { name: data.error.name }));
    };
  }

  /**
   * Start the core's thread and load the models.
   * @param {LoadOptions} [options]
   *   modelsUrl: the folder the model files are served from (default: the package's
   *   `models/`, which bundlers copy); wasmUrl: the folder holding the package's `pkg/` and
   *   `pkg-threads/` (default: the package's own); both relative to the page (in Node: to
   *   the working directory, as paths or `file:` URLs). detector: one detector for everything
   *   instead of the default set; model: the recognition model (manifest ids; default: the
   *   manifest's defaults); threads: inference threads, 1 to 1024 (default:
   *   `navigator.hardwareConcurrency`; more than 1 needs a cross-origin isolated page and
   *   relaxed SIMD, see {@link FaceVerifier.backend}); relaxedSimd: false for the plain
   *   simd128 build even where relaxed SIMD runs (one thread; default true: the faster
   *   build where the browser has it).
   */
  static async load(options = {}) {
    const { threads } = options;
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 1024)) {
      throw Object.assign(new Error(`threads must be an integer from 1 to 1024, got ${threads}`), { name: 'INVALID_INPUT' });
    }
    const base = this.base();
    const folder = (/** @type {string | URL | undefined} */ url) => (url === undefined ? undefined : new URL(String(url).replace(/\/?$/, '/'), base).href);
    const urls = { modelsUrl: folder(options.modelsUrl), wasmUrl: folder(options.wasmUrl) };
    const wanted = threads ?? Math.max(1, Math.floor(globalThis.navigator?.hardwareConcurrency ?? 1));
    /** @type {string | null} */ let fallback = null;
    if (wanted > 1) {
      fallback = options.relaxedSimd === false ? 'relaxedSimd: false: the threaded build needs relaxed SIMD' : this.threadsUnavailable();
      if (!fallback) {
        try {
          return await FaceVerifier.#start.call(this, true, urls, { ...options, threads: wanted });
        } catch (error) {
          // A browser without wasm threads: the one-thread build in a new worker, saying why.
          if (/** @type {Error} */ (error).name !== 'THREADS_UNAVAILABLE') throw error;
          fallback = /** @type {Error} */ (error).message;
        }
      }
    }
    // (Called on `this`, a subclass in Node: private statics live on this class alone.)
    const verifier = await FaceVerifier.#start.call(this, false, urls, { ...options, threads: 1 });
    verifier.backend = { .../** @type {import('./protocol.js').Backend} */ (verifier.backend), fallback };
    return verifier;
  }

  /**
   * @template {typeof FaceVerifier} T
   * @this {T}
   * @param {boolean} threaded
   * @param {{modelsUrl?: string, wasmUrl?: string}} urls
   * @param {LoadOptions} options
   * @returns {Promise<InstanceType<T>>}
   */
  static async #start(threaded, urls, options) {
    const verifier = /** @type {InstanceType<T>} */ (new this(await this.connect(threaded)));
    verifier.#urls = urls;
    try {
      await verifier.#load(options);
    } catch (error) {
      verifier.terminate();
      throw error;
    }
    return verifier;
  }

  /**
   * The thread the core runs in: a module Web Worker with the threaded build or the
   * one-thread one (Node's entry, node.js, overrides this). Each is named in full so that
   * bundlers find both.
   * @param {boolean} [threaded]
   * @returns {Promise<Port>}
   */
  static async connect(threaded = false) {
    return threaded
      ? new Worker(new URL('./worker-threads.js', import.meta.url), { type: 'module' })
      : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  }

  /**
   * Why this environment cannot run the threaded build, or null if it may (it is tried).
   * @returns {string | null}
   */
  static threadsUnavailable() {
    if (!globalThis.crossOriginIsolated) return 'not cross-origin isolated (COOP/COEP headers): no shared memory for threads';
    return relaxedSimd() ? null : 'no relaxed SIMD in this browser, which the threaded build needs';
  }

  /** What relative `modelsUrl` / `wasmUrl` are resolved against: the page. @returns {string} */
  static base() {
    return globalThis.location?.href ?? import.meta.url;
  }

  /**
   * Switch detector and/or recognition model. On failure the loaded ones stay. A new
   * recognition model starts with an empty gallery (embeddings are per model).
   * @param {{detector?: string, model?: string, onProgress?: (loaded: number, total: number) => void}} options
   */
  async reload({ detector, model, onProgress }) {
    return this.#load({ detector, model, onProgress });
  }

  /**
   * The worker's first load also picks the build and its threads; later ones keep them.
   * @param {{detector?: string, model?: string, threads?: number, relaxedSimd?: boolean,
   *          onProgress?: (loaded: number, total: number) => void}} options
   */
  async #load({ detector, model, threads, relaxedSimd, onProgress }) {
    const { backend, ...models } = await this.#call({ type: 'load', ...this.#urls, detector, model, threads, relaxedSimd }, [], onProgress);
    this.backend = backend;
    this.models = models;
    return this.models;
  }

  /**
   * @param {object} request
   * @param {Transferable[]} transfer
   * @param {Function} [progress]
   * @returns {Promise<any>}
   */
  #call(request, transfer = [], progress) {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, progress });
      this.#worker.postMessage({ id, ...request }, transfer);
    });
  }

  /**
   * The image as the worker takes it; transferred, so callers' buffers are copied first.
   * @param {ImageInput} image
   * @returns {Promise<[import('./protocol.js').Image, Transferable[]]>}
   */
  static async #message(image) {
    if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) {
      // A closed (or transferred) bitmap cannot be posted; say so as the core would.
      if (image.width === 0) throw Object.assign(new Error('the ImageBitmap is closed (or was already handed over)'), { name: 'INVALID_INPUT' });
      return [image, [image]];
    }
    // Cloned on posting: the caller's ImageData stays usable.
    if (typeof ImageData !== 'undefined' && image instanceof ImageData) return [image, []];
    /** @type {ArrayBuffer} */ let bytes;
    if (typeof Blob !== 'undefined' && image instanceof Blob) bytes = await image.arrayBuffer();
    // Uint8Array's own slice copies (a Node Buffer's slice is a view of a shared pool).
    else if (image instanceof Uint8Array) bytes = Uint8Array.prototype.slice.call(image).buffer;
    else if (image instanceof ArrayBuffer) bytes = image.slice(0);
    else throw Object.assign(new Error('an image is a Blob, ArrayBuffer, Uint8Array, ImageData or ImageBitmap'), { name: 'INVALID_INPUT' });
    return [bytes, [bytes]];
  }

  /**
   * Detect all faces, each with its quality; align and embed the largest. With
   * `attributes` (any of 'age', 'gender', 'expression'), every face also gets those
   * estimates; their models (under 1 MB) are fetched on first use, never with `load`.
   * An `ImageBitmap` is transferred (unusable afterwards).
   * @param {ImageInput} image
   * @param {SourceOptions & {attributes?: Attribute[]}} [options]
   * @returns {Promise<Analysis>}
   */
  async analyze(image, { camera = false, attributes = [] } = {}) {
    const [message, transfer] = await FaceVerifier.#message(image);
    return this.#call({ type: 'analyze', image: message, camera, attributes }, transfer);
  }

  /**
   * Every face with its landmarks, best score first (no embedding: with `camera`, cheap
   * enough for every video frame).
   * @param {ImageInput} image
   * @param {SourceOptions} [options]
   * @returns {Promise<Face[]>}
   */
  async detect(image, { camera = false } = {}) {
    const [message, transfer] = await FaceVerifier.#message(image);
    return this.#call({ type: 'detect', image: message, camera }, transfer);
  }

  /**
   * The embedding of the largest face.
   * @param {ImageInput} image
   */
  async embed(image) {
    return Float32Array.from((await this.analyze(image)).embedding);
  }

  /**
   * Compare two embeddings. The threshold is the model's calibrated one for `metric`
   * unless given; with the two faces' `quality` (from their analyses) the verdict warns
   * when either is too poor to decide.
   * @param {ArrayLike<number>} a
   * @param {ArrayLike<number>} b
   * @param {CompareOptions & {quality?: [Quality | null | undefined, Quality | null | undefined]}} [options]
   * @returns {Promise<Verdict>}
   */
  compare(a, b, { metric = 'euclidean', threshold, quality } = {}) {
    const qualities = quality ? JSON.stringify(quality.map((q) => q ?? null)) : undefined;
    return this.#call({ type: 'verify', a: Float32Array.from(a), b: Float32Array.from(b), metric, threshold, qualities });
  }

  /**
   * Are the largest faces of `a` and `b` the same person?
   * @param {ImageInput} a
   * @param {ImageInput} b
   * @param {CompareOptions} [options]
   * @returns {Promise<Verdict & {analyses: [Analysis, Analysis]}>}
   */
  async verify(a, b, options = {}) {
    const analyses = /** @type {[Analysis, Analysis]} */ ([await this.analyze(a), await this.analyze(b)]);
    const verdict = await this.compare(analyses[0].embedding, analyses[1].embedding, { ...options, quality: chosenQuality(analyses) });
    return { ...verdict, analyses };
  }

  /**
   * Active liveness: ask the person in front of `video` (a playing camera stream) for
   * `count` head movements (2–4) in an order drawn with `crypto.getRandomValues`, or for
   * `actions` in the order given, each within `timeoutMs` of its prompt. The same face must
   * stay in view alone. Resolves when the challenge ends; `signal` aborts it (`code`
   * 'CANCELLED'). A passed result's embeddings can then be enrolled with `liveWithinMs`.
   * @param {HTMLVideoElement} video
   * @param {CompareOptions & {actions?: LivenessAction[], count?: number, timeoutMs?: number, signal?: AbortSignal,
   *          onProgress?: (progress: LivenessProgress, frame: LivenessFrame) => void}} [options]
   * @returns {Promise<LivenessResult>}
   */
  async liveness(video, { actions, count = 3, timeoutMs = 8000, signal, onProgress, metric = 'euclidean', threshold } = {}) {
    const random = crypto.getRandomValues(new Uint8Array(16));
    await this.#call({ type: 'liveness', op: 'start', actions, count, random, timeoutMs, metric, threshold });
    for (;;) {
      if (signal?.aborted) return (await this.#call({ type: 'liveness', op: 'cancel' })).result;
      await nextFrame(video);
      // A stream that has no picture (a camera switched, a track ended) is a frame without a
      // face: time runs on, and a face away too long fails the challenge.
      const bitmap = video.readyState >= 2 ? await createImageBitmap(video).catch(() => null) : null;
      const [width, height] = [bitmap?.width ?? 0, bitmap?.height ?? 0];
      const { progress, faces, chosen } = await this.#call({ type: 'liveness', op: 'frame', image: bitmap, time: performance.now() }, bitmap ? [bitmap] : []);
      onProgress?.(progress, { faces, chosen, width, height });
      if (progress.result) return progress.result;
    }
  }

  /**
   * The worker's wasm linear memory, bytes: the most it has needed so far (wasm memory
   * grows and is never given back), for pages that must stay within a budget — kiosks,
   * long camera sessions. The largest decodable image raises it to about 400 MB (README).
   * @returns {Promise<{wasm_bytes: number}>}
   */
  memoryUsage() {
    return this.#call({ type: 'memory' });
  }

  /** Stop the core's thread: pending and later calls fail with WORKER_FAILED. */
  terminate() {
    this.#worker.terminate();
    this.#worker.onerror?.({ message: 'terminate() was called' });
  }
}

/**
 * The quality of the face an analysis embedded (null for anything else with an embedding).
 * @param {Analysis} analysis
 * @returns {Quality | null}
 */
const qualityOf = (analysis) => analysis.faces?.[analysis.chosen]?.quality ?? null;

/** The video's next frame (requestVideoFrameCallback where there is one). @param {HTMLVideoElement} video */
const nextFrame = (video) => new Promise((resolve) => ('requestVideoFrameCallback' in video ? video.requestVideoFrameCallback(resolve) : requestAnimationFrame(resolve)));

/**
 * The quality of the face each of two analyses embedded.
 * @param {[Analysis, Analysis] | Analysis[]} analyses
 * @returns {[Quality | null, Quality | null]}
 */
export function chosenQuality([a, b]) {
  return [qualityOf(a), qualityOf(b)];
}

/**
 * Named identities for the loaded recognition model, searched 1:N in wasm. Every change
 * resolves to the new state, whose `json` is the gallery file to store or export:
 * `{"format": "faceverify-gallery", "format_version": 1, "model": "dlib-resnet",
 *   "embedding_size": 128, "identities": [{"name": "Ada", "embeddings": [[…128 numbers]]}]}`.
 */
export class GalleryClient {
  #call;

  /** @param {(request: object) => Promise<any>} call */
  constructor(call) {
    this.#call = call;
  }

  /** @returns {Promise<GalleryState>} */
  state() {
    return this.#call({ op: 'state' });
  }

  /**
   * Replace the gallery with a gallery file. A malformed file, or one made by another
   * model, is refused (GALLERY_INVALID) and the gallery stays as it was.
   * @param {string} json
   * @returns {Promise<GalleryState>}
   */
  import(json) {
    return this.#call({ op: 'import', json });
  }

  /**
   * Add faces to `name` (created if new): embeddings, or analyses, whose faces must reach
   * `minQuality` (0–1; default the enrolment bar, 0.5) or nothing is enrolled (LOW_QUALITY,
   * saying why). Raw embeddings carry no quality: the caller vouches for them.
   * `liveWithinMs`: every face must be one that passed {@link FaceVerifier#liveness} in this
   * verifier within that many ms (a liveness result's `embedding` or `embeddings`), or
   * nothing is enrolled (NOT_LIVE).
   * @param {string} name
   * @param {Enrolment[]} items
   * @param {{minQuality?: number, liveWithinMs?: number}} [options]
   * @returns {Promise<GalleryState>}
   */
  enroll(name, items, { minQuality, liveWithinMs } = {}) {
    const faces = items.map((item) => ('embedding' in item
      ? { embedding: Array.from(item.embedding), quality: qualityOf(item) }
      : { embedding: Array.from(/** @type {ArrayLike<number>} */ (item)), quality: null }));
    return this.#call({
      op: 'enroll', name, minQuality, liveWithinMs,
      embeddings: faces.map((f) => f.embedding),
      qualities: faces.map((f) => (f.quality ? JSON.stringify(f.quality) : null)),
    });
  }

  /** @param {string} from @param {string} to @returns {Promise<GalleryState>} */
  rename(from, to) {
    return this.#call({ op: 'rename', from, to });
  }

  /** @param {string} name @returns {Promise<GalleryState>} */
  remove(name) {
    return this.#call({ op: 'remove', name });
  }

  /** @returns {Promise<GalleryState>} */
  clear() {
    return this.#call({ op: 'clear' });
  }

  /**
   * Identities ranked by their closest embedding to `embedding` (mean distance too): the
   * `limit` closest, or all.
   * @param {ArrayLike<number>} embedding
   * @param {CompareOptions & {limit?: number}} [options]
   * @returns {Promise<Match[]>}
   */
  find(embedding, { metric = 'euclidean', threshold, limit } = {}) {
    return this.#call({ op: 'find', embedding: Array.from(embedding), metric, threshold, limit });
  }
}
