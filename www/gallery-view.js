// @ts-check
// Gallery: enrol people from photos or camera frames, find (1:N) who is in a photo,
// rename, delete, export and import. The gallery of each recognition model is kept in
// IndexedDB and restored on the next visit.
import { drawPhoto } from './draw.js';
import { acceptPhotos, bitmapOf } from './photo-input.js';
import { loadGallery, saveGallery } from './store.js';

export class GalleryView {
  #app;
  #$;
  /** @type {Blob[]} photos waiting to be enrolled */ #pending = [];
  /** @type {Blob | null} */ #probe = null;

  /**
   * @param {HTMLElement} root
   * @param {import('./app.js').App} app
   */
  constructor(root, app) {
    this.#app = app;
    this.#$ = (/** @type {string} */ testid) => /** @type {any} */ (root.querySelector(`[data-testid="${testid}"]`));
    const $ = this.#$;
    acceptPhotos($('enrol-form'), $('enrol-files'), (photos) => this.#addPending(photos));
    $('enrol-capture').addEventListener('click', async () => {
      const frame = await app.camera.capture();
      if (frame) this.#addPending([frame]);
    });
    $('enrol-form').addEventListener('submit', (/** @type {Event} */ event) => {
      event.preventDefault();
      this.#enrol();
    });
    acceptPhotos($('find-zone'), $('find-file'), ([photo]) => {
      this.#probe = photo;
      this.find();
    });
    $('identities').addEventListener('click', (/** @type {MouseEvent} */ event) => this.#onListClick(event));
    $('delete-all').addEventListener('click', () => {
      if (confirm('Delete every enrolled person?')) this.#change(() => app.ready.then((v) => v.gallery.clear()), 'Gallery emptied.');
    });
    $('export').addEventListener('click', () => this.#export());
    $('import-file').addEventListener('change', async () => {
      const file = /** @type {HTMLInputElement} */ ($('import-file')).files?.[0];
      $('import-file').value = '';
      if (!file) return;
      const json = await file.text();
      this.#change(() => app.ready.then((v) => v.gallery.import(json)), `Imported ${file.name}.`);
    });
  }

  /** Restore the loaded recognition model's stored gallery (call after every model load). */
  async restore() {
    const verifier = await this.#app.ready;
    const model = /** @type {any} */ (verifier.models).model.id;
    const stored = await loadGallery(model).catch(() => undefined);
    try {
      this.#render(stored ? await verifier.gallery.import(stored) : await verifier.gallery.state());
    } catch (e) {
      // Only a file from an older, incompatible build lands here; keep it, start empty.
      this.#status(`The stored gallery could not be read (${/** @type {Error} */ (e).message}); starting empty.`, 'error');
      this.#render(await verifier.gallery.clear());
    }
  }

  /** @param {Blob[]} photos */
  #addPending(photos) {
    this.#pending.push(...photos);
    const n = this.#pending.length;
    this.#$('enrol-count').textContent = `${n} photo${n === 1 ? '' : 's'} ready`;
  }

  async #enrol() {
    const name = /** @type {string} */ (this.#$('enrol-name').value).trim();
    const photos = this.#pending;
    if (!name) return this.#status('Give the person a name.', 'error');
    if (!photos.length) return this.#status('Add at least one photo or camera frame.', 'error');
    this.#status(`Enrolling ${name} from ${photos.length} photo${photos.length === 1 ? '' : 's'}…`);
    await this.#change(async () => {
      const verifier = await this.#app.ready;
      const analyses = [];
      // All photos are analysed before anything is enrolled: one bad photo enrols none.
      for (const [i, photo] of photos.entries()) {
        const analysis = await verifier.analyze(photo).catch((error) => {
          throw Object.assign(error, { message: `photo ${i + 1}: ${error.message}` });
        });
        analyses.push(analysis);
      }
      return verifier.gallery.enroll(name, analyses).catch((error) => {
        throw error.name === 'LOW_QUALITY' ? Object.assign(error, { message: `not enrolled, a photo is too poor: ${error.message}` }) : error;
      });
    }, `Enrolled ${name} (${photos.length} photo${photos.length === 1 ? '' : 's'}).`);
    if (this.#$('gallery-status').dataset.state === 'ok') {
      this.#pending = [];
      this.#$('enrol-count').textContent = '';
      this.#$('enrol-name').value = '';
    }
  }

  /**
   * Apply a gallery change; on success store and show the new gallery, on failure show why
   * (the worker left the gallery as it was).
   * @param {() => Promise<import('faceverify').GalleryState>} change
   * @param {string} done
   */
  async #change(change, done) {
    try {
      const state = await change();
      const verifier = await this.#app.ready;
      await saveGallery(/** @type {any} */ (verifier.models).model.id, state.json);
      this.#render(state);
      this.#status(done, 'ok');
      if (this.#probe) await this.find();
    } catch (e) {
      const error = /** @type {Error} */ (e);
      this.#status(`${error.name === 'GALLERY_INVALID' ? 'Refused: ' : ''}${error.message}`, 'error', error.name);
    }
  }

  /** @param {MouseEvent} event */
  #onListClick(event) {
    const button = /** @type {HTMLElement} */ (event.target).closest('button');
    const name = button?.closest('li')?.dataset.name;
    if (!button || name === undefined) return;
    if (button.dataset.action === 'remove') {
      this.#change(() => this.#app.ready.then((v) => v.gallery.remove(name)), `Deleted ${name}.`);
    } else if (button.dataset.action === 'rename') {
      const li = /** @type {HTMLLIElement} */ (button.closest('li'));
      const input = Object.assign(document.createElement('input'), { value: name, ariaLabel: `New name for ${name}` });
      input.dataset.testid = 'rename-input';
      const save = () => {
        const to = input.value.trim();
        if (to && to !== name) this.#change(() => this.#app.ready.then((v) => v.gallery.rename(name, to)), `Renamed ${name} to ${to}.`);
        else this.#app.ready.then((v) => v.gallery.state()).then((state) => this.#render(state));
      };
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') input.blur();
        if (e.key === 'Escape') (input.value = name), input.blur();
      });
      input.addEventListener('blur', save, { once: true });
      li.querySelector('.name')?.replaceWith(input);
      input.focus();
      input.select();
    }
  }

  /** @param {import('faceverify').GalleryState} state */
  #render({ identities }) {
    const list = this.#$('identities');
    list.replaceChildren(
      ...identities.map(({ name, count }) => {
        const li = document.createElement('li');
        li.dataset.name = name;
        li.dataset.testid = 'identity';
        const label = Object.assign(document.createElement('span'), { className: 'name', textContent: name });
        const photos = Object.assign(document.createElement('span'), { className: 'count', textContent: `${count} photo${count === 1 ? '' : 's'}` });
        const button = (/** @type {string} */ action, /** @type {string} */ text) => {
          const b = Object.assign(document.createElement('button'), { type: 'button', textContent: text, ariaLabel: `${text} ${name}` });
          b.dataset.action = action;
          return b;
        };
        li.append(label, photos, button('rename', 'Rename'), button('remove', 'Delete'));
        return li;
      }),
    );
    this.#$('gallery-empty').hidden = identities.length > 0;
    this.#$('delete-all').disabled = identities.length === 0;
    this.#$('export').disabled = identities.length === 0;
  }

  /**
   * @param {string} text
   * @param {'ok' | 'error' | 'busy'} [state]
   * @param {string} [code]
   */
  #status(text, state = 'busy', code) {
    const status = this.#$('gallery-status');
    status.textContent = text;
    status.dataset.state = state;
    if (code) status.dataset.error = code;
    else delete status.dataset.error;
  }

  async #export() {
    const verifier = await this.#app.ready;
    const { json } = await verifier.gallery.state();
    const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
    const link = Object.assign(document.createElement('a'), { href: url, download: `faceverify-gallery-${verifier.models?.model.id}.json` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  /** Who is in the probe photo: the closest people, best first. */
  async find() {
    const probe = this.#probe;
    if (!probe) return;
    const result = this.#$('find-result');
    const canvas = this.#$('find-photo');
    result.replaceChildren();
    delete result.dataset.best;
    delete result.dataset.error;
    const bitmap = await bitmapOf(probe);
    try {
      const verifier = await this.#app.ready;
      const analysis = await verifier.analyze(probe);
      const matches = await verifier.gallery.find(analysis.embedding, { ...this.#app.options(), limit: 5 });
      if (probe !== this.#probe) return;
      const best = matches[0]?.verified ? matches[0] : null;
      drawPhoto(canvas, bitmap, analysis.faces, {
        chosen: analysis.chosen,
        label: best ? `${best.name} ${best.best_distance.toFixed(2)}` : 'unknown',
        maxSide: 480,
      });
      result.dataset.best = best ? best.name : '';
      // A probe under the verification bar: the ranking is shown, but not as an answer.
      const poor = analysis.warnings.find((w) => w.code === 'LOW_QUALITY');
      result.dataset.poor = String(Boolean(poor));
      if (!matches.length) result.textContent = 'The gallery is empty: enrol someone first.';
      else if (poor) result.append(Object.assign(document.createElement('li'), { textContent: `Too poor to decide: ${poor.message.replace(/^too poor to decide: /, '')}` }));
      result.append(
        ...matches.map((m) => {
          const li = document.createElement('li');
          li.textContent = `${m.name}: best ${m.best_distance.toFixed(3)}, mean ${m.mean_distance.toFixed(3)} — ${m.verified ? 'match' : 'no match'}`;
          li.className = m.verified ? 'match' : '';
          return li;
        }),
      );
    } catch (e) {
      const error = /** @type {Error} */ (e);
      drawPhoto(canvas, bitmap, []);
      result.dataset.error = error.name;
      result.textContent = error.message;
    }
  }
}
