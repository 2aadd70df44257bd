// The demo's service worker and the wasm: it stores the wasm the page runs for offline use
// (the offline test is in gallery.test.mjs), asked by the page after ready, but leaves its
// requests to the browser, which keeps their compiled code, and stores it again after a rebuild.
import assert from 'node:assert/strict';
import { stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchChromium, openApp, pageErrors, root, startServer, until } from './helpers.mjs';

/** The wasm file of each build, as served under /faceverify/. */
const WASM = {
  simd128: 'pkg/faceverify_bg.wasm',
  'relaxed-simd': 'pkg/faceverify_relaxed_bg.wasm',
  'relaxed-simd-threads': 'pkg-threads/faceverify_bg.wasm',
};
/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;
/** @type {import('playwright-core').BrowserContext} */ let context;
/** @type {import('playwright-core').Page} */ let page;
/** The page's build's wasm file. @type {string} */ let wasm;
/** @type {{url: string, fromServiceWorker: boolean}[]} */ const wasmResponses = [];

before(async () => {
  server = await startServer();
  context = await launchChromium();
  context.on('response', (response) => {
    if (/\.wasm(\?|$)/.test(response.url())) wasmResponses.push({ url: response.url(), fromServiceWorker: response.fromServiceWorker() });
  });
  page = await openApp(context, server.url);
  wasm = WASM[/** @type {keyof WASM} */ (await page.getAttribute('#status', 'data-backend'))];
});

after(async () => {
  await context?.close();
  server?.stop();
});

/** The ETag of each wasm file the service worker stored, by path under /faceverify/. */
const storedTags = () =>
  page.evaluate(async (files) => {
    const cache = await caches.open('faceverify-shell');
    /** @type {Record<string, string | null>} */ const tags = {};
    for (const file of files) tags[file] = (await cache.match(`/faceverify/${file}`))?.headers.get('ETag') ?? null;
    return tags;
  }, Object.values(WASM));

test("the page's wasm is stored, and only it, yet a return visit fetches it past the service worker", async () => {
  const tags = await until(storedTags, (t) => t[wasm] !== null);
  assert.match(/** @type {string} */ (tags[wasm]), /^"/);
  assert.deepEqual(Object.entries(tags).filter(([file, tag]) => file !== wasm && tag !== null), [], 'another build was stored');
  wasmResponses.length = 0;
  await page.reload();
  await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
  assert.deepEqual(wasmResponses.map((r) => new URL(r.url).pathname), [`/faceverify/${wasm}`], 'the return visit fetched its wasm');
  assert.deepEqual(wasmResponses.filter((r) => r.fromServiceWorker), [], 'a wasm file came through the service worker');
});

test('after a rebuild, a visit stores the new wasm', async () => {
  const before = (await storedTags())[wasm];
  const files = [join(root, 'packages/faceverify', wasm)].flatMap((f) => [f, `${f}.br`]);
  const times = await Promise.all(files.map((f) => stat(f)));
  const later = new Date(times[0].mtime.getTime() + 60_000);
  await Promise.all(files.map((f) => utimes(f, later, later)));
  try {
    await page.reload();
    await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
    const after = (await until(storedTags, (t) => t[wasm] !== before))[wasm];
    const served = await fetch(`${server.url}faceverify/${wasm}`, { method: 'HEAD', headers: { 'Accept-Encoding': 'br' } });
    assert.equal(after, served.headers.get('ETag'), 'the stored copy is the file the server now sends');
  } finally {
    await Promise.all(files.map((f, i) => utimes(f, times[i].atime, times[i].mtime)));
  }
});

test('the page threw no uncaught errors', () => {
  assert.deepEqual(pageErrors(page), []);
});
