//! `RUN/metrics.jsonl`: one JSON object per logged step or evaluation, and the loss plot drawn
//! from it.

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

/// FID and KID of the run's generator at the end of an epoch, from `--eval-every`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: u64,
    /// Epoch just completed, counted from 1.
    pub epoch: u64,
    pub images_seen: u64,
    pub fid: f64,
    pub kid: f64,
    /// Generated faces scored.
    pub eval_samples: usize,
    /// Training images they were compared with.
    pub real_samples: usize,
}

/// One line of the metrics log. Evaluation lines are recognised by their `fid` key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricsLine {
    Eval(EvalMetrics),
    Step(StepMetrics),
}

impl MetricsLine {
    /// Optimizer step the line was logged at.
    pub fn step(&self) -> u64 {
        match self {
            MetricsLine::Eval(line) => line.step,
            MetricsLine::Step(line) => line.step,
        }
    }
}

/// The lines of a metrics log, split by kind, each in logged order.
#[derive(Clone, Debug, Default)]
pub struct MetricsLog {
    pub steps: Vec<StepMetrics>,
    pub evals: Vec<EvalMetrics>,
}

/// Appends one step line to the metrics log.
pub fn append(run: &Path, metrics: &StepMetrics) -> Result<()> {
    append_line(run, &MetricsLine::Step(metrics.clone()))
}

/// Appends one evaluation line to the metrics log.
pub fn append_eval(run: &Path, metrics: &EvalMetrics) -> Result<()> {
    append_line(run, &MetricsLine::Eval(metrics.clone()))
}

fn append_line(run: &Path, metrics: &MetricsLine) -> Result<()> {
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

/// Reads the step lines of the metrics log.
pub fn read_all(run: &Path) -> Result<Vec<StepMetrics>> {
    Ok(read_log(run)?.steps)
}

/// Reads every line of the metrics log, split into step and evaluation lines.
pub fn read_log(run: &Path) -> Result<MetricsLog> {
    let mut log = MetricsLog::default();
    for line in read_lines(run)? {
        match line {
            MetricsLine::Step(line) => log.steps.push(line),
            MetricsLine::Eval(line) => log.evals.push(line),
        }
    }
    Ok(log)
}

/// Reads every line of the metrics log in order; lines that do not parse (a torn last line)
/// are skipped.
fn read_lines(run: &Path) -> Result<Vec<MetricsLine>> {
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
    let kept: String = read_lines(run)?
        .into_iter()
        .filter(|metrics| metrics.step() <= step)
        .map(|metrics| serde_json::to_string(&metrics).map(|line| line + "\n"))
        .collect::<Result<_, _>>()?;
    write_atomic(&path, kept.as_bytes())
}

/// Draws D's and G's losses over steps into `RUN/loss.png`.
pub fn plot_losses(run: &Path) -> Result<()> {
    line_chart(&run.join(LOSS_PLOT_FILE), "Training losses", "step", "loss", &loss_series(&read_all(run)?))
}

/// Returns D's and G's losses over steps as two plot lines.
pub fn loss_series(steps: &[StepMetrics]) -> [Series; 2] {
    [
        Series { label: "loss_d".into(), points: steps.iter().map(|m| (m.step as f64, m.loss_d)).collect() },
        Series { label: "loss_g".into(), points: steps.iter().map(|m| (m.step as f64, m.loss_g)).collect() },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_line(step: u64) -> StepMetrics {
        StepMetrics {
            step,
            epoch: 1,
            images_seen: step * 64,
            loss_d: 1.2,
            loss_g: 0.8,
            d_real: 0.6,
            d_fake: 0.4,
            images_per_second: 30.0,
        }
    }

    fn eval_line(step: u64, epoch: u64) -> EvalMetrics {
        EvalMetrics { step, epoch, images_seen: step * 64, fid: 120.5, kid: 0.1, eval_samples: 500, real_samples: 400 }
    }

    #[test]
    fn log_keeps_step_and_eval_lines_apart() {
        let run = tempfile::tempdir().unwrap();
        append(run.path(), &step_line(10)).unwrap();
        append_eval(run.path(), &eval_line(10, 1)).unwrap();
        append(run.path(), &step_line(20)).unwrap();

        let log = read_log(run.path()).unwrap();
        assert_eq!(log.steps.iter().map(|line| line.step).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(log.evals.len(), 1);
        assert_eq!(log.evals[0].fid, 120.5);
        assert_eq!(log.evals[0].real_samples, 400);
    }

    #[test]
    fn truncation_drops_both_kinds_after_the_step() {
        let run = tempfile::tempdir().unwrap();
        append(run.path(), &step_line(10)).unwrap();
        append_eval(run.path(), &eval_line(10, 1)).unwrap();
        append(run.path(), &step_line(20)).unwrap();
        append_eval(run.path(), &eval_line(20, 2)).unwrap();

        truncate_after(run.path(), 15).unwrap();

        let log = read_log(run.path()).unwrap();
        assert_eq!(log.steps.len(), 1);
        assert_eq!(log.evals.len(), 1);
        assert_eq!(log.evals[0].epoch, 1);
    }
}
