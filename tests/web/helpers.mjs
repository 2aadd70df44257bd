// Shared by the browser and wasm tests: paths, the demo server and a Chromium launcher.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const faces = process.env.FACEVERIFY_FACES ?? join(root, '../shared/faces/deepface');
export const artifacts = join(root, 'test-results');
/** Chromium's fake-camera video (made by tests/camera_y4m.py in `make fixtures`). */
const cameraVideo = join(root, 'target/fixtures-web/camera.y4m');
/** The liveness videos (tests/liveness_y4m.py): `acting.y4m`, `print.y4m`. */
export const livenessVideos = join(root, 'target/fixtures-web/liveness');

/**
 * Start tools/serve.mjs on a free port; resolves to {url, stop, requests}, where `requests`
 * lists every request the server has received ("GET /path"), in order.
 */
export async function startServer() {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [join(root, 'tools/serve.mjs'), String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FACEVERIFY_LOG_REQUESTS: '1' },
  });
  const requests = [];
  let buffered = '';
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (line.startsWith('request ')) requests.push(line.slice('request '.length));
        else if (line.includes('http://')) resolve(undefined);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill(), requests };
}

/** Debian's Chromium, headless, fresh profile, no background traffic. */
export async function launchChromium(extraArgs = [], options = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'faceverify-chromium-'));
  await mkdir(artifacts, { recursive: true });
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', ...extraArgs,
    ],
    acceptDownloads: true,
    ...options,
  });
}

/**
 * As {@link launchChromium}, with Chromium's fake camera playing `video` (a Y4M file; by
 * default `cameraVideo`) in a loop and camera access granted.
 */
export function launchWithCamera(extraArgs = [], options = {}, video = cameraVideo) {
  return launchChromium(
    ['--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`, ...extraArgs],
    { permissions: ['camera'], ...options },
  );
}

const uncaught = new WeakMap();

/** Uncaught errors the page has thrown since `openApp`: a test file ends by asserting none. */
export function pageErrors(page) {
  return uncaught.get(page) ?? [];
}

/**
 * Poll `f` until `ok` holds for its value (returned), for up to 30 s; then fail.
 * @template T @param {() => Promise<T>} f @param {(v: T) => boolean} ok
 */
export async function until(f, ok) {
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
    const value = await f();
    if (ok(value)) return value;
  }
  throw new Error('timed out');
}

/** Open the demo in `context` and wait until its models are loaded. */
export async function openApp(context, url) {
  const page = context.pages()[0] ?? (await context.newPage());
  if (!uncaught.has(page)) {
    uncaught.set(page, []);
    page.on('pageerror', (error) => {
      console.error('page error:', error);
      uncaught.get(page).push(String(error));
    });
  }
  await page.goto(url);
  await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
  return page;
}

/** A photo by absolute path, or by file name in the shared faces folder. */
const photoPath = (p) => (isAbsolute(p) ? p : join(faces, p));

/** Enrol `name` from `photos` (see {@link photoPath}) through the page. */
export async function enrol(page, name, photos) {
  await page.fill('[data-testid="enrol-name"]', name);
  await page.setInputFiles('[data-testid="enrol-files"]', photos.map(photoPath));
  await page.click('[data-testid="enrol-submit"]');
  await page.waitForFunction(
    (name) => document.querySelector('[data-testid="gallery-status"]').textContent.startsWith(`Enrolled ${name}`),
    name,
    { timeout: 60_000 },
  );
}

/** Choose both verify photos and wait for a verdict different from `previous`. */
export async function verdictFor(page, a, b, previous = '') {
  await page.setInputFiles('[data-testid="file-a"]', photoPath(a));
  await page.setInputFiles('[data-testid="file-b"]', photoPath(b));
  await page.waitForFunction(
    (prev) => {
      const el = document.querySelector('[data-testid="result"]');
      return el.dataset.verified !== undefined && el.textContent !== prev;
    },
    previous,
    { timeout: 60_000 },
  );
  const result = page.locator('[data-testid="result"]');
  return { verified: await result.getAttribute('data-verified'), text: await result.textContent() };
}
