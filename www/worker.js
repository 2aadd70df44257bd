// @ts-check
// Runs the wasm core off the main thread: downloads the models, builds one Verifier, then
// answers requests (see protocol.js). The page never blocks on decoding or inference.
import init, { Verifier, modelManifest } from './pkg/faceverify.js';

/** @type {Promise<any> | null} */
let wasmReady = null;
/** @type {Verifier | null} */
let verifier = null;

/**
 * Fetch `url` fully, reporting bytes received against the total.
 * @param {string} url
 * @param {(loaded: number, total: number) => void} progress
 */
async function download(url, progress) {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw named('MODEL_INVALID', `cannot fetch ${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get('Content-Length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    progress(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/** @param {string} name @param {string} message */
function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** @param {import('./protocol.js').LoadRequest} request */
async function load(request) {
  wasmReady ??= init();
  await wasmReady;
  const manifest = JSON.parse(modelManifest());
  const pick = (/** @type {string} */ id) => {
    const spec = manifest.models.find((/** @type {any} */ m) => m.id === id);
    if (!spec) throw named('UNKNOWN_MODEL', `unknown model "${id}"`);
    return spec;
  };
  const specs = [pick(request.detector ?? manifest.default_detector), pick(request.model ?? manifest.default_embedder)];
  const sizes = [0, 0];
  const loaded = [0, 0];
  const report = () => postMessage({ id: request.id, progress: { loaded: loaded[0] + loaded[1], total: sizes[0] + sizes[1] } });
  const bytes = await Promise.all(
    specs.map((spec, i) =>
      download(new URL(`models/${spec.file}`, request.baseUrl).href, (done, total) => {
        loaded[i] = done;
        sizes[i] = total;
        report();
      }),
    ),
  );
  // Build the new pair before dropping the old: a failed load leaves the working one.
  const next = new Verifier(specs[0].id, bytes[0], specs[1].id, bytes[1]);
  verifier?.free();
  verifier = next;
  return { detector: specs[0], model: specs[1] };
}

/** @param {import('./protocol.js').Request} request */
async function handle(request) {
  if (request.type === 'load') return load(request);
  if (!verifier) throw named('NOT_LOADED', 'models are not loaded yet');
  switch (request.type) {
    case 'analyze':
      return JSON.parse(verifier.analyze(new Uint8Array(request.image)));
    case 'analyzeRgba':
      return JSON.parse(verifier.analyzeRgba(new Uint8Array(request.pixels), request.width, request.height));
    case 'verify':
      return JSON.parse(verifier.verify(request.a, request.b, request.metric, request.threshold));
    default:
      throw named('INVALID_INPUT', `unknown request type`);
  }
}

self.onmessage = async (/** @type {MessageEvent<import('./protocol.js').Request>} */ event) => {
  const request = event.data;
  try {
    postMessage({ id: request.id, ok: true, value: await handle(request) });
  } catch (e) {
    const error = /** @type {Error} */ (e);
    postMessage({ id: request.id, ok: false, error: { name: error.name ?? 'Error', message: error.message ?? String(e) } });
  }
};
