// @ts-check
// The demo page: wires the views (verify, analyze, camera, gallery) to one FaceVerifier and the
// settings. The page stays usable while the models load: actions wait for `app.ready`.
import { AnalyzeView } from './analyze-view.js';
import { CameraView } from './camera-view.js';
import { FaceVerifier } from 'faceverify';
import { GalleryView } from './gallery-view.js';
import { VerifyView } from './verify-view.js';

/**
 * What the views share.
 * @typedef {{ready: Promise<FaceVerifier>, options: () => import('faceverify').CompareOptions,
 *            verify: VerifyView, analyze: AnalyzeView, camera: CameraView, gallery: GalleryView}} App
 */

const SETTINGS_KEY = 'faceverify-settings';
const STORE_WASM_AFTER_MS = 3000;
const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const status = $('status');
const [detector, model, metric, threshold] = ['detector', 'model', 'metric', 'threshold'].map($);

/** @returns {{detector?: string, model?: string, metric?: string, threshold?: string}} */
function savedSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}');
  } catch {
    return {};
  }
}

function saveSettings() {
  const values = { detector: detector.value, model: model.value, metric: metric.value, threshold: threshold.value };
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(values));
}

/** Say what the page is doing; the progress bar shows only while models load. @param {string} text @param {boolean} loading */
function showStatus(text, loading = false) {
  $('status-text').textContent = text;
  $('loading').hidden = !loading;
}

/** @param {number} loaded @param {number} total */
function showProgress(loaded, total) {
  const mb = (/** @type {number} */ bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  const bar = $('progress');
  bar.max = total || 1;
  bar.value = loaded;
  $('progress-text').textContent = total ? `${mb(loaded)} of ${mb(total)}` : mb(loaded);
}

// The service worker keeps the app and wasm for offline use; the worker caches models.
navigator.serviceWorker?.register('./sw.js').catch((error) => console.warn('offline mode unavailable:', error));

const saved = savedSettings();
metric.value = saved.metric ?? 'euclidean';
threshold.value = saved.threshold ?? '';
// `?threads=1` (or any count) overrides the default of one thread per core: to compare the
// builds, or to measure the page's memory (the threaded build's pool workers wait inside wasm
// and answer no memory measurement). `?simd=simd128` asks for the plain build where relaxed
// SIMD would run (the one Safari gets).
const params = new URLSearchParams(location.search);
const threads = params.get('threads') ? Number(params.get('threads')) : undefined;
const relaxedSimd = params.get('simd') !== 'simd128';

/** @type {App} */
const app = /** @type {any} */ ({
  ready: FaceVerifier.load({ detector: saved.detector || undefined, model: saved.model, threads, relaxedSimd, onProgress: showProgress }).catch(async (error) => {
    // Settings naming a model this build no longer has: fall back to the defaults.
    if (error.name !== 'UNKNOWN_MODEL') throw error;
    return FaceVerifier.load({ threads, relaxedSimd, onProgress: showProgress });
  }),
  options: () => ({ metric: metric.value, threshold: threshold.value === '' ? undefined : Number(threshold.value) }),
});
app.verify = new VerifyView($('verify'), app);
app.analyze = new AnalyzeView($('analyze'), app);
app.camera = new CameraView($('camera'), app);
app.gallery = new GalleryView($('gallery'), app);

/** @param {FaceVerifier} verifier @param {string} note said before the models in use */
function showModels(verifier, note = '') {
  const { models, detectors, detector: d, model: m } = /** @type {NonNullable<FaceVerifier['models']>} */ (verifier.models);
  const options = (/** @type {any[]} */ specs, /** @type {string | null} */ chosen) =>
    specs.map((spec) => new Option(`${spec.id} — ${spec.description}`, spec.id, false, spec.id === chosen));
  const keypointDetectors = models.filter((spec) => spec.kind === 'detector' && spec.decoder.type === 'blazeface');
  detector.replaceChildren(
    new Option('all (default): every face in photos, the fast one for the camera', '', false, d === null),
    ...options(keypointDetectors, d),
  );
  model.replaceChildren(...options(models.filter((spec) => spec.kind === 'embedder'), m.id));
  status.dataset.testid = 'ready';
  const used = detectors.map((/** @type {any} */ spec) => spec.id).join(' + ');
  const backend = /** @type {import('faceverify').Backend} */ (verifier.backend);
  const runs = backend.threads > 1 ? `${backend.build}, ${backend.threads} threads` : `${backend.build}, 1 thread`;
  showStatus(`${note}Ready: ${used} detection, ${m.id} recognition (${m.output.size}-d embeddings); wasm ${runs}.`);
  status.dataset.backend = backend.build;
  status.title = backend.fallback ?? '';
  showThreshold(verifier);
}

/** The calibrated threshold of the chosen metric, shown as the override's placeholder. @param {FaceVerifier} verifier */
function showThreshold(verifier) {
  const calibrated = verifier.models?.model.thresholds[metric.value];
  threshold.placeholder = calibrated ? calibrated.value.toFixed(3) : '';
  $('threshold-source').textContent = calibrated ? `Calibrated ${metric.value} threshold ${calibrated.value.toFixed(3)}: ${calibrated.source}.` : '';
}

app.ready.then(
  (verifier) => {
    showModels(verifier);
    app.gallery.restore();
    // For offline use, the service worker stores the wasm this page runs: a few seconds
    // after ready, so that a first visit's download of it does not slow the first photos.
    const wasm = /** @type {import('faceverify').Backend} */ (verifier.backend).wasm;
    setTimeout(async () => (await navigator.serviceWorker?.ready)?.active?.postMessage({ type: 'store-wasm', url: wasm }), STORE_WASM_AFTER_MS);
  },
  (error) => {
    showStatus(`Could not load the models: ${error.message}`);
    status.dataset.error = error.name;
  },
);

/** Re-run what is on screen with the new settings; `reanalyze`: the models changed. */
function rerun(reanalyze = false) {
  saveSettings();
  app.verify.update(reanalyze);
  app.gallery.find();
}

for (const select of [detector, model]) {
  select.addEventListener('change', async () => {
    const verifier = await app.ready;
    delete status.dataset.testid;
    showStatus('Loading models…', true);
    let note = '';
    try {
      await verifier.reload({ detector: detector.value || undefined, model: model.value, onProgress: showProgress });
      await app.gallery.restore();
    } catch (e) {
      // The worker keeps the models that worked: say so, and show them.
      note = `Could not switch models (${/** @type {Error} */ (e).message}). `;
    }
    showModels(verifier, note);
    rerun(true);
  });
}
metric.addEventListener('change', () => {
  app.ready.then(showThreshold);
  rerun();
});
threshold.addEventListener('change', () => rerun());
// Enter in the threshold field applies it rather than submitting the form.
$('settings-form').addEventListener('submit', (/** @type {Event} */ event) => event.preventDefault());

// A photo pasted anywhere outside a drop zone fills the next verify slot.
document.addEventListener('paste', (event) => {
  if (/** @type {HTMLElement} */ (event.target).closest?.('.drop, input, textarea')) return;
  const photo = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
  if (photo) app.verify.set(app.verify.nextSlot, photo);
});
