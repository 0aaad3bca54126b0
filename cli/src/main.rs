//! `hopfield`: the adapters this machine has, storing patterns in a memory file, retrieval on
//! .npy files or a memory file, a demo that stores random patterns and recovers corrupted
//! copies of them on a device and on the CPU, the benchmark of the workloads in
//! docs/workloads.md, and the WGSL programs the library builds, as files.
//!
//! `-v` logs what the library decides (adapter, chunking, fallbacks) to stderr, `-vv` more;
//! `RUST_LOG` (env_logger's syntax) overrides both.
//!
//! Every failure ends with exit code 2 (bad input) or 1 (the machine's or the device's fault)
//! and one line on stderr that starts with `error:`; nothing panics on user input.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{ArgGroup, Args, Parser, Subcommand};
use hopfield::{
    Device, DeviceKind, Error, Limits, Memory, MemoryOptions, Precision, Retrieval,
    RetrieveOptions, Separation,
};
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use ndarray_npy::{read_npy, ReadNpyError};
use rand::rngs::StdRng;
use rand::seq::index;
use rand::{RngExt, SeedableRng};

#[derive(Parser)]
#[command(
    name = "hopfield",
    version,
    about = "Modern Hopfield network retrieval on any GPU (wgpu) or the CPU"
)]
struct Cli {
    /// Log the library's decisions to stderr (adapter, chunking, fallbacks); -vv for more.
    /// RUST_LOG, when set, takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every adapter wgpu sees, plus the CPU, with the limits and features that matter, and
    /// which one `--device auto` picks.
    Info,
    /// Store patterns from a .npy file in a memory file (safetensors) with their ids, to
    /// retrieve from later with `retrieve --memory`.
    Store(StoreArgs),
    /// Retrieve from stored patterns for a batch of queries (float32 .npy in, .npy out).
    ///
    /// Every output path is checked before anything is computed, and the outputs appear only
    /// when the whole run succeeded. --steps K runs in slices, shows the step it is at on a
    /// terminal, and stops early at a fixed point (a step that changed nothing).
    ///
    /// Scores are f32, known to about beta·|x|·|state|·2^-24. When the two strongest patterns
    /// of a query score closer than that, f32 cannot tell them apart: which leads, and their
    /// weights, are rounding. Where that bound reaches 2^-10, the last step is checked and a
    /// warning printed; a lower --beta shrinks it.
    Retrieve(RetrieveArgs),
    /// Store random patterns, corrupt copies of some, retrieve them on a device and on the CPU.
    Demo(DemoArgs),
    /// Time retrieval on the workloads of docs/workloads.md (W1-W4) or small ones (S1-S4): device and
    /// end-to-end time, GB/s, TFLOP/s and the error against the f64 reference.
    Bench(bench::BenchArgs),
    /// Write every WGSL program the library would build for a device, one NAME.wgsl file each,
    /// exactly as it hands them to wgpu (preludes included), to check them with another
    /// compiler: tools/tint-check feeds them to Tint, the compiler of Chrome and Dawn.
    Shaders(shaders::ShadersArgs),
    /// What the stored patterns' geometry says about beta: N, d, norms, how far apart the
    /// patterns are (their separation), whether they are well separated, the smallest beta at
    /// which one update from each stored pattern stays within a tolerance of it (Ramsauer et
    /// al.'s Theorem 5), and Theorem 3's capacity at that beta. Costs N²·d multiply-adds.
    Inspect(inspect::InspectArgs),
}

#[derive(Args)]
struct DeviceArg {
    /// auto (a hardware GPU if there is one, else the CPU path), cpu, gpu (any wgpu adapter,
    /// software ones such as lavapipe included), BACKEND:INDEX (the INDEX-th adapter of a
    /// backend, from 0: vulkan:1), or a case-insensitive substring of an adapter's name (see
    /// `hopfield info`). `retrieve` takes a comma-separated list (gpu,cpu or
    /// vulkan:0,vulkan:1) and shards the memory over those devices in equal shares.
    #[arg(long, default_value = "auto")]
    device: String,
    /// The limits a GPU device opens with: adapter (its own) or webgpu (WebGPU's defaults, as
    /// a browser hands out: 16 KiB of workgroup memory, 128 MiB bindings). Every kernel choice
    /// follows them. No effect on the CPU path.
    #[arg(long, value_name = "L", default_value = "adapter")]
    limits: String,
}

#[derive(Args)]
struct StoreArgs {
    /// The patterns: a 2-D float32 .npy of shape (N, d).
    #[arg(long, value_name = "X.npy")]
    patterns: PathBuf,
    /// Where to write the memory (written atomically: a crash leaves the old file whole).
    #[arg(long, value_name = "MEM.safetensors")]
    out: PathBuf,
    /// Element type the patterns are stored in: f32, or f16 (half the bytes read, rounding
    /// error up to 2^-11 relative per element).
    #[arg(long, value_name = "P", default_value = "f32")]
    precision: String,
    /// Each pattern's id: a 1-D uint64 .npy of length N, all distinct [default: 0, 1, …].
    #[arg(long, value_name = "IDS.npy")]
    ids: Option<PathBuf>,
    /// Largest device buffer one chunk of patterns may take, in bytes, kept in the file for
    /// whoever loads it [default: the loading device's storage-binding limit].
    #[arg(long, value_name = "N")]
    max_chunk_bytes: Option<u64>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("topk_outputs").args(["topk_out", "topk_weights_out", "topk_ids_out"]).multiple(true)))]
#[command(group(ArgGroup::new("source").args(["patterns", "memory"]).required(true)))]
struct RetrieveArgs {
    /// Stored patterns: a 2-D float32 .npy of shape (N, d).
    #[arg(long, value_name = "X.npy")]
    patterns: Option<PathBuf>,
    /// Stored patterns, with their ids and storage precision: a memory file written by
    /// `hopfield store` (or `Memory::save`).
    #[arg(long, value_name = "MEM.safetensors", conflicts_with_all = ["precision", "max_chunk_bytes"])]
    memory: Option<PathBuf>,
    /// Queries: a 2-D float32 .npy of shape (B, d).
    #[arg(long, value_name = "Q.npy")]
    queries: PathBuf,
    /// Inverse temperature β > 0.
    #[arg(long, allow_negative_numbers = true)]
    beta: f32,
    /// Where to write the retrieved states: float32 (B, d).
    #[arg(long, value_name = "OUT.npy")]
    out: PathBuf,
    /// Exactly this many update steps [default: 1].
    #[arg(long, value_name = "K", conflicts_with = "until_converged")]
    steps: Option<usize>,
    /// Update until the largest change of any state component in one step is ≤ --eps, at most
    /// --max-steps times.
    #[arg(long)]
    until_converged: bool,
    /// Tolerance of --until-converged (absolute, per component).
    #[arg(
        long,
        value_name = "E",
        default_value_t = 1e-6,
        requires = "until_converged",
        allow_negative_numbers = true
    )]
    eps: f32,
    /// Step limit of --until-converged.
    #[arg(
        long,
        value_name = "K",
        default_value_t = 100,
        requires = "until_converged"
    )]
    max_steps: usize,
    /// Also write the attention weights of the last step: float32 (B, N).
    #[arg(long, value_name = "W.npy")]
    weights: Option<PathBuf>,
    /// Report the k strongest patterns of each query (needs --topk-out or --topk-weights-out).
    #[arg(long, value_name = "K", requires = "topk_outputs")]
    topk: Option<usize>,
    /// Where to write the indices of the top-k patterns, strongest first: int64 (B, k).
    #[arg(long, value_name = "T.npy", requires = "topk")]
    topk_out: Option<PathBuf>,
    /// Where to write the weights of the top-k patterns: float32 (B, k).
    #[arg(long, value_name = "TW.npy", requires = "topk")]
    topk_weights_out: Option<PathBuf>,
    /// Where to write the ids of the top-k patterns: uint64 (B, k).
    #[arg(long, value_name = "TI.npy", requires = "topk")]
    topk_ids_out: Option<PathBuf>,
    /// Where to write energies: float32 (B, 2), column 0 the energy of each query, column 1 that
    /// of its retrieved state.
    #[arg(long, value_name = "E.npy")]
    energy_out: Option<PathBuf>,
    /// Element type the patterns are stored in: f32, or f16 (half the bytes read, rounding
    /// error up to 2^-11 relative per element) [default: f32].
    #[arg(long, value_name = "P")]
    precision: Option<String>,
    /// Largest device buffer one chunk of patterns may take, in bytes [default: the device's
    /// storage-binding limit]. The result does not depend on it. GPU devices only: the CPU
    /// path keeps the patterns in one allocation, and refuses the flag.
    #[arg(long, value_name = "N")]
    max_chunk_bytes: Option<u64>,
    /// GPU kernels: auto (fused unless weights are asked for or the shape does not fit the
    /// fused kernels), fused (an error where it cannot), or unfused. The result does not
    /// depend on it beyond rounding.
    #[arg(long, value_name = "F", default_value = "auto")]
    fusion: String,
    /// How scores become weights: softmax, sparsemax, entmax:ALPHA (ALPHA > 1), softmax1 or
    /// topk:K (docs/separations.md).
    #[arg(long, value_name = "S", default_value = "softmax", value_parser = parse_separation)]
    separation: Separation,
    /// A partial cue: which features of the queries are known, a .npy of bool or 0/1 values
    /// of shape (B, d) or (1, d). The first step scores the known features only and the stored
    /// patterns fill in the rest; what the queries hold at unknown features is ignored.
    #[arg(long, value_name = "MASK.npy")]
    known: Option<PathBuf>,
    /// With --known: keep the known features at their given values after every step.
    #[arg(long, requires = "known")]
    clamp_known: bool,
    #[command(flatten)]
    device: DeviceArg,
}

#[derive(Args)]
struct DemoArgs {
    /// Number of stored patterns N.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    patterns: usize,
    /// Pattern dimension d.
    #[arg(long, value_name = "D", default_value_t = 256)]
    dim: usize,
    /// Number of corrupted queries B: the first half with signs flipped, the rest half masked.
    #[arg(long, value_name = "B", default_value_t = 256)]
    queries: usize,
    /// Inverse temperature. At the default sizes the half-masked queries fall into mixtures of
    /// patterns at β ≤ 16 and are all recovered from β ≈ 18 on; 32 leaves a margin.
    #[arg(long, default_value_t = 32.0, allow_negative_numbers = true)]
    beta: f32,
    /// Random seed of the patterns and the corruption.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[command(flatten)]
    device: DeviceArg,
}

/// A failure with the exit code it deserves: 2 for bad input, 1 for the machine's fault; an
/// empty message exits quietly.
struct Failure(u8, String);

/// `println!` that turns a closed stdout (`hopfield demo | head -3`) into an error to return,
/// where `println!` would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(Failure::from)?
    };
}

// After `say!`, which it uses.
mod bench;
mod inspect;
mod mask;
mod outputs;
mod shaders;
mod source;
mod steps;

use outputs::Outputs;
use source::Source;

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == ErrorKind::BrokenPipe {
            // Whoever reads our output has stopped reading: nothing left to say.
            Failure(0, String::new())
        } else {
            Failure(1, format!("writing to stdout: {e}"))
        }
    }
}

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
    // The library never installs a logger; the tool does, quiet unless asked.
    let level = match cli.verbose {
        0 => "off",
        1 => "hopfield=info",
        2 => "hopfield=debug",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    let result = match cli.command {
        Command::Info => info(),
        Command::Store(args) => store(&args),
        Command::Retrieve(args) => retrieve(&args),
        Command::Demo(args) => demo(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Shaders(args) => shaders::shaders(&args),
        Command::Inspect(args) => inspect::inspect(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            if !msg.is_empty() {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: {}",
                    msg.replace(['\n', '\r'], " ")
                );
            }
            ExitCode::from(code)
        }
    }
}

/// The device `--device` names, opened with `--limits`: one device (a list is for
/// `retrieve` only, which shards the memory over it).
fn open(arg: &DeviceArg) -> Result<Device, Failure> {
    one_device(arg)?;
    source::open_one(&arg.device, limits(arg)?)
}

/// Refuses a `--device` list where one device is wanted.
fn one_device(arg: &DeviceArg) -> Result<(), Failure> {
    if arg.device.contains(',') {
        return Err(Failure(
            2,
            format!(
                "--device {}: a list of devices is for `retrieve`, which shards the memory \
                 over them; give one device here",
                arg.device
            ),
        ));
    }
    Ok(())
}

/// `--limits`, parsed.
fn limits(arg: &DeviceArg) -> Result<Limits, Failure> {
    arg.limits
        .parse()
        .map_err(|e: Error| Failure(2, format!("--limits: {e}")))
}

fn info() -> Result<(), Failure> {
    for device in Device::all() {
        say!("{}\n", device.report());
    }
    let auto = Device::auto()?;
    say!("--device auto picks: {}", auto.info());
    if !auto.is_gpu() {
        say!("  (no hardware GPU: --device gpu runs the GPU kernels on any adapter, software ones included)");
    }
    Ok(())
}

/// Reads a 2-D float32 .npy, with a reason a user can act on when it is not one.
fn load(path: &Path, what: &str) -> Result<Array2<f32>, Failure> {
    hopfield::persist::read_npy(path).map_err(|e| Failure(2, format!("{what} {e}")))
}

/// Reads a 1-D uint64 .npy of pattern ids.
fn load_ids(path: &Path) -> Result<Array1<u64>, Failure> {
    read_npy::<_, Array1<u64>>(path).map_err(|e| {
        let why = match e {
            ReadNpyError::Io(e) if e.kind() == ErrorKind::NotFound => "no such file".to_string(),
            ReadNpyError::WrongNdim(_, ndim) => {
                format!("holds a {ndim}-D array; expected a 1-D array of ids")
            }
            ReadNpyError::WrongDescriptor(desc) => {
                format!("has dtype {desc}; expected uint64 (numpy: a.astype(np.uint64))")
            }
            e => format!("not a readable .npy file ({e})"),
        };
        Failure(2, format!("ids {}: {why}", path.display()))
    })
}

/// Storage options from `--precision` and `--max-chunk-bytes`.
fn storage(
    precision: Option<&str>,
    max_chunk_bytes: Option<u64>,
) -> Result<MemoryOptions, Failure> {
    let precision: Precision = precision.unwrap_or("f32").parse()?;
    let mut options = MemoryOptions::default().precision(precision);
    if let Some(bytes) = max_chunk_bytes {
        options = options.max_chunk_bytes(bytes);
    }
    Ok(options)
}

fn store(args: &StoreArgs) -> Result<(), Failure> {
    let options = storage(Some(&args.precision), args.max_chunk_bytes)?;
    let mut inputs = vec![("--patterns", args.patterns.as_path())];
    inputs.extend(args.ids.as_deref().map(|p| ("--ids", p)));
    let outputs = Outputs::reserve(&[("--out", &args.out)], &inputs)?;
    let patterns = load(&args.patterns, "patterns")?;
    if patterns.nrows() == 0 {
        // An empty memory file would only fail later, at `retrieve`, far from the cause.
        return Err(Failure(
            2,
            format!(
                "patterns {} holds no pattern (shape (0, {})): store needs at least one",
                args.patterns.display(),
                patterns.ncols()
            ),
        ));
    }
    // Storing is bookkeeping: the host CPU path rounds to f16 exactly as a GPU would.
    let mut memory = Memory::with_options(&Device::cpu(), patterns.ncols(), options)?;
    match &args.ids {
        Some(path) => {
            let ids = load_ids(path)?;
            memory.append_with_ids(patterns.view(), &ids.to_vec())?;
        }
        None => memory.append(patterns.view())?,
    }
    // As for the other outputs: a file that cannot be written is the machine's fault.
    memory
        .save(outputs.temp("--out"))
        .map_err(|e| Failure(1, e.to_string()))?;
    outputs.written("--out");
    outputs.commit()?;
    let _ = writeln!(
        std::io::stderr(),
        "stored N={} patterns of d={} as {} in {}",
        memory.len(),
        memory.dim(),
        options.precision,
        args.out.display()
    );
    Ok(())
}

/// Checks and reserves every output `retrieve` was asked for.
fn retrieve_outputs(args: &RetrieveArgs) -> Result<Outputs, Failure> {
    let mut outputs = vec![("--out", args.out.as_path())];
    for (flag, path) in [
        ("--weights", &args.weights),
        ("--topk-out", &args.topk_out),
        ("--topk-weights-out", &args.topk_weights_out),
        ("--topk-ids-out", &args.topk_ids_out),
        ("--energy-out", &args.energy_out),
    ] {
        outputs.extend(path.as_deref().map(|p| (flag, p)));
    }
    let mut inputs = vec![("--queries", args.queries.as_path())];
    inputs.extend(args.patterns.as_deref().map(|p| ("--patterns", p)));
    inputs.extend(args.memory.as_deref().map(|p| ("--memory", p)));
    Outputs::reserve(&outputs, &inputs)
}

/// Writes what `out` holds to the outputs reserved for it.
fn write_retrieval(outputs: &Outputs, args: &RetrieveArgs, out: &Retrieval) -> Result<(), Failure> {
    outputs.npy("--out", &out.states)?;
    if let (Some(_), Some(w)) = (&args.weights, &out.weights) {
        outputs.npy("--weights", w)?;
    }
    if let Some(top) = &out.top_k {
        if args.topk_out.is_some() {
            outputs.npy("--topk-out", &top.indices.mapv(|i| i as i64))?;
        }
        if args.topk_weights_out.is_some() {
            outputs.npy("--topk-weights-out", &top.weights)?;
        }
        if args.topk_ids_out.is_some() {
            outputs.npy("--topk-ids-out", &top.ids)?;
        }
    }
    if let (Some(_), Some(e)) = (&args.energy_out, &out.energy) {
        let table = Array2::from_shape_fn((e.before.len(), 2), |(r, c)| {
            (if c == 0 { e.before[r] } else { e.after[r] }) as f32
        });
        outputs.npy("--energy-out", &table)?;
    }
    Ok(())
}

fn retrieve(args: &RetrieveArgs) -> Result<(), Failure> {
    let storage = storage(args.precision.as_deref(), args.max_chunk_bytes)?;
    let outputs = retrieve_outputs(args)?;
    let patterns = args
        .patterns
        .as_ref()
        .map(|path| load(path, "patterns"))
        .transpose()?;
    let queries = load(&args.queries, "queries")?;
    let opts = retrieve_options(args)?;
    let devices = source::open_all(&args.device.device, limits(&args.device)?)?;
    if let [device] = &devices[..] {
        check_chunk_flag(args, device)?;
    }

    let start = Instant::now();
    let memory = Source::new(&devices, patterns.as_ref(), args.memory.as_deref(), storage)?;
    let run = steps::run(&memory, queries.view(), &opts)?;
    let seconds = start.elapsed().as_secs_f64();
    write_retrieval(&outputs, args, &run.out)?;
    outputs.commit()?;
    report_retrieval(args, &memory, queries.nrows(), &run, &opts, seconds);
    Ok(())
}

/// Refuses `--max-chunk-bytes` where the retrieval runs on the CPU path.
fn check_chunk_flag(args: &RetrieveArgs, device: &Device) -> Result<(), Failure> {
    if let (Some(bytes), false) = (args.max_chunk_bytes, device.is_gpu()) {
        // Chunks are GPU buffers; the CPU path has none, so the flag would mean nothing there.
        return Err(Failure(
            2,
            format!(
                "--max-chunk-bytes {bytes} sets the size of GPU buffers, and this retrieval runs \
                 on the CPU path ({}), which keeps the patterns in one allocation: drop the flag, \
                 or choose a GPU with --device",
                device.info()
            ),
        ));
    }
    Ok(())
}

/// The retrieval options the flags ask for.
fn retrieve_options(args: &RetrieveArgs) -> Result<RetrieveOptions, Failure> {
    let mut opts = RetrieveOptions::new(args.beta)
        .fusion(bench::parse_fusion(&args.fusion)?)
        .separation(args.separation);
    opts = if args.until_converged {
        opts.until_converged(args.eps, args.max_steps)
    } else {
        opts.steps(args.steps.unwrap_or(1))
    };
    opts.weights = args.weights.is_some();
    opts.top_k = args.topk;
    opts.energy = args.energy_out.is_some();
    if let Some(path) = &args.known {
        opts = opts.known(mask::load(path)?);
        if args.clamp_known {
            opts = opts.clamp_known();
        }
    }
    Ok(opts)
}

/// `--separation`'s value, as the library spells it (its parameters are checked against the
/// memory when the retrieval runs).
fn parse_separation(s: &str) -> Result<Separation, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// The retrieval's one-line summary on stderr, and the warning about near ties.
fn report_retrieval(
    args: &RetrieveArgs,
    memory: &Source,
    queries: usize,
    run: &steps::Run,
    opts: &RetrieveOptions,
    seconds: f64,
) {
    let out = &run.out;
    let (place, storage) = memory.describe();
    let converged = out
        .converged
        .as_ref()
        .map(|c| {
            format!(
                ", {} of {} converged (eps {:e})",
                c.iter().filter(|&&c| c).count(),
                c.len(),
                args.eps
            )
        })
        .unwrap_or_default();
    let fixed = match run.early {
        Some(steps::Early::FixedPoint) => format!(
            " (a fixed point: the last steps changed nothing, {} asked for)",
            opts.max_steps()
        ),
        Some(steps::Early::Cycle(period)) => format!(
            " (a cycle: the states repeat every {period} steps in f32's rounding, {} asked \
             for)",
            opts.max_steps()
        ),
        None => String::new(),
    };
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "{place}: B={} N={} d={}, {storage}, {}{fixed}{converged}, {:.1} ms",
        queries,
        memory.len(),
        memory.dim(),
        steps::steps_taken(out),
        seconds * 1e3,
    );
    if let Some(kinds) = out.fixed_points() {
        report_kinds(&kinds);
    }
    if let Some(&(first, bound)) = run.unresolved.first() {
        let _ = writeln!(
            err,
            "warning: for {} of {} queries (the first: row {first}) the two strongest patterns of the last step score within f32's rounding of each other ({bound:.3e} at this scale: beta x |pattern| x |state| x 2^-24), so which of them leads, and their weights, are rounding; a lower --beta shrinks the rounding",
            run.unresolved.len(),
            queries
        );
    }
}

/// With the weights at hand, which fixed points the states are near, when any is not a single
/// pattern: a mixture is what a too small beta gives, and `inspect` says which would do.
fn report_kinds(kinds: &[hopfield::diagnostics::FixedPoint]) {
    use hopfield::diagnostics::FixedPoint;
    let single = kinds
        .iter()
        .filter(|k| matches!(k, FixedPoint::Single { .. }))
        .count();
    let global = kinds
        .iter()
        .filter(|k| matches!(k, FixedPoint::Global))
        .count();
    let nothing = kinds
        .iter()
        .filter(|k| matches!(k, FixedPoint::Nothing))
        .count();
    let first_mixed = kinds.iter().enumerate().find_map(|(r, k)| match k {
        FixedPoint::Metastable { patterns } => Some((r, patterns.len())),
        _ => None,
    });
    let metastable = kinds.len() - single - global - nothing;
    if metastable + global + nothing == 0 {
        return;
    }
    let nothing = match nothing {
        0 => String::new(),
        n => format!(", {n} retrieved nothing (softmax1's weights sum below 1/2)"),
    };
    let example = first_mixed
        .map(|(r, k)| format!(" (the first: query {r}, a mixture of about {k} patterns)"))
        .unwrap_or_default();
    let _ = writeln!(
        std::io::stderr(),
        "fixed points: {single} single pattern, {metastable} metastable{example}, {global} at the global average{nothing}; a larger --beta separates the patterns (`hopfield inspect` suggests one)"
    );
}

/// Random ±1/√d patterns: unit norm, nearly orthogonal.
fn sign_patterns(rng: &mut StdRng, n: usize, d: usize) -> Array2<f32> {
    let s = 1.0 / (d as f32).sqrt();
    Array2::from_shape_simple_fn((n, d), || if rng.random_bool(0.5) { s } else { -s })
}

/// Fraction of components whose sign the first half of the demo's queries have flipped.
const FLIP: f64 = 0.2;

/// One device's run of the demo, with its timings in seconds.
struct Run {
    out: Retrieval,
    open_s: f64,
    upload_s: f64,
    warmup_s: f64,
    retrieve_s: f64,
    wall_s: f64,
}

/// Opens the device (`open` is timed), uploads the patterns, retrieves one query (pipeline
/// creation and other one-off work), then the whole batch.
fn run(
    open: impl FnOnce() -> Result<Device, Failure>,
    x: ArrayView2<f32>,
    q: ArrayView2<f32>,
    opts: &RetrieveOptions,
) -> Result<(Device, Run), Failure> {
    let wall = Instant::now();
    let device = open()?;
    let open_s = wall.elapsed().as_secs_f64();
    let t = Instant::now();
    let memory = Memory::from_array(&device, x)?;
    let upload_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    memory.retrieve(q.slice(s![..1, ..]), opts)?;
    let warmup_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let out = memory.retrieve(q, opts)?;
    let retrieve_s = t.elapsed().as_secs_f64();
    let run = Run {
        out,
        open_s,
        upload_s,
        warmup_s,
        retrieve_s,
        wall_s: wall.elapsed().as_secs_f64(),
    };
    Ok((device, run))
}

fn demo(args: &DemoArgs) -> Result<(), Failure> {
    one_device(&args.device)?;
    let (n, d, b) = (args.patterns, args.dim, args.queries);
    if n == 0 || d == 0 || b == 0 {
        return Err(Failure(
            2,
            "--patterns, --dim and --queries must be at least 1".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(args.seed);
    let x = sign_patterns(&mut rng, n, d);
    let plan = Corruption::new(b, d);
    let (targets, q) = corrupted_queries(&mut rng, &x, b, &plan);
    let (eps, max_steps) = (1e-6, 50);
    let opts = RetrieveOptions::new(args.beta)
        .until_converged(eps, max_steps)
        .with_top_k(1)
        .with_energy();

    let Corruption {
        flipped,
        flips,
        masked,
    } = plan;
    say!(
        "hopfield demo: N={n} stored patterns of d={d} (random signs, unit norm), B={b} corrupted queries, beta={}, seed={}",
        args.beta, args.seed
    );
    say!(
        "  {flipped} queries with {flips} of {d} signs flipped ({:.0}%), {} with {masked} of {d} components zeroed",
        FLIP * 100.0,
        b - flipped
    );
    say!(
        "  retrieval until max |change| <= {eps:e} (at most {max_steps} steps); recovered = the top-1 pattern is the original AND cosine(state, original) > 0.99"
    );

    let (device, dev) = run(|| open(&args.device), x.view(), q.view(), &opts)?;
    let (cpu, host) = run(|| Ok(Device::cpu()), x.view(), q.view(), &opts)?;
    say_chosen_device(args, &device)?;
    for (tag, device, r) in [("device", &device, &dev), ("cpu", &cpu, &host)] {
        say_run(tag, device, r, &x, &targets, flipped)?;
    }
    say_comparison(&dev, &host, b, device.is_gpu())?;
    say!(
        "other devices: --device gpu (any wgpu adapter, software ones such as lavapipe/llvmpipe included), --device cpu, or --device NAME (an adapter whose name contains NAME; `hopfield info` lists them)"
    );
    Ok(())
}

/// How the demo corrupts its queries: the first `flipped` have `flips` signs flipped, the
/// rest `masked` components zeroed.
struct Corruption {
    flipped: usize,
    flips: usize,
    masked: usize,
}

impl Corruption {
    fn new(b: usize, d: usize) -> Corruption {
        Corruption {
            flipped: b.div_ceil(2),
            flips: (d as f64 * FLIP).round() as usize,
            masked: d / 2,
        }
    }
}

/// `b` corrupted copies of rows of `x`, with the rows they were taken from.
fn corrupted_queries(
    rng: &mut StdRng,
    x: &Array2<f32>,
    b: usize,
    plan: &Corruption,
) -> (Vec<usize>, Array2<f32>) {
    let (n, d) = x.dim();
    // Distinct originals where there are enough patterns.
    let targets: Vec<usize> = if b <= n {
        index::sample(rng, n, b).into_vec()
    } else {
        (0..b).map(|_| rng.random_range(0..n)).collect()
    };
    let mut q = x.select(Axis(0), &targets);
    for (r, mut row) in q.axis_iter_mut(Axis(0)).enumerate() {
        if r < plan.flipped {
            for k in index::sample(rng, d, plan.flips) {
                row[k] = -row[k];
            }
        } else {
            for k in index::sample(rng, d, plan.masked) {
                row[k] = 0.0;
            }
        }
    }
    (targets, q)
}

/// Which device the demo chose, and what that means for the two runs.
fn say_chosen_device(args: &DemoArgs, device: &Device) -> Result<(), Failure> {
    let info = device.info();
    say!();
    say!("chosen device: {info}");
    if !device.is_gpu() {
        if args.device.device.eq_ignore_ascii_case("auto") {
            say!("  auto found no hardware GPU, so the chosen device IS the host CPU: both runs below use the CPU path");
        } else {
            say!("  the chosen device IS the host CPU: both runs below use the CPU path");
        }
    } else if info.kind == DeviceKind::SoftwareAdapter {
        say!("  a software adapter: the GPU kernels run emulated on the CPU, expect them to be slower than the CPU path");
    }
    Ok(())
}

/// One run's recoveries, convergence, energies and timings.
fn say_run(
    tag: &str,
    device: &Device,
    r: &Run,
    x: &Array2<f32>,
    targets: &[usize],
    flipped: usize,
) -> Result<(), Failure> {
    let (n, d) = x.dim();
    let b = targets.len();
    let top = r.out.top_k.as_ref().expect("top-1 was asked for");
    let mut recovered = [0usize; 2];
    for (i, &t) in targets.iter().enumerate() {
        let state = r.out.states.row(i);
        // The patterns have unit norm.
        let cosine = state.dot(&x.row(t)) / state.dot(&state).sqrt().max(f32::MIN_POSITIVE);
        if top.indices[[i, 0]] == t && cosine > 0.99 {
            recovered[usize::from(i >= flipped)] += 1;
        }
    }
    let converged = r
        .out
        .converged
        .as_ref()
        .map_or(0, |c| c.iter().filter(|&&c| c).count());
    let energy = r.out.energy.as_ref().expect("energies were asked for");
    // Two products of 2·N·d flop per query and step, and one more for the final energy.
    let flop: f64 = r
        .out
        .steps
        .iter()
        .map(|&k| ((4 * k + 2) * n * d) as f64)
        .sum();
    say!();
    say!("[{tag}] {}", device.info().name);
    say!(
        "  recovered {}/{flipped} sign-flipped, {}/{} half-masked; {}, {converged}/{b} converged; mean energy {:.4} -> {:.4}",
        recovered[0],
        recovered[1],
        b - flipped,
        steps::steps_taken(&r.out),
        energy.before.mean().unwrap_or(0.0),
        energy.after.mean().unwrap_or(0.0),
    );
    say!(
        "  open {:.1} ms, upload {:.1} ms, first call (1 query) {:.1} ms, retrieve {:.1} ms ({:.0} queries/s, {:.1} GFLOP/s in the products), wall {:.1} ms",
        r.open_s * 1e3,
        r.upload_s * 1e3,
        r.warmup_s * 1e3,
        r.retrieve_s * 1e3,
        b as f64 / r.retrieve_s,
        flop / r.retrieve_s / 1e9,
        r.wall_s * 1e3,
    );
    Ok(())
}

/// How far the device's run is from the CPU's: states, energies and top-1 patterns.
fn say_comparison(dev: &Run, host: &Run, b: usize, on_gpu: bool) -> Result<(), Failure> {
    let max_diff = |a: &[f64], c: &[f64]| {
        a.iter()
            .zip(c)
            .fold(0.0f64, |m, (a, c)| m.max((a - c).abs()))
    };
    let states = (&dev.out.states - &host.out.states)
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    let (ed, eh) = (
        dev.out.energy.as_ref().expect("energies"),
        host.out.energy.as_ref().expect("energies"),
    );
    let (td, th) = (
        dev.out.top_k.as_ref().expect("top-1"),
        host.out.top_k.as_ref().expect("top-1"),
    );
    let same_top = (0..b)
        .filter(|&i| td.indices[[i, 0]] == th.indices[[i, 0]])
        .count();
    say!();
    say!(
        "device vs cpu: max |state difference| {states:.3e}, max |energy difference| {:.3e} (queries), {:.3e} (states); same top-1 pattern for {same_top}/{b}{}",
        max_diff(
            ed.before.as_slice().unwrap_or(&[]),
            eh.before.as_slice().unwrap_or(&[])
        ),
        max_diff(
            ed.after.as_slice().unwrap_or(&[]),
            eh.after.as_slice().unwrap_or(&[])
        ),
        if on_gpu {
            ""
        } else {
            " (both runs on the CPU path)"
        },
    );
    Ok(())
}
