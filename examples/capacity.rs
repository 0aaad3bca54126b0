//! Recall rate against the number of stored random ±1 patterns, for every network in the
//! crate: classical Hopfield with Hebb's and Storkey's rules, dense associative memory with
//! F(z) = z³ and F(z) = exp(z), and the continuous modern network.
//!
//! Each stored pattern, with 10 % of its bits flipped, is a query; a recall counts when the
//! network returns the pattern exactly (the continuous network: the sign of its state). The
//! curves show the classical network breaking down near 0.14·d (Amit–Gutfreund–Sompolinsky),
//! Storkey's rule later, and the dense and continuous networks far beyond.
//!
//! ```text
//! cargo run --release --example capacity -- [--quick] [--out DIR] [--device auto|cpu|gpu]
//! ```
//! writes `DIR/capacity.csv` and `DIR/capacity.png` (default DIR: target/examples-out).

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

/// Each model with its CSV key and its legend.
const MODELS: [(Model, &str, &str); 5] = [
    (Model::Hebbian, "hebbian", "classical, Hebbian"),
    (Model::Storkey, "storkey", "classical, Storkey"),
    (Model::Cubic, "dense_cubic", "dense, F(z) = z^3"),
    (Model::Exponential, "dense_exp", "dense, F(z) = exp(z)"),
    (Model::Continuous, "continuous", "continuous, beta = 1"),
];

fn signs(rng: &mut impl Rng, rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || if rng.random() { 1.0 } else { -1.0 })
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

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.run.device()?;
    let (d, loads, queries_max): (usize, &[f64], usize) = if args.run.quick {
        (32, &[0.05, 0.15, 0.3, 0.6, 1.0, 2.0], 24)
    } else {
        (
            100,
            &[
                0.03, 0.06, 0.1, 0.14, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0,
            ],
            100,
        )
    };
    eprintln!("d = {d}, on {}", device.info());
    std::fs::create_dir_all(&args.run.out)?;
    let bar = args
        .run
        .progress(loads.len() * MODELS.len(), "(model, load) pairs");
    let mut csv = std::fs::File::create(args.run.out.join("capacity.csv"))?;
    writeln!(csv, "model,dimension,patterns,load,recall_rate")?;
    let mut series: Vec<plot::Series> = MODELS
        .iter()
        .map(|(_, _, name)| plot::Series {
            name: name.to_string(),
            points: Vec::new(),
        })
        .collect();
    for &load in loads {
        let n = ((load * d as f64).round() as usize).max(1);
        let mut rng = StdRng::seed_from_u64(args.seed ^ n as u64);
        let patterns = signs(&mut rng, n, d);
        let q = n.min(queries_max);
        let queries =
            patterns
                .slice(ndarray::s![..q, ..])
                .mapv(|v| if rng.random_bool(0.1) { -v } else { v });
        for (i, (model, key, name)) in MODELS.iter().enumerate() {
            bar.set_message(format!("{name}, N = {n}"));
            let rate = recall_rate(&device, *model, patterns.view(), queries.view(), args.seed)?;
            writeln!(csv, "{key},{d},{n},{load},{rate}")?;
            series[i].points.push((load, rate));
            bar.inc(1);
        }
    }
    bar.finish_with_message("done");
    let png = args.run.out.join("capacity.png");
    let top = loads.last().copied().unwrap_or(1.0);
    plot::line_chart(
        &png,
        &format!("Recall of random patterns, d = {d}, 10 % noise"),
        ("stored patterns / d", 0.0..top),
        ("fraction recalled exactly", 0.0..1.05),
        &series,
    )?;
    say!(
        "wrote {} and {}",
        args.run.out.join("capacity.csv").display(),
        png.display()
    );
    Ok(())
}
