// @ts-check
/// <reference lib="webworker" />
// The service worker: keeps the app shell and the wasm in a cache so that the page loads
// and works with the network cut. Network first, so a rebuilt app is picked up as soon as
// the server is reachable; the cache answers only when it is not. Models are cached by
// the inference worker itself (keyed by sha256), so they are left alone here.
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const SHELL_CACHE = 'faceverify-shell';
const SHELL = [
  './', 'index.html', 'style.css', 'app.js', 'store.js',
  'draw.js', 'photo-input.js', 'verify-view.js', 'analyze-view.js', 'gallery-view.js', 'camera-view.js',
  // The npm package, as the page imports it.
  'faceverify/faceverify.js', 'faceverify/worker.js', 'faceverify/worker-threads.js', 'faceverify/engine.js',
  'faceverify/protocol.js', 'faceverify/features.js',
  // Both one-thread wasm files: which one runs depends on the browser (relaxed SIMD or not).
  'faceverify/pkg/faceverify.js', 'faceverify/pkg/faceverify_bg.wasm', 'faceverify/pkg/faceverify_relaxed_bg.wasm',
  'faceverify/pkg/default-models.js',
  // The threaded build a cross-origin isolated page runs (its pool's worker script is
  // cached when fetched).
  'faceverify/pkg-threads/faceverify.js', 'faceverify/pkg-threads/faceverify_bg.wasm',
];
/** Served from elsewhere in the tree, never part of the app. */
const NOT_OURS = ['faceverify/models/', 'bench/'];

sw.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => sw.skipWaiting()));
});

sw.addEventListener('activate', (event) => event.waitUntil(sw.clients.claim()));

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  const scope = new URL(sw.registration.scope);
  if (request.method !== 'GET' || url.origin !== scope.origin || !url.href.startsWith(scope.href)) return;
  if (NOT_OURS.some((prefix) => url.href.startsWith(new URL(prefix, scope).href))) return;
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
