//! Charts and labels as PNG for the examples, with plotters' bitmap backend.
//!
//! Text is drawn with ab_glyph from a TrueType font found at run time (`HOPFIELD_FONT`, else
//! DejaVu Sans or Liberation Sans in the usual places), so no fontconfig is needed. Without a
//! font the picture is still written, with its lines, marks and axes but no text.

// Each example compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::error::Error;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Size of every chart, in pixels: the plot, and the legend in a column on its right, where
/// it can hide no curve.
pub const CHART_SIZE: (u32, u32) = (1100, 620);
const LEGEND_WIDTH: u32 = 300;

/// Okabe and Ito's palette, told apart with the common kinds of colour blindness.
const COLORS: [RGBColor; 7] = [
    RGBColor(230, 159, 0),
    RGBColor(0, 114, 178),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// The colour of series `i`; reference lines take their series' colour.
pub fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Registers a font as "sans-serif" once; whether one was found.
pub fn font() -> bool {
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
        eprintln!("no TrueType font found (set HOPFIELD_FONT): the picture has no text");
        false
    })
}

/// The mark drawn at every point of a series: curves that lie on each other stay told apart.
#[derive(Clone, Copy)]
pub enum Marker {
    Dot,
    Square,
    Triangle,
    Cross,
    Ring,
}

/// One named line of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub marker: Marker,
    pub dashed: bool,
}

/// A vertical line at `x` in the colour of series `series`: what theory predicts for it.
pub struct Reference {
    pub name: String,
    pub x: f64,
    pub series: usize,
}

/// A shaded span of x, labelled at the top of the plot.
pub struct Band {
    pub label: String,
    pub x: Range<f64>,
    pub color: RGBColor,
}

/// An axis: its label, its range, and whether it is logarithmic.
pub struct Axis<'a> {
    pub label: &'a str,
    pub range: Range<f64>,
    pub log: bool,
}

/// Everything one chart shows.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x: Axis<'a>,
    pub y: Axis<'a>,
    pub series: &'a [Series],
    pub references: &'a [Reference],
    pub bands: &'a [Band],
}

/// Draws `chart` into a PNG of [`CHART_SIZE`] at `path`.
pub fn draw(path: &Path, chart: &Chart) -> Result<(), Box<dyn Error>> {
    let text = font();
    let root = BitMapBackend::new(path, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(CHART_SIZE.0 - LEGEND_WIDTH);
    let y = chart.y.range.clone();
    match chart.x.log {
        true => plot_area(&plot, chart, chart.x.range.clone().log_scale(), y, text)?,
        false => plot_area(&plot, chart, chart.x.range.clone(), y, text)?,
    }
    if text {
        draw_legend(&legend, chart)?;
    }
    root.present()?;
    Ok(())
}

type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;

/// The axes, bands, reference lines and series, over an x coordinate `x` (linear or log).
fn plot_area<X>(
    area: &Area,
    chart: &Chart,
    x: X,
    y: Range<f64>,
    text: bool,
) -> Result<(), Box<dyn Error>>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut builder = ChartBuilder::on(area);
    builder.margin(20).margin_right(10);
    if text {
        builder
            .caption(chart.title, ("sans-serif", 24))
            .x_label_area_size(50)
            .y_label_area_size(60);
    }
    let mut plot = builder.build_cartesian_2d(x, y.clone())?;
    let mut mesh = plot.configure_mesh();
    mesh.light_line_style(RGBColor(235, 235, 235));
    if text {
        mesh.x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| number(*v))
            .x_desc(chart.x.label)
            .y_desc(chart.y.label)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    // Over the grid, which shows through their tint.
    for band in chart.bands {
        let shade = band.color.mix(0.25).filled();
        plot.draw_series(std::iter::once(Rectangle::new(
            [(band.x.start, y.start), (band.x.end, y.end)],
            shade,
        )))?;
    }
    if text {
        label_bands(area, &plot, chart.bands, y.end)?;
    }
    for r in chart.references {
        let style = color(r.series).stroke_width(2);
        plot.draw_series(DashedLineSeries::new(
            [(r.x, y.start), (r.x, y.end)],
            4,
            6,
            style,
        ))?;
    }
    for (i, s) in chart.series.iter().enumerate() {
        draw_series(area, &mut plot, s, color(i))?;
    }
    Ok(())
}

/// A tick label: at most three decimals, without trailing zeros (1, 10, 0.25, 0.001).
fn number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

type Plot<'a, 'b, X> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, RangedCoordf64>>;

/// Each band's label, centred at the top of its span. `area` is the plot's, whose pixels are
/// the backend's.
fn label_bands<X: Ranged<ValueType = f64>>(
    area: &Area,
    plot: &Plot<X>,
    bands: &[Band],
    top: f64,
) -> Result<(), Box<dyn Error>> {
    let style = TextStyle::from(("sans-serif", 17).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for band in bands {
        let (left, _) = plot.backend_coord(&(band.x.start, top));
        let (right, y) = plot.backend_coord(&(band.x.end, top));
        area.draw(&Text::new(
            band.label.as_str(),
            ((left + right) / 2, y + 6),
            style.clone(),
        ))?;
    }
    Ok(())
}

fn draw_series<X: Ranged<ValueType = f64>>(
    area: &Area,
    plot: &mut Plot<X>,
    s: &Series,
    color: RGBColor,
) -> Result<(), Box<dyn Error>> {
    let line = color.stroke_width(2);
    let points = s.points.iter().copied();
    if s.dashed {
        plot.draw_series(DashedLineSeries::new(points, 10, 5, line))?;
    } else {
        plot.draw_series(LineSeries::new(points, line))?;
    }
    for &p in &s.points {
        mark(area, plot.backend_coord(&p), s.marker, color)?;
    }
    Ok(())
}

/// Draws a marker centred at `at`, in `area`'s pixels.
fn mark(
    area: &Area,
    at: (i32, i32),
    marker: Marker,
    color: RGBColor,
) -> Result<(), Box<dyn Error>> {
    let (solid, line) = (color.filled(), color.stroke_width(2));
    let (x, y) = at;
    match marker {
        Marker::Dot => area.draw(&Circle::new(at, 4, solid))?,
        Marker::Ring => area.draw(&Circle::new(at, 7, line))?,
        Marker::Square => area.draw(&Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], solid))?,
        Marker::Triangle => area.draw(&TriangleMarker::new(at, 6, solid))?,
        Marker::Cross => area.draw(&Cross::new(at, 5, line))?,
    }
    Ok(())
}

/// The series, then the reference lines, one a line each: a sample of the line with its
/// marker, and the name.
fn draw_legend(area: &Area, chart: &Chart) -> Result<(), Box<dyn Error>> {
    let font = ("sans-serif", 15).into_font().color(&BLACK);
    let mut y = 70;
    for (i, s) in chart.series.iter().enumerate() {
        let c = color(i);
        let sample = [(8, y), (48, y)];
        if s.dashed {
            area.draw(&PathElement::new(sample, c.stroke_width(2)))?;
            area.draw(&Rectangle::new([(20, y - 2), (26, y + 2)], WHITE.filled()))?;
        } else {
            area.draw(&PathElement::new(sample, c.stroke_width(2)))?;
        }
        mark(area, (28, y), s.marker, c)?;
        area.draw(&Text::new(s.name.as_str(), (58, y - 8), font.clone()))?;
        y += 26;
    }
    if !chart.references.is_empty() {
        y += 10;
        area.draw(&Text::new("predicted capacity:", (8, y - 8), font.clone()))?;
        y += 24;
    }
    for r in chart.references {
        let c = color(r.series).stroke_width(2);
        for top in [y - 11, y - 3, y + 5] {
            area.draw(&PathElement::new([(28, top), (28, top + 5)], c))?;
        }
        area.draw(&Text::new(r.name.as_str(), (58, y - 8), font.clone()))?;
        y += 26;
    }
    Ok(())
}

/// A line of text on a picture: where it sits (pixels) and whether `at` is its centre or the
/// middle of its left edge.
pub struct Label {
    pub text: String,
    pub at: (i32, i32),
    pub centred: bool,
    pub size: u32,
}

/// Writes `labels` in black onto an RGB picture (`rgb`: `size.0 × size.1 × 3` bytes) in place;
/// without a font, leaves it as it is.
pub fn label_picture(
    rgb: &mut [u8],
    size: (u32, u32),
    labels: &[Label],
) -> Result<(), Box<dyn Error>> {
    let black: Vec<(&Label, RGBColor)> = labels.iter().map(|l| (l, BLACK)).collect();
    label_picture_coloured(rgb, size, &black)
}

/// As [`label_picture`], each label in its own colour.
pub fn label_picture_coloured(
    rgb: &mut [u8],
    size: (u32, u32),
    labels: &[(&Label, RGBColor)],
) -> Result<(), Box<dyn Error>> {
    if !font() {
        return Ok(());
    }
    let area = BitMapBackend::with_buffer(rgb, size).into_drawing_area();
    for (label, color) in labels {
        let h = if label.centred {
            HPos::Center
        } else {
            HPos::Left
        };
        let style = TextStyle::from(("sans-serif", label.size).into_font())
            .color(color)
            .pos(Pos::new(h, VPos::Center));
        area.draw(&Text::new(label.text.as_str(), label.at, style))?;
    }
    area.present()?;
    Ok(())
}
