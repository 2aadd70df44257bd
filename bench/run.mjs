// `make bench`: wasm timings in headless Chromium beside native ones, sizes, and the time
// from page load to the first verdict. Writes bench/results.json and bench/results.md.
// usage: node bench/run.mjs [--smoke]   (--smoke: few runs, no files written; for make test)
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { faces, launchChromium, root, startServer } from '../tests/web/helpers.mjs';

const smoke = process.argv.includes('--smoke');
const runs = smoke ? 3 : 30;
const warmUpMs = smoke ? 200 : 4000;
const verifies = smoke ? 20 : 1000;
const photo = join(faces, 'img1.jpg');

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function browserTimings(server) {
  // Precise heap figures and a callable gc() for the memory measurement.
  const context = await launchChromium(['--enable-precise-memory-info', '--js-flags=--expose-gc']);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    for (const [url, file] of [['photo.jpg', photo], ['photo2.jpg', join(faces, 'img2.jpg')]]) {
      const body = await readFile(file);
      await page.route(`**/bench/${url}`, (route) => route.fulfill({ body, contentType: 'image/jpeg' }));
    }
    await page.goto(`${server.url}bench/?runs=${runs}&warmup=${warmUpMs}&verifies=${verifies}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000 });
    const result = await page.evaluate(() => window.benchResult);
    if (result.error) throw new Error(result.error);
    return result;
  } finally {
    await context.close();
  }
}

/** Page load (cold cache, fresh profile) to the first verdict on the demo page. */
async function firstVerifyMs(server) {
  const samples = [];
  for (let i = 0; i < (smoke ? 1 : 3); i++) {
    const context = await launchChromium();
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const start = Date.now();
      await page.goto(server.url);
      await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
      await page.setInputFiles('[data-testid="file-a"]', photo);
      await page.setInputFiles('[data-testid="file-b"]', join(faces, 'img2.jpg'));
      await page.waitForSelector('[data-testid="result"][data-verified]', { timeout: 60_000 });
      samples.push(Date.now() - start);
    } finally {
      await context.close();
    }
  }
  return median(samples);
}

function nativeTimings() {
  const out = execFileSync('cargo', ['bench', '--quiet', '--bench', 'native', '--', photo, String(runs)], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop());
}

async function sizes() {
  const wasm = await readFile(join(root, 'www/pkg/faceverify_bg.wasm'));
  const manifest = JSON.parse(await readFile(join(root, 'models/manifest.json'), 'utf8'));
  const modelFile = (id) => join(root, 'models/build/onnx', manifest.models.find((m) => m.id === id).file);
  const models = {};
  for (const m of manifest.models) {
    const bytes = await readFile(modelFile(m.id));
    models[m.id] = { bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length };
  }
  const defaults = [manifest.default_detector, manifest.default_embedder];
  return {
    wasm_bytes: wasm.length,
    wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
    models,
    models_bytes: defaults.reduce((sum, id) => sum + models[id].bytes, 0),
  };
}

const server = await startServer();
try {
  const native = nativeTimings();
  const wasm = await browserTimings(server);
  const first = await firstVerifyMs(server);
  const size = await sizes();
  const results = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
    chromium: execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim(),
    runs,
    embed_ms: { faceverify_wasm: wasm.embed_ms, faceverify_native: native.embed_ms },
    detect_ms: { faceverify_wasm: wasm.detect_ms, faceverify_native: native.detect_ms },
    pipeline_fps: { faceverify_wasm: 1000 / wasm.pipeline_ms, faceverify_native: 1000 / native.pipeline_ms },
    load_ms: { faceverify_wasm: wasm.load_ms, faceverify_native: native.load_ms },
    first_verify_ms: first,
    heap_growth: wasm.memory,
    ...size,
  };
  console.log(JSON.stringify(results, null, 2));
  if (!smoke) {
    await writeFile(join(root, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');
    const f = (x) => x.toFixed(1);
    const md = `# Benchmark results

${results.date} · ${results.machine} · ${results.chromium} · median of ${runs} runs after ${warmUpMs / 1000} s warm-up

| figure | wasm (Chromium, 1 thread, simd128) | native | wasm / native |
|---|---|---|---|
| embed, dlib-resnet 150×150 (ms) | ${f(wasm.embed_ms)} | ${f(native.embed_ms)} | ${(wasm.embed_ms / native.embed_ms).toFixed(2)} |
| detect, blazeface-back on 640×480 (ms) | ${f(wasm.detect_ms)} | ${f(native.detect_ms)} | ${(wasm.detect_ms / native.detect_ms).toFixed(2)} |
| pipeline: detect + align + embed, 640×480 (fps) | ${f(results.pipeline_fps.faceverify_wasm)} | ${f(results.pipeline_fps.faceverify_native)} | |
| model load: sha256 + parse + optimise (ms) | ${f(wasm.load_ms)} | ${f(native.load_ms)} | |

- Memory: ${wasm.memory.verifies} consecutive verifies (two 640×480 JPEGs each) in one page grew JS heap + wasm memory by ${(wasm.memory.heap_growth_bytes / 1e6).toFixed(2)} MB
- First verify (page load with a cold cache → first verdict, localhost): ${first} ms
- wasm: ${size.wasm_bytes} bytes raw, ${size.wasm_gzip_bytes} gzipped
- default models downloaded: ${size.models_bytes} bytes (${Object.entries(size.models).map(([id, m]) => `${id} ${m.bytes} raw / ${m.gzip_bytes} gzip`).join(', ')})

Peers (onnxruntime-web, face-api on tfjs-wasm) are not in this run yet.
`;
    await writeFile(join(root, 'bench/results.md'), md);
  }
} finally {
  server.stop();
}
