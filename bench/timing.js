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
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** A 640×480 canvas with `bitmap` fitted in, aspect kept (as a webcam frame would be). */
export function frame640(/** @type {ImageBitmap} */ bitmap) {
  const canvas = document.createElement('canvas');
  [canvas.width, canvas.height] = [640, 480];
  const scale = Math.min(640 / bitmap.width, 480 / bitmap.height);
  const [w, h] = [bitmap.width * scale, bitmap.height * scale];
  /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true })).drawImage(bitmap, (640 - w) / 2, (480 - h) / 2, w, h);
  return canvas;
}

/** The bench photos as 640×480 frames. @param {string[]} urls */
export async function frames(...urls) {
  return Promise.all(urls.map(async (url) => frame640(await createImageBitmap(await (await fetch(url)).blob()))));
}

/** Publish the page's result (or error) for bench/run.mjs. @param {() => Promise<object>} main */
export function report(main) {
  main().then(
    (result) => {
      Object.assign(window, { benchResult: result });
      /** @type {HTMLElement} */ (document.getElementById('status')).textContent = JSON.stringify(result);
    },
    (error) => Object.assign(window, { benchResult: { error: String(error?.stack ?? error) } }),
  );
}
