// @ts-check
// The messages between faceverify.js (page) and worker.js. Every request carries an id;
// every reply echoes it. Progress messages carry the id of the request they belong to.

/**
 * @typedef {{id: number, type: 'load', baseUrl: string, detector?: string, model?: string}} LoadRequest
 * @typedef {{id: number, type: 'analyze', image: ArrayBuffer}} AnalyzeRequest
 * @typedef {{id: number, type: 'analyzeRgba', pixels: ArrayBuffer, width: number, height: number}} AnalyzeRgbaRequest
 * @typedef {{id: number, type: 'verify', a: Float32Array, b: Float32Array, metric: string, threshold?: number}} VerifyRequest
 * @typedef {LoadRequest | AnalyzeRequest | AnalyzeRgbaRequest | VerifyRequest} Request
 *
 * @typedef {{id: number, ok: true, value: any}} Success
 * @typedef {{id: number, ok: false, error: {name: string, message: string}}} Failure
 * @typedef {{id: number, progress: {loaded: number, total: number}}} Progress
 * @typedef {Success | Failure | Progress} Reply
 */

export {};
