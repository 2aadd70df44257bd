// Misuses of the API that the types must refuse: `tsc --strict` fails on exactly the lines
// marked `// fails` (tests/web/package.test.mjs checks which lines it names).
import { FaceVerifier, type ErrorCode, type Metric } from 'faceverify';

const verifier = await FaceVerifier.load({ threads: '2' }); // fails: threads is a number
await FaceVerifier.load({ modelUrl: '/models/' }); // fails: the option is modelsUrl
await verifier.verify('a.jpg', 'b.jpg'); // fails: paths are not images (read the file)
await verifier.verify(new Uint8Array(1)); // fails: two images
const metric: Metric = 'manhattan'; // fails: not a metric
await verifier.compare([0.1], [0.2], { metric: 'l2' }); // fails: not a metric
const code: ErrorCode = 'NOT_A_FACE'; // fails: not an error code
const distance: string = (await verifier.verify(new Blob(), new Blob())).distance; // fails: a number
await verifier.analyze(new Blob(), { attributes: ['beauty'] }); // fails: not an attribute
await verifier.gallery.enroll('Ada', 'embedding'); // fails: a list of embeddings or analyses
await verifier.gallery.find([0.1], { limit: '3' }); // fails: limit is a number
const size: number = verifier.backend.threads; // fails: backend is null before load resolves
await verifier.liveness(video(), { actions: ['smile'] }); // fails: not a head movement
new GalleryFromNowhere(); // fails: no such export

declare function video(): HTMLVideoElement;
console.log(metric, code, distance, size);
