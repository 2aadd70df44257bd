// `make bench`: wasm timings in headless Chromium beside native ones, sizes, and the time
// from page load to the first verdict. Writes bench/results.json and bench/results.md.
// usage: node bench/run.mjs [--smoke]   (--smoke: few runs, no files written; for make test)
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { faces, launchChromium, root, startServer } from '../tests/web/helpers.mjs';

const smoke = process.argv.includes('--smoke');
const runs = smoke ? 3 : 30;
const warmUpMs = smoke ? 200 : 4000;
const verifies = smoke ? 20 : 1000;
const searchSizes = smoke ? [1000, 10000] : [1000, 10000, 100000, 1000000];
const photo = join(faces, 'img1.jpg');
/** How long a newly launched Chromium is left to settle before a page is timed in it (the
 * smoke run, which times nothing, does not wait). */
const SETTLE_MS = smoke ? 0 : 3000;

const packageVersion = async (name) => JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
const [ortVersion, faceapiVersion] = await Promise.all(['onnxruntime-web', '@vladmandic/face-api'].map(packageVersion));
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The peers' files, served to the bench pages under bench/vendor/ (never to the demo). */
const vendor = {
  'onnxruntime-web': 'node_modules/onnxruntime-web/dist',
  'face-api': 'node_modules/@vladmandic/face-api/dist',
  'face-api-models': 'node_modules/@vladmandic/face-api/model',
  'tfjs-backend-wasm': 'node_modules/@tensorflow/tfjs-backend-wasm/dist',
};
const types = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Load `page` (a bench page with its query) in a fresh Chromium and return its benchResult. */
async function benchPage(server, page) {
  // Precise heap figures and a callable gc() for the memory measurement.
  const context = await launchChromium(['--enable-precise-memory-info', '--js-flags=--expose-gc']);
  try {
    const tab = context.pages()[0] ?? (await context.newPage());
    // As for the first verdict (below): not timed during the browser's own start-up.
    await tab.waitForTimeout(SETTLE_MS);
    const files = { 'photo.jpg': photo, 'photo2.jpg': join(faces, 'img2.jpg'), 'manifest.json': join(root, 'models/manifest.json') };
    await tab.route('**/bench/**', async (route) => {
      const path = new URL(route.request().url()).pathname.replace(/^\/bench\//, '');
      const [top, ...rest] = path.split('/');
      const file = files[path] ?? (top === 'vendor' && vendor[rest[0]] ? join(root, vendor[rest[0]], ...rest.slice(1)) : null);
      if (!file) return route.continue();
      const body = await readFile(file).catch(() => null);
      if (!body) return route.fulfill({ status: 404, body: 'not found' });
      // COEP too: onnxruntime-web's thread workers load from these files, and a
      // cross-origin-isolated page refuses a worker script without it.
      return route.fulfill({ body, contentType: types[extname(file)] ?? 'application/octet-stream', headers: { 'Cross-Origin-Resource-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } });
    });
    await tab.goto(`${server.url}bench/${page}`);
    await tab.waitForFunction(() => window.benchResult, null, { timeout: 1_200_000 });
    const result = await tab.evaluate(() => window.benchResult);
    if (result.error) throw new Error(`${page}: ${result.error}`);
    return result;
  } finally {
    await context.close();
  }
}

/**
 * Page load (cold cache, fresh profile, the browser launched and left to settle for
 * {@link SETTLE_MS}) to the first verdict on the demo page, split at the
 * moment the models are ready (wasm compiled, models fetched and optimised by tract).
 * Timed by the page's own clock (ms since navigation): when "ready" shows, when the first
 * photo is given, when the verdict shows; the first verdict is ready + (verdict - photo
 * given). Playwright's waits poll at growing intervals (up to 500 ms apart), so times taken
 * from them came out up to half a second late at each of the two waits.
 */
async function firstVerify(server) {
  const visits = [[], []].map(() => ({ total: [], ready: [], backend: new Set() }));
  for (let i = 0; i < (smoke ? 1 : 3); i++) {
    const context = await launchChromium();
    try {
      await context.addInitScript(() => {
        const marks = (window.__marks = {});
        const mark = (name) => (marks[name] ??= performance.now());
        addEventListener('change', (e) => e.target?.dataset?.testid?.startsWith('file-') && mark('photo'), true);
        new MutationObserver(() => {
          if (document.querySelector('[data-testid="ready"]')) mark('ready');
          if (document.querySelector('[data-testid="result"][data-verified]')) mark('verdict');
        }).observe(document, { subtree: true, childList: true, attributes: true });
      });
      const page = context.pages()[0] ?? (await context.newPage());
      // A browser just launched spends its first seconds on its own start-up (in a trace,
      // ~2 s of one core's time on its omnibox popup's WebUI): not the page's load.
      await page.waitForTimeout(SETTLE_MS);
      // The second visit, in the same profile, finds the compiled wasm in Chromium's code
      // cache and the models in the page's cache.
      for (const visit of visits) {
        await page.goto(server.url);
        await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
        visit.backend.add(await page.getAttribute('#status', 'data-backend'));
        await page.setInputFiles('[data-testid="file-a"]', photo);
        await page.setInputFiles('[data-testid="file-b"]', join(faces, 'img2.jpg'));
        await page.waitForSelector('[data-testid="result"][data-verified]', { timeout: 60_000 });
        const marks = await page.evaluate(() => window.__marks);
        visit.ready.push(Math.round(marks.ready));
        visit.total.push(Math.round(marks.ready + marks.verdict - marks.photo));
        // Let the service worker store the wasm (the page asks 3 s after ready: during the
        // next visit, that download would compete with it) and the code cache finish its
        // writes before the next visit.
        await page.waitForFunction(async () => (await (await caches.open('faceverify-shell')).keys()).some((r) => r.url.endsWith('.wasm')), null, { timeout: 60_000, polling: 200 });
        await page.waitForTimeout(2000);
      }
    } finally {
      await context.close();
    }
  }
  const [cold, warm] = visits;
  return {
    total: median(cold.total), ready: median(cold.ready), warm: median(warm.total), warmReady: median(warm.ready),
    backend: [...new Set([...cold.backend, ...warm.backend])].join(' + '),
  };
}

function nativeTimings() {
  const out = execFileSync('cargo', ['bench', '--quiet', '--bench', 'native', '--', photo, String(runs)], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop());
}

async function sizes() {
  // As tools/serve.mjs sends them: the brotli files the build made.
  const builds = {};
  for (const [name, file] of [['simd128', 'pkg/faceverify_bg.wasm'], ['relaxed-simd', 'pkg/faceverify_relaxed_bg.wasm'],
    ['relaxed-simd-threads', 'pkg-threads/faceverify_bg.wasm']]) {
    const path = join(root, 'packages/faceverify', file);
    const wasm = await readFile(path);
    builds[name] = {
      wasm_bytes: wasm.length,
      wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
      wasm_wire_bytes: (await readFile(`${path}.br`)).length,
    };
  }
  const manifest = JSON.parse(await readFile(join(root, 'models/manifest.json'), 'utf8'));
  // The file the browser downloads for each model: its NNEF file where the manifest names one.
  const modelFile = (id) => {
    const m = manifest.models.find((spec) => spec.id === id);
    return join(root, 'models/build/onnx', (m.nnef ?? m).file);
  };
  const models = {};
  // User-supplied models (OpenFace) have no file until converted: they have no hash yet.
  for (const m of manifest.models.filter((spec) => spec.sha256)) {
    const bytes = await readFile(modelFile(m.id));
    const wire = await readFile(`${modelFile(m.id)}.br`);
    models[m.id] = { bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length, wire_bytes: wire.length };
  }
  const defaults = [...new Set([...manifest.default_detectors, manifest.camera_detector, manifest.face_check,
    manifest.default_landmarker, manifest.default_embedder])];
  const ortWasm = await readFile(join(root, vendor['onnxruntime-web'], 'ort-wasm-simd-threaded.wasm'));
  // The top-level figures are the build a page that is not cross-origin isolated gets in
  // Chromium: relaxed SIMD, one thread.
  return {
    ...builds['relaxed-simd'],
    builds,
    ort_wasm_gzip_bytes: gzipSync(ortWasm, { level: 9 }).length,
    models,
    models_bytes: defaults.reduce((sum, id) => sum + models[id].bytes, 0),
    models_wire_bytes: defaults.reduce((sum, id) => sum + models[id].wire_bytes, 0),
  };
}

const server = await startServer();
try {
  const native = nativeTimings();
  const query = `runs=${runs}&warmup=${warmUpMs}`;
  const ours = await benchPage(server, `?${query}&verifies=${verifies}&search=${searchSizes.join(',')}`);
  const oursPlain = await benchPage(server, `?build=simd128&${query}&verifies=1&search=`);
  const ort = await benchPage(server, `peers.html?runtime=onnxruntime-web&${query}`);
  const ours2 = await benchPage(server, `?threads=2&${query}`);
  const ort2 = await benchPage(server, `peers.html?runtime=onnxruntime-web&threads=2&${query}`);
  const faceapi = await benchPage(server, `peers.html?runtime=face-api&${query}`);
  const first = await firstVerify(server);
  const size = await sizes();
  // The three builds a page can get, by what its browser offers.
  const variant = (timings) => ({
    threads: timings.threads, gemm: timings.gemm, embed_ms: timings.embed_ms, detect_ms: timings.detect_ms, pipeline_fps: 1000 / timings.pipeline_ms,
    photo_pipeline_ms: timings.photo_pipeline_ms, load_ms: timings.load_ms, ...size.builds[timings.build],
  });
  const variants = Object.fromEntries([oursPlain, ours, ours2].map((timings) => [timings.build, variant(timings)]));
  const figure = (key, nativeValue) => ({
    faceverify_wasm: ours[key], onnxruntime_web: ort[key], faceapi_tfjs_wasm: faceapi[key], faceverify_native: nativeValue,
  });
  const fps = (ms) => Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, 1000 / v]));
  const results = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
    chromium: execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim(),
    runs,
    threads: 1,
    backend: ours.build,
    // The build the demo ran for its first verdicts (its server makes the page cross-origin
    // isolated, so the threaded one).
    first_verify_backend: first.backend,
    embed_ms: figure('embed_ms', native.embed_ms),
    embed_ms_2threads: { faceverify_wasm: ours2.embed_ms, onnxruntime_web: ort2.embed_ms },
    detect_ms: figure('detect_ms', native.detect_ms),
    pipeline_fps: fps(figure('pipeline_ms', native.pipeline_ms)),
    // Ours only: the photo path (every detector, tiles, face check) on the same frame.
    photo_detect_ms: { faceverify_wasm: ours.photo_detect_ms, faceverify_native: native.photo_detect_ms },
    photo_pipeline_ms: { faceverify_wasm: ours.photo_pipeline_ms, faceverify_native: native.photo_pipeline_ms },
    load_ms: figure('load_ms', native.load_ms),
    // The default set loaded again, after the page's first (cold) load.
    load_ms_warm: ours.load_ms_warm,
    // img1 vs img2 through each runtime's whole pipeline: proof each ran the real thing.
    pair_distance: { faceverify_wasm: ours.memory.distance, onnxruntime_web: ort.pair_distance, faceapi_tfjs_wasm: faceapi.pair_distance },
    faceapi_backend: faceapi.backend,
    pipeline_fps_best: Math.max(...Object.values(variants).map((v) => v.pipeline_fps)),
    first_verify_ms: first.total,
    first_verify_ready_ms: first.ready,
    first_verify_warm_ms: first.warm,
    first_verify_warm_ready_ms: first.warmReady,
    variants,
    heap_growth: ours.memory,
    search_ms: ours.search_ms,
    search_1m_ms: ours.search_ms['1000000'] ?? null,
    ...size,
  };
  results.ratios = {
    embed_vs_onnxruntime_web: results.embed_ms.faceverify_wasm / results.embed_ms.onnxruntime_web,
    embed_vs_faceapi_tfjs_wasm: results.embed_ms.faceverify_wasm / results.embed_ms.faceapi_tfjs_wasm,
    embed_2threads_vs_onnxruntime_web: results.embed_ms_2threads.faceverify_wasm / results.embed_ms_2threads.onnxruntime_web,
    embed_2threads_vs_1thread: results.embed_ms_2threads.faceverify_wasm / results.embed_ms.faceverify_wasm,
    embed_relaxed_vs_simd128: results.embed_ms.faceverify_wasm / variants.simd128.embed_ms,
    detect_vs_onnxruntime_web: results.detect_ms.faceverify_wasm / results.detect_ms.onnxruntime_web,
    detect_vs_faceapi_tfjs_wasm: results.detect_ms.faceverify_wasm / results.detect_ms.faceapi_tfjs_wasm,
    pipeline_fps_vs_onnxruntime_web: results.pipeline_fps.faceverify_wasm / results.pipeline_fps.onnxruntime_web,
    pipeline_fps_vs_faceapi_tfjs_wasm: results.pipeline_fps.faceverify_wasm / results.pipeline_fps.faceapi_tfjs_wasm,
    wasm_gzip_vs_onnxruntime_web: results.wasm_gzip_bytes / results.ort_wasm_gzip_bytes,
    wasm_wire_vs_gzip: results.wasm_wire_bytes / results.wasm_gzip_bytes,
  };
  console.log(JSON.stringify(results, null, 2));
  if (!smoke) {
    await writeFile(join(root, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');
    await writeFile(join(root, 'bench/results.md'), markdown(results));
  }
} finally {
  server.stop();
}

function markdown(r) {
  const f = (x) => (x == null ? '–' : x.toFixed(1));
  const ratio = (x) => x.toFixed(2);
  const row = (name, fig, digits = f) =>
    `| ${name} | ${digits(fig.faceverify_wasm)} | ${digits(fig.onnxruntime_web)} | ${digits(fig.faceapi_tfjs_wasm)} | ${digits(fig.faceverify_native)} | ${ratio(fig.faceverify_wasm / fig.onnxruntime_web)} | ${ratio(fig.faceverify_wasm / fig.faceapi_tfjs_wasm)} |`;
  const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
  return `# Benchmark results

${r.date} · ${r.machine} · ${r.chromium} · median of ${r.runs} runs after ${warmUpMs / 1000} s warm-up ·
every browser runtime on 1 thread, in its own fresh page of the same Chromium run; faceverify's
${r.backend} build (what a page that is not cross-origin isolated gets in Chromium), GEMM ${r.variants[r.backend].gemm}.

| figure | faceverify wasm | onnxruntime-web | face-api tfjs-wasm | faceverify native | ours / ort | ours / face-api |
|---|---|---|---|---|---|---|
${row('embed, dlib ResNet 150×150 (ms)', r.embed_ms)}
${row('detect on 640×480, camera path (ms)', r.detect_ms)}
${row('pipeline: detect + landmarks + align + embed, 640×480, camera path (fps)', r.pipeline_fps)}
| detect on 640×480, photo path (ms) | ${f(r.photo_detect_ms.faceverify_wasm)} | | | ${f(r.photo_detect_ms.faceverify_native)} | | |
| pipeline on 640×480, photo path (ms) | ${f(r.photo_pipeline_ms.faceverify_wasm)} | | | ${f(r.photo_pipeline_ms.faceverify_native)} | | |
${row('model load: parse + optimise (ms)', r.load_ms)}
| img1 ↔ img2 distance through the pipeline | ${r.pair_distance.faceverify_wasm.toFixed(3)} | ${r.pair_distance.onnxruntime_web.toFixed(3)} | ${r.pair_distance.faceapi_tfjs_wasm.toFixed(3)} | | | |

Levers (docs/performance.md has those measured outside this run):

| build (faceverify) | threads | embed (ms) | detect, camera path (ms) | camera pipeline (fps) | photo pipeline (ms) | model load (ms) | wasm over the wire |
|---|---|---|---|---|---|---|---|
${Object.entries(r.variants).map(([name, v]) => `| ${name} | ${v.threads} | ${f(v.embed_ms)} | ${f(v.detect_ms)} | ${f(v.pipeline_fps)} | ${f(v.photo_pipeline_ms)} | ${f(v.load_ms)} | ${mb(v.wasm_wire_bytes)} |`).join('\n')}

- Relaxed SIMD (fused multiply-add in src/gemm.rs's 6×8 tile; Chrome/Edge, Firefox): embed ${ratio(r.variants.simd128.embed_ms / r.embed_ms.faceverify_wasm)}× the simd128 build's speed; simd128 alone is ${ratio(r.variants.simd128.embed_ms / r.embed_ms.onnxruntime_web)}× onnxruntime-web's time.
- NNEF for every network (what the page downloads; tract reads it without parsing, typing or decluttering an ONNX graph, and the wasm carries no ONNX parser): the model load in the tables is the page's first, cold; loaded again it takes ${f(r.load_ms_warm)} ms.
- Brotli at build time (tools/brotli.mjs, sent by tools/serve.mjs): the wasm goes out as ${mb(r.wasm_wire_bytes)}, ${ratio(r.ratios.wasm_wire_vs_gzip)}× its gzip -9 size.
- Two threads (the threaded build, tract's GEMMs on a wasm-bindgen-rayon pool, in a worker): faceverify embeds in ${f(r.embed_ms_2threads.faceverify_wasm)} ms (${ratio(r.embed_ms.faceverify_wasm / r.embed_ms_2threads.faceverify_wasm)}× its one-thread speed), onnxruntime-web in ${f(r.embed_ms_2threads.onnxruntime_web)} ms (${ratio(r.embed_ms.onnxruntime_web / r.embed_ms_2threads.onnxruntime_web)}×): ours / ort ${ratio(r.ratios.embed_2threads_vs_onnxruntime_web)}.
- The camera path is faceverify's live-camera pipeline: blazeface-front, dlib's 5 landmarks, the
  chip, dlib ResNet (and, in the pipeline, dlib's MMOD net confirming the face it embeds). The
  photo path adds blazeface-back with a mirrored margin and, on large photos, tiles, and confirms
  every face with MMOD.
- onnxruntime-web ${ortVersion} runs our ONNX files (blazeface-front and dlib ResNet) with JS/canvas
  preprocessing, best-face decoding and similarity alignment from BlazeFace's keypoints. face-api ${faceapiVersion} on
  ${r.faceapi_backend} uses the same dlib ResNet weights, its TinyFaceDetector (416 px) and tiny
  68-point landmarks; "detect" is each runtime's detector on the frame.
- Search, exact 1:N (top 5, euclidean) over random 128-d embeddings in wasm: ${Object.entries(r.search_ms).map(([n, ms]) => `${Number(n).toLocaleString('en')}: ${ms.toFixed(2)} ms`).join(' · ')}
- First verify (the demo on ${r.first_verify_backend}; page load with a cold cache → first verdict, localhost): ${r.first_verify_ms} ms, of which ${r.first_verify_ready_ms} ms until the models are ready (wasm compiled, models fetched and optimised) and the rest the first two photos decoded, detected, aligned and embedded.
  Return visit (same profile: compiled code and models cached): ${r.first_verify_warm_ms} ms, ready after ${r.first_verify_warm_ready_ms} ms.
- Download: our wasm ${mb(r.wasm_wire_bytes)} over the wire (brotli; ${mb(r.wasm_gzip_bytes)} gzipped, ${mb(r.wasm_bytes)} raw); onnxruntime-web's wasm ${mb(r.ort_wasm_gzip_bytes)} gzipped;
  default models ${mb(r.models_wire_bytes)} over the wire (brotli, pre-compressed by make models), ${mb(r.models_bytes)} raw; every model file, raw / gzipped / brotli: ${Object.entries(r.models).map(([id, m]) => `${id} ${mb(m.bytes)} / ${mb(m.gzip_bytes)} / ${mb(m.wire_bytes)}`).join('; ')}
- Memory: ${r.heap_growth.verifies} consecutive verifies (two 640×480 JPEGs each) grew JS heap + wasm memory by ${mb(r.heap_growth.heap_growth_bytes)} (wasm ${mb(r.heap_growth.wasm_growth_bytes)}, JS ${mb(r.heap_growth.js_growth_bytes)}); from the 100th verify on: ${mb(r.heap_growth.growth_after_100_bytes ?? 0)}
`;
}
