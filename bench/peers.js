// @ts-check
// The same figures as bench.js, measured on the runtimes people would pick instead, in the
// same browser, one thread each like ours (?runtime=onnxruntime-web | face-api):
// - onnxruntime-web (wasm backend) on our very ONNX files, with the same preprocessing,
//   BlazeFace decoding (best face), similarity alignment and normalisation, done in JS and
//   canvas as a web developer using it would;
// - face-api on tfjs-backend-wasm: the same dlib ResNet weights, its own TinyFaceDetector
//   (416 px) and tiny 68-point landmarks for alignment.
// bench/run.mjs serves the photos, our manifest (./manifest.json) and the peers' files
// under ./vendor/.
import { frames, medianMs, report } from './timing.js';

const runtime = new URLSearchParams(location.search).get('runtime');
/** One thread as faceverify, unless ?threads= says otherwise. */
const threads = Number(new URLSearchParams(location.search).get('threads') ?? 1);

/** @param {number} width @param {number} height */
function canvas2d(width, height) {
  const canvas = document.createElement('canvas');
  [canvas.width, canvas.height] = [width, height];
  return { canvas, ctx: /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true })) };
}

/** The middle `w`×`h` of a frame: any pixels time an embedder alike (as in bench.js). */
function middle(/** @type {HTMLCanvasElement} */ frame, /** @type {number} */ w, /** @type {number} */ h) {
  const { canvas, ctx } = canvas2d(w, h);
  ctx.drawImage(frame, (frame.width - w) / 2, (frame.height - h) / 2, w, h, 0, 0, w, h);
  return canvas;
}

/** @param {ArrayLike<number>} a @param {ArrayLike<number>} b */
const euclidean = (a, b) => Math.sqrt(Array.from(a).reduce((sum, x, i) => sum + (x - b[i]) ** 2, 0));

/**
 * Least-squares similarity (rotation, uniform scale, shift) taking points `from` onto `to`,
 * as a canvas transform [a, b, c, d, e, f].
 * @param {number[][]} from @param {number[][]} to
 */
function similarity(from, to) {
  const mean = (/** @type {number[][]} */ p) => [0, 1].map((k) => p.reduce((s, q) => s + q[k], 0) / p.length);
  const [mf, mt] = [mean(from), mean(to)];
  let [dot, cross, norm] = [0, 0, 0];
  from.forEach(([x, y], i) => {
    const [px, py, qx, qy] = [x - mf[0], y - mf[1], to[i][0] - mt[0], to[i][1] - mt[1]];
    dot += px * qx + py * qy;
    cross += px * qy - py * qx;
    norm += px * px + py * py;
  });
  const [a, b] = [dot / norm, cross / norm];
  return [a, b, -b, a, mt[0] - (a * mf[0] - b * mf[1]), mt[1] - (b * mf[0] + a * mf[1])];
}

async function onnxruntimeWeb() {
  const ort = await import('./vendor/onnxruntime-web/ort.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./vendor/onnxruntime-web/', location.href).href;
  ort.env.wasm.numThreads = threads;
  const manifest = await (await fetch('manifest.json')).json();
  const spec = (/** @type {string} */ id) => manifest.models.find((/** @type {any} */ m) => m.id === id);
  const [detector, model] = [spec(manifest.camera_detector), spec(manifest.default_embedder)];
  const bytes = await Promise.all([detector, model].map(async (m) => new Uint8Array(await (await fetch(`../faceverify/models/${m.file}`)).arrayBuffer())));
  const loadStart = performance.now();
  const [detectorSession, modelSession] = await Promise.all(bytes.map((b) => ort.InferenceSession.create(b, { executionProviders: ['wasm'] })));
  const loadMs = performance.now() - loadStart;

  /** NCHW float input, (value − mean) / std per channel. @param {HTMLCanvasElement} canvas @param {any} input */
  const tensor = (canvas, input) => {
    const { width, height } = canvas;
    const rgba = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true })).getImageData(0, 0, width, height).data;
    const data = new Float32Array(3 * width * height);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < width * height; i++) data[c * width * height + i] = (rgba[i * 4 + c] - input.mean[c]) / input.std[c];
    }
    return new ort.Tensor('float32', data, [1, 3, height, width]);
  };

  const { width: size } = detector.input;
  const decoder = detector.decoder;
  const anchors = decoder.anchor_grids.flatMap((/** @type {any} */ grid) => {
    const cells = size / grid.stride;
    return Array.from({ length: cells * cells * grid.per_cell }, (_, i) => {
      const cell = Math.floor(i / grid.per_cell);
      return [((cell % cells) + 0.5) / cells, (Math.floor(cell / cells) + 0.5) / cells];
    });
  });
  const letterbox = canvas2d(size, size);
  /** Keypoints of the best-scoring face, in frame pixels. @param {HTMLCanvasElement} frame */
  const detect = async (frame) => {
    const scale = Math.min(size / frame.width, size / frame.height);
    const [w, h] = [frame.width * scale, frame.height * scale];
    const [ox, oy] = [(size - w) / 2, (size - h) / 2];
    letterbox.ctx.fillRect(0, 0, size, size);
    letterbox.ctx.drawImage(frame, ox, oy, w, h);
    const out = await detectorSession.run({ [detector.input.name]: tensor(letterbox.canvas, detector.input) });
    const [scores, regressors] = [out[decoder.scores].data, out[decoder.regressors].data];
    let best = 0;
    for (let i = 1; i < anchors.length; i++) if (scores[i] > scores[best]) best = i;
    const stride = regressors.length / anchors.length;
    const [ax, ay] = [anchors[best][0] * size, anchors[best][1] * size];
    return Object.fromEntries(
      decoder.keypoints.map((/** @type {string} */ name, /** @type {number} */ k) => [
        name,
        [(ax + regressors[best * stride + 4 + 2 * k] - ox) / scale, (ay + regressors[best * stride + 5 + 2 * k] - oy) / scale],
      ]),
    );
  };
  // BlazeFace's points where dlib's chip puts them (150 px, padding 0.25; faceverify's own
  // template before it used dlib's landmarks): what a page without a landmark model aligns to.
  const template = Object.entries({ right_eye: [47.549, 46.599], left_eye: [100.476, 46.599], nose: [74.013, 76.563], mouth: [74.013, 105.857] });
  const aligned = canvas2d(model.input.width, model.input.height);
  /** @param {HTMLCanvasElement} frame @param {Record<string, number[]>} keypoints */
  const align = (frame, keypoints) => {
    const transform = similarity(template.map(([name]) => keypoints[name]), template.map(([, point]) => /** @type {number[]} */ (point)));
    aligned.ctx.setTransform(...(/** @type {[number, number, number, number, number, number]} */ (transform)));
    aligned.ctx.drawImage(frame, 0, 0);
    aligned.ctx.resetTransform();
    return aligned.canvas;
  };
  /** @param {HTMLCanvasElement} crop */
  const embed = async (crop) => (await modelSession.run({ [model.input.name]: tensor(crop, model.input) }))[model.output.name].data;
  const pipeline = async (/** @type {HTMLCanvasElement} */ frame) => embed(align(frame, await detect(frame)));

  const pair = await frames('photo.jpg', 'photo2.jpg');
  const crop = middle(pair[0], model.input.width, model.input.height);
  return {
    load_ms: loadMs,
    embed_ms: await medianMs(() => embed(crop)),
    detect_ms: await medianMs(() => detect(pair[0])),
    pipeline_ms: await medianMs(() => pipeline(pair[0])),
    pair_distance: euclidean(await pipeline(pair[0]), await pipeline(pair[1])),
  };
}

async function faceApi() {
  const faceapi = await import('./vendor/face-api/face-api.esm.js');
  faceapi.tf.setWasmPaths(new URL('./vendor/tfjs-backend-wasm/', location.href).href);
  // Pinned, and reported in the results, so that "every runtime on 1 thread" is checked
  // rather than assumed of whichever tfjs-wasm build loads.
  faceapi.tf.setThreadsCount(threads);
  await faceapi.tf.setBackend('wasm');
  await faceapi.tf.ready();
  const loadStart = performance.now();
  const weights = './vendor/face-api-models';
  await Promise.all([faceapi.nets.tinyFaceDetector, faceapi.nets.faceLandmark68TinyNet, faceapi.nets.faceRecognitionNet].map((net) => net.loadFromUri(weights)));
  const loadMs = performance.now() - loadStart;
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  const pipeline = async (/** @type {HTMLCanvasElement} */ frame) => {
    const face = await faceapi.detectSingleFace(frame, options).withFaceLandmarks(true).withFaceDescriptor();
    if (!face) throw new Error('face-api found no face');
    return face.descriptor;
  };
  const pair = await frames('photo.jpg', 'photo2.jpg');
  const crop = middle(pair[0], 150, 150);
  return {
    backend: `${faceapi.tf.getBackend()} (tfjs ${faceapi.tf.version_core}, ${faceapi.tf.getThreadsCount()} thread${faceapi.tf.getThreadsCount() === 1 ? '' : 's'})`,
    load_ms: loadMs,
    embed_ms: await medianMs(() => faceapi.computeFaceDescriptor(crop)),
    detect_ms: await medianMs(() => faceapi.detectSingleFace(pair[0], options)),
    pipeline_ms: await medianMs(() => pipeline(pair[0])),
    pair_distance: euclidean(await pipeline(pair[0]), await pipeline(pair[1])),
  };
}

const runtimes = { 'onnxruntime-web': onnxruntimeWeb, 'face-api': faceApi };
report(runtimes[/** @type {keyof runtimes} */ (runtime)] ?? (() => Promise.reject(new Error(`unknown runtime ${runtime}`))));
