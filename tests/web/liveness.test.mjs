// Active liveness in real Chromium with its fake camera (tests/liveness_y4m.py): a person
// performing head movements passes the demo's "Prove you are live"; the same photo printed
// and moved about in front of the camera, and a still photo, fail; a challenge can be
// cancelled; a passed challenge's face can be enrolled with `liveWithinMs`, a photo's cannot.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { artifacts, launchWithCamera, livenessVideos, openApp, pageErrors, startServer } from './helpers.mjs';

const server = await startServer();
const contexts = [];
after(async () => {
  for (const context of contexts) await context.close();
  server.stop();
});

/** The demo with the fake camera playing `video`, the camera started. */
async function cameraPage(video) {
  const context = await launchWithCamera([], {}, video);
  contexts.push(context);
  const page = await openApp(context, server.url);
  await page.click('[data-testid="camera-toggle"]');
  await page.waitForFunction(() => !document.querySelector('[data-testid="liveness-start"]').disabled, null, { timeout: 30_000 });
  return page;
}

/**
 * Run the demo's challenge to its end; its result text and data. `screenshot`: a name for
 * screenshots of the first prompt and the result.
 */
async function prove(page, screenshot) {
  await page.click('[data-testid="liveness-start"]');
  if (screenshot) {
    await page.waitForFunction(() => /^\d of \d: /.test(document.querySelector('[data-testid="liveness-prompt"]').textContent), null, { timeout: 30_000 });
    await page.locator('#camera').screenshot({ path: join(artifacts, `${screenshot}-prompt.png`) });
  }
  await page.waitForFunction(() => document.querySelector('[data-testid="liveness-result"]').dataset.passed !== undefined, null, { timeout: 90_000 });
  const result = page.locator('[data-testid="liveness-result"]');
  if (screenshot) await page.locator('#camera').screenshot({ path: join(artifacts, `${screenshot}-result.png`) });
  return { text: await result.textContent(), passed: await result.getAttribute('data-passed'), code: await result.getAttribute('data-code') };
}

test('the person performing the movements passes, and her live face can be enrolled', async () => {
  const page = await cameraPage(join(livenessVideos, 'acting.y4m'));
  const result = await prove(page, 'liveness-pass');
  console.log('acting:', result.text);
  assert.equal(result.passed, 'true', result.text);
  assert.match(result.text, /^Live: (turn left|turn right|look up|look down)(, (turn left|turn right|look up|look down)){2} done in \d+\.\d s\.$/);
  // Through the JS API the demo uses: enrolment that requires liveness.
  const enrolled = await page.evaluate(async () => {
    const { FaceVerifier } = await import('faceverify');
    const verifier = await FaceVerifier.load();
    const video = document.querySelector('[data-testid="camera-video"]');
    const live = await verifier.liveness(video, { actions: ['turn_left', 'look_up'] });
    const ok = await verifier.gallery.enroll('Live', [live.embedding, ...live.embeddings], { liveWithinMs: 60_000 });
    const refused = await verifier.gallery.enroll('Forged', [live.embedding.map((x) => x + 1e-3)], { liveWithinMs: 60_000 }).catch((e) => e.name);
    const cancel = new AbortController();
    const pending = verifier.liveness(video, { signal: cancel.signal });
    setTimeout(() => cancel.abort(), 300);
    const cancelled = await pending;
    verifier.terminate();
    return { passed: live.passed, count: ok.identities[0]?.count, refused, cancelled: cancelled.code };
  });
  console.log('API:', JSON.stringify(enrolled));
  assert.equal(enrolled.passed, true);
  assert.equal(enrolled.count, 3, 'the neutral frame and the two actions');
  assert.equal(enrolled.refused, 'NOT_LIVE');
  assert.equal(enrolled.cancelled, 'CANCELLED');
  assert.deepEqual(pageErrors(page), []);
});

test('a printed photo moved about in front of the camera fails', async () => {
  const page = await cameraPage(join(livenessVideos, 'print.y4m'));
  const result = await prove(page, 'liveness-fail');
  console.log('print:', result.text);
  assert.equal(result.passed, 'false');
  assert.equal(result.code, 'TIMEOUT', result.text);
  assert.deepEqual(pageErrors(page), []);
});

test('a still photo fails, and a face that leaves the view is reported', async () => {
  const page = await cameraPage(undefined);
  const still = await prove(page);
  console.log('still:', still.text);
  assert.equal(still.passed, 'false');
  assert.equal(still.code, 'TIMEOUT');
  // Mid-challenge the camera goes blank (a hand over the lens): the face is lost.
  await page.click('[data-testid="liveness-start"]');
  await page.waitForFunction(() => /^1 of \d: /.test(document.querySelector('[data-testid="liveness-prompt"]').textContent), null, { timeout: 30_000 });
  await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [640, 480];
    const draw = () => {
      canvas.getContext('2d').fillRect(0, 0, 640, 480);
      requestAnimationFrame(draw);
    };
    draw();
    document.querySelector('[data-testid="camera-video"]').srcObject = canvas.captureStream(10);
  });
  await page.waitForFunction(() => document.querySelector('[data-testid="liveness-result"]').dataset.passed !== undefined, null, { timeout: 30_000 });
  const lost = await page.locator('[data-testid="liveness-result"]');
  console.log('blank mid-challenge:', await lost.textContent());
  assert.equal(await lost.getAttribute('data-code'), 'FACE_LOST');
  assert.deepEqual(pageErrors(page), []);
});
