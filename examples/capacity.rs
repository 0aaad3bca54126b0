//! Recall rate against the number of stored random ±1 patterns, for every network in the
//! crate: classical Hopfield with Hebb's and Storkey's rules, dense associative memory with
//! F(z) = z³ and F(z) = exp(z), and the continuous modern network.
//!
//! Each stored pattern, with 10 % of its bits (rounded) flipped, is a query; a recall counts
//! when the network returns the pattern exactly (the continuous network: the sign of its
//! state). In d = 20 dimensions (16 with `--quick`), the number of patterns grows
//! geometrically, drawn on a log axis, until every network has failed: the classical network
//! near 0.14·d (Amit–Gutfreund–Sompolinsky), Storkey's rule near d/√(2 ln d), the cubic
//! memory near d²/(6 ln d) (Krotov–Hopfield), and the exponential and continuous memories
//! only when the count is exponential in d. The picture draws those predictions as dashed
//! lines in each network's colour. A network is not run at heavier loads once it recalled
//! nothing at two loads in a row, so its CSV rows stop there.
//!
//! ```text
//! cargo run --release --example capacity -- [--quick] [--out DIR] [--device auto|cpu|gpu]
//! ```
//! writes `DIR/capacity.csv` (model, dimension, patterns, load = patterns / d, recall_rate)
//! and `DIR/capacity.png` (default DIR: target/examples-out).

#[macro_use]
mod common;
#[path = "common/plot.rs"]
mod plot;

use std::error::Error;
use std::io::Write;

use clap::Parser;
use hopfield::binary::RecallOptions;
use hopfield::classical::{Classical, Rule};
use hopfield::dense::{Dense, Interaction};
use hopfield::{Device, Memory, RetrieveOptions};
use ndarray::{Array2, ArrayView2};
use plot::Marker;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Seed of the patterns and the noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Clone, Copy)]
enum Model {
    Hebbian,
    Storkey,
    Cubic,
    Exponential,
    Continuous,
}

/// Each model with its CSV key, its legend, and how its curve is drawn: the exponential and
/// continuous curves lie on each other, so one is a ring on a solid line and the other a
/// cross on a dashed one.
const MODELS: [(Model, &str, &str, Marker, bool); 5] = [
    (
        Model::Hebbian,
        "hebbian",
        "classical, Hebbian",
        Marker::Dot,
        false,
    ),
    (
        Model::Storkey,
        "storkey",
        "classical, Storkey",
        Marker::Square,
        false,
    ),
    (
        Model::Cubic,
        "dense_cubic",
        "dense, F(z) = z³",
        Marker::Triangle,
        false,
    ),
    (
        Model::Exponential,
        "dense_exp",
        "dense, F(z) = exp(z)",
        Marker::Ring,
        false,
    ),
    (
        Model::Continuous,
        "continuous",
        "continuous, β = 1",
        Marker::Cross,
        true,
    ),
];

/// Sizes of one run: the dimension, the most patterns stored, the most queries per load.
struct Sizes {
    d: usize,
    most_patterns: usize,
    most_queries: usize,
}

/// What the papers predict, as loads (patterns / d), each with the index of its model.
fn predictions(d: usize) -> Vec<plot::Reference> {
    let (d, ln_d) = (d as f64, (d as f64).ln());
    // Krotov and Hopfield (2016): d^(n-1) / (2 (2n-3)!! ln d) patterns for F(z) = z^n; n = 3.
    let cubic = d.powi(2) / (2.0 * 3.0 * ln_d);
    [
        (0, "0.138·d (Amit et al.)", 0.138),
        (1, "d/√(2 ln d) (Storkey)", 1.0 / (2.0 * ln_d).sqrt()),
        (2, "d²/(6 ln d) (Krotov–Hopfield)", cubic / d),
    ]
    .into_iter()
    .map(|(series, name, x)| plot::Reference {
        name: name.into(),
        x,
        series,
    })
    .collect()
}

/// Pattern counts from 1 to `most`: every count up to 8, where the classical networks fail
/// and one pattern more is a large step, then each about √2 times the last.
fn pattern_counts(most: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = (1..=8)
        .chain((7..).map(|k| 2f64.powf(k as f64 / 2.0).round() as usize))
        .take_while(|&n| n <= most)
        .collect();
    counts.dedup();
    counts
}

fn signs(rng: &mut impl Rng, rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || if rng.random() { 1.0 } else { -1.0 })
}

/// Copies of `patterns` with 10 % of each one's bits (rounded) flipped, at random places:
/// every query is equally far from its pattern, so a curve's fall is the network's, not the
/// luck of a query drawn with fewer flips.
fn noisy(rng: &mut StdRng, patterns: ArrayView2<f32>) -> Array2<f32> {
    let mut queries = patterns.to_owned();
    let d = patterns.ncols();
    let flips = (0.1 * d as f64).round() as usize;
    for mut q in queries.rows_mut() {
        for i in rand::seq::index::sample(rng, d, flips) {
            q[i] = -q[i];
        }
    }
    queries
}

/// Fraction of `queries` (noisy copies of the first rows of `patterns`) recalled exactly.
fn recall_rate(
    device: &Device,
    model: Model,
    patterns: ArrayView2<f32>,
    queries: ArrayView2<f32>,
    seed: u64,
) -> Result<f64, hopfield::Error> {
    let opts = RecallOptions::asynchronous(seed).max_sweeps(30);
    let states = match model {
        Model::Hebbian | Model::Storkey => {
            let rule = if matches!(model, Model::Hebbian) {
                Rule::Hebbian
            } else {
                Rule::Storkey
            };
            Classical::train(device, patterns, rule)?
                .recall(queries, &opts)?
                .states
        }
        Model::Cubic | Model::Exponential => {
            let f = if matches!(model, Model::Cubic) {
                Interaction::Polynomial(3)
            } else {
                Interaction::Exponential { beta: 1.0 }
            };
            Dense::new(device, patterns, f)?
                .recall(queries, &opts)?
                .states
        }
        Model::Continuous => {
            let memory = Memory::from_array(device, patterns)?;
            let out = memory.retrieve(
                queries,
                &RetrieveOptions::new(1.0).until_converged(1e-4, 20),
            )?;
            out.states.mapv(f32::signum)
        }
    };
    let hits = states
        .rows()
        .into_iter()
        .zip(patterns.rows())
        .filter(|(s, p)| s == p)
        .count();
    Ok(hits as f64 / queries.nrows() as f64)
}

/// A model's (load, recall rate) points.
type Curve = Vec<(f64, f64)>;

/// Runs every model still recalling at each pattern count; the points of each model's curve.
fn sweep(
    args: &Args,
    device: &Device,
    sizes: &Sizes,
    csv: &mut impl Write,
) -> Result<Vec<Curve>, Box<dyn Error>> {
    let counts = pattern_counts(sizes.most_patterns);
    let bar = args
        .run
        .progress(counts.len() * MODELS.len(), "(model, load) pairs");
    let mut curves = vec![Vec::new(); MODELS.len()];
    let d = sizes.d;
    for n in counts {
        let mut rng = StdRng::seed_from_u64(args.seed ^ n as u64);
        let patterns = signs(&mut rng, n, d);
        let q = n.min(sizes.most_queries);
        let queries = noisy(&mut rng, patterns.slice(ndarray::s![..q, ..]));
        let load = n as f64 / d as f64;
        for ((model, key, name, ..), curve) in MODELS.iter().zip(&mut curves) {
            bar.inc(1);
            if failed(curve) {
                continue;
            }
            bar.set_message(format!("{name}, N = {n}"));
            let rate = recall_rate(device, *model, patterns.view(), queries.view(), args.seed)?;
            writeln!(csv, "{key},{d},{n},{load},{rate}")?;
            curve.push((load, rate));
        }
        if curves.iter().all(|c| failed(c)) {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(curves)
}

/// Whether a curve recalled nothing at its last two loads.
fn failed(curve: &[(f64, f64)]) -> bool {
    curve.len() >= 2 && curve[curve.len() - 2..].iter().all(|&(_, r)| r == 0.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.run.device()?;
    let sizes = if args.run.quick {
        Sizes {
            d: 16,
            most_patterns: 1 << 12,
            most_queries: 24,
        }
    } else {
        Sizes {
            d: 20,
            most_patterns: 1 << 17,
            most_queries: 100,
        }
    };
    let d = sizes.d;
    eprintln!("d = {d}, on {}", device.info());
    std::fs::create_dir_all(&args.run.out)?;
    let csv_path = args.run.out.join("capacity.csv");
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
    writeln!(csv, "model,dimension,patterns,load,recall_rate")?;
    let curves = sweep(&args, &device, &sizes, &mut csv)?;
    csv.flush()?;
    let series: Vec<plot::Series> = MODELS
        .iter()
        .zip(curves)
        .map(|((_, _, name, marker, dashed), points)| plot::Series {
            name: name.to_string(),
            points,
            marker: *marker,
            dashed: *dashed,
        })
        .collect();
    let references = predictions(d);
    let right = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let png = args.run.out.join("capacity.png");
    plot::draw(
        &png,
        &plot::Chart {
            title: &format!("Recall of random ±1 patterns, d = {d}, 10 % of bits flipped"),
            x: plot::Axis {
                label: "stored patterns / d",
                range: 0.7 / d as f64..1.4 * right,
                log: true,
            },
            y: plot::Axis {
                label: "fraction recalled exactly",
                range: 0.0..1.05,
                log: false,
            },
            series: &series,
            references: &references,
            bands: &[],
        },
    )?;
    for r in &references {
        say!("predicted: {} = {:.3} d", r.name, r.x);
    }
    say!("wrote {} and {}", csv_path.display(), png.display());
    Ok(())
}
