// Face quality and attributes in the demo, in Chromium: every face of a photo gets its
// apparent age, gender and expression (their models fetched only then), faces behind dark
// glasses are "too poor to decide", and a blurred photo is not enrolled.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { artifacts, faces, launchChromium, openApp, pageErrors, root, startServer, verdictFor } from './helpers.mjs';

const hard = (name) => join(root, 'target/pairs/hard', name);
let server;
let context;
let page;
const modelRequests = [];

before(async () => {
  server = await startServer();
  context = await launchChromium();
  context.on('request', (request) => {
    if (request.url().includes('/models/')) modelRequests.push(request.url());
  });
  page = await openApp(context, server.url);
});

after(async () => {
  await context?.close();
  server?.stop();
});

test('analyze labels every face with apparent age, gender, expression and quality', async () => {
  const attributeModel = (url) => /faceapi-(age-gender|expression)\.nnef\.tar/.test(url);
  assert.equal(modelRequests.filter(attributeModel).length, 0, 'the default load fetches no attribute model');
  await page.goto(`${server.url}#analyze`);
  await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
  await page.setInputFiles('[data-testid="analyze-file"]', join(faces, 'couple.jpg'));
  await page.waitForFunction(() => document.querySelector('[data-testid="analyze-status"]').dataset.state, null, { timeout: 60_000 });
  const status = await page.textContent('[data-testid="analyze-status"]');
  assert.match(status, /^2 faces\./, status);
  const described = await page.locator('[data-testid="analyze-faces"] li').allTextContents();
  console.log(described.join('\n'));
  assert.equal(described.length, 2);
  for (const line of described) {
    assert.match(line, /^Face \d: (male|female) \(\d+ %\), about \d+ years, (neutral|happy|sad|angry|fearful|disgusted|surprised) \(\d+ %\), quality \d\.\d\d/);
  }
  assert.ok(described.some((l) => l.includes('female')) && described.some((l) => / male /.test(l)), 'the couple: a woman and a man');
  assert.equal(modelRequests.filter(attributeModel).length, 2, 'both attribute models fetched once asked for');
  await page.screenshot({ path: join(artifacts, 'analyze-couple.png'), fullPage: true });
});

test('faces behind dark glasses are too poor to decide', async () => {
  await page.goto(`${server.url}#verify`);
  await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
  const verdict = await verdictFor(page, hard('deepface_img1.sunglasses.png'), hard('deepface_img3.sunglasses.png'));
  console.log(verdict.text);
  assert.match(verdict.text, /^Too poor to decide \(leaning to (same person|different people)\)/);
  assert.equal(await page.getAttribute('[data-testid="result"]', 'data-poor'), 'true');
  assert.match(await page.textContent('[data-testid="faces-a"]'), /quality 0 % \(eyes covered/);
  await page.screenshot({ path: join(artifacts, 'verify-too-poor.png'), fullPage: true });
  const clean = await verdictFor(page, 'img1.jpg', 'img2.jpg', verdict.text);
  assert.match(clean.text, /^Same person/);
  assert.equal(await page.getAttribute('[data-testid="result"]', 'data-poor'), 'false');
});

test('finding a face behind dark glasses says it is too poor to decide', async () => {
  await page.fill('[data-testid="enrol-name"]', 'Angelina');
  await page.setInputFiles('[data-testid="enrol-files"]', join(faces, 'img1.jpg'));
  await page.click('[data-testid="enrol-submit"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="gallery-status"]').textContent.startsWith('Enrolled Angelina'), null, { timeout: 60_000 });
  await page.setInputFiles('[data-testid="find-file"]', hard('deepface_img2.sunglasses.png'));
  await page.waitForFunction(() => document.querySelector('[data-testid="find-result"]').dataset.poor !== undefined, null, { timeout: 60_000 });
  assert.equal(await page.getAttribute('[data-testid="find-result"]', 'data-poor'), 'true');
  assert.match(await page.textContent('[data-testid="find-result"]'), /^Too poor to decide: quality 0\.00/);
  await page.setInputFiles('[data-testid="find-file"]', join(faces, 'img2.jpg'));
  await page.waitForFunction(() => document.querySelector('[data-testid="find-result"]').dataset.poor === 'false', null, { timeout: 60_000 });
  assert.equal(await page.getAttribute('[data-testid="find-result"]', 'data-best'), 'Angelina');
});

test('a blurred photo is not enrolled, and says why', async () => {
  await page.fill('[data-testid="enrol-name"]', 'Blurred');
  await page.setInputFiles('[data-testid="enrol-files"]', hard('deepface_img1.blur.png'));
  await page.click('[data-testid="enrol-submit"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="gallery-status"]').dataset.state === 'error', null, { timeout: 60_000 });
  const status = await page.textContent('[data-testid="gallery-status"]');
  console.log(status);
  assert.match(status, /not enrolled, a photo is too poor: .*blurred: sharpness/);
  assert.ok(!(await page.textContent('[data-testid="identities"]')).includes('Blurred'), 'nothing enrolled');
  assert.deepEqual(pageErrors(page), []);
});
