//! `hopfield bench`: the workloads of docs/workloads.md (W1–W4) and small ones a software adapter finishes
//! in seconds (S1–S4), timed on the device (timestamp queries) and end to end, with the
//! throughput and the error against the f64 reference beside every time.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use hopfield::workloads::{self, Workload, FULL, SMALL};
use hopfield::{
    reference, Device, DeviceInfo, DeviceKind, Error, Fusion, Memory, MemoryOptions, Precision,
    RetrieveOptions,
};
use ndarray::{s, Array2, Axis};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use serde_json::{json, Value};

use crate::outputs::Outputs;
use crate::{open, DeviceArg, Failure};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    device: DeviceArg,
    /// Comma-separated workloads (W1..W4, S1..S4), `all` or `small` [default: all on a hardware
    /// GPU, small on a software adapter or the CPU path].
    #[arg(long, value_name = "LIST")]
    workloads: Option<String>,
    /// Element type the patterns are stored in: f32 or f16.
    #[arg(long, value_name = "P", default_value = "f32")]
    precision: String,
    /// GPU kernels: auto (fused, since no weights are asked for), fused or unfused. The CPU path
    /// ignores it.
    #[arg(long, value_name = "F", default_value = "auto")]
    fusion: String,
    /// Largest device buffer of one chunk of patterns, in bytes [default: the binding limit].
    #[arg(long, value_name = "N")]
    max_chunk_bytes: Option<u64>,
    /// Timed repetitions per workload (fewer where they would take over ~10 s; the table says
    /// how many ran).
    #[arg(long, value_name = "R", default_value_t = 20)]
    reps: usize,
    /// Untimed runs before the timed ones (pipeline creation, caches, clocks).
    #[arg(long, value_name = "W", default_value_t = 3)]
    warmup: usize,
    /// Inverse temperature. With unit-norm patterns and queries that are noisy copies of them,
    /// β = 8 gives the target a clear but not overwhelming share of the weight, so the result
    /// depends on every pattern.
    #[arg(long, default_value_t = 8.0, allow_negative_numbers = true)]
    beta: f32,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Queries beyond this many are left out of the f64 reference: it is a plain O(B·N·d) loop,
/// and 16 rows already show any systematic error.
const REFERENCE_ROWS: usize = 16;

/// Past this much time per series of repetitions the count is cut (to at least 3), so that
/// W2 on a software adapter or the CPU still ends in minutes.
const SERIES_BUDGET: Duration = Duration::from_secs(10);

const SEED: u64 = 0x4f9e_1d2c;

/// Median, spread and count of a series of times, in milliseconds.
struct Stats {
    sorted_ms: Vec<f64>,
}

impl Stats {
    fn new(times: &[Duration]) -> Option<Stats> {
        if times.is_empty() {
            return None;
        }
        let mut sorted_ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        sorted_ms.sort_by(f64::total_cmp);
        Some(Stats { sorted_ms })
    }

    /// Nearest-rank quantile.
    fn quantile(&self, q: f64) -> f64 {
        let last = self.sorted_ms.len() - 1;
        self.sorted_ms[(q * last as f64).round() as usize]
    }

    fn count(&self) -> usize {
        self.sorted_ms.len()
    }

    fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    fn min(&self) -> f64 {
        self.sorted_ms[0]
    }

    fn max(&self) -> f64 {
        self.sorted_ms[self.sorted_ms.len() - 1]
    }

    fn json(&self) -> Value {
        json!({
            "median": self.median(),
            "min": self.min(),
            "p10": self.quantile(0.1),
            "p90": self.quantile(0.9),
            "max": self.max(),
            "count": self.sorted_ms.len(),
        })
    }

    fn cell(&self) -> String {
        format!(
            "{} [{}-{}]",
            sig3(self.median()),
            sig3(self.min()),
            sig3(self.max())
        )
    }
}

/// Three significant digits, whether a software adapter's 0.00012 TFLOP/s or an H100's 2400 GB/s.
fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if magnitude < -4.0 {
        format!("{v:.2e}")
    } else {
        format!("{v:.*}", (2.0 - magnitude).max(0.0) as usize)
    }
}

/// What one workload measured, or why it could not run.
struct Row<'a> {
    workload: &'a Workload,
    outcome: Result<Measured, Error>,
}

struct Measured {
    chunks: usize,
    reps: usize,
    device: Option<Stats>,
    /// Why there is no device time.
    device_note: &'static str,
    e2e: Stats,
    rel_err: f64,
    rel_err_rows: usize,
}

impl Measured {
    /// The time throughput is computed over (ms) and which one it is.
    fn basis(&self) -> (f64, &'static str) {
        match &self.device {
            Some(d) => (d.median(), "device"),
            None => (self.e2e.median(), "end_to_end"),
        }
    }
}

struct Config {
    precision: Precision,
    fusion: Fusion,
    max_chunk_bytes: Option<u64>,
    reps: usize,
    warmup: usize,
    beta: f32,
}

fn parse_workloads(list: &str) -> Result<Vec<&'static Workload>, Failure> {
    let mut out: Vec<&'static Workload> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let named: Vec<&'static Workload> = match item.to_ascii_lowercase().as_str() {
            "all" => workloads::all().collect(),
            "small" => SMALL.iter().collect(),
            "full" => FULL.iter().collect(),
            _ => vec![workloads::find(item).ok_or_else(|| {
                Failure(
                    2,
                    format!(
                        "unknown workload {item:?} in --workloads: expected a comma-separated list of {}, or all, full or small",
                        workloads::all().map(|w| w.name).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?],
        };
        for w in named {
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    if out.is_empty() {
        return Err(Failure(2, "--workloads names no workload".into()));
    }
    Ok(out)
}

pub(crate) fn parse_fusion(s: &str) -> Result<Fusion, Failure> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(Fusion::Auto),
        "fused" => Ok(Fusion::Fused),
        "unfused" => Ok(Fusion::Unfused),
        _ => Err(Failure(
            2,
            format!("--fusion must be auto, fused or unfused, got {s:?}"),
        )),
    }
}

/// Whether the adapter is real hardware, where the W workloads take milliseconds.
fn is_hardware(info: &DeviceInfo) -> bool {
    !matches!(info.kind, DeviceKind::SoftwareAdapter | DeviceKind::HostCpu)
}

/// The kernels a retrieval without weights runs, as the JSON names them.
fn kernels(device: &Device, fusion: Fusion) -> &'static str {
    match (device.is_gpu(), fusion) {
        (false, _) => "cpu",
        (true, Fusion::Unfused) => "unfused",
        (true, _) => "fused",
    }
}

fn fusion_label(device: &Device, fusion: Fusion) -> &'static str {
    if !device.is_gpu() {
        return "n/a (the CPU path has one kernel)";
    }
    match fusion {
        Fusion::Auto => "auto (fused: no weights are asked for)",
        Fusion::Fused => "fused",
        Fusion::Unfused => "unfused",
    }
}

/// Normal entries of variance 1/d: rows of norm ≈ 1.
fn normal(rng: &mut StdRng, rows: usize, d: usize) -> Array2<f32> {
    let scale = 1.0 / (d as f32).sqrt();
    Array2::from_shape_simple_fn((rows, d), || rng.sample::<f32, _>(StandardNormal) * scale)
}

/// Patterns X (N×d) and queries Q (B×d): each query a stored pattern plus noise of half its
/// norm, rescaled to unit norm, as retrieval is used.
fn data(w: &Workload, index: usize) -> (Array2<f32>, Array2<f32>) {
    let mut rng = StdRng::seed_from_u64(SEED + index as u64);
    let x = normal(&mut rng, w.n, w.d);
    let mut q = normal(&mut rng, w.b, w.d);
    for mut row in q.axis_iter_mut(Axis(0)) {
        let target = x.row(rng.random_range(0..w.n));
        row.zip_mut_with(&target, |v, &t| *v = t + 0.5 * *v);
        let norm = row.dot(&row).sqrt().max(f32::MIN_POSITIVE);
        row /= norm;
    }
    (x, q)
}

/// ‖out − ref‖ / ‖ref‖ on the first rows, against the f64 reference.
fn relative_error(x: &Array2<f32>, q: &Array2<f32>, out: &Array2<f32>, beta: f32) -> (f64, usize) {
    let rows = q.nrows().min(REFERENCE_ROWS);
    let x64 = x.mapv(f64::from);
    let q64 = q.slice(s![..rows, ..]).mapv(f64::from);
    let (want, _, _) = reference::retrieve(x64.view(), q64.view(), f64::from(beta), 1);
    let (mut diff, mut norm) = (0.0, 0.0);
    for (&o, &r) in out.slice(s![..rows, ..]).iter().zip(want.iter()) {
        diff += (f64::from(o) - r).powi(2);
        norm += r * r;
    }
    ((diff / norm.max(f64::MIN_POSITIVE)).sqrt(), rows)
}

/// Runs `f` `reps` times (fewer if they would exceed the budget), returning what each took.
fn series(
    reps: usize,
    mut f: impl FnMut() -> Result<Duration, Error>,
) -> Result<Vec<Duration>, Error> {
    let start = Instant::now();
    let mut times = Vec::with_capacity(reps);
    for i in 0..reps {
        times.push(f()?);
        let spent = start.elapsed();
        let projected = spent.mul_f64(reps as f64 / (i + 1) as f64);
        if i + 1 >= 3 && i + 1 < reps && projected > SERIES_BUDGET && spent > SERIES_BUDGET / 2 {
            break;
        }
    }
    Ok(times)
}

fn measure(device: &Device, w: &Workload, index: usize, cfg: &Config) -> Result<Measured, Error> {
    let (x, q) = data(w, index);
    let mut options = MemoryOptions::default().precision(cfg.precision);
    if let Some(b) = cfg.max_chunk_bytes {
        options = options.max_chunk_bytes(b);
    }
    let mut memory = Memory::with_options(device, w.d, options)?;
    memory.append(x.view())?;
    let plain = RetrieveOptions::new(cfg.beta).fusion(cfg.fusion);
    let timed = plain.clone().with_timing();
    for _ in 0..cfg.warmup {
        memory.retrieve(q.view(), &timed)?;
    }

    // End-to-end runs go without timestamp queries, whose resolve and readback they would
    // otherwise include.
    let mut states = None;
    let e2e = series(cfg.reps, || {
        let t = Instant::now();
        let out = memory.retrieve(q.view(), &plain)?;
        let took = t.elapsed();
        states = Some(out.states);
        Ok(took)
    })?;
    let reps = e2e.len();

    let (device_times, device_note) = if !device.is_gpu() {
        (Vec::new(), "n/a (CPU path)")
    } else if !device.info().features.timestamps {
        (Vec::new(), "n/a (no timestamp queries)")
    } else {
        let mut missing = false;
        let times = series(reps, || {
            let out = memory.retrieve(q.view(), &timed)?;
            missing |= out.device_time.is_none();
            Ok(out.device_time.unwrap_or_default())
        })?;
        if missing {
            (Vec::new(), "n/a (the adapter returned no timestamps)")
        } else {
            (times, "")
        }
    };

    let states = states.expect("at least one repetition");
    let (rel_err, rel_err_rows) = relative_error(&x, &q, &states, cfg.beta);
    Ok(Measured {
        chunks: memory.chunks(),
        reps,
        device: Stats::new(&device_times),
        device_note,
        e2e: Stats::new(&e2e).expect("at least one repetition"),
        rel_err,
        rel_err_rows,
    })
}

/// Errors that say this workload does not fit this device (or these chunk settings): reported
/// in its row while the others run.
fn is_per_workload(e: &Error) -> bool {
    matches!(
        e,
        Error::OutOfDeviceMemory(_) | Error::OverLimit { .. } | Error::InvalidOptions(_)
    )
}

pub fn bench(args: &BenchArgs) -> Result<(), Failure> {
    let cfg = bench_config(args)?;
    let requested = args.workloads.as_deref().map(parse_workloads).transpose()?;
    let json: Vec<_> = args
        .json
        .as_deref()
        .map(|p| ("--json", p))
        .into_iter()
        .collect();
    let outputs = Outputs::reserve(&json, &[])?;
    let device = open(&args.device)?;
    let info = device.info();
    let (workloads, set) = match requested {
        Some(list) => (list, args.workloads.clone().unwrap_or_default()),
        None => default_workloads(&device, &info)?,
    };
    say_bench_header(&device, &info, &cfg, &set)?;
    let rows = run_workloads(&device, workloads, &cfg)?;
    say_notes(&rows, &cfg)?;

    if args.json.is_some() {
        let text = json_report(&info, &cfg, kernels(&device, cfg.fusion), &set, &rows);
        outputs.bytes("--json", text.as_bytes())?;
    }
    // Every row failing means the settings, not the workloads, are at fault.
    if rows.iter().all(|r| r.outcome.is_err()) {
        if let Some(Row {
            outcome: Err(e), ..
        }) = rows.into_iter().next()
        {
            return Err(e.into());
        }
    }
    outputs.commit()
}

/// The measurement settings from the flags, checked.
fn bench_config(args: &BenchArgs) -> Result<Config, Failure> {
    let precision: Precision = args.precision.parse()?;
    let fusion = parse_fusion(&args.fusion)?;
    if args.reps == 0 {
        return Err(Failure(2, "--reps must be at least 1".into()));
    }
    if !(args.beta.is_finite() && args.beta > 0.0) {
        return Err(Error::InvalidBeta(args.beta).into());
    }
    Ok(Config {
        precision,
        fusion,
        max_chunk_bytes: args.max_chunk_bytes,
        reps: args.reps,
        warmup: args.warmup,
        beta: args.beta,
    })
}

/// The workloads run without `--workloads`: all on a hardware GPU, the small ones elsewhere,
/// with the set's description.
fn default_workloads(
    device: &Device,
    info: &DeviceInfo,
) -> Result<(Vec<&'static Workload>, String), Failure> {
    if is_hardware(info) {
        return Ok((
            parse_workloads("all")?,
            "all (the default on a hardware GPU)".to_string(),
        ));
    }
    Ok((
        parse_workloads("small")?,
        format!(
            "small (the default on {}; --workloads all runs W1-W4 too)",
            if device.is_gpu() {
                "a software adapter"
            } else {
                "the CPU path"
            }
        ),
    ))
}

/// The settings, what the columns mean, and the table's header.
fn say_bench_header(
    device: &Device,
    info: &DeviceInfo,
    cfg: &Config,
    set: &str,
) -> Result<(), Failure> {
    let precision = cfg.precision;
    say!("hopfield bench on {info}");
    say!(
        "  precision {precision}, fusion {}, beta {}, max chunk {}, {} warm-up + {} timed runs per workload, workloads {set}",
        fusion_label(device, cfg.fusion),
        cfg.beta,
        cfg.max_chunk_bytes
            .map_or("the binding limit".to_string(), |b| format!("{b} bytes")),
        cfg.warmup,
        cfg.reps,
    );
    say!(
        "  data: N(0, 1/d) patterns (norm ~ 1), queries = a stored pattern + half-norm noise, unit norm; seed {SEED:#x}; 1 step"
    );
    say!(
        "  device = GPU timestamp time of the passes; e2e = wall clock of Memory::retrieve (query upload, passes, readback; patterns resident), separate runs without timestamps"
    );
    say!(
        "  GB/s = N*d*{} bytes (X read once) / median time; TFLOP/s = 4*B*N*d / median time; time = device where measured, else e2e (column 'of')",
        precision.bytes()
    );
    say!(
        "  rel.err = |out - ref| / |ref| against the f64 reference (on the first {REFERENCE_ROWS} queries where B > {REFERENCE_ROWS})"
    );
    say!();
    say!(
        "{:<4} {:>5} {:>8} {:>4} {:>6} {:>5} {:>26} {:>26} {:>8} {:>8} {:>6} {:>9}",
        "",
        "B",
        "N",
        "d",
        "chunks",
        "reps",
        "device ms median [min-max]",
        "e2e ms median [min-max]",
        "GB/s",
        "TFLOP/s",
        "of",
        "rel.err"
    );
    Ok(())
}

/// Measures each workload, printing its line as it finishes; errors a workload can cause
/// (too big for the device, say) stay in its row, any other stops the run.
fn run_workloads(
    device: &Device,
    workloads: Vec<&'static Workload>,
    cfg: &Config,
) -> Result<Vec<Row<'static>>, Failure> {
    let mut rows = Vec::new();
    for w in workloads {
        // The data's seed follows the workload's place in the table, whatever the list asked.
        let index = workloads::all()
            .position(|x| x.name == w.name)
            .expect("known");
        let outcome = match measure(device, w, index, cfg) {
            Err(e) if !is_per_workload(&e) => return Err(e.into()),
            outcome => outcome,
        };
        let row = Row {
            workload: w,
            outcome,
        };
        say!("{}", table_line(&row, cfg.precision));
        rows.push(row);
    }
    Ok(rows)
}

/// Which workloads ran fewer reps than asked for, and why.
fn say_notes(rows: &[Row], cfg: &Config) -> Result<(), Failure> {
    let notes: Vec<String> = rows
        .iter()
        .filter_map(|r| match &r.outcome {
            Ok(m) if m.reps < cfg.reps || m.device.as_ref().is_some_and(|d| d.count() < m.reps) => {
                Some(format!(
                    "{}: {} end-to-end and {} device-timed reps (cut to keep a series under ~{} s)",
                    r.workload.name,
                    m.reps,
                    m.device.as_ref().map_or(0, Stats::count),
                    SERIES_BUDGET.as_secs()
                ))
            }
            _ => None,
        })
        .collect();
    if !notes.is_empty() {
        say!();
        say!("notes: {}", notes.join("; "));
    }
    Ok(())
}

fn table_line(row: &Row, precision: Precision) -> String {
    let w = row.workload;
    let head = format!("{:<4} {:>5} {:>8} {:>4}", w.name, w.b, w.n, w.d);
    match &row.outcome {
        Err(e) => format!("{head}  not run: {}", e.to_string().replace('\n', " ")),
        Ok(m) => {
            let (t, of) = m.basis();
            let secs = t / 1e3;
            let device = m
                .device
                .as_ref()
                .map_or(m.device_note.to_string(), Stats::cell);
            format!(
                "{head} {:>6} {:>5} {:>26} {:>26} {:>8} {:>8} {:>6} {:>9.2e}",
                m.chunks,
                m.reps,
                device,
                m.e2e.cell(),
                sig3(w.bytes_read(precision) as f64 / secs / 1e9),
                sig3(w.flop() / secs / 1e12),
                if of == "device" { "device" } else { "e2e" },
                m.rel_err,
            )
        }
    }
}

/// The results as the JSON document `--json` writes.
fn json_report(info: &DeviceInfo, cfg: &Config, kernels: &str, set: &str, rows: &[Row]) -> String {
    let (unix, date) = now();
    let workloads: Vec<Value> = rows.iter().map(|r| workload_json(r, cfg)).collect();
    let doc = json!({
        "tool": "hopfield bench",
        "version": env!("CARGO_PKG_VERSION"),
        "date": date,
        "unix_time": unix,
        "adapter": adapter_json(info),
        "config": {
            "precision": cfg.precision.to_string(),
            "fusion": format!("{:?}", cfg.fusion).to_lowercase(),
            "kernels": kernels,
            "beta": cfg.beta,
            "steps": 1,
            "max_chunk_bytes": cfg.max_chunk_bytes,
            "warmup": cfg.warmup,
            "reps": cfg.reps,
            "seed": SEED,
            "workload_set": set,
            "reference_rows": REFERENCE_ROWS,
        },
        "workloads": workloads,
    });
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    text + "\n"
}

/// The adapter's name, kind, limits and features, as the report records them.
fn adapter_json(info: &DeviceInfo) -> Value {
    let l = &info.limits;
    let f = &info.features;
    json!({
        "name": info.name,
        "backend": info.backend,
        "kind": format!("{:?}", info.kind),
        "driver": info.driver,
        "limits": {
            "max_storage_binding_bytes": l.max_storage_binding_bytes,
            "max_buffer_bytes": l.max_buffer_bytes,
            "max_workgroup_storage_bytes": l.max_workgroup_storage_bytes,
            "max_invocations_per_workgroup": l.max_invocations_per_workgroup,
            "max_workgroups_per_dimension": l.max_workgroups_per_dimension,
        },
        "features": {
            "shader_f16": f.shader_f16,
            "subgroups": f.subgroups,
            "subgroup_size": [f.subgroup_size.0, f.subgroup_size.1],
            "timestamps": f.timestamps,
        },
    })
}

/// One workload's shape and its measurements, or why it did not run.
fn workload_json(r: &Row, cfg: &Config) -> Value {
    let w = r.workload;
    let mut v = json!({
        "name": w.name,
        "description": w.what,
        "b": w.b,
        "n": w.n,
        "d": w.d,
        "bytes_read": w.bytes_read(cfg.precision),
        "flop": w.flop(),
    });
    let extra = match &r.outcome {
        Err(e) => json!({ "status": "not_run", "error": e.to_string() }),
        Ok(m) => {
            let (t, of) = m.basis();
            json!({
                "status": "ok",
                "chunks": m.chunks,
                "reps": m.reps,
                "reps_cut_by_time_budget": m.reps < cfg.reps
                    || m.device.as_ref().is_some_and(|d| d.count() < m.reps),
                "device_time_ms": m.device.as_ref().map(Stats::json),
                "device_time_note": (m.device.is_none()).then_some(m.device_note),
                "end_to_end_ms": m.e2e.json(),
                "throughput_time": of,
                "throughput_time_ms": t,
                "gb_per_s": w.bytes_read(cfg.precision) as f64 / (t / 1e3) / 1e9,
                "tflop_per_s": w.flop() / (t / 1e3) / 1e12,
                "rel_err": m.rel_err,
                "rel_err_rows": m.rel_err_rows,
            })
        }
    };
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

/// Seconds since the epoch and the UTC date-time in RFC 3339, without a date crate.
fn now() -> (u64, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    (secs, date)
}
