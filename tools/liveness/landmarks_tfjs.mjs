// face-api's 68-point landmark nets (full and tiny) on TF.js (cpu backend), fed face-api's own
// crop, for the liveness measurements and the ONNX parity check (landmarks_eval.py).
//
//   node tools/liveness/landmarks_tfjs.mjs DIR [N_TFJS] [--boxes PREVIOUS_tfjs.json]
//
// --boxes reuses the SSD boxes of an earlier run (same photos) instead of detecting again.
//
// The TF.js landmark nets (slow on the cpu backend: ~5 s per crop and net on a busy core) run on
// every variant of the first N_TFJS photos (default 12, the ones with head-turn variants); for the
// other photos only the crops are written (the ONNX nets measure them in landmarks_eval.py).
//
// Per photo: SSD MobileNet v1 (face-api defaults) on the `open` image, the detection nearest
// dlib's box; that box is cut from every variant of the photo (extractFaceTensors), zero-padded
// to a square and resized to 112×112 exactly as withFaceLandmarks() does
// (NetInput.toBatchTensor(112, true)). The 112×112 float tensor is written to
// DIR/<name>.<variant>.in112.f32 (HWC, 0–255) and both nets' raw outputs (x, y in [0, 1] of the
// 112 input; forward() at 112×112 applies no padding correction) go to DIR/tfjs.json.
// Loading face-api in Node follows tools/attributes_parity.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { faceapi, loadNet, tf } from '../faceapi_node.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = path.resolve(process.argv[2]);
const SIZE = 112;
const POS = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--boxes');
const N_TFJS = Number(POS[1] ?? 12);
const BOXES_AT = process.argv.indexOf('--boxes');
const OLD = BOXES_AT > 0 ? Object.fromEntries(JSON.parse(fs.readFileSync(process.argv[BOXES_AT + 1], 'utf8')).map((r) => [r.name, r])) : null;


function readRgb(file, width, height) {
  const bytes = fs.readFileSync(file);
  return tf.tensor3d(new Int32Array(bytes), [height, width, 3], 'int32');
}

function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  return (w * h) / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h);
}

await tf.setBackend('cpu');
await tf.ready();
await loadNet(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
await loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
await loadNet(faceapi.nets.faceLandmark68TinyNet, 'face_landmark_68_tiny_model');

const index = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8'));
const out = [];
for (const [k, e] of index.entries()) {
  let box; let best;
  if (OLD) {
    const o = OLD[e.name];
    if (!o || !o.box) { out.push({ name: e.name, box: null }); continue; }
    box = new faceapi.Rect(...o.box);
    best = { d: { score: o.score }, o: o.iou };
  } else {
    const open = readRgb(path.join(DIR, `${e.name}.open.rgb`), e.width, e.height);
    const dets = await faceapi.nets.ssdMobilenetv1.locateFaces(open, new faceapi.SsdMobilenetv1Options());
    open.dispose();
    best = dets.map((d) => ({ d, o: iou([d.box.x, d.box.y, d.box.x + d.box.width, d.box.y + d.box.height], e.dlib_box) }))
      .sort((p, q) => q.o - p.o)[0];
    if (!best || best.o < 0.1) { console.error(`${e.file}: no face`); out.push({ name: e.name, box: null }); continue; }
    box = best.d.box;
  }
  const rec = { name: e.name, box: [box.x, box.y, box.width, box.height], score: best.d.score, iou: best.o, variants: {} };
  for (const v of e.variants) {
    const img = readRgb(path.join(DIR, `${e.name}.${v}.rgb`), e.width, e.height);
    const [face] = await faceapi.extractFaceTensors(img, [box]);
    const input = await faceapi.toNetInput(face);
    const batch = tf.cast(input.toBatchTensor(SIZE, true), 'float32');
    fs.writeFileSync(path.join(DIR, `${e.name}.${v}.in112.f32`), Buffer.from((await batch.data()).buffer));
    rec.variants[v] = { crop_wh: [face.shape[1], face.shape[0]] };
    if (k < N_TFJS) {
      const full = await faceapi.nets.faceLandmark68Net.forward(batch);
      const tiny = await faceapi.nets.faceLandmark68TinyNet.forward(batch);
      Object.assign(rec.variants[v], { full: Array.from(await full.data()), tiny: Array.from(await tiny.data()) });
      tf.dispose([full, tiny]);
      if (k < 3 && v === 'open') {
        // the pipeline's own call on the unpadded face, for a check of the padding maths
        const lm = await faceapi.nets.faceLandmark68Net.detectLandmarks(face);
        rec.variants[v].pipeline_rel = lm.relativePositions.map((p) => [p.x, p.y]);
      }
    }
    tf.dispose([img, face, batch]);
  }
  out.push(rec);
  console.error(`${e.file}: box ${rec.box.map((x) => x.toFixed(0)).join(',')} iou ${best.o.toFixed(2)}, ${e.variants.length} variants`);
}
fs.writeFileSync(path.join(DIR, 'tfjs.json'), JSON.stringify(out));
