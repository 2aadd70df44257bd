// @ts-check
// Photos from a file input, drag-and-drop or paste, all alike.

/** @param {FileList | null | undefined} files */
const images = (files) => [...(files ?? [])].filter((f) => f.type.startsWith('image/') || f.type === '');

/**
 * Feed `onPhotos` the photos chosen in `input`, dropped on `zone` or pasted while `zone`
 * has focus.
 * @param {HTMLElement} zone
 * @param {HTMLInputElement} input
 * @param {(photos: File[]) => void} onPhotos
 */
export function acceptPhotos(zone, input, onPhotos) {
  const take = (/** @type {File[]} */ photos) => photos.length && onPhotos(photos);
  input.addEventListener('change', () => {
    take(images(input.files));
    input.value = ''; // choosing the same file again is a change too
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    take(images(event.dataTransfer?.files));
  });
  zone.addEventListener('paste', (event) => take(images(event.clipboardData?.files)));
}

/** @param {Blob} photo */
export const bitmapOf = (photo) => createImageBitmap(photo, { imageOrientation: 'from-image' }).catch(() => null);
