// Inputs from the field, through the page's own paths: the same file as a Blob, as an
// ImageBitmap and as canvas ImageData must give the CLI's answer (EXIF orientations 1–8 turned
// once, transparency, 1-bit images); model files replaced by what a misconfigured server sends
// are refused and never cached; the worker keeps working after every kind of error.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, before, test } from 'node:test';
import { launchChromium, openApp, pageErrors, root, startServer, until } from './helpers.mjs';

const cli = process.env.FACEVERIFY_BIN ?? join(root, 'target/release/faceverify');
const fixtures = join(root, 'target/fixtures');

let server;
let context;
let page;

/** Serve target/fixtures at /fixtures/ to `target` (a page or context). */
async function serveFixtures(target) {
  await target.route('**/fixtures/**', async (route) => {
    const path = decodeURIComponent(new URL(route.request().url()).pathname.replace(/^\/fixtures\//, ''));
    const body = await readFile(join(fixtures, path)).catch(() => null);
    if (!body) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ body, contentType: 'application/octet-stream', headers: { 'Cross-Origin-Resource-Policy': 'same-origin' } });
  });
}

before(async () => {
  server = await startServer();
  // No service worker: its fetches would bypass the routes.
  context = await launchChromium([], { serviceWorkers: 'block' });
  await serveFixtures(context);
  page = await openApp(context, server.url);
  await page.evaluate(async () => {
    const { FaceVerifier } = await import('faceverify');
    window.fv = await FaceVerifier.load();
  });
});

after(async () => {
  await context?.close();
  server?.stop();
});

/** The CLI's answer for each fixture: its box and embedding, or its error code. */
function cliAnswers(names) {
  const lines = execFileSync(cli, ['embed', ...names.map((n) => join(fixtures, n)), '--json'], { encoding: 'utf8' }).trim().split('\n');
  return Object.fromEntries(
    lines.map((line, i) => {
      const r = JSON.parse(line);
      return [names[i], r.error ? { error: r.code } : { box: r.face.box, embedding: r.embedding, rotation: r.face.rotation }];
    }),
  );
}

/** Each fixture analysed in the page as a Blob, an ImageBitmap and canvas ImageData. */
function browserAnswers(names) {
  return page.evaluate(async (names) => {
    const settle = (promise) =>
      promise.then(
        (a) => ({ box: a.faces[a.chosen].box, embedding: a.embedding, rotation: a.rotation }),
        (e) => ({ error: e.name }),
      );
    const out = {};
    for (const name of names) {
      const blob = await (await fetch(`/fixtures/${name}`)).blob();
      const imageData = async () => {
        const bitmap = await createImageBitmap(blob);
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext('2d');
        ctx.drawImage(bitmap, 0, 0);
        bitmap.close();
        return ctx.getImageData(0, 0, canvas.width, canvas.height);
      };
      out[name] = {
        blob: await settle(window.fv.analyze(blob)),
        bitmap: await settle(createImageBitmap(blob).then((b) => window.fv.analyze(b))),
        imageData: await settle(imageData().then((d) => window.fv.analyze(d))),
      };
    }
    return out;
  }, names);
}

const euclidean = (a, b) => Math.sqrt(a.reduce((sum, v, i) => sum + (v - b[i]) ** 2, 0));
const boxShift = (a, b) => Math.max(...['x', 'y', 'width', 'height'].map((k) => Math.abs(a[k] - b[k])));

test('Blob, ImageBitmap and ImageData give the CLI answer', async () => {
  const names = [
    ...Array.from({ length: 8 }, (_, i) => `exif/orientation-${i + 1}.jpg`),
    'cutouts/hiding-black.png', 'cutouts/hiding-noise.png', 'png-rgba.png', 'png-bilevel-dithered.png',
    'bad/png-fully-transparent.png',
  ];
  const expected = cliAnswers(names);
  const found = await browserAnswers(names);
  const upright = expected['exif/orientation-1.jpg'];
  for (const name of names) {
    const want = expected[name];
    for (const path of ['blob', 'bitmap', 'imageData']) {
      const got = found[name][path];
      if (want.error) {
        console.log(`${name} as ${path}: ${got.error ?? 'a face'} (CLI: ${want.error})`);
        assert.equal(got.error, want.error, `${name} as ${path}`);
        continue;
      }
      assert.equal(got.error, undefined, `${name} as ${path}: ${got.error}`);
      const distance = euclidean(got.embedding, want.embedding);
      const shift = boxShift(got.box, want.box);
      console.log(`${name} as ${path}: ${distance.toFixed(4)} from the CLI's embedding, box within ${shift.toFixed(2)} px, turned ${got.rotation}°`);
      // Encoded bytes go through the core's decoder and match the CLI exactly. Bitmaps and
      // ImageData hold what Chromium decoded: its JPEG decoder upsamples chroma differently
      // (≈ 0.03 apart here, a twentieth of the threshold), and bitmaps and canvases store
      // semi-transparent pixels premultiplied (png-rgba.png, alpha 200: ±1 level).
      const exact = path === 'blob' || (name.endsWith('.png') && name !== 'png-rgba.png');
      const [maxDistance, maxShift] = exact ? [1e-3, 0.05] : [0.06, 3];
      assert.ok(distance <= maxDistance, `${name} as ${path}: ${distance}`);
      assert.ok(shift <= maxShift, `${name} as ${path}: box moved ${shift} px`);
      // Turned once, by the tag: never again by the detector's turned-photo search.
      assert.equal(got.rotation, 0, `${name} as ${path}`);
      if (name.startsWith('exif/')) assert.ok(boxShift(got.box, upright.box) <= 3, `${name} as ${path}: not upright`);
    }
  }
});

test('model files a server sends by mistake are refused, never cached, and a reload recovers; ONNX files an earlier version cached are dropped', async () => {
  const serverless = await launchChromium([], { serviceWorkers: 'block' });
  try {
    const tab = await openApp(serverless, server.url);
    const model = await readFile(join(root, 'models/build/onnx/dlib-resnet.nnef.tar'));
    // The right network as its ONNX file: the wasm reads NNEF only, and says which file it wants.
    const onnx = await readFile(join(root, 'models/build/onnx/dlib-resnet.onnx'));
    const cases = [
      ['HTML page', '<!DOCTYPE html><html><body>404 Not Found</body></html>', 'text/html'],
      ['JSON', '{"error": "not found"}', 'application/json'],
      ['empty', '', 'application/octet-stream'],
      ['truncated', model.subarray(0, model.length >> 1), 'application/octet-stream'],
      ['NNEF files only', onnx, 'application/octet-stream'],
    ];
    const cachedModels = () =>
      tab.evaluate(async () => (await (await caches.open('faceverify-models')).keys()).map((r) => new URL(r.url).pathname));
    // The page stores its downloads just after ready: once it has, they are dropped, and the
    // recognition model comes from the network again below (what a load cached is dropped
    // when a file it used cannot be trusted).
    const hasModel = (/** @type {string[]} */ cached) => cached.some((p) => p.includes('dlib-resnet'));
    await until(cachedModels, hasModel);
    await tab.evaluate(async () => caches.delete('faceverify-models'));
    for (const [label, body, contentType] of cases) {
      await serverless.route('**/models/dlib-resnet.nnef.tar*', (route) => route.fulfill({ body, contentType }));
      const error = await tab.evaluate(async () => {
        const { FaceVerifier } = await import('faceverify');
        return FaceVerifier.load().then(
          (v) => (v.terminate(), 'loaded'),
          (e) => ({ name: e.name, message: e.message }),
        );
      });
      console.log(`${label}: ${error.name}: ${error.message}`);
      assert.equal(error.name, 'MODEL_INVALID', label);
      if (label !== 'truncated') assert.match(error.message, new RegExp(label === 'empty' ? 'empty' : label), label);
      assert.deepEqual((await cachedModels()).filter((p) => p.includes('dlib-resnet')), [], `${label} was cached`);
      await serverless.unroute('**/models/dlib-resnet.nnef.tar*');
    }
    // A plain reload with the server right again: the app loads and caches the real file.
    await tab.reload();
    await tab.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
    const cached = await until(cachedModels, hasModel);
    console.log('cached after the reload:', cached.join(', '));
    // A returning visitor of a version that downloaded ONNX files: the next download stored
    // drops them (the wasm reads NNEF only).
    const stale = `${server.url}faceverify/models/dlib-resnet.onnx?sha256=7de887749d610c584deede5a1d99df8bb820ed667499d009af1e71d110f4ed30`;
    await tab.evaluate(async (url) => {
      const cache = await caches.open('faceverify-models');
      await cache.put(url, new Response('old'));
      for (const key of await cache.keys()) if (key.url.includes('blazeface-back')) await cache.delete(key);
    }, stale);
    await tab.reload();
    await tab.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
    const after = await until(cachedModels, (paths) => paths.some((p) => p.includes('blazeface-back')));
    assert.ok(!after.some((p) => p.endsWith('.onnx')), `an ONNX file stayed cached: ${after.join(', ')}`);
  } finally {
    await serverless.close();
  }
});

/** A PNG that claims `side`×`side` pixels in its header and holds 1 (a decompression bomb's header). */
async function pngClaiming(side) {
  const bytes = Buffer.from(await readFile(join(fixtures, 'png-rgb8.png')));
  bytes.writeUInt32BE(side, 16);
  bytes.writeUInt32BE(side, 20);
  bytes.writeUInt32BE(crc32(bytes.subarray(12, 29)), 29);
  return [...bytes];
}

test('the worker keeps working after every kind of error', async () => {
  const results = await page.evaluate(async (bombBytes) => {
    const v = window.fv;
    const good = await (await fetch('/fixtures/jpeg-baseline.jpg')).arrayBuffer();
    const reference = (await v.analyze(good)).embedding;
    const jpeg = new Uint8Array(good);
    const closed = await createImageBitmap(new Blob([good]));
    closed.close();
    const bomb = new Uint8Array(bombBytes);
    const heic = new Uint8Array([0, 0, 0, 24, ...new TextEncoder().encode('ftypheic'), 0, 0, 0, 0]);
    const cases = {
      'random bytes': () => v.analyze(new Uint8Array(1000).fill(7)),
      'empty bytes': () => v.analyze(new Uint8Array(0)),
      'truncated JPEG': () => v.analyze(jpeg.slice(0, jpeg.length >> 1)),
      HEIC: () => v.analyze(heic),
      'size bomb': () => v.analyze(bomb),
      'fully transparent': async () => v.analyze(await (await fetch('/fixtures/bad/png-fully-transparent.png')).blob()),
      'closed ImageBitmap': () => v.analyze(closed),
      '1×1 ImageData': () => v.analyze(new ImageData(1, 1)),
      'zero vectors': () => v.compare(new Float32Array(128), new Float32Array(128)),
      'NaN vector': () => v.compare(new Float32Array(128).fill(NaN), reference),
      'unknown metric': () => v.compare(reference, reference, { metric: 'manhattan' }),
      'malformed gallery': () => v.gallery.import('{"format": '),
      'unknown model': () => v.reload({ model: 'no-such-model' }),
    };
    const out = {};
    for (const [name, run] of Object.entries(cases)) {
      const error = await run().then(() => 'no error', (e) => e.name);
      const again = (await v.analyze(good)).embedding;
      out[name] = { error, after: Math.max(...again.map((x, i) => Math.abs(x - reference[i]))) };
    }
    return out;
  }, await pngClaiming(8000));
  const expected = {
    'random bytes': 'IMAGE_DECODE', 'empty bytes': 'IMAGE_DECODE', 'truncated JPEG': 'IMAGE_DECODE', HEIC: 'IMAGE_DECODE',
    'size bomb': 'IMAGE_TOO_LARGE', 'fully transparent': 'NO_FACE', 'closed ImageBitmap': 'INVALID_INPUT',
    '1×1 ImageData': 'NO_FACE', 'zero vectors': 'INVALID_INPUT', 'NaN vector': 'INVALID_INPUT',
    'unknown metric': 'INVALID_INPUT', 'malformed gallery': 'GALLERY_INVALID', 'unknown model': 'UNKNOWN_MODEL',
  };
  for (const [name, { error, after }] of Object.entries(results)) {
    console.log(`${name}: ${error}; the next analysis ${after.toExponential(1)} from the first`);
    assert.equal(error, expected[name], name);
    assert.equal(after, 0, `${name}: the worker answers differently afterwards`);
  }
});

test('the page threw no uncaught errors', () => {
  assert.deepEqual(pageErrors(page), []);
});
