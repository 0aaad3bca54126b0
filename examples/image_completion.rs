//! Pattern completion on small binary pictures: glyphs drawn from a 5×7 bitmap font into
//! 16×16 images (±1 pixels, nothing downloaded) are stored, corrupted — pixels flipped at
//! random, or the lower half masked to 0 — and retrieved. The result is a PNG grid, one row
//! per corrupted glyph: original | corrupted | classical Hopfield (Hebbian) | classical
//! (Storkey) | dense associative memory (exponential) | continuous modern network.
//!
//! The glyphs are strongly correlated (they share most of their background), which is what
//! the classical network handles worst: Hebb's rule mixes them into spurious states, Storkey's
//! rule does better, and the dense and continuous memories, whose interactions separate
//! patterns exponentially, complete them. The binary networks take ±1 states only, so a
//! masked pixel starts as a coin toss for them.
//!
//! ```sh
//! cargo run --release --example image_completion              # all glyphs, accuracy over many trials
//! cargo run --release --example image_completion -- --quick   # a small run (CI)
//! ```
//! Writes `image_completion.png` and `image_completion.csv` (accuracy per retriever and
//! corruption) to `--out`.

#[macro_use]
mod common;

use std::io::Write;

use clap::Parser;
use hopfield::binary::RecallOptions;
use hopfield::classical::{Classical, Rule};
use hopfield::dense::{Dense, Interaction};
use hopfield::{Memory, RetrieveOptions};
use image::{GrayImage, Luma};
use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Fraction of pixels the noisy corruption flips.
    #[arg(long, default_value_t = 0.2)]
    flip: f64,
    /// Seed of the corruptions.
    #[arg(long, default_value_t = 3)]
    seed: u64,
}

/// Side of an image in pixels.
const SIDE: usize = 16;
const PIXELS: usize = SIDE * SIDE;
/// Screen pixels per image pixel in the PNG.
const ZOOM: u32 = 4;
const GAP: u32 = 4;

/// A 5×7 bitmap font: each glyph is seven rows of five bits, most significant bit left.
const FONT: [(char, [u8; 7]); 20] = [
    ('0', [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E]),
    ('1', [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('2', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F]),
    ('3', [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E]),
    ('4', [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02]),
    ('5', [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E]),
    ('6', [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E]),
    ('7', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E]),
    ('9', [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C]),
    ('A', [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11]),
    ('B', [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E]),
    ('C', [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E]),
    ('E', [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F]),
    ('H', [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11]),
    ('K', [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11]),
    ('M', [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11]),
    ('P', [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10]),
    ('S', [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E]),
    ('X', [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11]),
];

/// A glyph at twice its size (10×14), centred in a 16×16 image of ±1 pixels.
fn draw(rows: &[u8; 7]) -> Vec<f32> {
    let mut image = vec![-1.0; PIXELS];
    let (left, top) = ((SIDE - 10) / 2, (SIDE - 14) / 2);
    for (y, bits) in rows.iter().enumerate() {
        for x in 0..5 {
            if bits >> (4 - x) & 1 == 1 {
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    image[(top + 2 * y + dy) * SIDE + left + 2 * x + dx] = 1.0;
                }
            }
        }
    }
    image
}

/// How an image is damaged before it is shown to the memory.
#[derive(Clone, Copy)]
enum Corruption {
    /// A fraction of the pixels flipped.
    Noise(f64),
    /// The lower half set to 0 (unknown).
    MaskedHalf,
}

impl Corruption {
    fn name(self) -> String {
        match self {
            Corruption::Noise(p) => format!("{:.0}% flipped", p * 100.0),
            Corruption::MaskedHalf => "lower half masked".into(),
        }
    }

    fn apply(self, rng: &mut StdRng, image: &mut [f32]) {
        match self {
            Corruption::Noise(p) => image.iter_mut().for_each(|v| {
                if rng.random_bool(p) {
                    *v = -*v
                }
            }),
            Corruption::MaskedHalf => image[PIXELS / 2..].fill(0.0),
        }
    }
}

/// Maps a batch of corrupted images (B×256) to retrieved ones.
type Retriever<'a> = Box<dyn Fn(ArrayView2<f32>) -> Array2<f32> + 'a>;

/// The networks compared, by name: the classical network with both learning rules, a dense
/// associative memory, and the continuous modern network, all on the same device.
fn retrievers<'a>(
    memory: &'a Memory,
    hebbian: &'a Classical,
    storkey: &'a Classical,
    dense: &'a Dense,
    seed: u64,
) -> Vec<(&'static str, Retriever<'a>)> {
    // ±1 patterns of 256 pixels: scores differ by multiples of 2 per pixel, so β = 0.1 makes
    // a few pixels' difference decisive.
    let opts = RetrieveOptions::new(0.1).until_converged(1e-4, 20);
    let sweeps = RecallOptions::asynchronous(seed).max_sweeps(20);
    // The binary networks' states are ±1 only: an unknown (masked, 0) pixel starts as a coin
    // toss, drawn from the same seed for both rules.
    let binary = move |q: ArrayView2<f32>| {
        let mut rng = StdRng::seed_from_u64(seed);
        q.mapv(|v| match (v == 0.0, rng.random_bool(0.5)) {
            (true, true) => 1.0,
            (true, false) => -1.0,
            (false, _) => v,
        })
    };
    vec![
        (
            "classical (Hebbian)",
            Box::new(move |q| {
                let q = binary(q);
                hebbian
                    .recall(q.view(), &sweeps)
                    .expect("±1 queries")
                    .states
            }),
        ),
        (
            "classical (Storkey)",
            Box::new(move |q| {
                let q = binary(q);
                storkey
                    .recall(q.view(), &sweeps)
                    .expect("±1 queries")
                    .states
            }),
        ),
        (
            "dense (exponential)",
            Box::new(move |q| {
                let q = binary(q);
                dense.recall(q.view(), &sweeps).expect("±1 queries").states
            }),
        ),
        (
            "modern (continuous)",
            Box::new(move |q| {
                memory
                    .retrieve(q, &opts)
                    .expect("the queries are valid")
                    .states
            }),
        ),
    ]
}

/// Fraction of pixels whose sign matches the original's.
fn accuracy(got: &[f32], want: &[f32]) -> f64 {
    let same = got
        .iter()
        .zip(want)
        .filter(|(g, w)| (**g > 0.0) == (**w > 0.0))
        .count();
    same as f64 / want.len() as f64
}

/// One image as a gray tile at `(col, row)` of the grid: -1 black, +1 white, 0 mid-gray.
fn paint(grid: &mut GrayImage, col: u32, row: u32, image: &[f32]) {
    let cell = SIDE as u32 * ZOOM + GAP;
    for (i, &v) in image.iter().enumerate() {
        let shade = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
        let (x, y) = ((i % SIDE) as u32, (i / SIDE) as u32);
        for (dx, dy) in (0..ZOOM).flat_map(|a| (0..ZOOM).map(move |b| (a, b))) {
            grid.put_pixel(
                GAP + col * cell + x * ZOOM + dx,
                GAP + row * cell + y * ZOOM + dy,
                Luma([shade]),
            );
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let glyphs = if args.run.quick { 6 } else { FONT.len() };
    let trials = if args.run.quick { 4 } else { 400 };
    let device = args.run.device()?;
    say!("device: {}", device.info());
    let mut rng = StdRng::seed_from_u64(args.seed);
    let stored: Vec<f32> = FONT[..glyphs].iter().flat_map(|(_, g)| draw(g)).collect();
    let x = Array2::from_shape_vec((glyphs, PIXELS), stored)?;
    let mut memory = Memory::new(&device, PIXELS)?;
    memory.append(x.view())?;
    for (i, (c, _)) in FONT[..glyphs].iter().enumerate() {
        memory.set_label(i, Some(c.to_string()))?;
    }
    let hebbian = Classical::train(&device, x.view(), Rule::Hebbian)?;
    let storkey = Classical::train(&device, x.view(), Rule::Storkey)?;
    // exp(β·overlap) with β = 0.5: two glyphs whose overlaps with a state differ by a few
    // pixels (4 per pixel) already differ by a factor e² in weight.
    let dense = Dense::new(&device, x.view(), Interaction::Exponential { beta: 0.5 })?;
    let retrievers = retrievers(&memory, &hebbian, &storkey, &dense, args.seed);
    let corruptions = [Corruption::Noise(args.flip), Corruption::MaskedHalf];

    // The picture: every glyph under every corruption.
    let rows = (glyphs * corruptions.len()) as u32;
    let cols = 2 + retrievers.len() as u32;
    let cell = SIDE as u32 * ZOOM + GAP;
    let mut grid = GrayImage::from_pixel(GAP + cols * cell, GAP + rows * cell, Luma([200]));
    for (k, &corruption) in corruptions.iter().enumerate() {
        let mut q = x.clone();
        for mut row in q.axis_iter_mut(Axis(0)) {
            corruption.apply(&mut rng, row.as_slice_mut().expect("rows are contiguous"));
        }
        let outputs: Vec<Array2<f32>> = retrievers.iter().map(|(_, f)| f(q.view())).collect();
        for g in 0..glyphs {
            let row = (k * glyphs + g) as u32;
            paint(&mut grid, 0, row, x.row(g).as_slice().expect("contiguous"));
            paint(&mut grid, 1, row, q.row(g).as_slice().expect("contiguous"));
            for (c, out) in outputs.iter().enumerate() {
                let state = out.row(g).to_vec();
                paint(&mut grid, 2 + c as u32, row, &state);
            }
        }
    }
    std::fs::create_dir_all(&args.run.out)?;
    let png = args.run.out.join("image_completion.png");
    grid.save(&png)?;
    let columns: Vec<&str> = ["original", "corrupted"]
        .into_iter()
        .chain(retrievers.iter().map(|(name, _)| *name))
        .collect();
    say!(
        "wrote {} (columns: {}; rows: {glyphs} glyphs x {})",
        png.display(),
        columns.join(" | "),
        corruptions.map(Corruption::name).join(", then ")
    );

    // Accuracy over many random corruptions of every glyph.
    let bar = args.run.progress(trials * corruptions.len(), "trials");
    let mut csv = std::fs::File::create(args.run.out.join("image_completion.csv"))?;
    writeln!(csv, "retriever,corruption,trials,pixel_accuracy,exact")?;
    let mut lines = Vec::new();
    for &corruption in &corruptions {
        let mut sums = vec![(0.0, 0usize); retrievers.len()];
        for _ in 0..trials {
            let mut q = x.clone();
            for mut row in q.axis_iter_mut(Axis(0)) {
                corruption.apply(&mut rng, row.as_slice_mut().expect("rows are contiguous"));
            }
            for ((_, f), sum) in retrievers.iter().zip(&mut sums) {
                let out = f(q.view());
                for g in 0..glyphs {
                    let a = accuracy(
                        out.row(g).as_slice().expect("contiguous"),
                        x.row(g).as_slice().expect("contiguous"),
                    );
                    sum.0 += a;
                    sum.1 += usize::from(a == 1.0);
                }
            }
            bar.inc(1);
        }
        for ((name, _), (acc, exact)) in retrievers.iter().zip(sums) {
            let n = (trials * glyphs) as f64;
            writeln!(
                csv,
                "{name},{},{trials},{},{}",
                corruption.name(),
                acc / n,
                exact as f64 / n
            )?;
            lines.push(format!(
                "  {name:20} {:18} pixels right {:6.2}%, images exact {:6.2}%",
                corruption.name(),
                100.0 * acc / n,
                100.0 * exact as f64 / n
            ));
        }
    }
    bar.finish_and_clear();
    say!("over {trials} random corruptions of each of {glyphs} glyphs:");
    for line in lines {
        say!("{line}");
    }
    Ok(())
}
