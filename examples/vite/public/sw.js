// Network first; the last good copy when the network fails. Models are left to the package's
// own cache.
const CACHE = 'app';
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== location.origin) return;
  if (/\.(onnx|bin)$/.test(new URL(request.url).pathname)) return;
  event.respondWith(
    fetch(request)
      .then(async (response) => {
        if (response.ok) await (await caches.open(CACHE)).put(request, response.clone());
        return response;
      })
      // ignoreVary: the server varies on Origin, which module scripts send and fetch() does not.
      .catch(async () => (await caches.match(request, { ignoreSearch: true, ignoreVary: true })) ?? Response.error()),
  );
});
