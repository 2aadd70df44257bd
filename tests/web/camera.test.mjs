// The webcam in real Chromium: its fake camera plays a photo of an enrolled person
// (target/fixtures-web/camera.y4m, made by tests/camera_y4m.py from img5.jpg) and the live
// overlay must name her; a captured frame then verifies against another photo.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, enrol, faces, launchWithCamera, openApp, pageErrors, startServer } from './helpers.mjs';

let server;
let context;
let page;

before(async () => {
  server = await startServer();
  context = await launchWithCamera();
  page = await openApp(context, server.url);
});

after(async () => {
  await context?.close();
  server?.stop();
});

test('the live overlay names the enrolled person in front of the camera', async () => {
  await enrol(page, 'Angelina', ['img1.jpg']);
  await enrol(page, 'Person B', ['img13.jpg']);
  await page.click('[data-testid="camera-toggle"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="live-result"]').dataset.name === 'Angelina', null, { timeout: 60_000 });
  // Let it run a few seconds so the frame rate is measured over full seconds.
  await page.waitForTimeout(3000);
  const live = await page.locator('[data-testid="live-result"]').textContent();
  const fps = await page.locator('[data-testid="fps"]').textContent();
  console.log(`live: ${live}; ${fps}`);
  assert.match(live, /^Angelina \d\.\d\d$/);
  assert.match(fps, /^\d+ frames per second$/);
  assert.ok(Number.parseInt(fps, 10) >= 1, 'the loop keeps running');
  await page.locator('#camera').screenshot({ path: join(artifacts, 'camera-live.png') });
});

test('asked for, the live overlay shows apparent gender, age and expression', async () => {
  await page.check('[data-testid="camera-attributes"]');
  await page.waitForFunction(() => / · (male|female) \d+ \w+$/.test(document.querySelector('[data-testid="live-result"]').textContent), null, { timeout: 60_000 });
  const live = await page.locator('[data-testid="live-result"]').textContent();
  console.log(`live with attributes: ${live}`);
  assert.match(live, /^Angelina \d\.\d\d · female \d+ (neutral|happy|sad|angry|fearful|disgusted|surprised)$/);
  await page.locator('#camera').screenshot({ path: join(artifacts, 'camera-attributes.png') });
  await page.uncheck('[data-testid="camera-attributes"]');
});

test('a captured frame verifies against a photo of the same person', async () => {
  await page.click('[data-testid="capture"]');
  await page.setInputFiles('[data-testid="file-b"]', join(faces, 'img2.jpg'));
  await page.waitForFunction(() => document.querySelector('[data-testid="result"]').dataset.verified !== undefined, null, { timeout: 60_000 });
  const result = page.locator('[data-testid="result"]');
  console.log('camera frame vs img2:', await result.textContent());
  assert.equal(await result.getAttribute('data-verified'), 'true');
  await page.click('[data-testid="camera-toggle"]');
  assert.equal(await page.locator('[data-testid="camera-status"]').textContent(), 'Camera off.');
});

test('the page threw no uncaught errors', () => {
  assert.deepEqual(pageErrors(page), []);
});
