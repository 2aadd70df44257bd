// @ts-check
// Analyze: one photo → every face boxed and labelled with its apparent age, gender and
// expression and its quality, and the same as text, face by face, for screen readers.
import { drawPhoto } from './draw.js';
import { acceptPhotos, bitmapOf } from './photo-input.js';

/** @type {import('faceverify').Attribute[]} */
const ATTRIBUTES = ['age', 'gender', 'expression'];

/**
 * A short label for a face's estimates: "female 31 · happy".
 * @param {import('faceverify').Face} face
 */
export function attributeLabel(face) {
  const a = face.attributes ?? {};
  return [a.gender?.label, a.age?.value === undefined ? undefined : Math.round(a.age.value), a.expression?.label]
    .filter((part) => part !== undefined)
    .join(' ');
}

/**
 * The whole description of a face for people.
 * @param {import('faceverify').Face} face
 * @param {number} i
 */
function describe(face, i) {
  const a = face.attributes ?? {};
  const percent = (/** @type {number | undefined} */ p) => `${Math.round((p ?? 0) * 100)} %`;
  const parts = [];
  if (a.gender) parts.push(`${a.gender.label} (${percent(a.gender.probability)})`);
  if (a.age?.value !== undefined) parts.push(`about ${Math.round(a.age.value)} years`);
  if (a.expression) parts.push(`${a.expression.label} (${percent(a.expression.probability)})`);
  const q = face.quality;
  const quality = q ? `quality ${q.score.toFixed(2)}${q.reasons.length ? `: ${q.reasons.map((r) => r.message).join('; ')}` : ''}` : '';
  return `Face ${i + 1}: ${[...parts, quality].filter(Boolean).join(', ')}`;
}

export class AnalyzeView {
  #app;
  #$;
  #run = 0;

  /**
   * @param {HTMLElement} root
   * @param {import('./app.js').App} app
   */
  constructor(root, app) {
    this.#app = app;
    this.#$ = (/** @type {string} */ testid) => /** @type {any} */ (root.querySelector(`[data-testid="${testid}"]`));
    acceptPhotos(this.#$('analyze-slot'), this.#$('analyze-file'), ([photo]) => this.show(photo));
  }

  /** @param {Blob} photo */
  async show(photo) {
    const run = ++this.#run;
    const canvas = this.#$('analyze-photo');
    const list = this.#$('analyze-faces');
    const status = this.#$('analyze-status');
    list.replaceChildren();
    status.textContent = 'Analysing…';
    const bitmap = await bitmapOf(photo);
    drawPhoto(canvas, bitmap, []);
    try {
      const verifier = await this.#app.ready;
      const analysis = await verifier.analyze(photo, { attributes: ATTRIBUTES });
      if (run !== this.#run) return;
      drawPhoto(canvas, bitmap, analysis.faces, { labels: analysis.faces.map(attributeLabel), maxSide: 800 });
      list.replaceChildren(...analysis.faces.map((face, i) => Object.assign(document.createElement('li'), { textContent: describe(face, i) })));
      const n = analysis.faces.length;
      status.textContent = `${n} face${n === 1 ? '' : 's'}. Age, gender and expression are estimates of appearance, not facts about a person.`;
      status.dataset.state = 'ok';
    } catch (e) {
      if (run !== this.#run) return;
      status.textContent = /** @type {Error} */ (e).message;
      status.dataset.state = 'error';
    }
  }
}
