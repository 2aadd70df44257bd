// The npm package as its users get it: the tarball `make package` packed (contents and
// size); its types under `tsc --strict` (every export used passes, misuses fail on exactly
// their lines); the Vite example installed from the tarball, built with Vite's defaults and
// verifying two photos in Chromium from dist/ with no request to any other origin, and
// again offline; and the README's quick start run as written, in Node.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { faces, launchChromium, root } from './helpers.mjs';

const { version } = JSON.parse(await readFile(join(root, 'packages/faceverify/package.json'), 'utf8'));
const tarball = join(root, `target/package/faceverify-${version}.tgz`);
const example = join(root, 'examples/vite');
const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const tsc = (args) => spawnSync(process.execPath, [join(example, 'node_modules/typescript/bin/tsc'), ...args], { encoding: 'utf8' });
const SAME = ['img1.jpg', 'img2.jpg'];
const OTHER = ['img20.jpg', 'img16.jpg'];

// The example as a user installs it: the tarball, Vite and TypeScript from the registry.
before(async () => {
  await rm(join(example, 'node_modules/faceverify'), { recursive: true, force: true });
  npm(['install', '--no-package-lock'], example);
});

test('the tarball holds the API, its types, the three wasm builds, the models and their licences', () => {
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
  for (const file of ['package.json', 'README.md', 'LICENSE', 'index.d.ts', 'faceverify.js', 'engine.js', 'worker.js', 'worker-threads.js', 'node.js',
    'node-worker.js', 'protocol.js', 'features.js', 'pkg/faceverify.js', 'pkg/faceverify_bg.wasm', 'pkg/faceverify_relaxed_bg.wasm', 'pkg/default-models.js', 'pkg-threads/faceverify.js',
    'pkg-threads/faceverify_bg.wasm', 'models/LICENSES.md', 'models/dlib-resnet.nnef.tar', 'models/blazeface-front.nnef.tar']) {
    assert.ok(files.includes(file), `${file} is not in the tarball`);
  }
  assert.ok(files.some((f) => /^pkg-threads\/snippets\/.*workerHelpers/.test(f)), 'the thread pool worker is not in the tarball');
  assert.deepEqual(files.filter((f) => f.endsWith('.br') || f.endsWith('.sha256')), [], 'build leftovers are packed');
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  assert.equal(manifest.name, 'faceverify');
  assert.equal(manifest.exports['.'].types, './index.d.ts');
});

test('the Vite example installs the tarball, type-checks, builds with defaults and verifies in Chromium, offline too', async () => {
  const checked = tsc(['--noEmit', '-p', example]);
  assert.equal(checked.status, 0, checked.stdout);
  execFileSync(process.execPath, [join(example, 'node_modules/vite/bin/vite.js'), 'build'], { cwd: example, stdio: 'inherit' });

  const port = 20000 + Math.floor(Math.random() * 20000);
  const preview = spawn(process.execPath, [join(example, 'node_modules/vite/bin/vite.js'), 'preview', '--port', String(port), '--strictPort', '--host', '127.0.0.1'], { cwd: example, stdio: ['ignore', 'pipe', 'inherit'] });
  const context = await launchChromium();
  try {
    await new Promise((resolve, reject) => {
      preview.stdout.on('data', (chunk) => String(chunk).includes(`${port}`) && resolve(undefined));
      preview.on('exit', (code) => reject(new Error(`vite preview exited with ${code}`)));
    });
    const origin = `http://127.0.0.1:${port}`;
    const requests = [];
    context.on('request', (request) => requests.push(request.url()));
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('console', (message) => message.type() === 'error' && console.log(`console: ${message.text()}`));
    page.on('requestfailed', (request) => console.log(`failed: ${request.url()} ${request.failure()?.errorText}`));
    const verdict = async (pair) => {
      await page.setInputFiles('#a', join(faces, pair[0]));
      await page.setInputFiles('#b', join(faces, pair[1]));
      await page.waitForSelector('#result[data-verified]', { timeout: 60_000 });
      return page.locator('#result').getAttribute('data-verified');
    };
    await page.goto(`${origin}/`);
    await page.waitForSelector('#status[data-ready]', { timeout: 120_000 });
    assert.equal(await verdict(SAME), 'true', await page.locator('#result').textContent());
    assert.equal(await verdict(OTHER), 'false', await page.locator('#result').textContent());
    const elsewhere = requests.filter((url) => !url.startsWith(`${origin}/`) && !/^(data|blob):/.test(url));
    assert.deepEqual(elsewhere, [], 'requests to another origin');
    assert.ok(requests.some((url) => /\.wasm(\?|$)/.test(url)) && requests.some((url) => /dlib-resnet\.nnef[^/]*\.tar(\?|$)/.test(url)),
      `the wasm and the models came from the app's own origin: ${requests.join(' ')}`);
    console.log(`${requests.length} requests, all to ${origin}`);

    await context.setOffline(true);
    await page.reload();
    await page.waitForSelector('#status[data-ready]', { timeout: 120_000 });
    assert.equal(await verdict(SAME), 'true', 'offline');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    preview.kill();
  }
});

test('the types pass tsc --strict where the API is used as documented and fail on each misuse', async () => {
  const use = tsc(['-p', join(root, 'tests/types/tsconfig.json')]);
  assert.equal(use.status, 0, use.stdout);
  const misuse = tsc(['-p', join(root, 'tests/types/tsconfig.misuse.json')]);
  assert.notEqual(misuse.status, 0, 'the misuses type-check');
  const source = (await readFile(join(root, 'tests/types/misuse.ts'), 'utf8')).split('\n');
  const marked = source.flatMap((line, i) => (line.includes('// fails:') ? [i + 1] : []));
  const named = [...new Set([...misuse.stdout.matchAll(/misuse\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])))];
  assert.deepEqual(named.sort((a, b) => a - b), marked, misuse.stdout);
  console.log(`tsc --strict: use.ts passes; misuse.ts fails on its ${marked.length} marked lines and no others`);
});

test("the package README's quick start runs as written in Node", async () => {
  const dir = join(root, 'target/package-node');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  npm(['install', '--no-package-lock', tarball], dir);
  await symlink(join(faces, SAME[0]), join(dir, 'a.jpg'));
  await symlink(join(faces, SAME[1]), join(dir, 'b.jpg'));
  const readme = await readFile(join(root, 'packages/faceverify/README.md'), 'utf8');
  const [browser, node] = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  await writeFile(join(dir, 'node.mjs'), node);
  // The browser block in Node, whose Blobs are images too: only its files are defined here.
  await writeFile(join(dir, 'browser.mjs'), `import { readFile as read } from 'node:fs/promises';\n` +
    `const [fileA, fileB] = [new Blob([await read('a.jpg')]), new Blob([await read('b.jpg')])];\n${browser}`);
  for (const script of ['node.mjs', 'browser.mjs']) {
    const run = spawnSync(process.execPath, [script], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    console.log(`${script}: ${run.stdout.trim().split('\n')[0].slice(0, 160)}`);
    assert.match(run.stdout, script === 'node.mjs' ? /verified: true/ : /^true \d/);
  }
});
