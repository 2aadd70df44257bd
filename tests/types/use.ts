// Every export of the package's types, used as documented: `tsc --strict` must pass
// (tests/web/package.test.mjs). misuse.ts is the other half.
import {
  FaceVerifier, GalleryClient, chosenQuality,
  type ActionResult, type Analysis, type Attribute, type Backend, type Box, type CompareOptions, type Crop,
  type Enrolment, type ErrorCode, type Estimate, type Face, type FaceVerifyError, type GalleryState,
  type ImageInput, type Keypoint, type LivenessAction, type LivenessFrame, type LivenessOptions,
  type LivenessProgress, type LivenessResult, type LoadOptions, type LoadedModels, type Match, type Metric,
  type ModelEntry, type Port, type ProgressCallback, type Quality, type QualityReason, type SourceOptions,
  type Verdict, type Warning,
} from 'faceverify';

declare const file: File;
declare const bitmap: ImageBitmap;
declare const video: HTMLVideoElement;

const progress: ProgressCallback = (loaded: number, total: number) => console.log(loaded / total);
const options: LoadOptions = { modelsUrl: '/models/', wasmUrl: new URL('https://example.test/fv/'), threads: 2, onProgress: progress };
const verifier: FaceVerifier = await FaceVerifier.load(options);
const port: Port = await FaceVerifier.connect();
port.terminate();
const base: string = FaceVerifier.base();

const backend: Backend | null = verifier.backend;
const build: 'simd128' | 'relaxed-simd' | 'relaxed-simd-threads' | undefined = backend?.build;
const gemm: string | undefined = backend?.gemm;
const models: LoadedModels | null = verifier.models;
const entry: ModelEntry | undefined = models?.model;
const reloaded: LoadedModels = await verifier.reload({ model: 'faceres', detector: 'dlib-mmod' });

const metric: Metric = 'cosine';
const compareOptions: CompareOptions = { metric, threshold: 0.4 };
const verdict: Verdict & { analyses: [Analysis, Analysis] } = await verifier.verify(file, bitmap, compareOptions);
const verified: boolean = verdict.verified;
const confidence: number | null = verdict.confidence;
const warnings: Warning[] = verdict.warnings;
const [qa, qb] = chosenQuality(verdict.analyses);
const compared: Verdict = await verifier.compare(verdict.analyses[0].embedding, new Float32Array(128), { quality: [qa, qb] });

const source: SourceOptions = { camera: true };
const faces: Face[] = await verifier.detect(bitmap, source);
const box: Box = faces[0].box;
const keypoints: Keypoint[] = faces[0].keypoints;
const attributes: Attribute[] = ['age', 'gender', 'expression'];
const analysis: Analysis = await verifier.analyze(new Uint8Array(8), { attributes });
const age: Estimate | undefined = analysis.faces[0].attributes?.age;
const quality: Quality | undefined = analysis.faces[analysis.chosen].quality;
const reasons: QualityReason[] = quality?.reasons ?? [];
const yaw: number | undefined = quality?.yaw;
const crop: Crop = analysis.aligned;
const pixels: Uint8Array = crop.rgba;
const embedding: Float32Array = await verifier.embed(new ArrayBuffer(8));
const inputs: ImageInput[] = [file, bitmap, new ArrayBuffer(1), new Uint8Array(1), new ImageData(1, 1)];

const gallery: GalleryClient = verifier.gallery;
const items: Enrolment[] = [embedding, analysis];
let state: GalleryState = await gallery.enroll('Ada', items, { minQuality: 0.6, liveWithinMs: 60_000 });
state = await gallery.rename('Ada', 'Ada L.');
state = await gallery.import(state.json);
state = await gallery.remove('Ada L.');
state = await gallery.clear();
state = await gallery.state();
const matches: Match[] = await gallery.find(embedding, { limit: 3, metric: 'euclidean' });
const nearest: number | undefined = matches[0]?.best_distance;

const actions: LivenessAction[] = ['turn_left', 'look_down'];
const controller = new AbortController();
const livenessOptions: LivenessOptions = {
  actions, timeoutMs: 8000, signal: controller.signal,
  onProgress: (p: LivenessProgress, frame: LivenessFrame) => console.log(p.prompt, p.remaining_ms, frame.faces.length),
};
const live: LivenessResult = await verifier.liveness(video, livenessOptions);
const firstAction: ActionResult | undefined = live.actions[0];
await gallery.enroll('Ada', [live.embedding ?? []], { liveWithinMs: 60_000 });

const { wasm_bytes } = await verifier.memoryUsage();
verifier.terminate();

try {
  await verifier.embed(file);
} catch (e) {
  const code: ErrorCode = (e as FaceVerifyError).name;
  if (code === 'NO_FACE' || code === 'IMAGE_TOO_LARGE') console.log('try another photo');
}

console.log(base, build, gemm, entry, reloaded, verified, confidence, warnings, compared, box, keypoints, age, reasons, yaw, pixels,
  inputs, nearest, firstAction, wasm_bytes);
