//! One workload measured on one device: end-to-end times, device times where the adapter has
//! timestamp queries, and the error against the f64 reference. Async, so the web page can
//! await it; the CLI blocks on it (on native targets nothing inside waits on an executor).

use std::cell::{Cell, RefCell};

use hopfield::workloads::Workload;
use hopfield::{
    Device, DeviceStats, Error, Fusion, Memory, MemoryOptions, Precision, Retrieval,
    RetrieveOptions, Separation,
};
use ndarray::{Array2, ArrayView2};
use web_time::{Duration, Instant};

use crate::data::{data, relative_error};
use crate::stats::Stats;

/// Past this much time per series of repetitions the count is cut (to at least 3), so that
/// W2 on a software adapter or the CPU still ends in minutes.
pub const SERIES_BUDGET: Duration = Duration::from_secs(10);

/// The measurement settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub precision: Precision,
    pub fusion: Fusion,
    pub max_chunk_bytes: Option<u64>,
    pub reps: usize,
    pub warmup: usize,
    pub beta: f32,
    /// Top-k retrieval (the k strongest patterns of each query, with their weights) instead of
    /// the states alone.
    pub top_k: Option<usize>,
    /// The separation every retrieval uses (softmax unless asked otherwise).
    pub separation: Separation,
}

/// What one workload measured, or why it could not run.
pub struct Row<'a> {
    pub workload: &'a Workload,
    pub outcome: Result<Measured, Error>,
}

pub struct Measured {
    /// What the device was asked to do per end-to-end call, in steady state (after the
    /// warm-up): the series' totals over its repetitions. `None` on the CPU path.
    pub per_call: Option<PerCall>,
    pub chunks: usize,
    pub reps: usize,
    pub device: Option<Stats>,
    /// Why there is no device time.
    pub device_note: &'static str,
    pub e2e: Stats,
    pub rel_err: f64,
    pub rel_err_rows: usize,
}

impl Measured {
    /// The time throughput is computed over (ms) and which one it is.
    pub fn basis(&self) -> (f64, &'static str) {
        match &self.device {
            Some(d) => (d.median(), "device"),
            None => (self.e2e.median(), "end_to_end"),
        }
    }

    /// Whether the time budget cut either series short of `asked` repetitions.
    pub fn cut(&self, asked: usize) -> bool {
        self.reps < asked || self.device.as_ref().is_some_and(|d| d.count() < self.reps)
    }
}

/// Device counts per call ([`hopfield::DeviceStats`] over a series, divided by its length).
#[derive(Clone, Copy, Debug)]
pub struct PerCall {
    pub buffers_created: f64,
    pub bind_groups_created: f64,
    pub pipelines_created: f64,
    pub submissions: f64,
    pub bytes_uploaded: f64,
    pub bytes_read_back: f64,
}

impl PerCall {
    fn new(total: DeviceStats, calls: usize) -> PerCall {
        let per = |v: u64| v as f64 / calls as f64;
        PerCall {
            buffers_created: per(total.buffers_created),
            bind_groups_created: per(total.bind_groups_created),
            pipelines_created: per(total.pipelines_created),
            submissions: per(total.submissions),
            bytes_uploaded: per(total.bytes_uploaded),
            bytes_read_back: per(total.bytes_read_back),
        }
    }
}

/// The kernels a retrieval without weights runs, as the JSON names them.
pub fn kernels(device: &Device, fusion: Fusion) -> &'static str {
    match (device.is_gpu(), fusion) {
        (false, _) => "cpu",
        (true, Fusion::Unfused) => "unfused",
        (true, _) => "fused",
    }
}

/// Errors that say this workload does not fit this device (or these chunk settings): reported
/// in its row while the others run.
pub fn is_per_workload(e: &Error) -> bool {
    matches!(
        e,
        Error::OutOfDeviceMemory(_) | Error::OverLimit { .. } | Error::InvalidOptions(_)
    )
}

/// One retrieval, awaited: on the web the device answers only once control returns to the
/// browser; natively the blocking call is the one the CLI has always timed.
async fn retrieve_once(
    memory: &Memory,
    q: ArrayView2<'_, f32>,
    opts: &RetrieveOptions,
) -> Result<Retrieval, Error> {
    #[cfg(target_arch = "wasm32")]
    return memory.retrieve_async(q, opts).await;
    #[cfg(not(target_arch = "wasm32"))]
    return memory.retrieve(q, opts);
}

/// The patterns in a memory on `device`, stored as `cfg` asks.
async fn upload(device: &Device, x: &Array2<f32>, cfg: &Config) -> Result<Memory, Error> {
    let mut options = MemoryOptions::default().precision(cfg.precision);
    if let Some(b) = cfg.max_chunk_bytes {
        options = options.max_chunk_bytes(b);
    }
    let mut memory = Memory::with_options(device, x.ncols(), options)?;
    #[cfg(target_arch = "wasm32")]
    memory.append_async(x.view()).await?;
    #[cfg(not(target_arch = "wasm32"))]
    memory.append(x.view())?;
    Ok(memory)
}

/// Runs `one` `reps` times (fewer if they would exceed the budget), returning what each took.
async fn series<F, Fut>(reps: usize, mut one: F) -> Result<Vec<Duration>, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Duration, Error>>,
{
    let start = Instant::now();
    let mut times = Vec::with_capacity(reps);
    for i in 0..reps {
        times.push(one().await?);
        let spent = start.elapsed();
        let projected = spent.mul_f64(reps as f64 / (i + 1) as f64);
        if i + 1 >= 3 && i + 1 < reps && projected > SERIES_BUDGET && spent > SERIES_BUDGET / 2 {
            break;
        }
    }
    Ok(times)
}

/// Device times of `reps` timed retrievals, or why there are none.
async fn device_times(
    memory: &Memory,
    q: &Array2<f32>,
    timed: &RetrieveOptions,
    reps: usize,
) -> Result<(Vec<Duration>, &'static str), Error> {
    let device = memory.device();
    if !device.is_gpu() {
        return Ok((Vec::new(), "n/a (CPU path)"));
    }
    if !device.info().features.timestamps {
        return Ok((Vec::new(), "n/a (no timestamp queries)"));
    }
    let missing = Cell::new(false);
    let times = series(reps, || {
        let out = retrieve_once(memory, q.view(), timed);
        let missing = &missing;
        async move {
            let out = out.await?;
            missing.set(missing.get() | out.device_time.is_none());
            Ok(out.device_time.unwrap_or_default())
        }
    })
    .await?;
    Ok(if missing.get() {
        (Vec::new(), "n/a (the adapter returned no timestamps)")
    } else {
        (times, "")
    })
}

/// Measures workload `w`, the `index`-th of the table (its data's seed), on `device`.
pub async fn measure(
    device: &Device,
    w: &Workload,
    index: usize,
    cfg: &Config,
) -> Result<Measured, Error> {
    let (x, q) = data(w, index);
    let memory = upload(device, &x, cfg).await?;
    let mut plain = RetrieveOptions::new(cfg.beta)
        .fusion(cfg.fusion)
        .separation(cfg.separation);
    plain.top_k = cfg.top_k;
    let timed = plain.clone().with_timing();
    for _ in 0..cfg.warmup {
        retrieve_once(&memory, q.view(), &timed).await?;
    }

    // End-to-end runs go without timestamp queries, whose resolve and readback they would
    // otherwise include.
    let states = RefCell::new(None);
    let before = device.stats();
    let e2e = series(cfg.reps, || {
        let started = Instant::now();
        let out = retrieve_once(&memory, q.view(), &plain);
        let states = &states;
        async move {
            let out = out.await?;
            let took = started.elapsed();
            *states.borrow_mut() = Some(out.states);
            Ok(took)
        }
    })
    .await?;
    let reps = e2e.len();
    let per_call = device
        .is_gpu()
        .then(|| PerCall::new(device.stats().since(before), reps));
    let (device, device_note) = device_times(&memory, &q, &timed, reps).await?;

    let states = states.into_inner().expect("at least one repetition");
    let (rel_err, rel_err_rows) = relative_error(&x, &q, &states, cfg.beta, cfg.separation);
    Ok(Measured {
        per_call,
        chunks: memory.chunks(),
        reps,
        device: Stats::new(&device),
        device_note,
        e2e: Stats::new(&e2e).expect("at least one repetition"),
        rel_err,
        rel_err_rows,
    })
}
