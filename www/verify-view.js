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
  /**
   * Each slot's analysis, started as soon as its photo is given (so the verdict after the
   * second photo waits for that photo alone) and kept until the photo or the models change.
   * @type {Array<{photo: Blob, analysis: Promise<import('faceverify').Analysis>} | null>}
   */
  #analyses = [null, null];
  /**
   * Each slot's photo decoded for display, once per photo: decoded again at every update, the
   * first photo was decoded a second time while both analyses ran (a 1.9 MP JPEG: ~35 ms of a
   * core they needed).
   * @type {Array<{photo: Blob, bitmap: Promise<ImageBitmap | null>} | null>}
   */
  #bitmaps = [null, null];
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

  /** Slot `i`'s analysis with the current models: started once per photo. @param {number} i */
  #analysis(i) {
    const photo = /** @type {Blob} */ (this.#photos[i]);
    let entry = this.#analyses[i];
    if (entry?.photo !== photo) {
      const analysis = this.#app.ready.then((verifier) => verifier.analyze(photo));
      // A failure is reported once both photos are given (update).
      analysis.catch(() => undefined);
      entry = this.#analyses[i] = { photo, analysis };
    }
    return entry.analysis;
  }

  /** Slot `i`'s photo as a bitmap for display (null if the browser cannot decode it). @param {number} i */
  #bitmap(i) {
    const photo = /** @type {Blob} */ (this.#photos[i]);
    if (this.#bitmaps[i]?.photo !== photo) this.#bitmaps[i] = { photo, bitmap: bitmapOf(photo) };
    return /** @type {{bitmap: Promise<ImageBitmap | null>}} */ (this.#bitmaps[i]).bitmap;
  }

  /**
   * Verify again with the current settings; `reanalyze`: the models changed, so the photos
   * are analysed again (a new metric or threshold only compares again).
   */
  async update(reanalyze = false) {
    if (reanalyze) this.#analyses = [null, null];
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
    const analyses = photos.map((p, i) => (p ? this.#analysis(i) : null));
    const bitmaps = await Promise.all(photos.map((p, i) => (p ? this.#bitmap(i) : null)));
    if (current !== this.#run) return;
    bitmaps.forEach((bitmap, i) => drawPhoto(this.#slots[i].photo, bitmap, []));
    if (!ready) return;
    try {
      const verifier = await this.#app.ready;
      // The browser's decoder is only for display; the wasm core decodes for itself, so an
      // image the browser cannot show still gets the core's verdict or typed error.
      const done = [];
      for (const [i, analysis] of analyses.entries()) {
        done.push(await /** @type {Promise<import('faceverify').Analysis>} */ (analysis).catch((error) => {
          throw Object.assign(new Error(`${NAMES[i]} photo: ${error.message}`), { name: error.name });
        }));
      }
      const verdict = await verifier.compare(done[0].embedding, done[1].embedding,
        { ...this.#app.options(), quality: chosenQuality(done) });
      if (current !== this.#run) return;
      done.forEach((analysis, i) => {
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
