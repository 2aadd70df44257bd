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

/// `f()` run on one of the pool's threads, with every other pool thread kept awake and
/// stealing until it returns; `f()` as is when tract's products are not on the pool
/// ([`unthreaded`], or a threaded build before `useThreadPool`).
///
/// Why: the thread that calls into the wasm is not one of the pool's, so each of tract's split
/// products was injected into the pool and the caller slept until it was done, and the pool's
/// threads fell asleep between two products (rayon spins only briefly; `yield_now` is a no-op
/// in wasm): wake-ups on every product, and dlib ResNet's embed is 29 convolutions of ~0.6 ms. From
/// inside the pool a product's chunks go to the caller's own deque, and a thread spinning in
/// `rayon::yield_now` takes them at once.
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "threads")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tract_linalg::multithread::{current_tract_executor, Executor};
        if matches!(current_tract_executor(), Executor::RayonGlobal) && rayon::current_thread_index().is_none() {
            let done = &AtomicBool::new(false);
            return rayon::scope(|scope| {
                let owner = rayon::current_thread_index();
                for _ in 1..rayon::current_num_threads() {
                    scope.spawn(move |_| {
                        // A spinner the owner pops itself (no thread was free to steal it)
                        // must return: the owner's `f` cannot finish under it.
                        if rayon::current_thread_index() == owner {
                            return;
                        }
                        while !done.load(Ordering::Acquire) {
                            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                                std::hint::spin_loop();
                            }
                        }
                    });
                }
                let result = f();
                done.store(true, Ordering::Release);
                result
            });
        }
    }
    f()
}
