//! `hopfield bench`: the workloads of docs/workloads.md (W1–W4) and small ones a software adapter finishes
//! in seconds (S1–S4), timed on the device (timestamp queries) and end to end, with the
//! throughput and the error against the f64 reference beside every time.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use hopfield::workloads::{self, Workload, FULL, SMALL};
use hopfield::{Device, DeviceInfo, DeviceKind, Error, Fusion, Precision, Separation};
use hopfield_bench::{
    is_per_workload, json_report, kernels, measure, sig3, Config, Row, Shape, Stats,
    REFERENCE_ROWS, SEED, SERIES_BUDGET,
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
    /// GPU kernels: auto (fused, since no weights are asked for; with --topk the library's
    /// choice), fused or unfused. The CPU path ignores it.
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
    /// A shape of your own, B,N,d (queries, patterns, dimension), measured like the named
    /// workloads and named B<B>_N<N>_d<d>; repeatable. Without --workloads only the shapes run.
    #[arg(long, value_name = "B,N,d")]
    shape: Vec<Shape>,
    /// Time top-k retrieval instead of the states alone: each call also returns the K
    /// strongest patterns of each query with their weights. K must not exceed any workload's N.
    #[arg(long, value_name = "K", value_parser = parse_topk)]
    topk: Option<usize>,
    /// How scores become weights in every retrieval: softmax, sparsemax, entmax:ALPHA,
    /// softmax1 or topk:K (docs/separations.md). Only softmax and softmax1 take the fused
    /// kernels; the error column is against the f64 reference of the same rule.
    #[arg(long, value_name = "S", default_value = "softmax", value_parser = crate::parse_separation)]
    separation: Separation,
}

/// `--topk`: a whole number of at least 1.
fn parse_topk(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("K must be at least 1 (the strongest patterns to return per query)".into()),
        Ok(k) => Ok(k),
        Err(_) => Err(format!("K must be a whole number of at least 1, got {s:?}")),
    }
}

/// One workload to measure, with the index its data's seed follows.
struct Job {
    workload: Workload,
    index: usize,
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

fn fusion_label(device: &Device, cfg: &Config) -> &'static str {
    if !device.is_gpu() {
        return "n/a (the CPU path has one kernel)";
    }
    match (cfg.fusion, cfg.top_k) {
        (Fusion::Auto, _) if !cfg.separation.fuses() => {
            "auto (unfused: the separation needs each row of scores whole)"
        }
        (Fusion::Auto, Some(_)) => "auto (the library picks the kernels for top-k)",
        (Fusion::Auto, None) => "auto (fused: no weights are asked for)",
        (Fusion::Fused, _) => "fused",
        (Fusion::Unfused, _) => "unfused",
    }
}

/// The kernels the JSON names: those a retrieval without weights runs, or `auto` where top-k
/// leaves the choice to the library.
fn kernels_label(device: &Device, cfg: &Config) -> &'static str {
    match (device.is_gpu(), cfg.fusion, cfg.top_k) {
        (true, Fusion::Auto, _) if !cfg.separation.fuses() => "unfused",
        (true, Fusion::Auto, Some(_)) => "auto",
        _ => kernels(device, cfg.fusion),
    }
}

pub fn bench(args: &BenchArgs) -> Result<(), Failure> {
    let cfg = bench_config(args)?;
    let requested = args.workloads.as_deref().map(parse_workloads).transpose()?;
    let shapes = shape_jobs(&args.shape);
    check_topk(&cfg, requested.as_deref(), &shapes)?;
    let json: Vec<_> = args
        .json
        .as_deref()
        .map(|p| ("--json", p))
        .into_iter()
        .collect();
    let outputs = Outputs::reserve(&json, &[])?;
    let device = open(&args.device)?;
    let info = device.info();
    let (named, set) = match requested {
        Some(list) => (list, args.workloads.clone().unwrap_or_default()),
        None if !shapes.is_empty() => (Vec::new(), String::new()),
        None => default_workloads(&device, &info)?,
    };
    let set = with_shapes(set, &shapes);
    let mut jobs: Vec<Job> = named.into_iter().map(named_job).collect();
    jobs.extend(shapes);
    say_bench_header(&device, &info, &cfg, &set, name_width(&jobs))?;
    let rows = run_workloads(&device, &jobs, &cfg)?;
    say_notes(&rows, &cfg)?;

    if args.json.is_some() {
        let kernels = kernels_label(&device, &cfg);
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

/// A named workload, its data seeded by its place in the table whatever the list asked.
fn named_job(w: &'static Workload) -> Job {
    let index = workloads::all()
        .position(|x| x.name == w.name)
        .expect("known");
    Job {
        workload: *w,
        index,
    }
}

/// The `--shape` workloads, each once, in the order given; the i-th distinct shape's data is
/// seeded as if it followed the named table (index table length + i).
fn shape_jobs(shapes: &[Shape]) -> Vec<Job> {
    let mut distinct: Vec<Shape> = Vec::new();
    for s in shapes {
        if !distinct.contains(s) {
            distinct.push(*s);
        }
    }
    let named = workloads::all().count();
    distinct
        .iter()
        .enumerate()
        .map(|(i, s)| Job {
            workload: s.workload(),
            index: named + i,
        })
        .collect()
}

/// The workload set's description with the shapes added.
fn with_shapes(set: String, shapes: &[Job]) -> String {
    if shapes.is_empty() {
        return set;
    }
    let names: Vec<&str> = shapes.iter().map(|j| j.workload.name).collect();
    let shapes = format!("shapes {}", names.join(","));
    if set.is_empty() {
        shapes
    } else {
        format!("{set} + {shapes}")
    }
}

/// Refuses, before any device opens, a `--topk` larger than some workload's N (the library
/// takes 1 <= k <= N only, Error::InvalidTopK), and a `--separation` whose parameter does not
/// fit some workload. Without `--workloads` or `--shape` the default set is not known yet;
/// every named workload stands in for it.
fn check_topk(
    cfg: &Config,
    requested: Option<&[&'static Workload]>,
    shapes: &[Job],
) -> Result<(), Failure> {
    let (named, which): (Vec<&Workload>, &str) = match requested {
        Some(list) => (list.to_vec(), ""),
        None if !shapes.is_empty() => (Vec::new(), ""),
        None => (
            workloads::all().collect(),
            " (the default set, which the device decides, may run it)",
        ),
    };
    let every: Vec<&Workload> = named
        .into_iter()
        .chain(shapes.iter().map(|j| &j.workload))
        .collect();
    for w in &every {
        cfg.separation.validate(w.n).map_err(|e| {
            Failure(
                2,
                format!(
                    "--separation {}: workload {}{which}: {e}",
                    cfg.separation, w.name
                ),
            )
        })?;
    }
    let Some(k) = cfg.top_k else {
        return Ok(());
    };
    match every.into_iter().filter(|w| k > w.n).min_by_key(|w| w.n) {
        None => Ok(()),
        Some(w) => Err(Failure(
            2,
            format!(
                "--topk {k} is more than the N = {} stored patterns of workload {}{which}: top-k \
                 needs 1 <= K <= N for every workload of the run",
                w.n, w.name
            ),
        )),
    }
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
        top_k: args.topk,
        separation: args.separation,
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

/// The width of the table's first column: the longest name (a shape's is long).
fn name_width(jobs: &[Job]) -> usize {
    jobs.iter()
        .map(|j| j.workload.name.len())
        .fold(4, usize::max)
}

/// The settings, what the columns mean, and the table's header.
fn say_bench_header(
    device: &Device,
    info: &DeviceInfo,
    cfg: &Config,
    set: &str,
    width: usize,
) -> Result<(), Failure> {
    let precision = cfg.precision;
    say!("hopfield bench on {info}");
    say!(
        "  precision {precision}, fusion {}, beta {}, max chunk {}, {} warm-up + {} timed runs per workload, workloads {set}",
        fusion_label(device, cfg),
        cfg.beta,
        cfg.max_chunk_bytes
            .map_or("the binding limit".to_string(), |b| format!("{b} bytes")),
        cfg.warmup,
        cfg.reps,
    );
    say!(
        "  data: N(0, 1/d) patterns (norm ~ 1), queries = a stored pattern + half-norm noise, unit norm; seed {SEED:#x}; 1 step"
    );
    say!("  separation: {}", cfg.separation);
    say!(
        "  retrieval: {}",
        cfg.top_k.map_or("the states (column k: -)".to_string(), |k| format!(
            "top-k, k = {k}: the states and the {k} strongest patterns of each query with their weights (column k)"
        ))
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
        "{:<width$} {:>5} {:>8} {:>4} {:>4} {:>6} {:>5} {:>26} {:>26} {:>8} {:>8} {:>6} {:>9}",
        "",
        "B",
        "N",
        "d",
        "k",
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
fn run_workloads<'a>(
    device: &Device,
    jobs: &'a [Job],
    cfg: &Config,
) -> Result<Vec<Row<'a>>, Failure> {
    let width = name_width(jobs);
    let mut rows = Vec::new();
    for job in jobs {
        let outcome = match pollster::block_on(measure(device, &job.workload, job.index, cfg)) {
            Err(e) if !is_per_workload(&e) => return Err(e.into()),
            outcome => outcome,
        };
        let row = Row {
            workload: &job.workload,
            outcome,
        };
        say!("{}", table_line(&row, cfg, width));
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

fn table_line(row: &Row, cfg: &Config, width: usize) -> String {
    let w = row.workload;
    let k = cfg.top_k.map_or("-".to_string(), |k| k.to_string());
    let head = format!("{:<width$} {:>5} {:>8} {:>4} {k:>4}", w.name, w.b, w.n, w.d);
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
                sig3(w.bytes_read(cfg.precision) as f64 / secs / 1e9),
                sig3(w.flop() / secs / 1e12),
                if of == "device" { "device" } else { "e2e" },
                m.rel_err,
            )
        }
    }
}
