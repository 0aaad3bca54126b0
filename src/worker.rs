//! Threads that run blocking work for async callers, so an executor's thread never records,
//! submits or waits for a device itself.
//!
//! Submission alone can take hundreds of milliseconds (lavapipe executes the kernels inside
//! `queue.submit`; wgpu's GL backend does everything in the call that polls), so the futures of
//! [`Memory::retrieve_async`](crate::Memory::retrieve_async) only await a channel that a
//! thread of this pool answers. The pool grows when every thread is busy (a job never waits
//! behind another caller's long retrieval) and a thread left idle for a while exits.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How long an idle thread waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

#[derive(Default)]
struct Pool {
    state: Mutex<State>,
    wake: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

/// Runs `f` on a pool thread; the future resolves to its result (a panic in `f` resumes in
/// the awaiting task, as if `f` had run there).
pub(crate) async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = futures_intrusive::channel::shared::oneshot_channel();
    submit(Box::new(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    }));
    match rx.receive().await {
        Some(Ok(value)) => value,
        Some(Err(panic)) => resume_unwind(panic),
        // The job owns the sender and always sends before it is dropped.
        None => unreachable!("a worker job ended without answering"),
    }
}

fn submit(job: Job) {
    let pool = pool();
    let mut s = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    s.jobs.push_back(job);
    if s.idle >= s.jobs.len() {
        pool.wake.notify_one();
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("hopfield-worker".into())
        .spawn(move || work(pool));
    match spawned {
        Ok(_) => s.threads += 1,
        // A busy thread takes the job when it is done; with none at all, this thread must.
        Err(e) if s.threads == 0 => {
            log::warn!("no worker thread ({e}): running the job on the caller's thread");
            let job = s.jobs.pop_back().expect("pushed above");
            drop(s);
            job();
        }
        Err(e) => log::warn!("no new worker thread ({e}): the job waits for a busy one"),
    }
}

fn work(pool: &'static Pool) {
    let mut s = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = s.jobs.pop_front() {
            drop(s);
            job();
            s = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        s.idle += 1;
        let (guard, wait) = pool
            .wake
            .wait_timeout(s, IDLE_EXIT)
            .unwrap_or_else(|e| e.into_inner());
        s = guard;
        s.idle -= 1;
        if wait.timed_out() && s.jobs.is_empty() {
            s.threads -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_panics_come_back_to_the_caller() {
        let here = std::thread::current().id();
        let there = pollster::block_on(run(|| std::thread::current().id()));
        assert_ne!(here, there);
        let many: Vec<_> = (0..16).map(|i| run(move || i * 2)).collect();
        let got: Vec<i32> = many.into_iter().map(pollster::block_on).collect();
        assert_eq!(got, (0..16).map(|i| i * 2).collect::<Vec<_>>());
        let panicked = catch_unwind(|| pollster::block_on(run(|| panic!("inside"))));
        assert!(panicked.is_err());
    }
}
