// Types of faceverify's public API (faceverify.js in browsers, node.js in Node: the same
// surface). Written by hand beside the JSDoc of faceverify.js; tests/types/ checks both
// against `tsc --strict` (a use of every export must pass, misuses must fail).

/** The stable `name` of every error the API rejects with. */
export type ErrorCode =
  | 'NO_FACE'
  | 'IMAGE_DECODE'
  | 'IMAGE_TOO_LARGE'
  | 'MODEL_INVALID'
  | 'UNKNOWN_MODEL'
  | 'INFERENCE'
  | 'INVALID_INPUT'
  | 'GALLERY_INVALID'
  | 'LOW_QUALITY'
  | 'NOT_LIVE'
  | 'NOT_LOADED'
  | 'WORKER_FAILED';

/** An `Error` whose `name` is one of {@link ErrorCode}. */
export interface FaceVerifyError extends Error {
  name: ErrorCode;
}

/** In the image's own pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Keypoint {
  name: string;
  x: number;
  y: number;
}

export interface QualityReason {
  code: string;
  message: string;
  score: number;
}

/**
 * How far a face can be trusted for recognition, 0–1, and why it is low. Angles in degrees,
 * inter-ocular distance in pixels (docs/quality.md: units and ranges of every measure).
 */
export interface Quality {
  score: number;
  reasons: QualityReason[];
  inter_ocular_distance: number;
  sharpness: number;
  yaw: number;
  pitch: number;
  roll: number;
  luminance_mean: number;
  luminance_contrast: number;
  skin_colour: [number, number] | null;
  eyes_visible: number;
  mouth_visible: number;
  occlusion: number;
  detector_score: number;
}

export type Attribute = 'age' | 'gender' | 'expression';

/**
 * age: `value` in years (apparent age); gender: `label` 'male' | 'female'; expression:
 * `label` one of neutral, happy, sad, angry, fearful, disgusted, surprised. Estimates of
 * appearance, not facts about a person.
 */
export interface Estimate {
  value?: number;
  unit?: string;
  label?: string;
  probability?: number;
  probabilities?: Record<string, number>;
  model: string;
}

/** Keypoints: the detector's, then dlib's 5 landmarks; `cut`: the face runs past the border. */
export interface Face {
  box: Box;
  score: number;
  keypoints: Keypoint[];
  cut: boolean;
  quality?: Quality;
  attributes?: Partial<Record<Attribute, Estimate>>;
}

/** RGBA pixels, row by row. */
export interface Crop {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** SIMILAR_FACES: other faces nearly as large as the one embedded; LOW_QUALITY: too poor to decide. */
export interface Warning {
  code: 'SIMILAR_FACES' | 'LOW_QUALITY' | (string & {});
  message: string;
}

/** rotation: degrees the photo was turned clockwise to find its faces upright. */
export interface Analysis {
  faces: Face[];
  chosen: number;
  rotation: number;
  embedding: number[];
  aligned: Crop;
  warnings: Warning[];
}

/** confidence: P(same person | distance) at even prior odds, from the model's calibration. */
export interface Verdict {
  verified: boolean;
  distance: number;
  threshold: number;
  confidence: number | null;
  metric: Metric;
  model: string;
  quality: [Quality | null, Quality | null];
  warnings: Warning[];
}

/** camera: a live camera frame (the fast detector alone, upright only) rather than a photo. */
export interface SourceOptions {
  camera?: boolean;
}

export interface Match {
  name: string;
  best_distance: number;
  mean_distance: number;
  verified: boolean;
}

/** `json` is the gallery file to store or export (format "faceverify-gallery", version 1). */
export interface GalleryState {
  identities: { name: string; count: number }[];
  json: string;
}

/**
 * Smaller distance is always more alike. euclidean: of the raw embeddings (default, dlib's
 * metric); euclidean_l2: after L2-normalising, 0–2; cosine: 1 − cosine similarity, 0–2;
 * angular: the angle divided by π, 0–1.
 */
export type Metric = 'euclidean' | 'euclidean_l2' | 'cosine' | 'angular';

/** threshold: instead of the model's calibrated one for `metric`. */
export interface CompareOptions {
  metric?: Metric;
  threshold?: number;
}

/** An embedding, or an analysis (its embedding, gated by its face's quality). */
export type Enrolment = ArrayLike<number> | Analysis;

/** Encoded files (JPEG, PNG, WebP, GIF, BMP, TIFF) or the browser's own decoded images. */
export type ImageInput = Blob | ArrayBuffer | Uint8Array | ImageData | ImageBitmap;

/** From the person's own point of view: turns of 20°, tilts of 16° from the neutral pose. */
export type LivenessAction = 'turn_left' | 'turn_right' | 'look_up' | 'look_down';

export interface ActionResult {
  action: LivenessAction;
  passed: boolean;
  ms: number;
  peak_degrees: number;
}

export interface LivenessResult {
  passed: boolean;
  code: 'TIMEOUT' | 'FACE_LOST' | 'FACE_CHANGED' | 'SECOND_FACE' | 'CANCELLED' | null;
  message: string;
  actions: ActionResult[];
  /** The neutral face's embedding. */
  embedding: number[] | null;
  /** The frames that completed each action. */
  embeddings: number[][];
  frames: number;
  ms: number;
}

export interface LivenessProgress {
  state: 'running' | 'passed' | 'failed';
  completed: number;
  total: number;
  action: LivenessAction | null;
  prompt: string;
  progress: number;
  remaining_ms: number;
  result: LivenessResult | null;
}

export interface LivenessFrame {
  faces: Face[];
  chosen: number;
  width: number;
  height: number;
}

export interface LivenessOptions extends CompareOptions {
  actions?: LivenessAction[];
  /** 2–4 movements in a random order (default 3). */
  count?: number;
  /** Per movement, ms (default 8000). */
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: LivenessProgress, frame: LivenessFrame) => void;
}

/**
 * The wasm build running: `relaxed-simd-threads` needs a cross-origin isolated page and relaxed
 * SIMD (Chrome/Edge ≥ 114, Firefox ≥ 146), `relaxed-simd` relaxed SIMD, `simd128` neither.
 */
export interface Backend {
  build: 'simd128' | 'relaxed-simd' | 'relaxed-simd-threads';
  threads: number;
  /** The f32 GEMM kernel tract runs convolutions on, e.g. 'faceverify_wasm_f32_6x8'. */
  gemm: string;
  /** The URL of the build's wasm file (what a page stores for offline use). */
  wasm: string;
  /** Why a wanted threaded build is not the one running (null when nothing was given up). */
  fallback: string | null;
}

/** A model of the manifest (models/manifest.json): id, kind, file, sha256, provenance… */
export interface ModelEntry {
  id: string;
  kind: 'detector' | 'landmarker' | 'embedder' | 'attributes';
  description: string;
  file: string;
  sha256: string;
  /** The file's size in bytes (what the load's progress counts towards). */
  bytes?: number;
  /** The same network as tract's NNEF: the file the browser downloads instead, where given. */
  nnef?: { file: string; sha256: string; bytes?: number };
  [key: string]: unknown;
}

export interface LoadedModels {
  detectors: ModelEntry[];
  detector: string | null;
  model: ModelEntry;
  models: ModelEntry[];
}

export type ProgressCallback = (loaded: number, total: number) => void;

export interface LoadOptions {
  /** Folder of the model files (default: the package's `models/`). */
  modelsUrl?: string | URL;
  /** Folder holding the package's `pkg/` and `pkg-threads/` (default: the package's own). */
  wasmUrl?: string | URL;
  /** One detector for everything instead of the default set (a manifest id). */
  detector?: string;
  /** The recognition model (a manifest id; default 'dlib-resnet'). */
  model?: string;
  /** Inference threads, an integer 1–1024 (default: navigator.hardwareConcurrency). */
  threads?: number;
  /** false: the plain simd128 build (one thread) even where relaxed SIMD runs (default true). */
  relaxedSimd?: boolean;
  onProgress?: ProgressCallback;
}

/** The thread the core runs in, as a Worker presents it. */
export interface Port {
  postMessage(message: any, transfer: Transferable[]): void;
  onmessage: ((event: { data: any }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  terminate(): void;
}

export declare class GalleryClient {
  private constructor();
  state(): Promise<GalleryState>;
  /** Replace the gallery with a gallery file; GALLERY_INVALID leaves it as it was. */
  import(json: string): Promise<GalleryState>;
  /** LOW_QUALITY below `minQuality` (0–1, default 0.5); NOT_LIVE without a recent liveness pass. */
  enroll(name: string, items: Enrolment[], options?: { minQuality?: number; liveWithinMs?: number }): Promise<GalleryState>;
  rename(from: string, to: string): Promise<GalleryState>;
  remove(name: string): Promise<GalleryState>;
  clear(): Promise<GalleryState>;
  find(embedding: ArrayLike<number>, options?: CompareOptions & { limit?: number }): Promise<Match[]>;
}

export declare class FaceVerifier {
  constructor(worker: Port);
  /** Start the core's thread and load the models. */
  static load<T extends typeof FaceVerifier>(this: T, options?: LoadOptions): Promise<InstanceType<T>>;
  static connect(): Promise<Port>;
  static base(): string;
  models: LoadedModels | null;
  backend: Backend | null;
  gallery: GalleryClient;
  reload(options: { detector?: string; model?: string; onProgress?: ProgressCallback }): Promise<LoadedModels>;
  analyze(image: ImageInput, options?: SourceOptions & { attributes?: Attribute[] }): Promise<Analysis>;
  detect(image: ImageInput, options?: SourceOptions): Promise<Face[]>;
  /** The largest face's embedding (128 numbers for dlib-resnet). */
  embed(image: ImageInput): Promise<Float32Array>;
  compare(
    a: ArrayLike<number>,
    b: ArrayLike<number>,
    options?: CompareOptions & { quality?: [Quality | null | undefined, Quality | null | undefined] },
  ): Promise<Verdict>;
  verify(a: ImageInput, b: ImageInput, options?: CompareOptions): Promise<Verdict & { analyses: [Analysis, Analysis] }>;
  liveness(video: HTMLVideoElement, options?: LivenessOptions): Promise<LivenessResult>;
  /** Bytes of the core's wasm linear memory: the most it has needed so far. */
  memoryUsage(): Promise<{ wasm_bytes: number }>;
  terminate(): void;
}

/** The quality of the face each of two analyses embedded. */
export declare function chosenQuality(analyses: [Analysis, Analysis] | Analysis[]): [Quality | null, Quality | null];
