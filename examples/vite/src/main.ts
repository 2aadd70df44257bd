// A page that verifies two photos with the faceverify package, bundled by Vite with its
// defaults: the package's worker, wasm and models are found and copied by Vite itself.
import { FaceVerifier, type FaceVerifyError, type Verdict } from 'faceverify';
import { keepOffline } from './offline';

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;
const status = $('#status');
const result = $('#result');
const inputs = [$<HTMLInputElement>('#a'), $<HTMLInputElement>('#b')];

await keepOffline();
const verifier = await FaceVerifier.load({
  onProgress: (loaded, total) => (status.textContent = `Loading models… ${total ? Math.round((100 * loaded) / total) : 0} %`),
});
status.textContent = `Ready (${verifier.backend?.build}).`;
status.dataset.ready = '';

async function verify() {
  const [a, b] = inputs.map((input) => input.files?.[0]);
  if (!a || !b) return;
  delete result.dataset.verified;
  result.textContent = 'Comparing…';
  try {
    const verdict: Verdict = await verifier.verify(a, b);
    result.textContent = `${verdict.verified ? 'Same person' : 'Different people'}: distance ${verdict.distance.toFixed(3)}, threshold ${verdict.threshold.toFixed(3)}.`;
    result.dataset.verified = String(verdict.verified);
  } catch (e) {
    const error = e as FaceVerifyError;
    result.textContent = `${error.name}: ${error.message}`;
    result.dataset.verified = 'error';
  }
}
for (const input of inputs) input.addEventListener('change', verify);
