//! The continuous memory as a key-value associative lookup over embedding-like vectors.
//!
//! Keys are unit vectors in `topics` clusters (a topic's centre plus noise, like sentence
//! embeddings of paraphrases); each is stored under an id with a label. A query is a stored
//! key with more noise added. Retrieval runs to a fixed point and reports the top-k patterns
//! by id and label: the exact item when β is large enough to separate items of one topic,
//! the topic when the noise is past that. A sweep over noise levels shows where the item
//! stops being found and only the topic is (noise = the norm of the Gaussian vector added to
//! a unit key before it is normalised again). The memory is saved and loaded back on the way,
//! ids and labels included. The first noise level where some item is missed is shown
//! query by query, with the kind of fixed point each query reached (one key, a metastable
//! group of a topic's keys, or the global average: [`hopfield::diagnostics`]).
//!
//! ```sh
//! cargo run --release --example semantic_lookup              # the sweep, with a progress bar
//! cargo run --release --example semantic_lookup -- --quick   # a small run (CI)
//! ```
//! Writes `semantic_lookup.csv` (one row per noise level) to `--out`.

#[macro_use]
mod common;

use std::io::Write;

use clap::Parser;
use hopfield::diagnostics::FixedPoint;
use hopfield::{Memory, RetrieveOptions};
use ndarray::{Array1, Array2, Axis};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Inverse temperature. Keys of one topic are ~0.9 alike, other topics ~0: β must make a
    /// 0.1 difference in similarity decisive, so β·0.1 should be several units.
    #[arg(long, default_value_t = 64.0)]
    beta: f32,
    /// Seed of the keys, the queries and their noise.
    #[arg(long, default_value_t = 5)]
    seed: u64,
}

/// Sizes of one run.
struct Sizes {
    topics: usize,
    per_topic: usize,
    dim: usize,
    queries: usize,
    noise_levels: Vec<f32>,
}

/// A unit-norm copy of `v`.
fn unit(v: Array1<f32>) -> Array1<f32> {
    let norm = v.dot(&v).sqrt().max(f32::MIN_POSITIVE);
    v / norm
}

fn gaussian(rng: &mut StdRng, dim: usize, scale: f32) -> Array1<f32> {
    Array1::from_shape_simple_fn(dim, || scale * rng.sample::<f32, _>(StandardNormal))
}

/// Keys (N×d), their topics, ids and labels.
fn keys(rng: &mut StdRng, s: &Sizes) -> (Array2<f32>, Vec<usize>, Vec<u64>, Vec<String>) {
    let spread = 0.45 / (s.dim as f32).sqrt();
    let mut keys = Array2::zeros((s.topics * s.per_topic, s.dim));
    let (mut topics, mut ids, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for t in 0..s.topics {
        let centre = unit(gaussian(rng, s.dim, 1.0));
        for j in 0..s.per_topic {
            let row = t * s.per_topic + j;
            keys.row_mut(row)
                .assign(&unit(&centre + &gaussian(rng, s.dim, spread)));
            topics.push(t);
            // Ids are the caller's: sparse, like rows of a database.
            ids.push(100_000 + 1_000 * t as u64 + j as u64);
            labels.push(format!("topic-{t:02}/item-{j:03}"));
        }
    }
    (keys, topics, ids, labels)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let sizes = if args.run.quick {
        Sizes {
            topics: 8,
            per_topic: 16,
            dim: 32,
            queries: 64,
            noise_levels: vec![0.0, 1.0, 3.0],
        }
    } else {
        Sizes {
            topics: 64,
            per_topic: 64,
            dim: 128,
            queries: 1024,
            noise_levels: vec![0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0],
        }
    };
    let device = args.run.device()?;
    say!("device: {}", device.info());
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (x, topics, ids, labels) = keys(&mut rng, &sizes);

    let mut memory = Memory::new(&device, sizes.dim)?;
    memory.append_with_ids(x.view(), &ids)?;
    for (i, label) in labels.into_iter().enumerate() {
        memory.set_label(i, Some(label))?;
    }
    // Save and load: ids and labels come back with the patterns.
    std::fs::create_dir_all(&args.run.out)?;
    let saved = args.run.out.join("semantic_lookup.safetensors");
    memory.save(&saved)?;
    let memory = Memory::load(&device, &saved)?;
    say!(
        "stored {} keys of d={} in {} topics (saved to and loaded from {})",
        memory.len(),
        memory.dim(),
        sizes.topics,
        saved.display()
    );

    let opts = RetrieveOptions::new(args.beta)
        .until_converged(1e-5, 50)
        .with_top_k(3)
        .with_weights(); // for the fixed point each query reached
    let bar = args.run.progress(sizes.noise_levels.len(), "noise levels");
    let mut csv = std::fs::File::create(args.run.out.join("semantic_lookup.csv"))?;
    writeln!(
        csv,
        "noise,queries,item_found,topic_found,mean_top1_weight,mean_steps,single,metastable,global"
    )?;
    let mut table = Vec::new();
    let mut shown = false;
    for &noise in &sizes.noise_levels {
        let targets: Vec<usize> = (0..sizes.queries)
            .map(|_| rng.random_range(0..memory.len()))
            .collect();
        let mut q = x.select(Axis(0), &targets);
        for mut row in q.rows_mut() {
            let noisy = &row + &gaussian(&mut rng, sizes.dim, noise / (sizes.dim as f32).sqrt());
            row.assign(&unit(noisy));
        }
        let out = memory.retrieve(q.view(), &opts)?;
        let top = out.top_k.as_ref().expect("top-k was asked for");
        let reached = out.reached_ids().expect("top-k was asked for");
        let item = (0..targets.len())
            .filter(|&i| reached[i] == ids[targets[i]])
            .count();
        let topic = (0..targets.len())
            .filter(|&i| topics[top.indices[[i, 0]]] == topics[targets[i]])
            .count();
        let weight = top.weights.column(0).mean().unwrap_or(0.0);
        let steps = out.steps.iter().sum::<usize>() as f64 / out.steps.len().max(1) as f64;
        let kinds = out.fixed_points().expect("weights were asked for");
        let count = |f: fn(&FixedPoint) -> bool| kinds.iter().filter(|k| f(k)).count();
        let single = count(|k| matches!(k, FixedPoint::Single { .. }));
        let metastable = count(|k| matches!(k, FixedPoint::Metastable { .. }));
        let global = count(|k| matches!(k, FixedPoint::Global));
        writeln!(
            csv,
            "{noise},{},{item},{topic},{weight},{steps},{single},{metastable},{global}",
            targets.len()
        )?;
        table.push((
            noise,
            item,
            topic,
            weight,
            steps,
            [single, metastable, global],
        ));
        if !shown && item < targets.len() {
            shown = true;
            bar.suspend(|| {
                say!("\nnoise {noise}: the first three queries");
                for (i, &target) in targets.iter().enumerate().take(3) {
                    let hits: Vec<String> = (0..top.ids.ncols())
                        .map(|c| {
                            let at = top.indices[[i, c]];
                            format!(
                                "{} ({}, w={:.3})",
                                top.ids[[i, c]],
                                memory.label_of(at).unwrap_or("-"),
                                top.weights[[i, c]]
                            )
                        })
                        .collect();
                    say!(
                        "  query near {} -> {} [{}]",
                        memory.label_of(target).unwrap_or("-"),
                        hits.join(", "),
                        describe(&kinds[i])
                    );
                }
            });
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    say!(
        "\n noise | item found | topic found | top-1 weight | steps | fixed points: single / metastable / global"
    );
    for (noise, item, topic, weight, steps, [single, metastable, global]) in table {
        say!(
            " {noise:5.2} | {:9.1}% | {:10.1}% | {weight:12.3} | {steps:5.1} | {single} / {metastable} / {global}",
            100.0 * item as f64 / sizes.queries as f64,
            100.0 * topic as f64 / sizes.queries as f64,
        );
    }
    say!(
        "\nwrote {}",
        args.run.out.join("semantic_lookup.csv").display()
    );
    Ok(())
}

/// A fixed point in a few words: one key, a group of keys (a metastable state between
/// near-duplicates, here keys of one topic), or the average of everything.
fn describe(kind: &FixedPoint) -> String {
    match kind {
        FixedPoint::Single { .. } => "single key".into(),
        FixedPoint::Metastable { patterns } => format!("metastable over {} keys", patterns.len()),
        FixedPoint::Global => "global average".into(),
        FixedPoint::Nothing => "nothing retrieved".into(),
    }
}
