// Pre-compresses a build output for tools/serve.mjs: FILE → FILE.br (brotli quality 11,
// 16 MB window). Done once at build time because quality 11 takes ~35 s for our wasm on one
// core, far too slow per request, and it sends ~41 % fewer bytes than gzip -9 (bench/results.md).
// usage: node tools/brotli.mjs FILE...
import { readFile, writeFile } from 'node:fs/promises';
import { brotliCompressSync, constants } from 'node:zlib';

for (const file of process.argv.slice(2)) {
  const bytes = await readFile(file);
  const packed = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_LGWIN]: 24,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  await writeFile(`${file}.br`, packed);
  console.log(`${file}: ${(bytes.length / 1e6).toFixed(2)} MB → ${(packed.length / 1e6).toFixed(2)} MB brotli`);
}
