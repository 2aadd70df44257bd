// face-api's own nets on TF.js in plain Node (no tfjs-node, no network), for parity checks of
// the converted models: `faceapi`, its `tf`, and `loadNet(net, name)` reading a weight
// manifest from the pinned package that models/fetch.py unpacked.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_DIR = path.join(ROOT, 'models', 'build', 'packages', '@vladmandic__face-api', 'package', 'model');

// face-api's browser bundle carries its own tfjs; hide Node from it while it loads, or tfjs
// sets up its Node platform with the bundle's empty `util` stub and throws. Weights are read
// with fs and images come as tensors, so no fetch is needed.
const versions = process.versions;
Object.defineProperty(process, 'versions', { value: { ...versions, node: undefined }, configurable: true, writable: true });
export const faceapi = await import('@vladmandic/face-api/dist/face-api.esm.js');
Object.defineProperty(process, 'versions', { value: versions, configurable: true, writable: true });
faceapi.env.initialize(); // face-api's own environment: Node's now (placeholder media classes)
export const { tf } = faceapi;
// …and give tfjs the few platform services it uses (Node's own, minus fetch).
tf.env().setPlatform('node-plain', {
  fetch: () => { throw new Error('no fetch here'); },
  now: () => performance.now(),
  encode: (text) => new TextEncoder().encode(text),
  decode: (bytes, encoding) => new TextDecoder(encoding).decode(bytes),
  isTypedArray: (a) => ArrayBuffer.isView(a) && !(a instanceof DataView),
});

/** Load face-api net `net` (e.g. `faceapi.nets.ageGenderNet`) from `<name>-weights_manifest.json`. */
export async function loadNet(net, name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, `${name}-weights_manifest.json`), 'utf8'));
  const read = async (paths) => paths.map((p) => {
    const b = fs.readFileSync(p);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  });
  net.loadFromWeightMap(await tf.io.weightsLoaderFactory(read)(manifest, MODEL_DIR));
}
