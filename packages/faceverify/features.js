// @ts-check
// What the running engine's WebAssembly offers, asked by compiling nothing: validation only.

/**
 * A 37-byte module of one function, `f32x4.relaxed_madd` of its three v128 arguments.
 * (wat2wasm --enable-relaxed-simd of `(module (func (param v128 v128 v128) (result v128)
 * local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))`.)
 */
const RELAXED_MADD = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2,
  253, 133, 2, 11,
]);

/**
 * Whether this engine runs relaxed SIMD, which the fast builds need (Chrome/Edge ≥ 114,
 * Firefox ≥ 146; not Safari, nor Node 20 without --experimental-wasm-relaxed-simd).
 * @returns {boolean}
 */
export const relaxedSimd = () => {
  try {
    return WebAssembly.validate(RELAXED_MADD);
  } catch {
    return false;
  }
};
