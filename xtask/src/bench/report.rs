//! The results of a benchmark run: the table and the JSON file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Pair;

/// Which way is better for a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Figure {
    pub id: String,
    pub title: String,
    pub unit: &'static str,
    pub better: Better,
}

impl Figure {
    pub fn new(id: &str, title: &str, unit: &'static str, better: Better) -> Self {
        Self {
            id: id.to_owned(),
            title: title.to_owned(),
            unit,
            better,
        }
    }
}

struct Row {
    figure: Figure,
    samples: BTreeMap<Pair, Vec<f64>>,
    details: BTreeMap<Pair, Vec<Value>>,
}

pub struct Report {
    rows: Vec<Row>,
    meta: serde_json::Map<String, Value>,
    notes: Vec<String>,
    errors: Vec<String>,
}

pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A value with as many digits as its size deserves.
pub fn format_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    match unit {
        "ms" if v < 1.0 => format!("{v:.3}"),
        "ms" | "s" => format!("{v:.2}"),
        _ if v >= 100.0 => format!("{v:.0}"),
        _ if v >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

/// `v` with three significant digits (at least no decimals for values ≥ 100).
fn significant(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return format!("{v}");
    }
    let decimals = (2.0 - v.log10().floor()).clamp(0.0, 8.0) as usize;
    format!("{v:.decimals$}")
}

impl Report {
    pub fn new(machine: Value) -> Self {
        let mut meta = serde_json::Map::new();
        meta.insert("machine".into(), machine);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        meta.insert("started_unix".into(), json!(started));
        Self {
            rows: Vec::new(),
            meta,
            notes: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn set(&mut self, key: &str, value: Value) {
        self.meta.insert(key.into(), value);
    }

    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub fn error(&mut self, error: String) {
        self.errors.push(error);
    }

    pub fn add_figure(&mut self, figure: Figure) {
        if !self.rows.iter().any(|r| r.figure.id == figure.id) {
            self.rows.push(Row {
                figure,
                samples: BTreeMap::new(),
                details: BTreeMap::new(),
            });
        }
    }

    pub fn record(&mut self, id: &str, pair: Pair, value: f64, detail: &Value) {
        if let Some(row) = self.rows.iter_mut().find(|r| r.figure.id == id) {
            row.samples.entry(pair).or_default().push(value);
            row.details.entry(pair).or_default().push(detail.clone());
        }
    }

    fn median_of(row: &Row, pair: Pair) -> Option<f64> {
        row.samples.get(&pair).and_then(|s| median(s))
    }

    /// Rust→Rust over JS→JS.
    fn ratio(row: &Row) -> Option<f64> {
        let js = Self::median_of(row, Pair::JS)?;
        let rust = Self::median_of(row, Pair::RUST)?;
        (js > 0.0).then(|| rust / js)
    }

    /// The table, in Markdown.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let cell = |row: &Row, pair: Pair| match Self::median_of(row, pair) {
            Some(v) => format_value(v, row.figure.unit),
            None => String::new(),
        };
        out.push_str(
            "| figure | unit | JS→JS | Rust→Rust | Rust/JS | Rust client→JS server | JS client→Rust server |\n",
        );
        out.push_str("|---|---|--:|--:|--:|--:|--:|\n");
        for row in &self.rows {
            let ratio = Self::ratio(row)
                .map(|r| format!("{}×", significant(r)))
                .unwrap_or_default();
            let arrow = match row.figure.better {
                Better::Higher => "↑",
                Better::Lower => "↓",
            };
            let _ = writeln!(
                out,
                "| {} | {} {} | {} | {} | {} | {} | {} |",
                row.figure.title,
                row.figure.unit,
                arrow,
                cell(row, Pair::JS),
                cell(row, Pair::RUST),
                ratio,
                cell(row, Pair::RUST_TO_JS),
                cell(row, Pair::JS_TO_RUST),
            );
        }
        out.push_str(
            "\n↑ higher is better, ↓ lower is better; Rust/JS is Rust→Rust over JS→JS. Medians of the repeats.\n",
        );
        if let Some(m) = self.meta.get("machine") {
            let _ = writeln!(
                out,
                "Machine: {} ({} cores), Linux {}, {} GiB; load average at start {}, at end {}; node {}.",
                m["cpu"].as_str().unwrap_or("?"),
                m["cores"],
                m["kernel"].as_str().unwrap_or("?"),
                m["memory_gib"],
                m["load_average_at_start"].as_str().unwrap_or("?"),
                self.meta
                    .get("load_average_at_end")
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                self.meta
                    .get("node")
                    .and_then(Value::as_str)
                    .unwrap_or("not used"),
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "Note: {note}");
        }
        for error in &self.errors {
            let _ = writeln!(out, "Error: {error}");
        }
        out
    }

    /// The whole run as JSON: every sample of every pair, its medians and ratios.
    pub fn json_text(&self) -> String {
        let figures: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut values = serde_json::Map::new();
                for (pair, samples) in &row.samples {
                    values.insert(
                        pair.key(),
                        json!({
                            "median": median(samples),
                            "samples": samples,
                            "details": row.details.get(pair),
                        }),
                    );
                }
                json!({
                    "id": row.figure.id,
                    "title": row.figure.title.trim(),
                    "unit": row.figure.unit,
                    "better": match row.figure.better { Better::Higher => "higher", Better::Lower => "lower" },
                    "rust_over_js": Self::ratio(row),
                    "values": values,
                })
            })
            .collect();
        let mut doc = self.meta.clone();
        doc.insert("version".into(), json!(1));
        doc.insert("figures".into(), json!(figures));
        doc.insert("notes".into(), json!(self.notes));
        doc.insert("errors".into(), json!(self.errors));
        serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default() + "\n"
    }
}
