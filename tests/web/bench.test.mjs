// Keeps `make bench` from rotting: a few runs of the whole harness, checked for sane figures.
// Speed itself is never asserted here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { root } from './helpers.mjs';

test('the benchmark harness runs end to end', () => {
  const out = execFileSync(process.execPath, [join(root, 'bench/run.mjs'), '--smoke'], { encoding: 'utf8', timeout: 600_000 });
  const results = JSON.parse(out.slice(out.indexOf('{')));
  for (const figure of ['embed_ms', 'detect_ms', 'pipeline_fps']) {
    for (const [runtime, value] of Object.entries(results[figure])) {
      assert.ok(Number.isFinite(value) && value > 0, `${figure}.${runtime} = ${value}`);
    }
  }
  // Every runtime ran the whole pipeline on img1 and img2 and agrees they are one person.
  for (const [runtime, distance] of Object.entries(results.pair_distance)) {
    assert.ok(distance > 0.2 && distance < 0.5, `${runtime}: img1/img2 distance ${distance}`);
  }
  assert.deepEqual(Object.keys(results.search_ms), ['1000', '10000']);
  assert.ok(results.wasm_gzip_bytes > 0 && results.models_bytes > 0 && results.models_wire_bytes > 0 && results.models_wire_bytes < results.models_bytes && results.ort_wasm_gzip_bytes > 0);
  assert.ok(results.first_verify_ms > 0 && results.first_verify_warm_ms > 0);
  assert.deepEqual(Object.keys(results.variants), ['simd128', 'relaxed-simd', 'relaxed-simd-threads']);
  assert.equal(results.variants['relaxed-simd-threads'].threads, 2);
  for (const v of Object.values(results.variants)) assert.equal(v.gemm, 'faceverify_wasm_f32_6x8');
  for (const [name, v] of Object.entries(results.variants)) {
    assert.ok(v.embed_ms > 0 && v.pipeline_fps > 0 && v.wasm_wire_bytes > 0 && v.wasm_wire_bytes < v.wasm_gzip_bytes, `${name}: ${JSON.stringify(v)}`);
  }
  assert.ok(results.embed_ms_2threads.onnxruntime_web > 0 && results.embed_ms_2threads.faceverify_wasm > 0);
  assert.ok(results.load_ms_warm > 0, String(results.load_ms_warm));
  // The demo is cross-origin isolated by its server: its first verdicts ran threaded.
  assert.equal(results.first_verify_backend, 'relaxed-simd-threads');
  assert.equal(results.heap_growth.verified, true, 'img1/img2 verify in the memory loop');
  assert.ok(Number.isFinite(results.heap_growth.heap_growth_bytes));
});
