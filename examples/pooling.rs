//! Multiple-instance pooling with a Hopfield pooling layer: bags of different sizes (padded to
//! the longest, the padding masked) each become one fixed-size vector.
//!
//! ```text
//! cargo run --release --example pooling                      # a 16-bag batch, random layer
//! cargo run --release --example pooling -- --quick           # tiny, for CI
//! cargo run --release --example pooling -- --weights layer.safetensors --input-size 8 --heads 2 --quantity 3
//! ```
//!
//! With `--weights`, the layer is one trained in PyTorch and exported with
//! `safetensors.torch.save_file(layer.state_dict(), "layer.safetensors")` from
//! `hflayers.HopfieldPooling(input_size=…, num_heads=…, quantity=…)`; without it, a layer with
//! random weights of the right shapes shows the mechanics. `--device auto|cpu|gpu` as every
//! example (auto: a hardware GPU where there is one).
//!
//! Writes `pooling.csv` to `--out`: one row per bag (bag, instances, the instance its first
//! pooling state attends to most in head 0, that weight, and the norm of the pooled vector).

#[macro_use]
mod common;

use std::io::Write;
use std::time::Instant;

use clap::Parser;
use hopfield::layers::{ForwardOptions, HopfieldConfig, HopfieldPooling, Weights};
use ndarray::{Array2, Array3};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// hflayers HopfieldPooling weights (safetensors); random weights if not given.
    #[arg(long)]
    weights: Option<String>,
    /// Features per instance.
    #[arg(long, default_value_t = 32)]
    input_size: usize,
    /// Heads.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Pooling states (outputs per bag: quantity × input_size).
    #[arg(long, default_value_t = 2)]
    quantity: usize,
}

/// Weights of the shapes hflayers gives `HopfieldPooling(input_size=d, num_heads=h,
/// quantity=q)`, drawn at random.
fn random_weights(d: usize, q: usize, rng: &mut StdRng) -> hopfield::Result<Weights> {
    let mut normal = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| scale * rng.sample::<f32, _>(StandardNormal))
            .collect()
    };
    let mut w = Weights::new();
    let s = 1.0 / (d as f32).sqrt();
    w.insert("pooling_weights", &[1, q, d], normal(q * d, 1.0))?;
    w.insert(
        "hopfield.association_core.in_proj_weight",
        &[3 * d, d],
        normal(3 * d * d, s),
    )?;
    w.insert(
        "hopfield.association_core.in_proj_bias",
        &[3 * d],
        normal(3 * d, 0.1),
    )?;
    w.insert(
        "hopfield.association_core.out_proj.weight",
        &[d, d],
        normal(d * d, s),
    )?;
    w.insert(
        "hopfield.association_core.out_proj.bias",
        &[d],
        normal(d, 0.1),
    )?;
    for norm in [
        "norm_stored_pattern",
        "norm_state_pattern",
        "norm_pattern_projection",
    ] {
        w.insert(&format!("hopfield.{norm}.weight"), &[d], vec![1.0; d])?;
        w.insert(&format!("hopfield.{norm}.bias"), &[d], vec![0.0; d])?;
    }
    Ok(w)
}

/// `bags` bags of 5..=`longest` Gaussian instances of `d` features, padded to the longest:
/// their sizes, the instances, and the padding mask (true where there is no instance).
fn random_bags(
    rng: &mut StdRng,
    bags: usize,
    longest: usize,
    d: usize,
) -> (Vec<usize>, Array3<f32>, Array2<bool>) {
    let sizes: Vec<usize> = (0..bags).map(|_| rng.random_range(5..=longest)).collect();
    let s = sizes.iter().copied().max().unwrap_or(1);
    let mut instances = Array3::<f32>::zeros((bags, s, d));
    let mut padding = Array2::from_elem((bags, s), true);
    for (b, &n) in sizes.iter().enumerate() {
        for i in 0..n {
            padding[[b, i]] = false;
            for f in 0..d {
                instances[[b, i, f]] = rng.sample(StandardNormal);
            }
        }
    }
    (sizes, instances, padding)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = args.run.device()?;
    say!("device: {}", device.info());
    let (d, q) = (args.input_size, args.quantity);
    let config = HopfieldConfig::new(d).num_heads(args.heads);
    let mut rng = StdRng::seed_from_u64(7);
    let weights = match &args.weights {
        Some(path) => Weights::load(path)?,
        None => random_weights(d, q, &mut rng)?,
    };
    let layer = HopfieldPooling::new(&device, config, q, &weights)?;

    let (bags, longest) = if args.run.quick { (3, 7) } else { (16, 200) };
    let (sizes, instances, padding) = random_bags(&mut rng, bags, longest, d);
    let options = ForwardOptions::new()
        .padding_mask(padding.view())
        .with_association();
    let start = Instant::now();
    let pooled = layer.forward_with(instances.view(), instances.view(), &options)?;
    let took = start.elapsed();
    say!(
        "pooled {bags} bags of {:?} instances ({d} features) into {:?} in {took:.2?}",
        sizes,
        pooled.out.dim()
    );
    let association = pooled
        .association
        .as_ref()
        .expect("asked for the association");
    std::fs::create_dir_all(&args.run.out)?;
    let csv_path = args.run.out.join("pooling.csv");
    let mut csv = std::fs::File::create(&csv_path)?;
    writeln!(csv, "bag,instances,most_attended,weight,pooled_norm")?;
    // Which instance each bag's first pooling state attended to most (head 0).
    for (b, &n) in sizes.iter().enumerate() {
        let row = association.slice(ndarray::s![b, 0, 0, ..n]);
        let (best, w) = row
            .iter()
            .enumerate()
            .fold((0, 0.0f32), |m, (i, &w)| if w > m.1 { (i, w) } else { m });
        let out = pooled.out.row(b);
        let norm = out.dot(&out).sqrt();
        writeln!(csv, "{b},{n},{best},{w},{norm}")?;
        if b < 4 {
            say!("bag {b}: {n} instances, most attended: #{best} (weight {w:.3})");
        }
    }
    say!("wrote {}", csv_path.display());
    Ok(())
}
