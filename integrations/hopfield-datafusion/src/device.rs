use std::sync::OnceLock;

use datafusion::error::{DataFusionError, Result};
use hopfield::Device;

/// Opening a GPU costs hundreds of milliseconds and its memory: every accumulator of an
/// executor process shares one, opened on first use. The error is kept too, so a process
/// that cannot open a device says why on every call instead of trying again per batch.
static DEVICE: OnceLock<std::result::Result<Device, String>> = OnceLock::new();

/// The device this process retrieves on: [`Device::auto`] (a real GPU if there is one, else
/// the CPU path), opened once per process.
pub fn executor_device() -> Result<&'static Device> {
    DEVICE
        .get_or_init(|| {
            let device = Device::auto().map_err(|e| e.to_string())?;
            log::info!("hopfield-datafusion retrieves on {}", device.info());
            Ok(device)
        })
        .as_ref()
        .map_err(|e| {
            DataFusionError::Execution(format!("hopfield_retrieve: no device to retrieve on: {e}"))
        })
}
