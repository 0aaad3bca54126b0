//! The one place a sync call waits for a device future: each operation is written once, async,
//! and its sync form is this wait around it.
//!
//! Native targets block the calling thread. On the web (wasm32) nothing may block: WebGPU
//! resolves its futures only after control returns to the browser's event loop, so the future
//! is polled once, and one that is not ready then (anything that waits for a GPU) becomes
//! [`Error::WouldBlock`](crate::Error::WouldBlock) instead of a hang. Work that never waits (the CPU path, host-side
//! checks) is ready on that first poll, so the sync API still serves the CPU device there.

use std::future::Future;

use crate::error::Result;

/// The future's output, waited for as the target allows; `what` names the sync call in the
/// error the web gives.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn now<T>(_what: &'static str, future: impl Future<Output = Result<T>>) -> Result<T> {
    pollster::block_on(future)
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn now<T>(what: &'static str, future: impl Future<Output = Result<T>>) -> Result<T> {
    use crate::error::Error;
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::WouldBlock(what)),
    }
}
