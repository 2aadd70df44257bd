// Shared by the browser and wasm tests: paths, the demo server and a Chromium launcher.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const faces = process.env.FACEVERIFY_FACES ?? join(root, '../shared/faces/deepface');
export const artifacts = join(root, 'test-results');

/** Start tools/serve.mjs on a free port; resolves to {url, stop}. */
export async function startServer() {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [join(root, 'tools/serve.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => String(chunk).includes('http://') && resolve(undefined));
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill() };
}

/** Debian's Chromium, headless, fresh profile, no background traffic. */
export async function launchChromium(extraArgs = []) {
  const profile = await mkdtemp(join(tmpdir(), 'faceverify-chromium-'));
  await mkdir(artifacts, { recursive: true });
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', ...extraArgs,
    ],
  });
}
