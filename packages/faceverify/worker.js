// @ts-check
// The browser's thread for the core (engine.js) with the one-thread build: a module Web
// Worker that faceverify.js starts, so the page never blocks on decoding or inference.
import * as core from './pkg/faceverify.js';
import { serve } from './engine.js';

const handle = serve((message) => postMessage(message), { core });
self.onmessage = (/** @type {MessageEvent<import('./protocol.js').Request>} */ event) => handle(event.data);
