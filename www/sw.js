// @ts-check
/// <reference lib="webworker" />
// The service worker: keeps the app shell and the wasm in a cache so that the page loads
// and works with the network cut. Network first, so a rebuilt app is picked up as soon as
// the server is reachable; the cache answers only when it is not. Models are cached by
// the inference worker itself (keyed by sha256), so they are left alone here; the wasm files
// are stored here but fetched by the browser (below).
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const SHELL_CACHE = 'faceverify-shell';
const SHELL = [
  './', 'index.html', 'style.css', 'app.js', 'store.js',
  'draw.js', 'photo-input.js', 'verify-view.js', 'analyze-view.js', 'gallery-view.js', 'camera-view.js',
  // The npm package, as the page imports it.
  'faceverify/faceverify.js', 'faceverify/worker.js', 'faceverify/worker-threads.js', 'faceverify/engine.js',
  'faceverify/protocol.js', 'faceverify/features.js',
  'faceverify/pkg/faceverify.js',
  'faceverify/pkg/default-models.js',
  // The threaded build a cross-origin isolated page runs (its pool's worker script is
  // cached when fetched).
  'faceverify/pkg-threads/faceverify.js',
];
// The wasm files: stored here for offline use, but their requests are left to the browser
// (below), and refreshWasm keeps the stored copies current.
const WASM = ['faceverify/pkg/faceverify_bg.wasm', 'faceverify/pkg/faceverify_relaxed_bg.wasm', 'faceverify/pkg-threads/faceverify_bg.wasm'];
/** Served from elsewhere in the tree, never part of the app. */
const NOT_OURS = ['faceverify/models/', 'bench/'];

sw.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll([...SHELL, ...WASM])).then(() => sw.skipWaiting()));
});

sw.addEventListener('activate', (event) => event.waitUntil(sw.clients.claim()));

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  const scope = new URL(sw.registration.scope);
  if (request.method !== 'GET' || url.origin !== scope.origin || !url.href.startsWith(scope.href)) return;
  if (NOT_OURS.some((prefix) => url.href.startsWith(new URL(prefix, scope).href))) return;
  // The wasm files go to the browser itself, which keeps their compiled code: answered from
  // here, a return visit often compiled the module again (ready after 1.45–1.56 s instead of
  // 0.99–1.07 s, docs/performance.md). With the network cut the inference worker reads the
  // stored copy itself (engine.js).
  if (url.pathname.endsWith('.wasm')) return;
  if (request.mode === 'navigate') event.waitUntil(refreshWasm());
  event.respondWith(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      try {
        const response = await fetch(request);
        if (response.ok) await cache.put(request, response.clone());
        return response;
      } catch (error) {
        const cached = await cache.match(request, { ignoreSearch: true });
        if (cached) return cached;
        throw error;
      }
    })(),
  );
});

/**
 * Bring the stored wasm files up to date after a rebuild: nothing else does, as their requests
 * bypass this worker. A HEAD that bypasses the HTTP cache tells whether a file changed (other
 * validators, or none) without revalidating the browser's copy, whose compiled code the page
 * is using; only a changed file is downloaded again.
 */
async function refreshWasm() {
  const cache = await caches.open(SHELL_CACHE);
  const validator = (/** @type {Response} */ r) => r.headers.get('ETag') ?? r.headers.get('Last-Modified');
  for (const path of WASM) {
    const url = new URL(path, sw.registration.scope).href;
    const head = await fetch(url, { method: 'HEAD', cache: 'no-store' }).catch(() => undefined);
    if (!head?.ok) continue;
    const stored = await cache.match(url);
    if (stored && validator(head) !== null && validator(head) === validator(stored)) continue;
    const response = await fetch(url, { cache: 'no-store' }).catch(() => undefined);
    if (response?.ok) await cache.put(url, response);
  }
}
