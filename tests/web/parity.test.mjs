// Native vs wasm: the same image gives the same embedding (within 1e-4) from the CLI and
// from the wasm build run in Node.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { faces, root } from './helpers.mjs';
import init, { Verifier, modelManifest } from '../../www/pkg/faceverify.js';

const cli = process.env.FACEVERIFY_BIN ?? join(root, 'target/release/faceverify');

test('wasm and native embeddings agree within 1e-4', async () => {
  await init({ module_or_path: await readFile(join(root, 'www/pkg/faceverify_bg.wasm')) });
  const manifest = JSON.parse(modelManifest());
  const spec = (id) => manifest.models.find((m) => m.id === id);
  const [detector, model] = [spec(manifest.default_detector), spec(manifest.default_embedder)];
  const bytes = (m) => readFile(join(root, 'models/build/onnx', m.file));
  const verifier = new Verifier(detector.id, await bytes(detector), model.id, await bytes(model));
  let worst = 0;
  for (const file of ['img1.jpg', 'img3.jpg', 'img22.jpg']) {
    const path = join(faces, file);
    const wasm = verifier.analyze(await readFile(path)).embedding;
    const native = JSON.parse(execFileSync(cli, ['embed', path, '--json'])).embedding;
    assert.equal(wasm.length, 128);
    assert.equal(native.length, 128);
    const diff = Math.max(...wasm.map((v, i) => Math.abs(v - native[i])));
    console.log(`${file}: max |wasm - native| = ${diff.toExponential(2)}`);
    worst = Math.max(worst, diff);
  }
  assert.ok(worst <= 1e-4, `max difference ${worst}`);
  verifier.free();
});
