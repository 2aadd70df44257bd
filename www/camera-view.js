// @ts-check
// Camera: a live view with every face boxed and the largest one named from the gallery.
// Detection runs on every frame; the (slower) embedding and search only when the face
// moved or every EMBED_EVERY frames, so the overlay keeps up with the video.
import { attributeLabel } from './analyze-view.js';
import { drawFaces } from './draw.js';

const EMBED_EVERY = 15;
/** Below this overlap with the last embedded face's box, the face counts as a new one. */
const SAME_FACE_IOU = 0.5;

/** @param {import('faceverify').Box} a @param {import('faceverify').Box} b */
function iou(a, b) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** @param {import('faceverify').Face[]} faces */
const largest = (faces) => faces.reduce((best, f, i) => (f.box.width * f.box.height > faces[best].box.width * faces[best].box.height ? i : best), 0);

/** What getUserMedia's errors mean to a person. @param {Error} error */
function cameraProblem(error) {
  switch (error.name) {
    case 'NotAllowedError':
      return 'Camera access was denied. Allow it in the browser’s site settings, or use photos instead.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. You can still use photos.';
    case 'NotReadableError':
      return 'The camera is busy in another application.';
    default:
      return `The camera could not start: ${error.message}`;
  }
}

export class CameraView {
  #app;
  #$;
  /** @type {MediaStream | null} */ #stream = null;
  /** @type {AbortController | null} The running liveness challenge's, which pauses the live loop. */ #liveness = null;
  /** Which live loop may run: a new one (after a challenge) ends the one before. */ #loops = 0;
  #video;
  #overlay;

  /**
   * @param {HTMLElement} root
   * @param {import('./app.js').App} app
   */
  constructor(root, app) {
    this.#app = app;
    this.#$ = (/** @type {string} */ testid) => /** @type {any} */ (root.querySelector(`[data-testid="${testid}"]`));
    this.#video = /** @type {HTMLVideoElement} */ (this.#$('camera-video'));
    this.#overlay = /** @type {HTMLCanvasElement} */ (this.#$('camera-overlay'));
    this.#$('camera-toggle').addEventListener('click', () => (this.#stream ? this.stop() : this.start()));
    this.#$('liveness-start').addEventListener('click', () => (this.#liveness ? this.#liveness.abort() : this.proveLive()));
    this.#$('capture').addEventListener('click', async () => {
      const frame = await this.capture();
      if (frame) app.verify.set(0, frame);
    });
  }

  async start() {
    if (!navigator.mediaDevices?.getUserMedia) {
      return this.#status('This page cannot use a camera here: browsers allow it only over https or on localhost.', 'error');
    }
    this.#status('Starting the camera…', 'busy');
    try {
      this.#stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, facingMode: 'user' }, audio: false });
    } catch (e) {
      return this.#status(cameraProblem(/** @type {Error} */ (e)), 'error');
    }
    this.#video.srcObject = this.#stream;
    this.#video.parentElement?.removeAttribute('hidden');
    await this.#video.play();
    this.#$('camera-toggle').textContent = 'Stop camera';
    this.#$('capture').disabled = false;
    this.#$('liveness-start').disabled = false;
    this.#status('Camera on. Everything stays on this device.', 'on');
    this.#loop(this.#stream);
  }

  stop() {
    this.#liveness?.abort();
    this.#stream?.getTracks().forEach((track) => track.stop());
    this.#stream = null;
    this.#video.srcObject = null;
    this.#video.parentElement?.setAttribute('hidden', '');
    this.#$('camera-toggle').textContent = 'Start camera';
    this.#$('capture').disabled = true;
    this.#$('liveness-start').disabled = true;
    this.#$('fps').textContent = '';
    this.#overlay.getContext('2d')?.clearRect(0, 0, this.#overlay.width, this.#overlay.height);
    this.#status('Camera off.', 'off');
  }

  /**
   * Run a liveness challenge on the camera: prompts, a progress bar per movement and the
   * result; the button cancels it meanwhile. Resolves to the result (null: camera off).
   * @param {{actions?: import('faceverify').LivenessAction[], timeoutMs?: number}} [options]
   */
  async proveLive(options = {}) {
    if (!this.#stream) {
      this.#status('Start the camera first.', 'error');
      return null;
    }
    const verifier = await this.#app.ready;
    const [button, prompt, bar, outcome] = ['liveness-start', 'liveness-prompt', 'liveness-progress', 'liveness-result'].map(this.#$);
    const ctx = /** @type {CanvasRenderingContext2D} */ (this.#overlay.getContext('2d'));
    const controller = (this.#liveness = new AbortController());
    [button.textContent, outcome.textContent, bar.hidden] = ['Cancel', '', false];
    delete outcome.dataset.passed;
    let step = -1;
    /** @type {import('faceverify').LivenessResult | null} */ let result = null;
    try {
      result = await verifier.liveness(this.#video, {
        ...options,
        ...this.#app.options(),
        signal: controller.signal,
        onProgress: (progress, frame) => {
          // Said anew only when the step changes: a screen reader is not flooded every frame.
          const key = progress.completed * 2 + (progress.action ? 1 : 0);
          if (key !== step) {
            step = key;
            prompt.textContent = progress.action ? `${progress.completed + 1} of ${progress.total}: ${progress.prompt}` : progress.prompt;
          }
          bar.value = progress.progress;
          bar.setAttribute('aria-valuetext', `${Math.round(progress.progress * 100)} %, ${Math.ceil(progress.remaining_ms / 1000)} s left`);
          if (!frame.width) return;
          [this.#overlay.width, this.#overlay.height] = [frame.width, frame.height];
          ctx.clearRect(0, 0, frame.width, frame.height);
          drawFaces(ctx, frame.faces, { chosen: frame.chosen, label: progress.prompt });
        },
      });
      outcome.textContent = result.passed
        ? `Live: ${result.actions.map((a) => a.action.replace('_', ' ')).join(', ')} done in ${(result.ms / 1000).toFixed(1)} s.`
        : `Not proven live: ${result.message}.`;
      outcome.dataset.passed = String(result.passed);
      outcome.dataset.code = result.code ?? '';
      prompt.textContent = result.passed ? 'Passed.' : 'Failed.';
    } catch (e) {
      outcome.textContent = `The challenge stopped: ${/** @type {Error} */ (e).message}`;
      outcome.dataset.passed = 'false';
    } finally {
      [button.textContent, bar.hidden, this.#liveness] = ['Prove you are live', true, null];
      if (this.#stream) this.#loop(this.#stream);
    }
    return result;
  }

  /** The current frame as a PNG, or null (with a message) when the camera is off. */
  async capture() {
    if (!this.#stream) {
      this.#status('Start the camera first.', 'error');
      return null;
    }
    const canvas = new OffscreenCanvas(this.#video.videoWidth, this.#video.videoHeight);
    /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d')).drawImage(this.#video, 0, 0);
    return canvas.convertToBlob({ type: 'image/png' });
  }

  /** @param {MediaStream} stream */
  async #loop(stream) {
    const verifier = await this.#app.ready;
    const ctx = /** @type {CanvasRenderingContext2D} */ (this.#overlay.getContext('2d'));
    const live = this.#$('live-result');
    /** @type {import('faceverify').Box | null} */ let embeddedBox = null;
    /** @type {import('faceverify').Match | null} */ let match = null;
    let embedNext = true;
    /** Apparent age, gender, expression of the face last embedded, when asked for. */
    let described = '';
    let sinceEmbedding = 0;
    /** @type {number[]} */ const frameTimes = [];
    const id = ++this.#loops;
    const current = () => this.#stream === stream && !this.#liveness && this.#loops === id;
    while (current()) {
      await new Promise(requestAnimationFrame);
      if (!current()) return;
      // No picture yet (a stream starting or switched): wait for the next frame.
      const bitmap = await createImageBitmap(this.#video).catch(() => null);
      if (!bitmap) continue;
      const [width, height] = [bitmap.width, bitmap.height];
      /** @type {import('faceverify').Face[]} */ let faces = [];
      let chosen = -1;
      try {
        if (embedNext) {
          // analyze detects too, so a frame that embeds costs no extra detection.
          const attributes = this.#$('camera-attributes').checked ? ['age', 'gender', 'expression'] : [];
          const analysis = await verifier.analyze(bitmap, { camera: true, attributes: /** @type {any} */ (attributes) });
          [faces, chosen] = [analysis.faces, analysis.chosen];
          described = attributes.length ? attributeLabel(faces[chosen]) : '';
          [match = null] = await verifier.gallery.find(analysis.embedding, { ...this.#app.options(), limit: 1 });
          [embeddedBox, sinceEmbedding] = [faces[chosen].box, 0];
        } else {
          faces = await verifier.detect(bitmap, { camera: true });
          chosen = faces.length ? largest(faces) : -1;
        }
      } catch (e) {
        if (/** @type {Error} */ (e).name !== 'NO_FACE') return this.#status(/** @type {Error} */ (e).message, 'error');
      }
      if (!current()) return;
      if (chosen < 0) [embeddedBox, match, described] = [null, null, ''];
      embedNext = !embeddedBox || iou(faces[chosen].box, embeddedBox) < SAME_FACE_IOU || ++sinceEmbedding >= EMBED_EVERY;

      const named = !match ? 'unknown' : `${match.verified ? match.name : 'unknown'} ${match.best_distance.toFixed(2)}`;
      const label = described ? `${named} · ${described}` : named;
      [this.#overlay.width, this.#overlay.height] = [width, height];
      ctx.clearRect(0, 0, width, height);
      drawFaces(ctx, faces, { chosen, label });
      live.textContent = chosen < 0 ? 'No face in view.' : label;
      live.dataset.name = match?.verified ? match.name : '';
      const now = performance.now();
      frameTimes.push(now);
      while (frameTimes[0] < now - 1000) frameTimes.shift();
      this.#$('fps').textContent = `${frameTimes.length} frames per second`;
    }
  }

  /** @param {string} text @param {string} state */
  #status(text, state) {
    const status = this.#$('camera-status');
    status.textContent = text;
    status.dataset.state = state;
  }
}
