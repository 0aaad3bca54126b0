//! What sparse retrieval changes (issue 15): the 16×16 glyphs of `image_completion`, each
//! stored with several variants of itself (a few pixels flipped), so the memory holds groups
//! of highly correlated patterns. Noisy and half-masked glyphs are retrieved in one step at
//! the same β with softmax, sparsemax and 1.5-entmax.
//!
//! Softmax gives every stored pattern some weight: at a β small enough to pool a glyph's own
//! variants it also pools the other glyphs, and the state is a gray blur of them, often nearer
//! another glyph than the right one. Sparsemax and entmax put exactly zero weight on every
//! pattern scoring below a threshold, so the same β keeps a handful of variants of one glyph
//! (entmax a few more than sparsemax) and the state is that glyph.
//!
//! ```sh
//! cargo run --release --example sparse_retrieval              # every glyph, noisy and masked
//! cargo run --release --example sparse_retrieval -- --quick   # six glyphs (CI)
//! ```
//! Writes to `--out`: `sparse_retrieval.png`, one row per query in two panels (noise, masked),
//! columns original | cue | softmax | sparsemax | entmax 1.5, each result labelled with its
//! support (patterns with weight > 0; for softmax, weight ≥ 1e-3 of the largest) and ✓ or ✗
//! (whether the glyph nearest to its signs is the query's); `sparse_retrieval.csv`, one row per
//! query and rule: `corruption, glyph, rule, support, glyphs_in_support, error_pixels, right,
//! best_weight`. `--device auto|cpu|gpu` as every example.

#[macro_use]
mod common;
#[path = "common/glyphs.rs"]
mod glyphs;
#[path = "common/plot.rs"]
mod plot;

use std::error::Error;
use std::io::Write;
use std::path::Path;

use clap::Parser;
use glyphs::{draw, FONT, PIXELS, SIDE};
use hopfield::{Memory, RetrieveOptions, Separation};
use image::{Rgb, RgbImage};
use ndarray::{Array2, ArrayView1, Axis};
use plotters::style::RGBColor;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: common::RunArgs,
    /// Inverse temperature of every rule.
    #[arg(long, default_value_t = 0.05)]
    beta: f32,
    /// Fraction of a noisy cue's pixels flipped.
    #[arg(long, default_value_t = 0.2)]
    flip: f64,
    /// Variants stored with each glyph.
    #[arg(long, default_value_t = 8)]
    variants: usize,
    /// Pixels flipped in each variant.
    #[arg(long, default_value_t = 10)]
    variant_flips: usize,
    /// Seed of the variants and of the noise.
    #[arg(long, default_value_t = 5)]
    seed: u64,
}

/// The rules compared: their name in the CSV and their column's header.
const RULES: [(Separation, &str); 3] = [
    (Separation::Softmax, "softmax"),
    (Separation::Sparsemax, "sparsemax"),
    (Separation::Entmax(1.5), "entmax 1.5"),
];
/// Softmax's weights are never zero: its support counts those at least this fraction of the
/// largest.
const SOFTMAX_FLOOR: f32 = 1e-3;

/// How a glyph is damaged into a cue.
#[derive(Clone, Copy)]
enum Corruption {
    /// A fraction of the pixels flipped.
    Noise(f64),
    /// The lower half unknown: 0 in the cue, and outside the known mask.
    MaskedHalf,
}

impl Corruption {
    fn name(self) -> &'static str {
        match self {
            Corruption::Noise(_) => "noise",
            Corruption::MaskedHalf => "masked",
        }
    }

    fn title(self) -> String {
        match self {
            Corruption::Noise(p) => format!("noise: {:.0}% of the pixels flipped", p * 100.0),
            Corruption::MaskedHalf => "masked: lower half unknown (gray)".into(),
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

    /// The retrieval options: a masked cue is scored on its known upper half only.
    fn options(self, beta: f32, rule: Separation) -> RetrieveOptions {
        let opts = RetrieveOptions::new(beta).separation(rule).with_weights();
        match self {
            Corruption::Noise(_) => opts,
            Corruption::MaskedHalf => {
                opts.known(Array2::from_shape_fn((1, PIXELS), |(_, j)| j < PIXELS / 2))
            }
        }
    }
}

/// What one rule made of one cue.
struct Outcome {
    state: Vec<f32>,
    /// Patterns in the support, and how many glyphs they are variants of.
    support: usize,
    glyphs: usize,
    /// Pixels whose sign differs from the original glyph's.
    error: usize,
    /// Whether the original glyph is the one nearest to the state's signs.
    right: bool,
    best: f32,
}

/// One panel of the picture: a corruption, its cues, and every rule's outcomes (per rule,
/// per query).
struct Panel {
    corruption: Corruption,
    cues: Array2<f32>,
    outcomes: Vec<Vec<Outcome>>,
}

/// Pixels whose signs differ (0 counts as negative).
fn wrong_pixels(a: ArrayView1<f32>, b: ArrayView1<f32>) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| (**x > 0.0) != (**y > 0.0))
        .count()
}

/// Each glyph followed by `variants` copies with `flips` distinct pixels flipped, and the
/// glyph each stored pattern belongs to.
fn store(
    glyphs: &Array2<f32>,
    variants: usize,
    flips: usize,
    rng: &mut StdRng,
) -> (Array2<f32>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut family = Vec::new();
    for (g, glyph) in glyphs.rows().into_iter().enumerate() {
        for v in 0..=variants {
            let mut row = glyph.to_vec();
            if v > 0 {
                for i in rand::seq::index::sample(rng, PIXELS, flips) {
                    row[i] = -row[i];
                }
            }
            rows.extend(row);
            family.push(g);
        }
    }
    let x = Array2::from_shape_vec((family.len(), PIXELS), rows).expect("whole rows");
    (x, family)
}

/// Retrieves every cue of `panel` (cues of `targets`, indices into `glyphs`) with `rule`.
fn outcomes(
    memory: &Memory,
    (glyphs, family): (&Array2<f32>, &[usize]),
    (cues, targets): (&Array2<f32>, &[usize]),
    opts: &RetrieveOptions,
) -> hopfield::Result<Vec<Outcome>> {
    let out = memory.retrieve(cues.view(), opts)?;
    let weights = out.weights.as_ref().expect("asked for weights");
    let sparse = opts.separation != Separation::Softmax;
    let mut result = Vec::new();
    for ((state, w), &target) in out
        .states
        .rows()
        .into_iter()
        .zip(weights.rows())
        .zip(targets)
    {
        let best = w.iter().copied().fold(0.0f32, f32::max);
        let kept: Vec<usize> = (0..w.len())
            .filter(|&i| match sparse {
                true => w[i] > 0.0,
                false => w[i] >= SOFTMAX_FLOOR * best,
            })
            .collect();
        let mut in_support: Vec<usize> = kept.iter().map(|&i| family[i]).collect();
        in_support.sort_unstable();
        in_support.dedup();
        let nearest = (0..glyphs.nrows())
            .min_by_key(|&g| wrong_pixels(state, glyphs.row(g)))
            .expect("glyphs are stored");
        result.push(Outcome {
            state: state.to_vec(),
            support: kept.len(),
            glyphs: in_support.len(),
            error: wrong_pixels(state, glyphs.row(target)),
            right: nearest == target,
            best,
        });
    }
    Ok(result)
}

fn write_csv(path: &Path, panels: &[Panel], targets: &[usize]) -> std::io::Result<()> {
    let mut csv = std::fs::File::create(path)?;
    writeln!(
        csv,
        "corruption,glyph,rule,support,glyphs_in_support,error_pixels,right,best_weight"
    )?;
    for panel in panels {
        for (q, &g) in targets.iter().enumerate() {
            for ((rule, _), rule_outcomes) in RULES.iter().zip(&panel.outcomes) {
                let o = &rule_outcomes[q];
                writeln!(
                    csv,
                    "{},{},{rule},{},{},{},{},{}",
                    panel.corruption.name(),
                    FONT[g].0,
                    o.support,
                    o.glyphs,
                    o.error,
                    o.right,
                    o.best
                )?;
            }
        }
    }
    Ok(())
}

/// Per corruption and rule: right glyphs, supports (mean and range), pixels wrong, best weight.
fn summary(panels: &[Panel]) -> Vec<String> {
    let mut lines = Vec::new();
    for panel in panels {
        for ((_, header), o) in RULES.iter().zip(&panel.outcomes) {
            let n = o.len() as f64;
            let mean = |f: &dyn Fn(&Outcome) -> f64| o.iter().map(f).sum::<f64>() / n;
            let (lo, hi) = o.iter().fold((usize::MAX, 0), |(lo, hi), o| {
                (lo.min(o.support), hi.max(o.support))
            });
            lines.push(format!(
                "  {:7} {header:11} right {:2}/{}  support {:6.1} ({lo}..{hi})  glyphs in it {:4.1}  \
                 pixels wrong {:5.1}  best weight {:.3}",
                panel.corruption.name(),
                o.iter().filter(|o| o.right).count(),
                o.len(),
                mean(&|o| o.support as f64),
                mean(&|o| o.glyphs as f64),
                mean(&|o| o.error as f64),
                mean(&|o| o.best as f64),
            ));
        }
    }
    lines
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.flip) {
        return Err(format!("--flip is a fraction of the pixels, got {}", args.flip).into());
    }
    if args.variant_flips > PIXELS {
        return Err(format!(
            "--variant-flips {} is more than the {PIXELS} pixels of a glyph",
            args.variant_flips
        )
        .into());
    }
    let device = args.run.device()?;
    say!("device: {}", device.info());
    let mut rng = StdRng::seed_from_u64(args.seed);
    let originals: Vec<f32> = FONT.iter().flat_map(|(_, g)| draw(g)).collect();
    let glyphs = Array2::from_shape_vec((FONT.len(), PIXELS), originals)?;
    let (x, family) = store(&glyphs, args.variants, args.variant_flips, &mut rng);
    let memory = Memory::from_array(&device, x.view())?;
    say!(
        "{} patterns: {} glyphs, each with {} variants ({} pixels flipped); β = {}, one step",
        x.nrows(),
        FONT.len(),
        args.variants,
        args.variant_flips,
        args.beta
    );

    let queried = if args.run.quick { 6 } else { FONT.len() };
    let targets: Vec<usize> = (0..queried).collect();
    let originals = glyphs.select(Axis(0), &targets);
    let mut panels = Vec::new();
    for corruption in [Corruption::Noise(args.flip), Corruption::MaskedHalf] {
        let mut cues = originals.clone();
        for mut row in cues.axis_iter_mut(Axis(0)) {
            corruption.apply(&mut rng, row.as_slice_mut().expect("rows are contiguous"));
        }
        let mut per_rule = Vec::new();
        for (rule, _) in RULES {
            let opts = corruption.options(args.beta, rule);
            let cue = (&cues, targets.as_slice());
            per_rule.push(outcomes(&memory, (&glyphs, &family), cue, &opts)?);
        }
        panels.push(Panel {
            corruption,
            cues,
            outcomes: per_rule,
        });
    }

    std::fs::create_dir_all(&args.run.out)?;
    let csv = args.run.out.join("sparse_retrieval.csv");
    write_csv(&csv, &panels, &targets)?;
    let png = args.run.out.join("sparse_retrieval.png");
    let caption = [
        format!(
            "{} stored patterns: {} glyphs × {} (the glyph and {} variants with {} pixels flipped); one step at β = {}",
            x.nrows(),
            FONT.len(),
            args.variants + 1,
            args.variants,
            args.variant_flips,
            args.beta
        ),
        format!(
            "under each result: patterns in the support (weight > 0; softmax: ≥ {SOFTMAX_FLOOR} of the largest), \
             ✓ right glyph, ✗ another"
        ),
    ];
    picture::draw(&png, &originals, &panels, &caption)?;
    say!("{queried} glyphs, noisy and masked (right: the nearest glyph to the result's signs):");
    for line in summary(&panels) {
        say!("{line}");
    }
    say!("wrote {} and {}", png.display(), csv.display());
    Ok(())
}

/// The labelled grid.
mod picture {
    use super::*;

    /// Screen pixels per image pixel.
    const ZOOM: u32 = 5;
    /// Pixels between tiles and around them; between the two panels.
    const GAP: u32 = 4;
    const PANEL_GAP: u32 = 24;
    const TILE: u32 = SIDE as u32 * ZOOM;
    /// A column: a tile and the gap after it; a row: a tile, its label and the gap.
    const CELL_W: u32 = TILE + GAP;
    const LABEL: u32 = 20;
    const CELL_H: u32 = TILE + LABEL + GAP;
    /// Heights of the caption (two lines), a panel's title and its column headers.
    const CAPTION: u32 = 48;
    const TITLE: u32 = 28;
    const HEADER: u32 = 24;
    const COLUMNS: u32 = 2 + RULES.len() as u32;
    const BACKGROUND: Rgb<u8> = Rgb([200, 200, 200]);
    const RIGHT: RGBColor = RGBColor(0, 110, 50);
    const WRONG: RGBColor = RGBColor(190, 20, 20);

    fn panel_left(p: u32) -> u32 {
        GAP + p * (COLUMNS * CELL_W + PANEL_GAP)
    }

    /// The top-left pixel of the tile in column `col`, row `row`, panel `p`.
    fn tile(p: u32, col: u32, row: u32) -> (u32, u32) {
        (
            panel_left(p) + col * CELL_W,
            CAPTION + TITLE + HEADER + row * CELL_H,
        )
    }

    /// One image as a gray tile at `at`: -1 black, +1 white, 0 mid-gray.
    fn paint(grid: &mut RgbImage, at: (u32, u32), image: &[f32]) {
        for (i, &v) in image.iter().enumerate() {
            let shade = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
            let (x, y) = ((i % SIDE) as u32, (i / SIDE) as u32);
            for (dx, dy) in (0..ZOOM).flat_map(|a| (0..ZOOM).map(move |b| (a, b))) {
                let px = Rgb([shade; 3]);
                grid.put_pixel(at.0 + x * ZOOM + dx, at.1 + y * ZOOM + dy, px);
            }
        }
    }

    fn text(text: String, at: (u32, u32), centred: bool, size: u32) -> plot::Label {
        plot::Label {
            text,
            at: (at.0 as i32, at.1 as i32),
            centred,
            size,
        }
    }

    /// The caption, every panel's title and column headers, and each result's support and
    /// verdict in green (right) or red (wrong).
    fn labels(panels: &[Panel], caption: &[String]) -> Vec<(plot::Label, RGBColor)> {
        let black = plotters::style::BLACK;
        let mut labels: Vec<(plot::Label, RGBColor)> = caption
            .iter()
            .enumerate()
            .map(|(i, line)| {
                (
                    text(line.clone(), (GAP, 13 + 22 * i as u32), false, 15),
                    black,
                )
            })
            .collect();
        let headers = ["original", "cue"].into_iter().chain(RULES.map(|r| r.1));
        for (p, panel) in panels.iter().enumerate() {
            let p = p as u32;
            let title = panel.corruption.title();
            labels.push((
                text(title, (panel_left(p), CAPTION + TITLE / 2), false, 17),
                black,
            ));
            for (c, h) in headers.clone().enumerate() {
                let x = panel_left(p) + c as u32 * CELL_W + TILE / 2;
                let at = (x, CAPTION + TITLE + HEADER / 2);
                labels.push((text(h.into(), at, true, 15), black));
            }
            for (r, rule_outcomes) in panel.outcomes.iter().enumerate() {
                for (q, o) in rule_outcomes.iter().enumerate() {
                    let (x, y) = tile(p, 2 + r as u32, q as u32);
                    let (mark, color) = if o.right {
                        ("✓", RIGHT)
                    } else {
                        ("✗", WRONG)
                    };
                    let at = (x + TILE / 2, y + TILE + LABEL / 2);
                    labels.push((text(format!("{} {mark}", o.support), at, true, 15), color));
                }
            }
        }
        labels
    }

    /// Writes the grid: per panel, a row per query of original, cue and each rule's result.
    pub fn draw(
        path: &Path,
        originals: &Array2<f32>,
        panels: &[Panel],
        caption: &[String],
    ) -> Result<(), Box<dyn Error>> {
        let panel_count = panels.len() as u32;
        let rows = originals.nrows() as u32;
        let width = panel_left(panel_count) - PANEL_GAP;
        let height = CAPTION + TITLE + HEADER + rows * CELL_H;
        let mut grid = RgbImage::from_pixel(width, height, BACKGROUND);
        for (p, panel) in panels.iter().enumerate() {
            for (q, original) in originals.rows().into_iter().enumerate() {
                let row = q as u32;
                paint(&mut grid, tile(p as u32, 0, row), &original.to_vec());
                paint(
                    &mut grid,
                    tile(p as u32, 1, row),
                    &panel.cues.row(q).to_vec(),
                );
                for (r, rule_outcomes) in panel.outcomes.iter().enumerate() {
                    let at = tile(p as u32, 2 + r as u32, row);
                    paint(&mut grid, at, &rule_outcomes[q].state);
                }
            }
        }
        let labels = labels(panels, caption);
        let refs: Vec<(&plot::Label, RGBColor)> = labels.iter().map(|(l, c)| (l, *c)).collect();
        plot::label_picture_coloured(&mut grid, (width, height), &refs)?;
        grid.save(path)?;
        Ok(())
    }
}
