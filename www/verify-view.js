// @ts-check
// Verify: two photos (or a camera frame and a photo) → both faces boxed, the aligned
// crops, the verdict and a gauge of the distance against the threshold.
import { drawCrop, drawGauge, drawPhoto } from './draw.js';
import { acceptPhotos, bitmapOf } from './photo-input.js';
import { chosenQuality } from 'faceverify';

const NAMES = ['First', 'Second'];

/** A probability as a percentage that never rounds a doubt away: 99.96 % is "> 99.9 %". @param {number} p */
function percent(p) {
  if (p > 0.999) return '> 99.9 %';
  if (p < 0.001) return '< 0.1 %';
  return `${(p * 100).toFixed(1)} %`;
}

export class VerifyView {
  /** @type {Array<Blob | null>} */ #photos = [null, null];
  #run = 0;
  #app;
  #slots;
  #result;
  #gauge;

  /**
   * @param {HTMLElement} root
   * @param {import('./app.js').App} app
   */
  constructor(root, app) {
    this.#app = app;
    const $ = (/** @type {string} */ testid) => /** @type {any} */ (root.querySelector(`[data-testid="${testid}"]`));
    this.#result = /** @type {HTMLOutputElement} */ ($('result'));
    this.#gauge = /** @type {SVGSVGElement} */ ($('gauge'));
    this.#slots = ['a', 'b'].map((key, i) => {
      const slot = {
        zone: /** @type {HTMLElement} */ ($(`slot-${key}`)),
        photo: /** @type {HTMLCanvasElement} */ ($(`photo-${key}`)),
        crop: /** @type {HTMLCanvasElement} */ ($(`crop-${key}`)),
        caption: /** @type {HTMLElement} */ ($(`faces-${key}`)),
      };
      acceptPhotos(slot.zone, $(`file-${key}`), ([photo]) => this.set(i, photo));
      return slot;
    });
  }

  /** Put `photo` in slot `index` (0 or 1) and verify when both are filled. @param {number} index @param {Blob} photo */
  set(index, photo) {
    this.#photos[index] = photo;
    return this.update();
  }

  /** The slot a pasted photo without a target goes to: the first empty one, else the second. */
  get nextSlot() {
    return this.#photos[0] ? 1 : 0;
  }

  /** Verify again, with the current models and settings. */
  async update() {
    const photos = this.#photos;
    const current = ++this.#run;
    const result = this.#result;
    const ready = photos[0] && photos[1];
    if (ready) {
      result.className = '';
      delete result.dataset.verified;
      delete result.dataset.error;
      this.#gauge.replaceChildren();
      result.textContent = 'Comparing…';
    }
    const bitmaps = await Promise.all(photos.map((p) => (p ? bitmapOf(p) : null)));
    if (current !== this.#run) return;
    bitmaps.forEach((bitmap, i) => drawPhoto(this.#slots[i].photo, bitmap, []));
    if (!ready) return;
    try {
      const verifier = await this.#app.ready;
      const analyses = [];
      for (const [i, photo] of photos.entries()) {
        // The browser's decoder is only for display; the wasm core decodes for itself, so
        // an image the browser cannot show still gets the core's verdict or typed error.
        const analysis = await verifier.analyze(/** @type {Blob} */ (photo)).catch((error) => {
          throw Object.assign(error, { message: `${NAMES[i]} photo: ${error.message}` });
        });
        analyses.push(analysis);
      }
      const verdict = await verifier.compare(analyses[0].embedding, analyses[1].embedding,
        { ...this.#app.options(), quality: chosenQuality(analyses) });
      if (current !== this.#run) return;
      analyses.forEach((analysis, i) => {
        const slot = this.#slots[i];
        drawPhoto(slot.photo, bitmaps[i], analysis.faces, { chosen: analysis.chosen });
        drawCrop(slot.crop, analysis.aligned);
        const { score, quality } = analysis.faces[analysis.chosen];
        const count = analysis.faces.length === 1 ? '1 face' : `${analysis.faces.length} faces, the largest compared`;
        const turned = analysis.rotation ? `; found with the photo turned ${analysis.rotation}°` : '';
        const warnings = analysis.warnings.filter((w) => w.code !== 'LOW_QUALITY').map((w) => ` ⚠ ${w.message}`).join('');
        const why = quality?.reasons.length ? ` (${quality.reasons.map((r) => r.message).join('; ')})` : '';
        const judged = quality ? `; quality ${(quality.score * 100).toFixed(0)} %${why}` : '';
        slot.caption.textContent = `${count}; detector confidence ${(score * 100).toFixed(0)} %${judged}${turned}${warnings}`;
      });
      const margin = Math.abs(verdict.threshold - verdict.distance) / verdict.threshold;
      result.dataset.verified = String(verdict.verified);
      const poor = verdict.warnings.some((w) => w.code === 'LOW_QUALITY');
      result.dataset.poor = String(poor);
      // P(same person) from the model's calibration, at even prior odds.
      const confidence = verdict.confidence === null ? '' : `; P(same person) ${percent(verdict.confidence)}`;
      // Below the verification bar the verdict is not one to act on: say so first.
      const call = verdict.verified ? 'Same person' : 'Different people';
      result.textContent =
        `${poor ? `Too poor to decide (leaning to ${call.toLowerCase()})` : call} — ${verdict.metric} distance ${verdict.distance.toFixed(3)} ` +
        `(threshold ${verdict.threshold.toFixed(3)}, ${(margin * 100).toFixed(0)} % ${verdict.verified ? 'below' : 'above'} it; ${verdict.model}${confidence})`;
      drawGauge(this.#gauge, verdict);
    } catch (e) {
      if (current !== this.#run) return;
      const error = /** @type {Error} */ (e);
      this.#slots.forEach((slot) => {
        drawCrop(slot.crop, null);
        slot.caption.textContent = '';
      });
      result.className = 'error';
      result.dataset.error = error.name;
      result.textContent = error.message;
    }
  }
}
