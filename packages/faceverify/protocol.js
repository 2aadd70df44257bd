// @ts-check
// The messages between faceverify.js (page) and worker.js. Every request carries an id;
// every reply echoes it. Progress messages carry the id of the request they belong to.

/**
 * An image: encoded bytes (JPEG, PNG, WebP, GIF, BMP, TIFF), a bitmap, or canvas pixels.
 * @typedef {ArrayBuffer | ImageBitmap | ImageData} Image
 *
 * @typedef {{id: number, type: 'load', modelsUrl?: string, wasmUrl?: string, detector?: string, model?: string,
 *            threads?: number, relaxedSimd?: boolean}} LoadRequest
 *   modelsUrl: the models' folder (absolute; default the package's models/); wasmUrl: the
 *   folder of pkg/ and pkg-threads/ (default the package's). threads and wasmUrl: the first
 *   load picks the build and its pool size (see Backend); later loads keep them. relaxedSimd:
 *   false for the plain simd128 build where relaxed SIMD would run.
 * @typedef {{build: 'simd128' | 'relaxed-simd' | 'relaxed-simd-threads', threads: number, gemm: string,
 *            wasm: string, fallback: string | null}} Backend
 *   The wasm build the worker runs, its thread count and the f32 GEMM kernel tract runs in it
 *   (`faceverify_wasm_f32_6x8`, src/gemm.rs); wasm: the URL of its wasm file (what a page
 *   stores for offline use); fallback: why a wanted threaded build is not the one running
 *   (null when nothing was given up).
 * @typedef {{id: number, type: 'analyze', image: Image, camera?: boolean, attributes?: string[]}} AnalyzeRequest
 * @typedef {{id: number, type: 'detect', image: Image, camera?: boolean}} DetectRequest
 * @typedef {{id: number, type: 'verify', a: Float32Array, b: Float32Array, metric: string, threshold?: number,
 *            qualities?: string}} VerifyRequest
 *   qualities: JSON `[quality | null, quality | null]` of the two faces.
 * @typedef {{id: number, type: 'gallery'} & (
 *   {op: 'state' | 'clear'} |
 *   {op: 'import', json: string} |
 *   {op: 'enroll', name: string, embeddings: number[][], qualities?: (string | null)[], minQuality?: number,
 *    liveWithinMs?: number} |
 *   {op: 'rename', from: string, to: string} |
 *   {op: 'remove', name: string} |
 *   {op: 'find', embedding: number[], metric: string, threshold?: number, limit?: number})} GalleryRequest
 * @typedef {{id: number, type: 'memory'}} MemoryRequest
 * @typedef {{id: number, type: 'liveness', op: 'start', actions?: string[], count: number, random: Uint8Array,
 *            timeoutMs: number, metric: string, threshold?: number} |
 *           {id: number, type: 'liveness', op: 'frame', image: Image | null, time: number} |
 *           {id: number, type: 'liveness', op: 'cancel'}} LivenessRequest
 *   One challenge at a time; `start` replaces a running one. `frame`: a camera frame (an
 *   ImageBitmap or ImageData) seen at `time` (ms, performance.now()); null: the camera gave no
 *   picture (counted as a frame without a face).
 * @typedef {LoadRequest | AnalyzeRequest | DetectRequest | VerifyRequest | GalleryRequest | MemoryRequest |
 *           LivenessRequest} Request
 *
 * @typedef {{id: number, ok: true, value: any}} Success
 * @typedef {{id: number, ok: false, error: {name: string, message: string}}} Failure
 * @typedef {{id: number, progress: {loaded: number, total: number}}} Progress
 * @typedef {Success | Failure | Progress} Reply
 */

export {};
