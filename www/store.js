// @ts-check
// The gallery of each recognition model, kept in this browser's IndexedDB (never sent
// anywhere). One record per model id: the gallery file's JSON text.

const DB = 'faceverify';
const STORE = 'galleries';

/** @type {Promise<IDBDatabase> | null} */
let opened = null;

function db() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

/**
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest} action
 */
async function run(mode, action) {
  const store = (await db()).transaction(STORE, mode).objectStore(STORE);
  return new Promise((resolve, reject) => {
    const request = action(store);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** The stored gallery file of `model`, or undefined. @param {string} model @returns {Promise<string | undefined>} */
export const loadGallery = (model) => run('readonly', (store) => store.get(model));

/** @param {string} model @param {string} json */
export const saveGallery = (model, json) => run('readwrite', (store) => store.put(json, model));
