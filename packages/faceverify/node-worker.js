// @ts-check
// Node's thread for the core (engine.js): a worker_threads Worker that node.js starts; the
// models and the wasm are read from disk, images are decoded by the core.
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { serve } from './engine.js';
import * as core from './pkg/faceverify.js';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const handle = serve((message) => port.postMessage(message), { core, readFile: async (url) => new Uint8Array(await readFile(url)) });
port.on('message', handle);
