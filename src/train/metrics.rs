//! `RUN/metrics.jsonl`: one JSON object per logged step, and the loss plot drawn from it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::plot::{Series, line_chart};

/// File name of the metrics log inside a run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// File name of the loss plot inside a run folder.
pub const LOSS_PLOT_FILE: &str = "loss.png";

/// One logged training step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    /// Epoch in progress, counted from 1.
    pub epoch: u64,
    pub images_seen: u64,
    pub loss_d: f64,
    pub loss_g: f64,
    /// Mean D(x) on real images, as a probability.
    pub d_real: f64,
    /// Mean D(G(z)) on generated images, as a probability (before D's update).
    pub d_fake: f64,
    /// Training throughput since the previous logged step, in real images per second.
    pub images_per_second: f64,
}

/// Appends one line to the metrics log.
pub fn append(run: &Path, metrics: &StepMetrics) -> Result<()> {
    let path = run.join(METRICS_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    let mut line = serde_json::to_string(metrics)?;
    line.push('\n');
    file.write_all(line.as_bytes()).with_context(|| format!("failed to write {}", path.display()))
}

/// Reads every line of the metrics log; lines that do not parse (a torn last line) are skipped.
pub fn read_all(run: &Path) -> Result<Vec<StepMetrics>> {
    let path = run.join(METRICS_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
}

/// Drops lines logged after `step`, so a resumed run does not repeat steps that a crash lost.
pub fn truncate_after(run: &Path, step: u64) -> Result<()> {
    let path = run.join(METRICS_FILE);
    if !path.exists() {
        return Ok(());
    }
    let kept: String = read_all(run)?
        .into_iter()
        .filter(|metrics| metrics.step <= step)
        .map(|metrics| serde_json::to_string(&metrics).map(|line| line + "\n"))
        .collect::<Result<_, _>>()?;
    write_atomic(&path, kept.as_bytes())
}

/// Draws D's and G's losses over steps into `RUN/loss.png`.
pub fn plot_losses(run: &Path) -> Result<()> {
    let all = read_all(run)?;
    let series = [
        Series { label: "loss_d".into(), points: all.iter().map(|m| (m.step as f64, m.loss_d)).collect() },
        Series { label: "loss_g".into(), points: all.iter().map(|m| (m.step as f64, m.loss_g)).collect() },
    ];
    line_chart(&run.join(LOSS_PLOT_FILE), "Training losses", "step", "loss", &series)
}
