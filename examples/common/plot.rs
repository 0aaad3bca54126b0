//! Line charts as PNG for the examples, with plotters' bitmap backend.
//!
//! Text is drawn with ab_glyph from a TrueType font found at run time (`HOPFIELD_FONT`, else
//! DejaVu Sans or Liberation Sans in the usual places), so no fontconfig is needed. Without a
//! font the chart is still written, with its lines and axes but no text.

use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font as "sans-serif" once; whether one was found.
fn font() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let wanted = std::env::var("HOPFIELD_FONT").ok();
        let candidates = wanted
            .iter()
            .map(String::as_str)
            .chain(FONTS.iter().copied());
        for path in candidates {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps fonts for the life of the program.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        eprintln!("no TrueType font found (set HOPFIELD_FONT): the chart has no text");
        false
    })
}

/// One named line of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws `series` as lines over `x` × `y` into a 900×600 PNG at `path`.
pub fn line_chart(
    path: &Path,
    title: &str,
    (x_label, x): (&str, std::ops::Range<f64>),
    (y_label, y): (&str, std::ops::Range<f64>),
    series: &[Series],
) -> Result<(), Box<dyn Error>> {
    let text = font();
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(title, ("sans-serif", 24))
            .x_label_area_size(45)
            .y_label_area_size(55);
    }
    let mut chart = builder.build_cartesian_2d(x, y)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 15));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).stroke_width(2);
        let drawn = chart.draw_series(LineSeries::new(s.points.iter().copied(), color))?;
        if text {
            drawn
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        }
        chart.draw_series(
            s.points
                .iter()
                .map(|&p| Circle::new(p, 3, Palette99::pick(i).filled())),
        )?;
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
