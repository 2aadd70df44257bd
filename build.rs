//! Link arguments of the `threads` wasm build. Its memory must be shared, imported (every
//! pool worker instantiates the module on the same memory) and give wasm-bindgen the
//! thread-local storage hooks; rustc stopped passing these with `+atomics` in 2025
//! (rust-lang/rust#147225), and without them the module links with a private memory that
//! cannot be sent to the workers. The maximum size is the Makefile's (`--max-memory`).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "wasm32");
    if wasm && std::env::var_os("CARGO_FEATURE_THREADS").is_some() {
        for arg in [
            "--shared-memory",
            "--import-memory",
            "--export=__wasm_init_tls",
            "--export=__tls_size",
            "--export=__tls_align",
            "--export=__tls_base",
        ] {
            println!("cargo:rustc-cdylib-link-arg={arg}");
        }
    }
}
