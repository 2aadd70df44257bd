// @ts-check
// What every bench page shares: run parameters from the URL, the median timer, and the
// 640×480 test frame. bench/run.mjs serves the photos at ./photo.jpg and ./photo2.jpg.

const params = new URLSearchParams(location.search);
export const runs = Number(params.get('runs') ?? 30);
export const warmUpMs = Number(params.get('warmup') ?? 4000);

/**
 * Median wall time of `f` in ms. V8 tiers wasm up after dozens of calls, so timing starts
 * only after `warmUpMs` of calls. `f` may be async (peers' APIs are).
 * @param {() => unknown} f
 */
export async function medianMs(f) {
  const start = performance.now();
  while (performance.now() - start < warmUpMs) await f();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** The median of `values` (sorted in place). @param {number[]} values */
export function median(values) {
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}

/**
 * A 640×480 canvas with `bitmap` fitted in, aspect kept (as a webcam frame would be): an
 * HTML canvas on a page (the peers draw from it), an OffscreenCanvas in a worker.
 */
export function frame640(/** @type {ImageBitmap} */ bitmap) {
  const canvas = typeof document === 'undefined' ? new OffscreenCanvas(640, 480) : document.createElement('canvas');
  [canvas.width, canvas.height] = [640, 480];
  const scale = Math.min(640 / bitmap.width, 480 / bitmap.height);
  const [w, h] = [bitmap.width * scale, bitmap.height * scale];
  /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true })).drawImage(bitmap, (640 - w) / 2, (480 - h) / 2, w, h);
  return /** @type {HTMLCanvasElement} */ (canvas);
}

/** The bench photos as 640×480 frames. @param {string[]} urls */
export async function frames(...urls) {
  return Promise.all(urls.map(async (url) => frame640(await createImageBitmap(await (await fetch(url)).blob()))));
}

/**
 * Publish the result (or error) for bench/run.mjs: as `window.benchResult` on a page, posted
 * to the page from a worker ({@link inWorker}).
 * @param {() => Promise<object>} main
 */
export function report(main) {
  const publish = (/** @type {object} */ result) => {
    if (typeof document === 'undefined') return postMessage(result);
    Object.assign(window, { benchResult: result });
    /** @type {HTMLElement} */ (document.getElementById('status')).textContent = JSON.stringify(result);
  };
  main().then(publish, (error) => publish({ error: String(error?.stack ?? error) }));
}

/**
 * Run the module `url` (with this page's query) as a module worker and publish what it
 * reports: the threaded wasm blocks its caller while the pool works, which a page's main
 * thread may not do.
 * @param {string | URL} url
 */
export function inWorker(url) {
  const worker = new Worker(new URL(`${new URL(url).pathname}${location.search}`, location.href), { type: 'module' });
  report(() => new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => resolve(data);
    worker.onerror = (event) => reject(new Error(event.message));
  }));
}
