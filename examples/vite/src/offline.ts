// Offline after the first visit: a service worker (public/sw.js) keeps every file the app
// fetched — page, bundles, the package's worker and wasm — and answers from that copy when
// the network is down. The package caches its models itself (Cache API, by sha256).

/** Register the service worker and wait until it controls the page, so that the worker and
 *  wasm the verifier fetches next go through it; then pass the page and its bundle (fetched
 *  before it was in control) through it once. */
export async function keepOffline(): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  // Offline, the registration's update check fails; the worker installed before still serves.
  await navigator.serviceWorker.register('./sw.js').catch(() => undefined);
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
  await Promise.all([location.href, import.meta.url].map((url) => fetch(url).catch(() => undefined)));
}
