// Native vs wasm: the same image gives the same embedding (within 1e-4) from the CLI and
// from the wasm build run in Node; the wasm gallery search (its own simd128 int8 kernel)
// finds what a brute-force search in JS finds.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { faces, root } from './helpers.mjs';
import init, { Gallery, Verifier, attributeModels, modelSet } from '../../packages/faceverify/pkg/faceverify.js';

const cli = process.env.FACEVERIFY_BIN ?? join(root, 'target/release/faceverify');

test('wasm and native embeddings agree within 1e-4', async () => {
  await init({ module_or_path: await readFile(join(root, 'packages/faceverify/pkg/faceverify_bg.wasm')) });
  const specs = JSON.parse(modelSet());
  const bytes = (m) => readFile(join(root, 'models/build/onnx', (m.nnef ?? m).file));
  const verifier = new Verifier(specs.map((m) => m.id), await Promise.all(specs.map(bytes)));
  let worst = 0;
  for (const file of ['img1.jpg', 'img3.jpg', 'img22.jpg']) {
    const path = join(faces, file);
    const wasm = verifier.analyze(await readFile(path), false).embedding;
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

test('wasm gallery search equals a brute-force search', async () => {
  await init({ module_or_path: await readFile(join(root, 'packages/faceverify/pkg/faceverify_bg.wasm')) });
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 0.4 - 0.2;
  // 130-d: the kernel's 16-wide steps plus a tail; some rows scaled far up or down.
  const rows = Array.from({ length: 3000 }, (_, i) => Float32Array.from({ length: 130 }, () => random() * [1, 0.01, 30][i % 3]));
  const gallery = new Gallery('m', 130);
  rows.forEach((row, i) => gallery.enroll(`p${i % 1000}`, row));
  for (const metric of ['euclidean', 'cosine']) {
    for (let n = 0; n < 5; n++) {
      const probe = Float32Array.from({ length: 130 }, random);
      const distance = (row) => {
        let [dot, aa, bb, sq] = [0, 0, 0, 0];
        row.forEach((a, i) => { dot += a * probe[i]; aa += a * a; bb += probe[i] * probe[i]; sq += (a - probe[i]) ** 2; });
        return metric === 'euclidean' ? Math.sqrt(sq) : 1 - dot / Math.sqrt(aa * bb);
      };
      const best = new Map();
      rows.forEach((row, i) => best.set(i % 1000, Math.min(best.get(i % 1000) ?? Infinity, distance(row))));
      const expected = [...best.values()].sort((a, b) => a - b).slice(0, 5);
      const found = JSON.parse(gallery.find(probe, metric, 0.5, 5)).map((m) => m.best_distance);
      found.forEach((d, i) => assert.ok(Math.abs(d - expected[i]) < 1e-4, `${metric} #${i}: ${d} vs ${expected[i]}`));
    }
  }
  gallery.free();
});

test('wasm attributes and quality agree with the CLI; attribute ms per face', async () => {
  await init({ module_or_path: await readFile(join(root, 'packages/faceverify/pkg/faceverify_bg.wasm')) });
  const bytes = (m) => readFile(join(root, 'models/build/onnx', (m.nnef ?? m).file));
  const specs = JSON.parse(modelSet());
  const verifier = new Verifier(specs.map((m) => m.id), await Promise.all(specs.map(bytes)));
  const wanted = ['age', 'gender', 'expression'];
  for (const spec of JSON.parse(attributeModels(wanted))) verifier.loadAttributes(spec.id, await bytes(spec));
  let worst = 0;
  const perFace = [];
  // Photos whose landmarks agree to the pixel natively and in wasm (see the first test): on
  // others, a detector keypoint 1e-4 px apart can tip one of the predictor's pixel reads.
  for (const file of ['img1.jpg', 'img3.jpg', 'img22.jpg']) {
    const path = join(faces, file);
    const photo = await readFile(path);
    const timed = (attributes) => {
      const start = performance.now();
      const result = verifier.analyze(photo, false, attributes);
      return [performance.now() - start, result];
    };
    timed(wanted); // warm-up
    const [plainMs] = timed([]);
    const [withMs, wasm] = timed(wanted);
    perFace.push((withMs - plainMs) / wasm.faces.length);
    const native = JSON.parse(execFileSync(cli, ['analyze', path, '--attributes', wanted.join(','), '--json']));
    assert.equal(wasm.faces.length, native.faces.length);
    wasm.faces.forEach((face, i) => {
      const other = native.faces[i];
      worst = Math.max(worst, Math.abs(face.attributes.age.value - other.attributes.age.value) / 100);
      for (const name of ['gender', 'expression']) {
        for (const [label, p] of Object.entries(face.attributes[name].probabilities)) {
          worst = Math.max(worst, Math.abs(p - other.attributes[name].probabilities[label]));
        }
      }
      worst = Math.max(worst, Math.abs(face.quality.score - other.quality.score));
    });
  }
  const ms = perFace.reduce((a, b) => a + b) / perFace.length;
  console.log(`attributes and quality: max |wasm - native| ${worst.toExponential(2)} (age in hundreds of years); ` +
    `age + gender + expression take ${ms.toFixed(1)} ms per face in wasm`);
  assert.ok(worst <= 1e-3, `max difference ${worst}`);
  verifier.free();
});
