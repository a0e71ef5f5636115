//! The one table (`figure | ours | reference | ratio`), its CSV and an SVG bar chart of the
//! ratios, written by hand (no plotting dependency).

use std::{fmt::Write as _, path::Path};

pub struct Row {
    pub figure: String,
    pub ours: String,
    pub reference: String,
    /// ours ÷ reference; `None` when there is nothing to divide.
    pub ratio: Option<f64>,
    /// The raw numbers behind `ours` and `reference`, for the CSV.
    pub ours_value: Option<f64>,
    pub reference_value: Option<f64>,
    pub unit: &'static str,
}

impl Row {
    pub fn new(
        figure: impl Into<String>,
        unit: &'static str,
        ours: f64,
        reference_name: &str,
        reference: f64,
    ) -> Self {
        Row {
            figure: figure.into(),
            ours: format_value(ours, unit),
            reference: format!("{reference_name} {}", format_value(reference, unit)),
            ratio: (reference > 0.0).then(|| ours / reference),
            ours_value: Some(ours),
            reference_value: Some(reference),
            unit,
        }
    }

    pub fn text(figure: impl Into<String>, ours: impl Into<String>, reference: impl Into<String>) -> Self {
        Row {
            figure: figure.into(),
            ours: ours.into(),
            reference: reference.into(),
            ratio: None,
            ours_value: None,
            reference_value: None,
            unit: "",
        }
    }
}

pub fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "ms" if value < 1.0 => format!("{value:.3} ms"),
        "ms" => format!("{value:.2} ms"),
        "µs" => format!("{value:.0} µs"),
        "MB" => format!("{value:.2} MB"),
        "×" => format!("{value:.2}×"),
        "calls" => format!("{value:.0}"),
        other => format!("{value} {other}"),
    }
}

pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| figure | ours | reference | ratio |\n|---|---|---|---|\n");
    for row in rows {
        let ratio = row.ratio.map_or_else(|| "".to_owned(), |r| format!("{r:.2}×"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {ratio} |",
            row.figure, row.ours, row.reference
        );
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from("figure,ours,reference,ratio,ours_value,reference_value,unit\n");
    for row in rows {
        let num = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            csv_field(&row.figure),
            csv_field(&row.ours),
            csv_field(&row.reference),
            num(row.ratio),
            num(row.ours_value),
            num(row.reference_value),
            csv_field(row.unit)
        );
    }
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Horizontal bars of every row with a ratio, on a log scale centred on 1× (the reference).
pub fn svg(rows: &[Row], title: &str) -> String {
    let bars: Vec<&Row> = rows.iter().filter(|r| r.ratio.is_some()).collect();
    let (label_w, plot_w, bar_h, gap, top) = (430.0, 420.0, 18.0, 6.0, 56.0);
    let width = label_w + plot_w + 90.0;
    let height = top + bars.len() as f64 * (bar_h + gap) + 40.0;
    // log2 scale from 1/4× to 8×.
    let (lo, hi) = (-2.0_f64, 3.0_f64);
    let x = |ratio: f64| label_w + (ratio.log2().clamp(lo, hi) - lo) / (hi - lo) * plot_w;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        out,
        r##"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"##,
        xml(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="40" fill="#555">ours ÷ reference, same run (log scale; left of 1× is better than the reference)</text>"##
    );
    for tick in [0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
        let tx = x(tick);
        let stroke = if tick == 1.0 { "#333" } else { "#ddd" };
        let _ = writeln!(
            out,
            r##"<line x1="{tx:.1}" y1="{top_line}" x2="{tx:.1}" y2="{bottom}" stroke="{stroke}"/><text x="{tx:.1}" y="{label_y}" text-anchor="middle" fill="#555">{tick}×</text>"##,
            top_line = top - 6.0,
            bottom = height - 28.0,
            label_y = height - 12.0,
        );
    }
    for (i, row) in bars.iter().enumerate() {
        let ratio = row.ratio.unwrap_or(1.0);
        let y = top + i as f64 * (bar_h + gap);
        let (x0, x1) = (x(1.0), x(ratio));
        let (left, w) = if x1 >= x0 { (x0, x1 - x0) } else { (x1, x0 - x1) };
        let colour = if ratio <= 1.05 {
            "#4c9a2a"
        } else if ratio <= 2.0 {
            "#e0a030"
        } else {
            "#c8553d"
        };
        let _ = writeln!(
            out,
            r##"<text x="{lx}" y="{ty:.1}" text-anchor="end">{label}</text><rect x="{left:.1}" y="{y:.1}" width="{w:.1}" height="{bar_h}" fill="{colour}"/><text x="{vx:.1}" y="{ty:.1}">{ratio:.2}×</text>"##,
            lx = label_w - 8.0,
            ty = y + bar_h - 4.0,
            label = xml(&row.figure),
            w = w.max(1.0),
            vx = x1.max(x0) + 4.0,
        );
    }
    out.push_str("</svg>\n");
    out
}

pub fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The uncompressed size of the first entry (`bootstrap`) of a zip, from its central directory.
pub fn zip_entry_size(zip: &[u8]) -> Option<u64> {
    let eocd = zip.windows(4).rposition(|w| w == [0x50, 0x4b, 0x05, 0x06])?;
    let le32 = |at: usize| -> Option<u64> {
        zip.get(at..at + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let central = usize::try_from(le32(eocd + 16)?).ok()?;
    if zip.get(central..central + 4)? != [0x50, 0x4b, 0x01, 0x02] {
        return None;
    }
    le32(central + 24)
}
