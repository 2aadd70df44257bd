// @ts-check
/// <reference lib="webworker" />
// The service worker: keeps the app shell and the wasm the page runs in a cache so that the
// page loads and works with the network cut. Network first, so a rebuilt app is picked up as
// soon as the server is reachable; the cache answers only when it is not. Models are cached by
// the inference worker itself (keyed by sha256), so they are left alone here; the wasm is
// stored here when the page asks (below) but fetched by the browser.
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
// The wasm files a page may ask to have stored (one per build; app.js names the one it runs).
const WASM = ['faceverify/pkg/faceverify_bg.wasm', 'faceverify/pkg/faceverify_relaxed_bg.wasm', 'faceverify/pkg-threads/faceverify_bg.wasm'];
/** Served from elsewhere in the tree, never part of the app. */
const NOT_OURS = ['faceverify/models/', 'bench/'];

sw.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => sw.skipWaiting()));
});

// `{type: 'store-wasm', url}`: the page's wasm, stored (or brought up to date) for offline use.
// Asked by the page a few seconds after ready: at install, storing all three builds (51 MB
// decoded) competed with a first visit's own load for the two cores, 0.4-0.8 s of its first
// verdict (docs/performance.md).
sw.addEventListener('message', (event) => {
  const { type, url } = event.data ?? {};
  if (type === 'store-wasm' && typeof url === 'string') event.waitUntil(storeWasm(url));
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
  event.respondWith(
    (async () => {
      try {
        const response = await fetch(request);
        // Stored after the page has the response: awaited first, the write held up every
        // module of every visit.
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.put(request, copy)));
        }
        return response;
      } catch (error) {
        const cached = await caches.match(request, { ignoreSearch: true, cacheName: SHELL_CACHE });
        if (cached) return cached;
        throw error;
      }
    })(),
  );
});

/**
 * Store the wasm file at `href` (one of WASM), or bring the stored copy up to date after a
 * rebuild: nothing else does, as its requests bypass this worker. A HEAD that bypasses the
 * HTTP cache tells whether the file changed (other validators, or none) without revalidating
 * the browser's copy, whose compiled code the page is using; only a changed file is
 * downloaded again.
 * @param {string} href
 */
async function storeWasm(href) {
  const url = new URL(href, sw.registration.scope).href;
  if (!WASM.some((path) => new URL(path, sw.registration.scope).href === url)) return;
  const cache = await caches.open(SHELL_CACHE);
  const validator = (/** @type {Response} */ r) => r.headers.get('ETag') ?? r.headers.get('Last-Modified');
  const head = await fetch(url, { method: 'HEAD', cache: 'no-store' }).catch(() => undefined);
  if (!head?.ok) return;
  const stored = await cache.match(url);
  if (stored && validator(head) !== null && validator(head) === validator(stored)) return;
  const response = await fetch(url, { cache: 'no-store' }).catch(() => undefined);
  if (response?.ok) await cache.put(url, response);
}
