// Static server for the demo: www/ at /, the npm package (packages/faceverify) at
// /faceverify/ with the converted models at /faceverify/models/ (where the package keeps
// them once packed), and the benchmark page at /bench/.
// Serves .wasm as application/wasm (streaming compilation needs it), brotli-compressed where
// the build left a .br beside it and the browser accepts br, with an ETag (a revalidation of
// an unchanged file is a 304, no body), and sets COOP/COEP so
// the page is cross-origin isolated (precise timers, and shared memory for the threaded wasm).
// usage: node tools/serve.mjs [port]   (FACEVERIFY_LOG_REQUESTS=1 prints each request: tests
// count them to prove the page makes none after it is ready)
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const mounts = [
  ['/faceverify/models/', join(root, 'models/build/onnx')],
  ['/faceverify/', join(root, 'packages/faceverify')],
  ['/bench/', join(root, 'bench')],
  ['/', join(root, 'www')],
];
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

function locate(urlPath) {
  const path = decodeURIComponent(urlPath.split('?')[0]);
  for (const [prefix, dir] of mounts) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'));
    return file.startsWith(dir) ? file : null; // no escaping the mount with ../
  }
  return null;
}

const logRequests = process.env.FACEVERIFY_LOG_REQUESTS === '1';

const server = createServer(async (req, res) => {
  if (logRequests) console.log(`request ${req.method} ${req.url}`);
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cache-Control': 'no-cache',
  };
  const file = locate(req.url);
  const info = file && (await stat(file).catch(() => null));
  if (!info || !info.isFile()) {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  // A build output pre-compressed by tools/brotli.mjs, if it is as new as the file itself.
  const packed = /\bbr\b/.test(req.headers['accept-encoding'] ?? '') && (await stat(`${file}.br`).catch(() => null));
  const brotli = packed && packed.mtimeMs >= info.mtimeMs;
  const sent = brotli ? packed : info;
  // no-cache makes the browser ask every time (the service worker goes to the network
  // first); the ETag lets it ask cheaply: a file unchanged since it was cached comes back as
  // a 304 without its body, instead of the 2.4 MB of wasm on every visit.
  const etag = `"${sent.size.toString(16)}-${Math.floor(sent.mtimeMs).toString(16)}${brotli ? '-br' : ''}"`;
  const cached = (req.headers['if-none-match'] ?? '').split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
  const validated = { ...headers, ETag: etag, Vary: 'Accept-Encoding' };
  if (cached) {
    res.writeHead(304, validated).end();
    return;
  }
  res.writeHead(200, {
    ...validated,
    'Content-Type': types[extname(file)] ?? 'application/octet-stream',
    'Content-Length': sent.size,
    ...(brotli ? { 'Content-Encoding': 'br' } : {}),
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(brotli ? `${file}.br` : file).pipe(res);
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
server.listen(port, '127.0.0.1', () => console.log(`faceverify demo: http://localhost:${port}/`));
