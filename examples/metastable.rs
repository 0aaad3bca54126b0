//! How β picks the fixed point a query reaches (Ramsauer et al. 2020, THEORY.md): a memory
//! holds a group of four similar patterns among unrelated ones, and a query starts near the
//! group's mean. For small β every pattern weighs the same and the state goes to the global
//! average; for intermediate β the weight spreads over the group (a metastable state near its
//! mean); for large β one pattern wins.
//!
//! ```text
//! cargo run --release --example metastable -- [--quick] [--out DIR] [--device auto|cpu|gpu]
//! ```
//! prints a table and writes `DIR/metastable.csv` (beta, effective_patterns, kind,
//! distance_to_group_mean, distance_to_nearest_pattern) and `DIR/metastable.png`: the
//! effective number of patterns, exp(entropy of the weights), against β on a log axis, over
//! three shaded bands, one per kind of fixed point, whose edges lie halfway (in log β) between
//! the last β of one kind and the first of the next.

#[macro_use]
mod common;
#[path = "common/plot.rs"]
mod plot;

use std::error::Error;
use std::io::Write;
use std::ops::Range;

use clap::Parser;
use hopfield::diagnostics::{effective_patterns, FixedPoint};
use hopfield::{Memory, RetrieveOptions};
use ndarray::{concatenate, Array2, Axis};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Seed of the patterns and the query.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// `rows` Gaussian rows of dimension `d`, each scaled to unit norm after adding `base`.
fn unit_rows(rng: &mut StdRng, rows: usize, d: usize, base: &[f32], noise: f32) -> Array2<f32> {
    let mut x = Array2::from_shape_fn((rows, d), |(_, j)| {
        let g: f32 = StandardNormal.sample(rng);
        base.get(j).copied().unwrap_or(0.0) + noise * g / (d as f32).sqrt()
    });
    for mut r in x.rows_mut() {
        let n = r.dot(&r).sqrt();
        r.mapv_inplace(|v| v / n);
    }
    x
}

/// One shaded band per run of β with the same kind of fixed point, its edges halfway (in
/// log β) between neighbouring samples of different kinds, the outer ones at the axis's ends.
fn regimes(points: &[(f64, f64)], kinds: &[&str], axis: Range<f64>) -> Vec<plot::Band> {
    let mut bands: Vec<plot::Band> = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        if i > 0 && kinds[i - 1] == kind {
            continue;
        }
        let edge = match i {
            0 => axis.start,
            _ => (points[i - 1].0 * points[i].0).sqrt(),
        };
        if let Some(last) = bands.last_mut() {
            last.x.end = edge;
        }
        let (label, color) = match kind {
            "global" => ("global average", plot::color(5)),
            "metastable" => ("metastable", plot::color(4)),
            _ => ("single pattern", plot::color(2)),
        };
        bands.push(plot::Band {
            label: label.into(),
            x: edge..axis.end,
            color,
        });
    }
    bands
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let device = args.run.device()?;
    let d = 128;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let centre = unit_rows(&mut rng, 1, d, &[], 1.0);
    let group = unit_rows(&mut rng, 4, d, centre.as_slice().unwrap(), 0.3);
    let others = unit_rows(&mut rng, 8, d, &[], 1.0);
    let x = concatenate![Axis(0), group, others];
    let memory = Memory::from_array(&device, x.view())?;
    let group_mean = group.mean_axis(Axis(0)).unwrap();
    let query = unit_rows(&mut rng, 1, d, group_mean.as_slice().unwrap(), 0.05);
    let query = query.mapv(|v| v * group_mean.dot(&group_mean).sqrt());

    let steps = if args.run.quick { 9 } else { 41 };
    let (lo, hi) = (-3.0f64, 3.0f64);
    std::fs::create_dir_all(&args.run.out)?;
    let mut csv = std::fs::File::create(args.run.out.join("metastable.csv"))?;
    writeln!(
        csv,
        "beta,effective_patterns,kind,distance_to_group_mean,distance_to_nearest_pattern"
    )?;
    say!(
        "{} patterns (0..4 the group), d = {d}, on {}",
        x.nrows(),
        device.info()
    );
    say!(
        "{:>10} {:>10}  {:<24} {:>12} {:>12}",
        "beta",
        "effective",
        "fixed point",
        "to group",
        "to nearest"
    );
    let mut points = Vec::new();
    let mut kinds = Vec::new();
    for s in 0..steps {
        let beta = 10f64.powf(lo + (hi - lo) * s as f64 / (steps - 1) as f64);
        let out = memory.retrieve(
            query.view(),
            &RetrieveOptions::new(beta as f32)
                .until_converged(1e-6, 500)
                .with_weights(),
        )?;
        let weights = out.weights.as_ref().expect("asked for weights");
        let effective = effective_patterns(weights.row(0));
        let kind = out.fixed_points().expect("weights returned")[0].clone();
        let state = out.states.row(0);
        let dist = |v: ndarray::ArrayView1<f32>| (&state - &v).mapv(|e| e * e).sum().sqrt();
        let to_group = dist(group_mean.view());
        let to_nearest = x.rows().into_iter().map(dist).fold(f32::INFINITY, f32::min);
        let label = match &kind {
            FixedPoint::Single { pattern } => format!("single pattern {pattern}"),
            FixedPoint::Metastable { patterns } => format!("metastable {patterns:?}"),
            FixedPoint::Global => "global average".to_string(),
            FixedPoint::Nothing => "nothing retrieved".to_string(),
        };
        let short = match kind {
            FixedPoint::Single { .. } => "single",
            FixedPoint::Metastable { .. } => "metastable",
            FixedPoint::Global => "global",
            FixedPoint::Nothing => "nothing",
        };
        say!("{beta:>10.4} {effective:>10.3}  {label:<24} {to_group:>12.4} {to_nearest:>12.4}");
        writeln!(csv, "{beta},{effective},{short},{to_group},{to_nearest}")?;
        points.push((beta, effective));
        kinds.push(short);
    }
    let png = args.run.out.join("metastable.png");
    let (lo, hi) = (10f64.powf(lo), 10f64.powf(hi));
    let bands = regimes(&points, &kinds, lo..hi);
    plot::draw(
        &png,
        &plot::Chart {
            title: "Effective number of patterns at the fixed point",
            x: plot::Axis {
                label: "β (inverse temperature)",
                range: lo..hi,
                log: true,
            },
            y: plot::Axis {
                label: "exp(entropy of the weights)",
                range: 0.0..(x.nrows() as f64 + 2.0),
                log: false,
            },
            series: &[plot::Series {
                name: "query near the group's mean".into(),
                points,
                marker: plot::Marker::Dot,
                dashed: false,
            }],
            references: &[],
            bands: &bands,
        },
    )?;
    say!(
        "wrote {} and {}",
        args.run.out.join("metastable.csv").display(),
        png.display()
    );
    Ok(())
}
