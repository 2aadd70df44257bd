// @ts-check
// faceverify's browser API. Everything runs in a Web Worker on wasm; images and
// embeddings never leave the page.
//
//   import { FaceVerifier } from './faceverify.js';
//   const verifier = await FaceVerifier.load({ onProgress: (loaded, total) => {} });
//   const result = await verifier.verify(fileA, fileB);   // {verified, distance, threshold, ...}
//   const embedding = await verifier.embed(file);           // Float32Array(128)
//
// Errors are `Error`s whose `name` is a stable code: NO_FACE, IMAGE_DECODE,
// IMAGE_TOO_LARGE, MODEL_INVALID, UNKNOWN_MODEL, INFERENCE, INVALID_INPUT.

/**
 * @typedef {{x: number, y: number, width: number, height: number}} Box
 * @typedef {{name: string, x: number, y: number}} Keypoint
 * @typedef {{box: Box, score: number, keypoints: Keypoint[]}} Face
 * @typedef {{faces: Face[], chosen: number, embedding: number[]}} Analysis
 * @typedef {{verified: boolean, distance: number, threshold: number, metric: string, model: string}} Verdict
 * @typedef {Blob | ArrayBuffer | Uint8Array | ImageData} ImageInput
 */

export class FaceVerifier {
  /** @type {Worker} */ #worker;
  /** @type {Map<number, {resolve: Function, reject: Function, progress?: Function}>} */ #pending = new Map();
  #nextId = 1;
  /** The manifest entries of the loaded detector and recognition model. */
  models = /** @type {{detector: any, model: any} | null} */ (null);

  /** @param {Worker} worker */
  constructor(worker) {
    this.#worker = worker;
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
   * Start the worker and load the models.
   * @param {{baseUrl?: string | URL, detector?: string, model?: string,
   *          onProgress?: (loaded: number, total: number) => void}} [options]
   *   baseUrl: where `models/` is served (default: this module's folder).
   */
  static async load(options = {}) {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const verifier = new FaceVerifier(worker);
    const baseUrl = new URL(options.baseUrl ?? '.', import.meta.url).href;
    verifier.models = await verifier.#call(
      { type: 'load', baseUrl, detector: options.detector, model: options.model },
      [],
      options.onProgress,
    );
    return verifier;
  }

  /**
   * @param {object} request
   * @param {Transferable[]} transfer
   * @param {Function} [progress]
   */
  #call(request, transfer = [], progress) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, progress });
      this.#worker.postMessage({ id, ...request }, transfer);
    });
  }

  /**
   * Detect all faces; align and embed the largest.
   * @param {ImageInput} image
   * @returns {Promise<Analysis>}
   */
  async analyze(image) {
    if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
      const pixels = image.data.slice().buffer;
      return this.#call({ type: 'analyzeRgba', pixels, width: image.width, height: image.height }, [pixels]);
    }
    const bytes = image instanceof Blob ? await image.arrayBuffer() : image instanceof Uint8Array ? image.slice().buffer : image.slice(0);
    return this.#call({ type: 'analyze', image: bytes }, [bytes]);
  }

  /**
   * The embedding of the largest face.
   * @param {ImageInput} image
   */
  async embed(image) {
    return Float32Array.from((await this.analyze(image)).embedding);
  }

  /**
   * Compare two embeddings (or analyses).
   * @param {ArrayLike<number>} a
   * @param {ArrayLike<number>} b
   * @param {{metric?: string, threshold?: number}} [options]
   * @returns {Promise<Verdict>}
   */
  compare(a, b, { metric = 'euclidean', threshold } = {}) {
    return this.#call({ type: 'verify', a: Float32Array.from(a), b: Float32Array.from(b), metric, threshold });
  }

  /**
   * Are the largest faces of `a` and `b` the same person?
   * @param {ImageInput} a
   * @param {ImageInput} b
   * @param {{metric?: string, threshold?: number}} [options]
   * @returns {Promise<Verdict & {analyses: [Analysis, Analysis]}>}
   */
  async verify(a, b, options = {}) {
    const analyses = /** @type {[Analysis, Analysis]} */ ([await this.analyze(a), await this.analyze(b)]);
    const verdict = await this.compare(analyses[0].embedding, analyses[1].embedding, options);
    return { ...verdict, analyses };
  }

  /** Stop the worker; pending calls never settle. */
  terminate() {
    this.#worker.terminate();
  }
}
