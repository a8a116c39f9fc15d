//! A worker pool that survives `fork`: for a library loaded into a process that forks (Python's
//! `multiprocessing` and PyTorch's `DataLoader` workers fork by default on Linux).
//!
//! rayon's global pool is made once per process image. A child forked after the parent used it
//! inherits the pool's state but none of its threads, so its first parallel call waits forever
//! for workers that do not exist. [`install`] runs work on a pool of the current process instead,
//! made anew when the process id changes. The pool is found without a lock, so a fork while
//! another thread is looking it up cannot leave the child a lock that nobody will release.

use std::sync::atomic::{AtomicPtr, Ordering};

/// A pool and the process it was made in.
struct Owned {
    pid: u32,
    pool: rayon::ThreadPool,
}

/// The current process's pool, made on first use in each process. Pools are never freed: one
/// per process (a parent's, inherited by a child without its threads, must not be dropped
/// there, since dropping it would signal threads that are not in that process).
fn current() -> Option<&'static rayon::ThreadPool> {
    static POOL: AtomicPtr<Owned> = AtomicPtr::new(std::ptr::null_mut());
    let pid = std::process::id();
    let seen = POOL.load(Ordering::Acquire);
    // SAFETY: a non-null pointer in POOL comes from `Box::leak` below and is never freed.
    if let Some(o) = unsafe { seen.as_ref() }
        && o.pid == pid
    {
        return Some(&o.pool);
    }
    let made: &'static mut Owned = Box::leak(Box::new(Owned {
        pid,
        pool: rayon::ThreadPoolBuilder::new().build().ok()?,
    }));
    match POOL.compare_exchange(seen, made, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(&made.pool),
        // Another thread of this process made one first: use it (this one stays idle).
        // SAFETY: as above, a non-null pointer in POOL is leaked and never freed.
        Err(now) => match unsafe { now.as_ref() } {
            Some(o) if o.pid == pid => Some(&o.pool),
            _ => Some(&made.pool),
        },
    }
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
