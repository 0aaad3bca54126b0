//! `hopfield`: adapters, retrieval on .npy files, and the demo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use hopfield::{Device, Error, GpuOptions, Memory, Retrieval, RetrieveOptions};
use ndarray::{Array2, ArrayView2, Axis};
use ndarray_npy::{read_npy, write_npy};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Parser)]
#[command(
    name = "hopfield",
    version,
    about = "Modern Hopfield network retrieval on any GPU (wgpu) or the CPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every adapter wgpu sees, plus the CPU, with the limits and features that matter.
    Info,
    /// Retrieve from stored patterns for a batch of queries (.npy in, .npy out).
    Retrieve(RetrieveArgs),
    /// Store random patterns, corrupt copies, retrieve them on a device and on the CPU.
    Demo(DemoArgs),
}

#[derive(Args)]
struct DeviceArg {
    /// auto (a real GPU, else the CPU), cpu, gpu (any adapter, software included), or a
    /// substring of an adapter's name.
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(Args)]
struct RetrieveArgs {
    /// Stored patterns, float32 (N, d).
    #[arg(long)]
    patterns: PathBuf,
    /// Queries, float32 (B, d).
    #[arg(long)]
    queries: PathBuf,
    /// Inverse temperature β > 0.
    #[arg(long, allow_negative_numbers = true)]
    beta: f32,
    /// Where to write the retrieved states, float32 (B, d).
    #[arg(long)]
    out: PathBuf,
    /// Fixed number of update steps.
    #[arg(long, conflicts_with = "until_converged")]
    steps: Option<usize>,
    /// Update until the largest change of a component is ≤ eps.
    #[arg(long)]
    until_converged: bool,
    /// Tolerance for --until-converged.
    #[arg(long, default_value_t = 1e-6, requires = "until_converged")]
    eps: f32,
    /// Step limit for --until-converged.
    #[arg(long, default_value_t = 100, requires = "until_converged")]
    max_steps: usize,
    /// Also write the attention weights of the last step, float32 (B, N).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Number of strongest patterns per query to report.
    #[arg(long, requires = "topk_out")]
    topk: Option<usize>,
    /// Where to write the top-k pattern indices, int64 (B, k).
    #[arg(long, requires = "topk")]
    topk_out: Option<PathBuf>,
    /// Where to write the top-k weights, float32 (B, k).
    #[arg(long, requires = "topk")]
    topk_weights_out: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArg,
}

#[derive(Args)]
struct DemoArgs {
    /// Stored patterns N.
    #[arg(long, default_value_t = 4096)]
    patterns: usize,
    /// Pattern dimension d.
    #[arg(long, default_value_t = 256)]
    dim: usize,
    /// Corrupted queries B (half with flipped signs, half with a masked half).
    #[arg(long, default_value_t = 256)]
    queries: usize,
    /// Inverse temperature.
    #[arg(long, default_value_t = 32.0)]
    beta: f32,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[command(flatten)]
    device: DeviceArg,
}

/// A failure with the exit code it deserves: 2 for bad input, 1 for the machine's fault.
struct Failure(u8, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::NoAdapter(_)
            | Error::RequestDevice { .. }
            | Error::DeviceLost(_)
            | Error::OutOfDeviceMemory(_)
            | Error::Gpu(_) => 1,
            _ => 2,
        };
        Failure(code, e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => info(),
        Command::Retrieve(args) => retrieve(&args),
        Command::Demo(args) => demo(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("error: {}", msg.replace('\n', " "));
            ExitCode::from(code)
        }
    }
}

fn open(device: &str) -> Result<Device, Failure> {
    Ok(match device {
        "auto" => Device::auto()?,
        "cpu" => Device::cpu(),
        "gpu" => Device::gpu()?,
        name => Device::gpu_with(&GpuOptions {
            adapter_name: Some(name.to_string()),
            ..Default::default()
        })?,
    })
}

fn info() -> Result<(), Failure> {
    for device in Device::all() {
        println!("{}\n", device.report());
    }
    let auto = Device::auto()?;
    println!("Device::auto() picks: {}", auto.info());
    Ok(())
}

fn load(path: &Path, what: &str) -> Result<Array2<f32>, Failure> {
    read_npy::<_, Array2<f32>>(path).map_err(|e| {
        Failure(
            2,
            format!(
                "{what} {}: {e} (expected a 2-D float32 .npy)",
                path.display()
            ),
        )
    })
}

fn save<A: ndarray_npy::WritableElement>(path: &Path, array: &Array2<A>) -> Result<(), Failure> {
    write_npy(path, array).map_err(|e| Failure(1, format!("writing {}: {e}", path.display())))
}

fn retrieve(args: &RetrieveArgs) -> Result<(), Failure> {
    let patterns = load(&args.patterns, "patterns")?;
    let queries = load(&args.queries, "queries")?;
    let device = open(&args.device.device)?;
    let mut opts = RetrieveOptions::new(args.beta);
    opts = if args.until_converged {
        opts.until_converged(args.eps, args.max_steps)
    } else {
        opts.steps(args.steps.unwrap_or(1))
    };
    opts.weights = args.weights.is_some();
    opts.top_k = args.topk;
    let memory = Memory::from_array(&device, patterns.view())?;
    let out = memory.retrieve(queries.view(), &opts)?;
    save(&args.out, &out.states)?;
    if let (Some(path), Some(w)) = (&args.weights, &out.weights) {
        save(path, w)?;
    }
    if let Some(top) = &out.top_k {
        if let Some(path) = &args.topk_out {
            save(path, &top.indices.mapv(|i| i as i64))?;
        }
        if let Some(path) = &args.topk_weights_out {
            save(path, &top.weights)?;
        }
    }
    let converged = out
        .converged
        .as_ref()
        .map(|c| {
            format!(
                ", {} of {} converged",
                c.iter().filter(|&&c| c).count(),
                c.len()
            )
        })
        .unwrap_or_default();
    eprintln!(
        "{}: B={} N={} d={}, {} steps{converged}",
        device.info(),
        queries.nrows(),
        memory.len(),
        memory.dim(),
        out.steps.iter().max().copied().unwrap_or(0),
    );
    Ok(())
}

/// Random ±1/√d patterns: unit norm, nearly orthogonal.
fn sign_patterns(rng: &mut StdRng, n: usize, d: usize) -> Array2<f32> {
    let s = 1.0 / (d as f32).sqrt();
    Array2::from_shape_simple_fn((n, d), || if rng.random_bool(0.5) { s } else { -s })
}

struct Run {
    out: Retrieval,
    store_s: f64,
    retrieve_s: f64,
}

fn run(
    device: &Device,
    x: ArrayView2<f32>,
    q: ArrayView2<f32>,
    opts: &RetrieveOptions,
) -> Result<Run, Failure> {
    let t = Instant::now();
    let memory = Memory::from_array(device, x)?;
    let store_s = t.elapsed().as_secs_f64();
    // The first retrieval on a device includes one-off driver work; time the second.
    memory.retrieve(q, opts)?;
    let t = Instant::now();
    let out = memory.retrieve(q, opts)?;
    Ok(Run {
        out,
        store_s,
        retrieve_s: t.elapsed().as_secs_f64(),
    })
}

fn demo(args: &DemoArgs) -> Result<(), Failure> {
    let (n, d, b) = (args.patterns, args.dim, args.queries);
    if n == 0 || d == 0 || b == 0 {
        return Err(Failure(
            2,
            "--patterns, --dim and --queries must be at least 1".into(),
        ));
    }
    let device = open(&args.device.device)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let x = sign_patterns(&mut rng, n, d);
    let targets: Vec<usize> = (0..b).map(|_| rng.random_range(0..n)).collect();
    let mut q = x.select(Axis(0), &targets);
    let flipped = b.div_ceil(2);
    for (r, mut row) in q.axis_iter_mut(Axis(0)).enumerate() {
        if r < flipped {
            // 20 % of the signs flipped.
            row.mapv_inplace(|v| if rng.random_bool(0.2) { -v } else { v });
        } else {
            // A random contiguous half zeroed out.
            let start = rng.random_range(0..d);
            for k in 0..d / 2 {
                row[(start + k) % d] = 0.0;
            }
        }
    }
    let opts = RetrieveOptions::new(args.beta)
        .until_converged(1e-6, 20)
        .with_top_k(1);

    println!("hopfield demo: N={n} patterns of d={d} (random signs, unit norm), B={b} corrupted queries, beta={}", args.beta);
    println!(
        "  {flipped} queries with 20% of signs flipped, {} with half of the components masked",
        b - flipped
    );
    let info = device.info();
    println!("device: {info}");
    if !device.is_gpu() {
        println!("  (no hardware GPU found: the CPU path runs; `--device gpu` uses any adapter, a software one included)");
    }
    let cpu = Device::cpu();
    let mut runs = vec![("device", run(&device, x.view(), q.view(), &opts)?)];
    if device.is_gpu() {
        runs.push(("cpu", run(&cpu, x.view(), q.view(), &opts)?));
    }

    let bytes = (n * d * 4) as f64;
    for (tag, r) in &runs {
        let top = r.out.top_k.as_ref().expect("top-1 was asked for");
        let mut recovered = [0usize; 2];
        for (i, &t) in targets.iter().enumerate() {
            let state = r.out.states.row(i);
            let cosine = state.dot(&x.row(t)) / state.dot(&state).sqrt().max(f32::MIN_POSITIVE);
            if top.indices[[i, 0]] == t && cosine > 0.99 {
                recovered[usize::from(i >= flipped)] += 1;
            }
        }
        let steps = r.out.steps.iter().max().copied().unwrap_or(0);
        println!(
            "{tag:>6}: recovered {}/{flipped} sign-flipped, {}/{} half-masked (top-1 = original and cosine > 0.99), {steps} steps",
            recovered[0],
            recovered[1],
            b - flipped,
        );
        println!(
            "        store {:.2} ms, retrieve {:.2} ms ({:.0} queries/s, {:.2} GB/s of patterns per step)",
            r.store_s * 1e3,
            r.retrieve_s * 1e3,
            b as f64 / r.retrieve_s,
            bytes * steps as f64 / r.retrieve_s / 1e9,
        );
    }
    if let [(_, a), (_, c)] = &runs[..] {
        let diff = (&a.out.states - &c.out.states)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        println!("max |device - cpu| over all states: {diff:.3e}");
    } else {
        println!("max |device - cpu|: the chosen device is the CPU itself");
    }
    Ok(())
}
