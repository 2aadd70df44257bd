//! Independent work items spread over every core under the `parallel` feature (rayon's
//! global pool: the CLI's threads natively, the Web Worker pool in the threaded wasm), one
//! after another without it. Results keep the items' order, so answers do not depend on it.

/// `items.iter().map(f).collect()`, the calls of `f` on every core under `parallel`.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items.par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items.iter().map(f).collect()
    }
}

/// Whether [`map`] and [`join`] use more than the calling thread.
pub(crate) const PARALLEL: bool = cfg!(feature = "parallel");

/// `(a(), b())`, the two at once under `parallel`.
pub(crate) fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(feature = "parallel")]
    {
        rayon::join(a, b)
    }
    #[cfg(not(feature = "parallel"))]
    {
        (a(), b())
    }
}

/// `f()` with tract's GEMMs on the calling thread alone. For the detectors: their products
/// are too small to pay for splitting over the pool (BlazeFace's camera detect in the threaded
/// wasm, 2 threads: 17.6 ms split, 13.9 ms not; docs/performance.md), and their parallelism is
/// across regions and candidates instead ([`map`]).
pub(crate) fn unthreaded<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "threads")]
    {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        multithread_tract_scope(Executor::SingleThread, f)
    }
    #[cfg(not(feature = "threads"))]
    {
        f()
    }
}
