// The demo server sends the wasm brotli-compressed (made at build time by tools/brotli.mjs) to
// clients that accept it, and what arrives is the build byte for byte; others get it plain.
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

/** GET `path` from the test server with `headers`: the raw body and the response headers. */
function fetchRaw(path, headers) {
  return new Promise((resolve, reject) => {
    get(new URL(path, server.url), { headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('the wasm goes out brotli-compressed to clients that accept it, identical once decoded', async () => {
  const built = await readFile(wasm);
  const packed = await fetchRaw('faceverify/pkg/faceverify_bg.wasm', { 'Accept-Encoding': 'gzip, deflate, br' });
  assert.equal(packed.headers['content-encoding'], 'br');
  assert.equal(packed.headers['content-type'], 'application/wasm');
  assert.equal(packed.headers.vary, 'Accept-Encoding');
  assert.equal(Number(packed.headers['content-length']), packed.body.length);
  assert.ok(brotliDecompressSync(packed.body).equals(built), 'the decoded wasm differs from the build');
  console.log(`wasm: ${(built.length / 1e6).toFixed(2)} MB, ${(packed.body.length / 1e6).toFixed(2)} MB over the wire`);
  const plain = await fetchRaw('faceverify/pkg/faceverify_bg.wasm', { 'Accept-Encoding': 'gzip' });
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.ok(plain.body.equals(built));
});

test('a .br older than its file is stale and not sent', async () => {
  const { mtime } = await stat(wasm);
  const later = new Date(mtime.getTime() + 60_000);
  await utimes(wasm, later, later);
  try {
    const response = await fetchRaw('faceverify/pkg/faceverify_bg.wasm', { 'Accept-Encoding': 'br' });
    assert.equal(response.headers['content-encoding'], undefined);
    assert.ok(response.body.equals(await readFile(wasm)));
  } finally {
    await utimes(wasm, mtime, mtime);
  }
});

test('Chromium loads the compressed wasm and the demo reaches ready', async () => {
  const context = await launchChromium([], { serviceWorkers: 'block' });
  try {
    const encodings = [];
    context.on('response', async (response) => {
      if (response.url().endsWith('.wasm')) encodings.push((await response.allHeaders())['content-encoding']);
    });
    const page = await openApp(context, server.url);
    assert.deepEqual(encodings, ['br']);
    assert.deepEqual(pageErrors(page), []);
  } finally {
    await context.close();
  }
});
