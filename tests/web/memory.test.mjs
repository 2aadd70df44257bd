// Memory in a long-lived page: 200 verifies and 30 s of the live camera must not grow the
// JS heap (page and worker, after forced GCs) by 5 MB or the worker's wasm memory at all; and
// the largest images the decode budget admits stay within the stated peaks, natively and in
// wasm. FACEVERIFY_VERIFIES and FACEVERIFY_CAMERA_SECONDS lengthen the runs (a soak test; the
// defaults keep CI's time: a leak of wasm memory shows in any run, exact).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { faces, launchWithCamera, openApp, pageErrors, root, startServer } from './helpers.mjs';

const cli = process.env.FACEVERIFY_BIN ?? join(root, 'target/release/faceverify');
const verifies = Number(process.env.FACEVERIFY_VERIFIES ?? 200);
const cameraSeconds = Number(process.env.FACEVERIFY_CAMERA_SECONDS ?? 30);
const MB = 1e6;
/** The stated bounds (README, "Decode budget"). */
const JS_GROWTH_BOUND = 5 * MB;
const NATIVE_PEAK_BOUND = 512 * MB;
const WASM_PEAK_BOUND = 400 * MB;
const BIG = ['big/jpeg-50mp-exif6.jpg', 'big/png-rgba-50mp.png', 'big/png-rgba16-20mp.png'];

let server;
let context;
let page;

before(async () => {
  server = await startServer();
  // gc() in page and worker; measureUserAgentSpecificMemory answers at once.
  context = await launchWithCamera(['--js-flags=--expose-gc', '--enable-blink-features=ForceEagerMeasureMemory'], { serviceWorkers: 'block' });
  await context.route('**/files/**', async (route) => {
    const path = decodeURIComponent(new URL(route.request().url()).pathname.replace(/^\/files\//, ''));
    const file = path.startsWith('faces/') ? join(faces, path.slice('faces/'.length)) : join(root, 'target/fixtures', path);
    const body = await readFile(file).catch(() => null);
    if (!body) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ body, contentType: 'application/octet-stream', headers: { 'Cross-Origin-Resource-Policy': 'same-origin' } });
  });
  // The one-thread build throughout: the threaded one's pool workers wait inside wasm, and
  // measureUserAgentSpecificMemory waits 60 s for them to answer, every time.
  page = await openApp(context, `${server.url}?threads=1`);
});

after(async () => {
  await context?.close();
  server?.stop();
});

/**
 * JS heap of the page and its workers after two full GCs in each (a single one leaves
 * garbage that the next collects: one GC made a flat heap look like 12–18 MB of growth).
 */
async function jsHeapBytes() {
  for (const scope of [page, ...page.workers()]) await scope.evaluate(() => { gc(); gc(); });
  return page.evaluate(async () => (await performance.measureUserAgentSpecificMemory()).bytes);
}

test(`${verifies} verifies through the API leave JS heap and wasm memory flat`, async () => {
  await page.evaluate(async () => {
    const { FaceVerifier } = await import('faceverify');
    window.fv = await FaceVerifier.load({ threads: 1 });
    // Two 320×240 photos (as blobs), so that the verifies take a minute or so.
    window.photos = await Promise.all(
      ['img1.jpg', 'img2.jpg'].map(async (name) => {
        const bitmap = await createImageBitmap(await (await fetch(`/files/faces/${name}`)).blob());
        const canvas = new OffscreenCanvas(320, 240);
        const ctx = canvas.getContext('2d');
        const scale = Math.min(320 / bitmap.width, 240 / bitmap.height);
        ctx.drawImage(bitmap, 0, 0, bitmap.width * scale, bitmap.height * scale);
        return canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
      }),
    );
    // Every kind of input the API takes, in turn, and a camera-path detection each time.
    window.run = async (count) => {
      let verified = 0;
      for (let i = 0; i < count; i++) {
        const [a, b] = window.photos;
        const input = [
          () => a,
          () => createImageBitmap(a),
          async () => {
            const bitmap = await createImageBitmap(a);
            const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
            ctx.drawImage(bitmap, 0, 0);
            bitmap.close();
            return ctx.getImageData(0, 0, ctx.canvas.width, ctx.canvas.height);
          },
        ][i % 3];
        const verdict = await window.fv.verify(await input(), b);
        await window.fv.detect(await createImageBitmap(b), { camera: true });
        verified += verdict.verified ? 1 : 0;
      }
      return verified;
    };
  });
  assert.equal(await page.evaluate(() => window.run(20)), 20);
  const [heapBefore, wasmBefore] = [await jsHeapBytes(), (await page.evaluate(() => window.fv.memoryUsage())).wasm_bytes];
  const started = Date.now();
  assert.equal(await page.evaluate((n) => window.run(n), verifies), verifies);
  const seconds = (Date.now() - started) / 1000;
  const [heapAfter, wasmAfter] = [await jsHeapBytes(), (await page.evaluate(() => window.fv.memoryUsage())).wasm_bytes];
  console.log(
    `${verifies} verifies in ${seconds.toFixed(0)} s: JS heap (page + workers) ${(heapBefore / MB).toFixed(2)} → ${(heapAfter / MB).toFixed(2)} MB, ` +
      `wasm ${(wasmBefore / MB).toFixed(1)} → ${(wasmAfter / MB).toFixed(1)} MB`,
  );
  assert.ok(heapAfter - heapBefore < JS_GROWTH_BOUND, `JS heap grew ${(heapAfter - heapBefore) / MB} MB`);
  assert.equal(wasmAfter, wasmBefore, 'wasm memory grew');
  await page.evaluate(() => window.fv.terminate());
});

test(`${cameraSeconds} s of the live camera leave the JS heap flat`, async () => {
  await page.click('[data-testid="camera-toggle"]');
  await page.waitForFunction(() => /frames per second/.test(document.querySelector('[data-testid="fps"]').textContent), null, { timeout: 60_000 });
  await page.waitForTimeout(5000);
  const before = await jsHeapBytes();
  const frames = [];
  for (let s = 0; s < cameraSeconds; s += 5) {
    await page.waitForTimeout(5000);
    frames.push(Number.parseInt(await page.locator('[data-testid="fps"]').textContent(), 10));
  }
  const after = await jsHeapBytes();
  const fps = frames.reduce((a, b) => a + b, 0) / frames.length;
  console.log(`${cameraSeconds} s of camera at ${fps.toFixed(1)} fps (~${Math.round(fps * cameraSeconds)} frames): JS heap ${(before / MB).toFixed(2)} → ${(after / MB).toFixed(2)} MB`);
  assert.ok(fps >= 1, 'the camera loop ran');
  assert.ok(after - before < JS_GROWTH_BOUND, `JS heap grew ${(after - before) / MB} MB`);
  await page.click('[data-testid="camera-toggle"]');
});

test('the largest admitted images stay within the stated peak memory, natively and in wasm', async () => {
  // Natively: the CLI's peak resident memory (models included), as the kernel counts it.
  const python = join(root, '.venv/bin/python');
  const peak = 'import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)';
  for (const file of ['jpeg-baseline.jpg', ...BIG]) {
    const run = spawnSync(python, ['-c', peak, cli, 'embed', join(root, 'target/fixtures', file)], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const bytes = Number(run.stdout.trim());
    console.log(`native peak, ${file}: ${(bytes / MB).toFixed(0)} MB`);
    assert.ok(bytes <= NATIVE_PEAK_BOUND, `${file}: ${bytes / MB} MB`);
  }
  // In wasm: each file in a fresh worker; linear memory never shrinks, so its size is the peak.
  for (const file of ['jpeg-baseline.jpg', ...BIG]) {
    const { wasm, face } = await page.evaluate(async (file) => {
      const { FaceVerifier } = await import('faceverify');
      const v = await FaceVerifier.load({ threads: 1 });
      try {
        const analysis = await v.analyze(await (await fetch(`/files/${file}`)).blob());
        return { wasm: (await v.memoryUsage()).wasm_bytes, face: analysis.faces[analysis.chosen].box };
      } finally {
        v.terminate();
      }
    }, file);
    console.log(`wasm peak, ${file}: ${(wasm / MB).toFixed(0)} MB (face ${Math.round(face.width)} px wide)`);
    assert.ok(wasm <= WASM_PEAK_BOUND, `${file}: ${wasm / MB} MB`);
  }
});

test('the page threw no uncaught errors', () => {
  assert.deepEqual(pageErrors(page), []);
});
