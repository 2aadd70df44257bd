// @ts-check
// The package's entry in Node (≥ 20): the same API as in browsers, with the core in a
// worker_threads Worker (node-worker.js) reading models and wasm from the package on disk.
// Images are encoded files (Buffer, Uint8Array, ArrayBuffer, Blob), decoded by the core.
//
//   import { readFile } from 'node:fs/promises';
//   import { FaceVerifier } from 'faceverify';
//   const verifier = await FaceVerifier.load();
//   console.log(await verifier.verify(await readFile('a.jpg'), await readFile('b.jpg')));
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FaceVerifier as Verifier } from './faceverify.js';

export { GalleryClient, chosenQuality } from './faceverify.js';

export class FaceVerifier extends Verifier {
  /**
   * The core's thread. It keeps the process alive only while a call is pending, so that a
   * script ends when its work does, without `terminate()`.
   * @returns {Promise<import('./faceverify.js').Port>}
   */
  static async connect() {
    const worker = new Worker(new URL('./node-worker.js', import.meta.url));
    worker.unref();
    let pending = 0;
    /** @type {((event: {data: any}) => void) | null} */ let listener = null;
    /** @type {((event: {message?: string}) => void) | null} */ let failure = null;
    worker.on('message', (data) => {
      if (!data.progress && --pending === 0) worker.unref();
      listener?.({ data });
    });
    worker.on('error', (error) => failure?.({ message: error.message }));
    worker.on('exit', (code) => failure?.({ message: `it exited with code ${code}` }));
    return {
      postMessage(message, transfer) {
        if (pending++ === 0) worker.ref();
        worker.postMessage(message, /** @type {any} */ (transfer));
      },
      get onmessage() {
        return listener;
      },
      set onmessage(value) {
        listener = value;
      },
      get onerror() {
        return failure;
      },
      set onerror(value) {
        failure = value;
      },
      terminate: () => void worker.terminate(),
    };
  }

  /** The threaded build's pool is made of Web Workers. */
  static threadsUnavailable() {
    return 'Node: the threaded build needs Web Workers for its pool';
  }

  /** Relative `modelsUrl` / `wasmUrl` are paths from the working directory. */
  static base() {
    return pathToFileURL(`${process.cwd()}/`).href;
  }
}
