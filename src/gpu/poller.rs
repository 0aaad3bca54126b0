//! A thread that drives the device while a readback is pending, so `map_async` callbacks fire
//! while the reading thread only awaits them (not on GL: see `GpuContext::exclusive`).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

#[derive(Default)]
struct State {
    pending: usize,
    shutdown: bool,
}

pub(crate) struct Poller {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    pub(crate) fn new(device: wgpu::Device) -> Poller {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("hopfield-wgpu-poll".into())
            .spawn(move || loop {
                {
                    let (lock, cv) = &*worker;
                    let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while s.pending == 0 && !s.shutdown {
                        s = cv.wait(s).unwrap_or_else(|e| e.into_inner());
                    }
                    if s.shutdown {
                        return;
                    }
                    // Requests made after this point trigger another round.
                    s.pending = 0;
                }
                // An error here means the device is lost; the map callbacks then report
                // failure themselves, which is how the waiting futures learn of it.
                if let Err(e) = device.poll(wgpu::PollType::wait_indefinitely()) {
                    log::warn!("device poll failed: {e}");
                }
            })
            .ok();
        Poller { shared, thread }
    }

    /// Asks for one `device.poll` after everything submitted so far.
    pub(crate) fn request(&self) -> bool {
        if self.thread.is_none() {
            return false;
        }
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).pending += 1;
        cv.notify_one();
        true
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).shutdown = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
