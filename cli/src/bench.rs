//! `hopfield bench`: the workloads of docs/workloads.md (W1–W4) and small ones a software adapter finishes
//! in seconds (S1–S4), timed on the device (timestamp queries) and end to end, with the
//! throughput and the error against the f64 reference beside every time.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use hopfield::workloads::{self, Workload, FULL, SMALL};
use hopfield::{Device, DeviceInfo, DeviceKind, Error, Fusion, Precision};
use hopfield_bench::{
    is_per_workload, json_report, kernels, measure, sig3, Config, Row, Stats, REFERENCE_ROWS, SEED,
    SERIES_BUDGET,
};

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
        let kernels = kernels(&device, cfg.fusion);
        let text = json_report("hopfield bench", &info, &cfg, kernels, &set, &rows);
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
        let outcome = match pollster::block_on(measure(device, w, index, cfg)) {
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
            Ok(m) if m.cut(cfg.reps) => Some(format!(
                "{}: {} end-to-end and {} device-timed reps (cut to keep a series under ~{} s)",
                r.workload.name,
                m.reps,
                m.device.as_ref().map_or(0, Stats::count),
                SERIES_BUDGET.as_secs()
            )),
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
