//! Pattern completion on small binary pictures: glyphs drawn from a 5×7 bitmap font into
//! 16×16 images (±1 pixels, nothing downloaded) are stored, corrupted — pixels flipped at
//! random, or the lower half masked to 0 — and retrieved. The result is a PNG grid with a
//! header over each column: original | corrupted | Hebbian (classical Hopfield, Hebb's rule) |
//! Storkey (classical, Storkey's rule) | dense (dense associative memory, exponential) |
//! modern (continuous modern network); one row per glyph, in two groups titled by their
//! corruption (noise, masked).
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
//! Writes `image_completion.png` and `image_completion.csv` (retriever, corruption, trials,
//! pixel_accuracy, exact: the fractions of pixels and of whole images right) to `--out`.
//! `--device auto|cpu|gpu` as every example.

#[macro_use]
mod common;
#[path = "common/glyphs.rs"]
mod glyphs;
#[path = "common/plot.rs"]
mod plot;

use std::io::Write;

use clap::Parser;
use glyphs::{draw, FONT, PIXELS, SIDE};
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

/// Screen pixels per image pixel in the PNG.
const ZOOM: u32 = 5;
/// Pixels between tiles, and around them.
const GAP: u32 = 4;
/// A tile: one image, zoomed; a cell: a tile and the gap after it.
const TILE: u32 = SIDE as u32 * ZOOM;
const CELL: u32 = TILE + GAP;
/// Heights of the strip of column headers and of each corruption's title strip.
const HEADER: u32 = 30;
const TITLE: u32 = 28;

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

    /// The title of its rows in the picture.
    fn title(self) -> String {
        match self {
            Corruption::Noise(p) => format!("noise: {:.0}% of the pixels flipped", p * 100.0),
            Corruption::MaskedHalf => "masked: the lower half unknown (0, gray)".into(),
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

/// A network compared: its name in the CSV, its column's header in the picture, and how it
/// retrieves.
struct Network<'a> {
    name: &'static str,
    header: &'static str,
    retrieve: Retriever<'a>,
}

/// The networks compared, by name: the classical network with both learning rules, a dense
/// associative memory, and the continuous modern network, all on the same device.
fn retrievers<'a>(
    memory: &'a Memory,
    hebbian: &'a Classical,
    storkey: &'a Classical,
    dense: &'a Dense,
    seed: u64,
) -> Vec<Network<'a>> {
    // ±1 patterns of 256 pixels: scores differ by multiples of 2 per pixel, so β = 0.1 makes
    // a few pixels' difference decisive.
    let opts = RetrieveOptions::new(0.1).until_converged(1e-4, 20);
    // A recipe rather than a value: each network's closure owns its options.
    let sweeps = move || RecallOptions::asynchronous(seed).max_sweeps(20);
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
        Network {
            name: "classical (Hebbian)",
            header: "Hebbian",
            retrieve: Box::new(move |q| {
                let q = binary(q);
                hebbian
                    .recall(q.view(), &sweeps())
                    .expect("±1 queries")
                    .states
            }),
        },
        Network {
            name: "classical (Storkey)",
            header: "Storkey",
            retrieve: Box::new(move |q| {
                let q = binary(q);
                storkey
                    .recall(q.view(), &sweeps())
                    .expect("±1 queries")
                    .states
            }),
        },
        Network {
            name: "dense (exponential)",
            header: "dense",
            retrieve: Box::new(move |q| {
                let q = binary(q);
                dense
                    .recall(q.view(), &sweeps())
                    .expect("±1 queries")
                    .states
            }),
        },
        Network {
            name: "modern (continuous)",
            header: "modern",
            retrieve: Box::new(move |q| {
                memory
                    .retrieve(q, &opts)
                    .expect("the queries are valid")
                    .states
            }),
        },
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

/// Where the picture puts things: under the column headers, one group of rows per
/// corruption, each under its title, one row per glyph.
struct Layout {
    glyphs: u32,
    groups: u32,
    cols: u32,
}

impl Layout {
    fn group_height(&self) -> u32 {
        TITLE + self.glyphs * CELL
    }

    fn size(&self) -> (u32, u32) {
        (
            GAP + self.cols * CELL,
            HEADER + self.groups * self.group_height(),
        )
    }

    /// The top-left pixel of column `col`'s tile for glyph `glyph` under corruption `group`.
    fn tile(&self, col: u32, group: u32, glyph: u32) -> (u32, u32) {
        let top = HEADER + group * self.group_height() + TITLE;
        (GAP + col * CELL, top + glyph * CELL)
    }

    /// Each column's header centred over it, each group's title at its top left.
    fn labels(&self, headers: &[&str], titles: &[String]) -> Vec<plot::Label> {
        let column = headers.iter().enumerate().map(|(c, &h)| plot::Label {
            text: h.into(),
            at: (
                (GAP + c as u32 * CELL + TILE / 2) as i32,
                (HEADER / 2) as i32,
            ),
            centred: true,
            size: 16,
        });
        let group = titles.iter().enumerate().map(|(k, t)| plot::Label {
            text: t.clone(),
            at: (
                GAP as i32,
                (HEADER + k as u32 * self.group_height() + TITLE / 2) as i32,
            ),
            centred: false,
            size: 16,
        });
        column.chain(group).collect()
    }
}

/// One image as a gray tile with its top-left pixel at `at`: -1 black, +1 white, 0 mid-gray.
fn paint(grid: &mut GrayImage, at: (u32, u32), image: &[f32]) {
    for (i, &v) in image.iter().enumerate() {
        let shade = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
        let (x, y) = ((i % SIDE) as u32, (i / SIDE) as u32);
        for (dx, dy) in (0..ZOOM).flat_map(|a| (0..ZOOM).map(move |b| (a, b))) {
            grid.put_pixel(at.0 + x * ZOOM + dx, at.1 + y * ZOOM + dy, Luma([shade]));
        }
    }
}

/// Every glyph under every corruption, and what each network makes of it, as a labelled grid.
fn picture(
    path: &std::path::Path,
    x: &Array2<f32>,
    networks: &[Network],
    corruptions: &[Corruption],
    rng: &mut StdRng,
) -> Result<(), Box<dyn std::error::Error>> {
    let layout = Layout {
        glyphs: x.nrows() as u32,
        groups: corruptions.len() as u32,
        cols: 2 + networks.len() as u32,
    };
    let (width, height) = layout.size();
    let mut grid = GrayImage::from_pixel(width, height, Luma([200]));
    for (k, &corruption) in corruptions.iter().enumerate() {
        let mut q = x.clone();
        for mut row in q.axis_iter_mut(Axis(0)) {
            corruption.apply(rng, row.as_slice_mut().expect("rows are contiguous"));
        }
        let outputs: Vec<Array2<f32>> = networks.iter().map(|n| (n.retrieve)(q.view())).collect();
        let columns = [x, &q].into_iter().chain(&outputs);
        for (c, images) in columns.enumerate() {
            for (g, image) in images.rows().into_iter().enumerate() {
                let at = layout.tile(c as u32, k as u32, g as u32);
                paint(&mut grid, at, &image.to_vec());
            }
        }
    }
    let headers: Vec<&str> = ["original", "corrupted"]
        .into_iter()
        .chain(networks.iter().map(|n| n.header))
        .collect();
    let titles: Vec<String> = corruptions.iter().map(|c| c.title()).collect();
    let mut rgb = image::DynamicImage::ImageLuma8(grid).to_rgb8();
    plot::label_picture(&mut rgb, (width, height), &layout.labels(&headers, &titles))?;
    rgb.save(path)?;
    Ok(())
}

/// Pixel accuracy and exact recalls of every network over `trials` random corruptions of
/// every glyph, written to `csv`; the lines to print.
fn accuracy_table(
    x: &Array2<f32>,
    networks: &[Network],
    corruptions: &[Corruption],
    (trials, bar): (usize, &indicatif::ProgressBar),
    rng: &mut StdRng,
    csv: &mut impl Write,
) -> std::io::Result<Vec<String>> {
    let glyphs = x.nrows();
    writeln!(csv, "retriever,corruption,trials,pixel_accuracy,exact")?;
    let mut lines = Vec::new();
    for &corruption in corruptions {
        let mut sums = vec![(0.0, 0usize); networks.len()];
        for _ in 0..trials {
            let mut q = x.clone();
            for mut row in q.axis_iter_mut(Axis(0)) {
                corruption.apply(rng, row.as_slice_mut().expect("rows are contiguous"));
            }
            for (network, sum) in networks.iter().zip(&mut sums) {
                let out = (network.retrieve)(q.view());
                for (got, want) in out.rows().into_iter().zip(x.rows()) {
                    let a = accuracy(&got.to_vec(), &want.to_vec());
                    sum.0 += a;
                    sum.1 += usize::from(a == 1.0);
                }
            }
            bar.inc(1);
        }
        for (network, (acc, exact)) in networks.iter().zip(sums) {
            let (name, n) = (network.name, (trials * glyphs) as f64);
            let (acc, exact) = (acc / n, exact as f64 / n);
            writeln!(csv, "{name},{},{trials},{acc},{exact}", corruption.name())?;
            lines.push(format!(
                "  {name:20} {:18} pixels right {:6.2}%, images exact {:6.2}%",
                corruption.name(),
                100.0 * acc,
                100.0 * exact
            ));
        }
    }
    Ok(lines)
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
    let networks = retrievers(&memory, &hebbian, &storkey, &dense, args.seed);
    let corruptions = [Corruption::Noise(args.flip), Corruption::MaskedHalf];

    std::fs::create_dir_all(&args.run.out)?;
    let png = args.run.out.join("image_completion.png");
    picture(&png, &x, &networks, &corruptions, &mut rng)?;
    say!(
        "wrote {} ({glyphs} glyphs under each corruption: {})",
        png.display(),
        corruptions.map(Corruption::name).join(", then ")
    );

    let bar = args.run.progress(trials * corruptions.len(), "trials");
    let csv_path = args.run.out.join("image_completion.csv");
    let mut csv = std::fs::File::create(&csv_path)?;
    let lines = accuracy_table(
        &x,
        &networks,
        &corruptions,
        (trials, &bar),
        &mut rng,
        &mut csv,
    )?;
    bar.finish_and_clear();
    say!("over {trials} random corruptions of each of {glyphs} glyphs:");
    for line in lines {
        say!("{line}");
    }
    say!("wrote {}", csv_path.display());
    Ok(())
}
