// The demo server sends the wasm and the models brotli-compressed (made at build time by
// tools/brotli.mjs) to clients that accept it, and what arrives is the build byte for byte;
// others get them plain. The demo's download progress still counts the files' own bytes. An
// unchanged file is revalidated without being sent again.
import assert from 'node:assert/strict';
import { readFile, stat, utimes } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { brotliDecompressSync } from 'node:zlib';
import { launchChromium, openApp, pageErrors, root, startServer } from './helpers.mjs';

const wasm = join(root, 'packages/faceverify/pkg/faceverify_bg.wasm');
let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** GET `path` from the test server with `headers`: the status, the raw body and the response headers. */
function fetchRaw(path, headers) {
  return new Promise((resolve, reject) => {
    get(new URL(path, server.url), { headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

const model = join(root, 'models/build/onnx/dlib-resnet.onnx');
for (const [label, file, path, type] of [
  ['the wasm', wasm, 'faceverify/pkg/faceverify_bg.wasm', 'application/wasm'],
  ['a model', model, 'faceverify/models/dlib-resnet.onnx', 'application/octet-stream'],
]) {
  test(`${label} goes out brotli-compressed to clients that accept it, identical once decoded`, async () => {
    const built = await readFile(file);
    const packed = await fetchRaw(path, { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(packed.headers['content-encoding'], 'br');
    assert.equal(packed.headers['content-type'], type);
    assert.equal(packed.headers.vary, 'Accept-Encoding');
    assert.equal(Number(packed.headers['content-length']), packed.body.length);
    assert.ok(brotliDecompressSync(packed.body).equals(built), `the decoded ${path} differs from the build`);
    console.log(`${path}: ${(built.length / 1e6).toFixed(2)} MB, ${(packed.body.length / 1e6).toFixed(2)} MB over the wire`);
    const plain = await fetchRaw(path, { 'Accept-Encoding': 'gzip' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.equals(built));
  });
}

/** Run `check` with the wasm's mtime a minute later (as if rebuilt: its .br now stale), then put it back. */
async function asRebuilt(check) {
  const { mtime } = await stat(wasm);
  const later = new Date(mtime.getTime() + 60_000);
  await utimes(wasm, later, later);
  try {
    await check();
  } finally {
    await utimes(wasm, mtime, mtime);
  }
}

test('a .br older than its file is stale and not sent', () =>
  asRebuilt(async () => {
    const response = await fetchRaw('faceverify/pkg/faceverify_bg.wasm', { 'Accept-Encoding': 'br' });
    assert.equal(response.headers['content-encoding'], undefined);
    assert.ok(response.body.equals(await readFile(wasm)));
  }));

test('an unchanged file is revalidated with a 304 and no body; a changed one is sent again', async () => {
  const path = 'faceverify/pkg/faceverify_bg.wasm';
  const first = await fetchRaw(path, { 'Accept-Encoding': 'br' });
  const etag = first.headers.etag;
  assert.match(etag ?? '', /^"[0-9a-f]+-[0-9a-f]+-br"$/);
  const again = await fetchRaw(path, { 'Accept-Encoding': 'br', 'If-None-Match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal(again.headers.etag, etag);
  // The plain file is another representation, with a tag of its own.
  const plain = await fetchRaw(path, { 'Accept-Encoding': 'gzip', 'If-None-Match': etag });
  assert.equal(plain.status, 200);
  assert.ok(plain.body.equals(await readFile(wasm)));
  assert.notEqual(plain.headers.etag, etag);
  // Rebuilt: sent in full, plain, under a new tag.
  await asRebuilt(async () => {
    const rebuilt = await fetchRaw(path, { 'Accept-Encoding': 'br', 'If-None-Match': etag });
    assert.equal(rebuilt.status, 200);
    assert.ok(rebuilt.body.equals(await readFile(wasm)));
    assert.notEqual(rebuilt.headers.etag, etag);
  });
});

test('Chromium loads the compressed wasm and models, the demo reaches ready, its progress in the files\' bytes', async () => {
  const context = await launchChromium([], { serviceWorkers: 'block' });
  try {
    const encodings = { wasm: [], models: [] };
    context.on('response', async (response) => {
      const kind = response.url().endsWith('.wasm') ? 'wasm' : response.url().includes('/faceverify/models/') ? 'models' : null;
      if (kind) encodings[kind].push((await response.allHeaders())['content-encoding']);
    });
    const page = await openApp(context, server.url);
    const defaults = (await import('../../packages/faceverify/pkg/default-models.js')).default;
    assert.deepEqual(encodings, { wasm: ['br'], models: defaults.map(() => 'br') });
    // Content-Length counts the compressed bytes; the progress the decoded ones, of the
    // manifest's sizes: it ends full, not past its end.
    const bar = await page.evaluate(() => {
      const progress = /** @type {HTMLProgressElement} */ (document.getElementById('progress'));
      return { value: progress.value, max: progress.max };
    });
    const total = defaults.reduce((sum, m) => sum + m.bytes, 0);
    console.log(`progress ${bar.value} of ${bar.max}; the default models hold ${total} bytes`);
    assert.deepEqual(bar, { value: total, max: total });
    assert.deepEqual(pageErrors(page), []);
  } finally {
    await context.close();
  }
});
