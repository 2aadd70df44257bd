// `make package`: completes packages/faceverify with what the build made — the model files
// the manifest lists (a user-supplied one, `convert.user_file`, is never shipped), their licences,
// the code's licence — and packs it with `npm pack` into target/package/. Prints the
// tarball's size and contents.
// usage: node tools/package.mjs
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'packages/faceverify');
const built = join(root, 'models/build/onnx');
const out = join(root, 'target/package');

const manifest = JSON.parse(await readFile(join(root, 'models/manifest.json'), 'utf8'));
await rm(join(dir, 'models'), { recursive: true, force: true });
await mkdir(join(dir, 'models'), { recursive: true });
const lines = [
  '# Model weights in this package and their licences',
  '',
  'Converted at build time from the registry packages named here, pinned by version and sha256',
  '(models/packages.json in the faceverify repository). The code is MIT (../LICENSE).',
  '',
  '| file | model | licence | from |',
  '|---|---|---|---|',
];
for (const model of manifest.models) {
  if (model.convert.user_file) continue;
  // The file engine.js downloads: the NNEF file where the manifest names one.
  const { file } = model.nnef ?? model;
  const source = join(built, file);
  if (!(await stat(source).catch(() => null))) throw new Error(`${file} is not built: run make models`);
  await copyFile(source, join(dir, 'models', file));
  const { license, package: pkg, version, origin } = model.provenance;
  lines.push(`| ${file} | ${model.id}: ${origin ?? model.description} | ${license} | ${model.provenance.registry} ${pkg} ${version} |`);
}
await writeFile(join(dir, 'models/LICENSES.md'), `${lines.join('\n')}\n`);
await copyFile(join(root, 'LICENSE'), join(dir, 'LICENSE'));

// wasm-pack leaves a `.gitignore` of `*` in each build folder, which npm would take as
// its ignore list there; an empty `.npmignore` (never packed) takes precedence.
for (const build of ['pkg', 'pkg-threads']) await writeFile(join(dir, build, '.npmignore'), '');

await mkdir(out, { recursive: true });
const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8' }));
for (const file of packed.files) console.log(`${String(file.size).padStart(10)}  ${file.path}`);
console.log(`${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`);
