//! A worker pool that survives `fork`: for a library loaded into a process that forks (Python's
//! `multiprocessing` and PyTorch's `DataLoader` workers fork by default on Linux).
//!
//! rayon's global pool is made once per process image. A child forked after the parent used it
//! inherits the pool's state but none of its threads, so its first parallel call waits forever
//! for workers that do not exist. [`install`] runs work on a pool of the current process instead,
//! made anew when the process id changes.

use std::sync::{Arc, Mutex, PoisonError};

/// The current process's pool, made on first use in each process.
fn current() -> Option<Arc<rayon::ThreadPool>> {
    static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut held = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((p, pool)) = held.as_ref()
        && *p == pid
    {
        return Some(pool.clone());
    }
    let pool = Arc::new(rayon::ThreadPoolBuilder::new().build().ok()?);
    // The parent's pool, inherited without its threads: never dropped here, since dropping it
    // would signal threads that are not in this process.
    if let Some(inherited) = held.replace((pid, pool.clone())) {
        std::mem::forget(inherited);
    }
    Some(pool)
}

/// Runs `f` with every rayon call inside it on this process's own pool (sized as rayon's
/// global one: `RAYON_NUM_THREADS`, else every core), so it works in a forked child too. When
/// no pool can be started, `f` runs as it would have on the global pool.
pub fn install<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match current() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}
