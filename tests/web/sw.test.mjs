// The demo's service worker and the wasm: it stores the wasm files for offline use (the
// offline test is in gallery.test.mjs) but leaves their requests to the browser, which keeps
// their compiled code, and stores a wasm file again after a rebuild.
import assert from 'node:assert/strict';
import { stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchChromium, openApp, pageErrors, root, startServer } from './helpers.mjs';

const wasm = join(root, 'packages/faceverify/pkg/faceverify_relaxed_bg.wasm');
/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;
/** @type {import('playwright-core').BrowserContext} */ let context;
/** @type {import('playwright-core').Page} */ let page;
/** @type {{url: string, fromServiceWorker: boolean}[]} */ const wasmResponses = [];

before(async () => {
  server = await startServer();
  context = await launchChromium();
  context.on('response', (response) => {
    if (/\.wasm(\?|$)/.test(response.url())) wasmResponses.push({ url: response.url(), fromServiceWorker: response.fromServiceWorker() });
  });
  page = await openApp(context, server.url);
});

after(async () => {
  await context?.close();
  server?.stop();
});

/** The ETag of the relaxed-SIMD wasm the service worker stored, or null. */
const storedTag = () =>
  page.evaluate(async () => (await (await caches.open('faceverify-shell')).match('/faceverify/pkg/faceverify_relaxed_bg.wasm'))?.headers.get('ETag') ?? null);

/** Poll `f` until `ok` holds for its value, for up to 30 s. @template T @param {() => Promise<T>} f @param {(v: T) => boolean} ok */
async function until(f, ok) {
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
    const value = await f();
    if (ok(value)) return value;
  }
  throw new Error('timed out');
}

test('the wasm files are stored, yet a return visit fetches them past the service worker', async () => {
  const tag = await until(storedTag, (t) => t !== null);
  assert.match(tag, /^"/);
  wasmResponses.length = 0;
  await page.reload();
  await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
  assert.ok(wasmResponses.length > 0, 'the return visit fetched a wasm file');
  assert.deepEqual(wasmResponses.filter((r) => r.fromServiceWorker), [], 'a wasm file came through the service worker');
});

test('after a rebuild, a visit stores the new wasm', async () => {
  const before = await storedTag();
  const files = [wasm, `${wasm}.br`];
  const times = await Promise.all(files.map((f) => stat(f)));
  const later = new Date(times[0].mtime.getTime() + 60_000);
  await Promise.all(files.map((f) => utimes(f, later, later)));
  try {
    await page.reload();
    await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
    const after = await until(storedTag, (t) => t !== before);
    const served = await fetch(`${server.url}faceverify/pkg/faceverify_relaxed_bg.wasm`, { method: 'HEAD', headers: { 'Accept-Encoding': 'br' } });
    assert.equal(after, served.headers.get('ETag'), 'the stored copy is the file the server now sends');
  } finally {
    await Promise.all(files.map((f, i) => utimes(f, times[i].atime, times[i].mtime)));
  }
});

test('the page threw no uncaught errors', () => {
  assert.deepEqual(pageErrors(page), []);
});
