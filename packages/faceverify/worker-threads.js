// @ts-check
// As worker.js, with the threaded build (its pool: wasm-bindgen-rayon's Web Workers), which
// faceverify.js starts on cross-origin isolated pages.
import * as core from './pkg-threads/faceverify.js';
import { serve } from './engine.js';

const handle = serve((message) => postMessage(message), { core, threaded: true });
self.onmessage = (/** @type {MessageEvent<import('./protocol.js').Request>} */ event) => handle(event.data);
