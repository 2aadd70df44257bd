// The three wasm builds in real Chromium (which has relaxed SIMD): a cross-origin isolated page
// (the demo server's COOP/COEP) runs the threaded build on every core, `threads: 1` and a page
// without those headers run the one-thread relaxed-SIMD build, `relaxedSimd: false` the plain
// simd128 one (what Safari gets), and all of them give the CLI's embedding; the models download
// while the wasm is still on its way.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { faces, launchChromium, openApp, pageErrors, root, startServer } from './helpers.mjs';

const cli = process.env.FACEVERIFY_BIN ?? join(root, 'target/release/faceverify');
const photos = ['img1.jpg', 'img2.jpg'];

let server;
let context;

/** Serve the shared photos at /photos/ to every page of `target`. */
async function servePhotos(target) {
  await target.route('**/photos/**', async (route) => {
    const name = new URL(route.request().url()).pathname.replace(/^\/photos\//, '');
    return route.fulfill({ body: await readFile(join(faces, name)), contentType: 'image/jpeg', headers: { 'Cross-Origin-Resource-Policy': 'same-origin' } });
  });
}

/**
 * In `page`: load a FaceVerifier with `options`, analyse both photos (as files, the core's
 * own decoder, so the CLI's answer is exact) and compare them.
 */
function analyse(page, options) {
  return page.evaluate(async ({ options, photos }) => {
    const { FaceVerifier } = await import('faceverify');
    const v = await FaceVerifier.load(options);
    try {
      const embeddings = [];
      for (const name of photos) embeddings.push(Array.from((await v.analyze(await (await fetch(`/photos/${name}`)).blob())).embedding));
      const verdict = await v.compare(embeddings[0], embeddings[1]);
      return { backend: v.backend, embeddings, verified: verdict.verified, distance: verdict.distance, isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency };
    } finally {
      v.terminate();
    }
  }, { options, photos });
}

const maxDifference = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

before(async () => {
  server = await startServer();
  context = await launchChromium([], { serviceWorkers: 'block' });
  await servePhotos(context);
});

after(async () => {
  await context?.close();
  server?.stop();
});

test('the isolated demo runs threaded, threads: 1 the one-thread relaxed build, relaxedSimd: false simd128; all give the CLI embedding', async () => {
  const page = await openApp(context, server.url);
  const reference = execFileSync(cli, ['embed', ...photos.map((p) => join(faces, p)), '--json'], { encoding: 'utf8' })
    .trim().split('\n').map((line) => JSON.parse(line).embedding);
  const threaded = await analyse(page, {});
  const single = await analyse(page, { threads: 1 });
  const plain = await analyse(page, { relaxedSimd: false });
  console.log('default:', JSON.stringify(threaded.backend), 'threads: 1:', JSON.stringify(single.backend),
    'relaxedSimd: false:', JSON.stringify(plain.backend), `(${threaded.cores} cores)`);
  assert.equal(threaded.isolated, true, 'the demo server makes the page cross-origin isolated');
  const gemm = 'faceverify_wasm_f32_6x8';
  if (threaded.cores > 1) {
    const wasm = `${server.url}faceverify/pkg-threads/faceverify_bg.wasm`;
    assert.deepEqual(threaded.backend, { build: 'relaxed-simd-threads', threads: threaded.cores, gemm, wasm, fallback: null });
    assert.equal(await page.getAttribute('#status', 'data-backend'), 'relaxed-simd-threads');
    assert.match(await page.textContent('#status'), new RegExp(`wasm relaxed-simd-threads, ${threaded.cores} threads`));
  }
  assert.deepEqual(single.backend, { build: 'relaxed-simd', threads: 1, gemm, wasm: `${server.url}faceverify/pkg/faceverify_relaxed_bg.wasm`, fallback: null });
  assert.equal(plain.backend.build, 'simd128');
  assert.equal(plain.backend.wasm, `${server.url}faceverify/pkg/faceverify_bg.wasm`);
  assert.equal(plain.backend.gemm, gemm);
  assert.match(plain.backend.fallback, /relaxed SIMD/);
  for (const run of [threaded, single, plain]) {
    for (const [i, embedding] of run.embeddings.entries()) {
      const difference = maxDifference(embedding, reference[i]);
      console.log(`${run.backend.build}, ${photos[i]}: largest difference from the CLI ${difference.toExponential(2)}`);
      assert.ok(difference < 1e-4, `${run.backend.build} ${photos[i]}: ${difference}`);
    }
  }
  assert.equal(threaded.verified, true);
  assert.equal(single.verified, true);
  assert.equal(plain.verified, true);
  assert.ok(Math.abs(threaded.distance - single.distance) < 1e-4, `${threaded.distance} vs ${single.distance}`);
  assert.ok(Math.abs(plain.distance - single.distance) < 1e-4, `${plain.distance} vs ${single.distance}`);
  assert.deepEqual(pageErrors(page), []);
});

test('a page that is not cross-origin isolated gets the one-thread build and is told why', async () => {
  const plain = await launchChromium([], { serviceWorkers: 'block' });
  try {
    // The same server, with its isolation headers taken off every response (routes added
    // later are tried first: the photos' below).
    await plain.route(`${server.url}**`, async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      return route.fulfill({ response, headers });
    });
    await servePhotos(plain);
    const page = await plain.newPage();
    await page.goto(server.url);
    const run = await analyse(page, { threads: 2 });
    console.log('not isolated:', JSON.stringify(run.backend));
    assert.equal(run.isolated, false);
    assert.equal(run.backend.build, 'relaxed-simd');
    assert.equal(run.backend.threads, 1);
    assert.match(run.backend.fallback, /cross-origin isolated/);
    assert.equal(run.verified, true);
  } finally {
    await plain.close();
  }
});

test('the default models are requested before the wasm has arrived', async () => {
  const fresh = await launchChromium([], { serviceWorkers: 'block' });
  try {
    const defaults = (await import('../../packages/faceverify/pkg/default-models.js')).default.map((/** @type {any} */ m) => m.file);
    const requested = new Set();
    let allRequested = () => {};
    const modelsSeen = new Promise((resolve) => (allRequested = resolve));
    await fresh.route('**/faceverify/models/**', (route) => {
      requested.add(new URL(route.request().url()).pathname.split('/').pop());
      if (defaults.every((file) => requested.has(file))) allRequested(true);
      return route.continue();
    });
    // Every wasm response is held until the models have all been asked for (or 30 s: the
    // load that waits for the wasm first then proceeds, and fails below).
    const heldFor = [];
    await fresh.route('**/*_bg.wasm', async (route) => {
      heldFor.push(await Promise.race([modelsSeen, new Promise((resolve) => setTimeout(() => resolve(false), 30_000))]));
      return route.continue();
    });
    const page = await openApp(fresh, server.url);
    console.log(`wasm responses held: ${heldFor.length}; models requested meanwhile: ${[...requested].join(', ')}`);
    assert.ok(heldFor.length >= 1);
    assert.ok(heldFor.every(Boolean), 'a wasm response was held 30 s without the default models being requested');
    assert.deepEqual(pageErrors(page), []);
  } finally {
    await fresh.close();
  }
});

test('a thread count that is not a whole number from 1 to 1024 is INVALID_INPUT', async () => {
  const page = await openApp(context, server.url);
  const codes = await page.evaluate(async () => {
    const { FaceVerifier } = await import('faceverify');
    const out = [];
    for (const threads of [0, 1.5, -2, 2000, '2', NaN]) {
      out.push(await FaceVerifier.load({ threads }).then(() => 'loaded', (e) => e.name));
    }
    return out;
  });
  assert.deepEqual(codes, Array(6).fill('INVALID_INPUT'));
});
