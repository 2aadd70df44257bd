// face-api's age/gender and expression nets on TF.js beside their ONNX conversions, on the
// same 112×112 inputs; and what they say about the photos of tests/data/identities.csv.
//
//   .venv/bin/python models/build.py                            # builds build/onnx/faceapi-*.onnx
//   .venv/bin/python tools/attributes_inputs.py target/attributes   # photos + dlib chips
//   node tools/attributes_parity.mjs [target/attributes]      # ~20 min on one core (tfjs cpu)
//   node tools/attributes_parity.mjs --report [target/attributes]  # the tables again, from results.json
//
// Two crops per photo, each fed to both runtimes:
// - dlib: dlib's face chip (5 points, padding 0.25, 150 px) resized to 112 (attributes_inputs.py);
// - face-api: face-api's own pipeline, detectAllFaces (SSD MobileNet v1, its defaults)
//   .withFaceLandmarks() (68-point net), the face nearest dlib's box, its `alignedRect` (the
//   landmarks' bounding box padded by 20 %, not rotated) cut from the photo, zero-padded to a
//   square and resized bilinearly to 112 — exactly the tensor `withAgeAndGender()` feeds the net
//   (NetInput.toBatchTensor(112, true)).
// TF.js: face-api 1.7.15's own nets on the tfjs CPU backend (float32 reference kernels), weights
// from the pinned package. ONNX: onnxruntime-web (wasm) on (x − mean) / 255, NCHW.
// Prints max |Δ| per output, gender accuracy and ages per person; writes OUT/results.json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { faceapi, loadNet, tf } from './faceapi_node.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPORT_ONLY = process.argv.includes('--report');
const OUT = path.resolve(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? path.join(ROOT, 'target', 'attributes'));
const ONNX_DIR = path.join(ROOT, 'models', 'build', 'onnx');
const MEAN = [122.782, 117.001, 104.298];
const STD = 255;
const SIZE = 112;
const EXPRESSIONS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];
// The parity set the brief names: deepface img1–img10 and the OpenFace examples.
const PARITY = new Set([...Array.from({ length: 10 }, (_, i) => `deepface/img${i + 1}.jpg`)]);
const isParity = (file) => PARITY.has(file) || file.startsWith('openface-examples/');
// Public figures' gender, from common knowledge.
const GENDER = {
  'Amy Adams': 'female', 'Angelina Jolie': 'female', 'Jennifer Aniston': 'female', 'Katy Perry': 'female',
  'Marissa Mayer': 'female', 'Scarlett Johansson': 'female',
  'Elon Musk': 'male', 'Eric Clapton': 'male', 'George Clooney': 'male', 'Jack Dorsey': 'male',
  'Jeff Bezos': 'male', 'John Lennon': 'male', 'Leonardo DiCaprio': 'male', 'Mark Zuckerberg': 'male',
  'Matt Damon': 'male', 'Steve Carell': 'male', 'Sundar Pichai': 'male',
};

const ort = await import('onnxruntime-web');

function readRgb(file, width, height) {
  const bytes = fs.readFileSync(file);
  if (bytes.length !== width * height * 3) throw new Error(`${file}: ${bytes.length} bytes, expected ${width}×${height}×3`);
  return tf.tensor3d(new Int32Array(bytes), [height, width, 3], 'int32');
}

function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

// [1, 112, 112, 3] float 0–255 → ONNX input [1, 3, 112, 112], normalised.
function toOnnx(batch) {
  const hwc = batch.dataSync();
  const chw = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    for (let c = 0; c < 3; c++) chw[c * SIZE * SIZE + i] = (hwc[i * 3 + c] - MEAN[c]) / STD;
  }
  return new ort.Tensor('float32', chw, [1, 3, SIZE, SIZE]);
}

async function runBoth(batch, sessions) {
  // forward() wraps the tensor in a NetInput (a bare tensor to forwardInput would be taken for
  // bottleneck features); at 112×112 it is neither padded nor resized.
  const ag = await faceapi.nets.ageGenderNet.forward(batch);         // { age [1], gender softmax [1,2] }
  const ex = await faceapi.nets.faceExpressionNet.forward(batch);    // softmax [1,7]
  const tfjs = { age: Array.from(await ag.age.data()), gender: Array.from(await ag.gender.data()), expression: Array.from(await ex.data()) };
  tf.dispose([ag.age, ag.gender, ex]);
  const input = toOnnx(batch);
  const a = await sessions.ageGender.run({ input });
  const e = await sessions.expression.run({ input });
  const onnx = { age: Array.from(a.age.data), gender: Array.from(a.gender.data), expression: Array.from(e.expression.data) };
  return { tfjs, onnx };
}

// The 112×112 tensor face-api's own pipeline feeds the attribute nets for this photo's face.
async function faceapiCrop(image, dlibBox) {
  const faces = await faceapi.detectAllFaces(image, new faceapi.SsdMobilenetv1Options()).withFaceLandmarks();
  if (!faces.length) return null;
  const scored = faces.map((f) => {
    const b = f.detection.box;
    return { f, iou: iou([b.x, b.y, b.x + b.width, b.y + b.height], dlibBox) };
  }).sort((p, q) => q.iou - p.iou);
  const { f, iou: overlap } = scored[0];
  if (overlap < 0.1) return null;
  const [face] = await faceapi.extractFaceTensors(image, [f.alignedRect]);
  const batch = (await faceapi.toNetInput(face)).toBatchTensor(SIZE, true);
  // The pipeline's own call on that face (withAgeAndGender → predictAgeAndGender), as a check
  // that `batch` is what it sees.
  const predicted = await faceapi.nets.ageGenderNet.predictAgeAndGender(face);
  face.dispose();
  const r = f.alignedRect.box;
  return { batch, predicted, faces: faces.length, iou: overlap, score: f.detection.score,
    aligned_rect: [r.x, r.y, r.width, r.height].map((v) => Math.round(v * 10) / 10) };
}

const maxAbs = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
const fmt = (v, d = 2) => (v == null ? '—' : v.toFixed(d));

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  await loadNet(faceapi.nets.ageGenderNet, 'age_gender_model');
  await loadNet(faceapi.nets.faceExpressionNet, 'face_expression_model');
  await loadNet(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  await loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
  ort.env.wasm.numThreads = 1;
  const sessions = {
    ageGender: await ort.InferenceSession.create(path.join(ONNX_DIR, 'faceapi-age-gender.onnx')),
    expression: await ort.InferenceSession.create(path.join(ONNX_DIR, 'faceapi-expression.onnx')),
  };
  const index = JSON.parse(fs.readFileSync(path.join(OUT, 'index.json'), 'utf8'));
  const results = [];
  for (const entry of index) {
    const row = { file: entry.file, person: entry.person, gender: GENDER[entry.person], parity: isParity(entry.file) };
    const chip = readRgb(path.join(OUT, `${entry.name}.dlib112.rgb`), SIZE, SIZE);
    const chipBatch = tf.cast(tf.expandDims(chip, 0), 'float32');
    row.dlib = await runBoth(chipBatch, sessions);
    tf.dispose([chip, chipBatch]);
    const image = readRgb(path.join(OUT, `${entry.name}.rgb`), entry.width, entry.height);
    const crop = await faceapiCrop(image, entry.dlib_box);
    image.dispose();
    if (crop) {
      row.faceapi = await runBoth(crop.batch, sessions);
      row.faceapi.pipeline = crop.predicted;
      Object.assign(row.faceapi, { faces: crop.faces, iou: crop.iou, score: crop.score, aligned_rect: crop.aligned_rect });
      crop.batch.dispose();
    } else {
      row.faceapi = null;
    }
    results.push(row);
    const show = (r) => (r ? `age ${fmt(r.onnx.age[0], 1)} P(f) ${fmt(r.onnx.gender[1])} ${EXPRESSIONS[r.onnx.expression.indexOf(Math.max(...r.onnx.expression))]}` : 'no face');
    console.error(`${entry.file.padEnd(32)} ${entry.person.padEnd(20)} dlib: ${show(row.dlib)} | face-api: ${show(row.faceapi)}`);
  }
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 1));
  report(results);
}

function report(results) {
  console.log('\n## Parity, TF.js (cpu) vs ONNX (onnxruntime-web), max |Δ|');
  console.log('| photos | crop | n | age (years) | gender (prob) | expression (prob) | pipeline age vs fed tensor |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [label, subset] of [['parity set (img1–10, openface)', results.filter((r) => r.parity)], ['all 67', results]]) {
    for (const crop of ['dlib', 'faceapi']) {
      const rows = subset.filter((r) => r[crop]);
      const worst = (k) => Math.max(...rows.map((r) => maxAbs(r[crop].tfjs[k], r[crop].onnx[k])));
      const pipe = crop === 'faceapi' ? Math.max(...rows.map((r) => Math.abs(r.faceapi.pipeline.age - r.faceapi.tfjs.age[0]))).toExponential(1) : '';
      console.log(`| ${label} | ${crop} | ${rows.length} | ${worst('age').toExponential(1)} | ${worst('gender').toExponential(1)} | ${worst('expression').toExponential(1)} | ${pipe} |`);
    }
  }
  console.log('\n## Gender (ONNX; argmax) per crop');
  console.log('| crop | n | correct | accuracy | women correct | men correct | mean P(true gender) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const crop of ['dlib', 'faceapi']) {
    const rows = results.filter((r) => r[crop]);
    const said = (r) => (r[crop].onnx.gender[0] > 0.5 ? 'male' : 'female');
    const ok = rows.filter((r) => said(r) === r.gender);
    const by = (g) => `${rows.filter((r) => r.gender === g && said(r) === g).length}/${rows.filter((r) => r.gender === g).length}`;
    const pTrue = rows.reduce((s, r) => s + r[crop].onnx.gender[r.gender === 'male' ? 0 : 1], 0) / rows.length;
    console.log(`| ${crop} | ${rows.length} | ${ok.length} | ${(100 * ok.length / rows.length).toFixed(1)} % | ${by('female')} | ${by('male')} | ${pTrue.toFixed(3)} |`);
  }
  const wrong = results.flatMap((r) => ['dlib', 'faceapi'].filter((c) => r[c] && (r[c].onnx.gender[0] > 0.5 ? 'male' : 'female') !== r.gender)
    .map((c) => `${r.file} (${r.person}, ${c}: P(male) ${r[c].onnx.gender[0].toFixed(2)})`));
  console.log(`\nwrong: ${wrong.join('; ') || 'none'}`);
  console.log('\n## Age per person (ONNX): mean [min–max] over their photos');
  console.log('| person | gender | photos | dlib crop | face-api crop |');
  console.log('|---|---|---|---|---|');
  const people = [...new Set(results.map((r) => r.person))].sort();
  for (const p of people) {
    const rows = results.filter((r) => r.person === p);
    const ages = (crop) => {
      const a = rows.filter((r) => r[crop]).map((r) => r[crop].onnx.age[0]);
      if (!a.length) return '—';
      const mean = a.reduce((s, v) => s + v, 0) / a.length;
      return a.length === 1 ? fmt(mean, 1) : `${fmt(mean, 1)} [${fmt(Math.min(...a), 0)}–${fmt(Math.max(...a), 0)}]`;
    };
    console.log(`| ${p} | ${GENDER[p]} | ${rows.length} | ${ages('dlib')} | ${ages('faceapi')} |`);
  }
  console.log('\n## Top expression (ONNX), counts per crop');
  for (const crop of ['dlib', 'faceapi']) {
    const counts = {};
    for (const r of results.filter((x) => x[crop])) {
      const e = EXPRESSIONS[r[crop].onnx.expression.indexOf(Math.max(...r[crop].onnx.expression))];
      counts[e] = (counts[e] ?? 0) + 1;
    }
    console.log(`${crop}: ${JSON.stringify(counts)}`);
  }
  const agree = results.filter((r) => r.dlib && r.faceapi);
  const topOf = (x) => x.onnx.expression.indexOf(Math.max(...x.onnx.expression));
  const same = agree.filter((r) => topOf(r.dlib) === topOf(r.faceapi)).length;
  const ageDiff = agree.map((r) => Math.abs(r.dlib.onnx.age[0] - r.faceapi.onnx.age[0]));
  console.log(`crops agree on top expression: ${same}/${agree.length}; |age dlib − age face-api| mean ${fmt(ageDiff.reduce((s, v) => s + v, 0) / ageDiff.length, 1)}, max ${fmt(Math.max(...ageDiff), 1)}`);
}

if (REPORT_ONLY) report(JSON.parse(fs.readFileSync(path.join(OUT, 'results.json'), 'utf8')));
else await main();
