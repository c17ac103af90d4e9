//! Line charts (losses, FID, KID) as PNG images.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::imageio::save_png;

const FONT_NAME: &str = "kao-sans";
static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSansMono.ttf");
static REGISTER_FONT: Once = Once::new();

/// Line colours, in the order series get them; they repeat after eight lines.
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Lines with at most this many points are drawn with a dot at each point.
const MAX_MARKED_POINTS: usize = 60;

/// One named line of (x, y) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws `series` over a shared x axis and writes the chart to `path` as PNG.
pub fn line_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    REGISTER_FONT.call_once(|| {
        let _ = plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT_BYTES);
    });
    let (width, height) = (900u32, 500u32);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        draw(&root, title, x_label, y_label, series).map_err(|error| anyhow!("failed to draw {title}: {error}"))?;
        root.present().map_err(|error| anyhow!("failed to draw {title}: {error}"))?;
    }
    let image = RgbImage::from_raw(width, height, buffer).ok_or_else(|| anyhow!("plot buffer has the wrong size"))?;
    save_png(&image, path)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw(
    root: &Area<'_>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let points = series.iter().flat_map(|line| line.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::MAX, f64::MIN);
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if y_min > y_max {
        (y_min, y_max) = (0.0, 1.0);
    }
    let margin = ((y_max - y_min) * 0.05).max(1e-3);

    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT_NAME, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, (y_min - margin)..(y_max + margin))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT_NAME, 14))
        .axis_desc_style((FONT_NAME, 15))
        .draw()?;

    for (line, color) in series.iter().zip(COLORS.iter().cycle()) {
        let color = *color;
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), color.stroke_width(2)))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        // Sparse lines, such as one FID per epoch, get a dot at each point so a single point
        // is visible too.
        if line.points.len() <= MAX_MARKED_POINTS {
            chart.draw_series(line.points.iter().map(|&point| Circle::new(point, 4, color.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .label_font((FONT_NAME, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
