//! Training progress: a bar with losses, images/s and ETA on a terminal, a log line every 30 s
//! otherwise, and the metrics line every `log_every` steps.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;

use super::metrics::StepMetrics;
use super::session::{Session, StepStats};

/// Interval between log lines when stderr is not a terminal.
const LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Tracks throughput and reports progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    steps_per_epoch: u64,
    last_log_step: u64,
    last_log_time: Instant,
    last_line_time: Instant,
    images_per_second: f64,
}

impl Progress {
    /// Starts reporting for a run positioned at `session`'s counters.
    pub fn new(session: &Session, steps_per_epoch: u64) -> Self {
        let total = session.state.config.epochs * steps_per_epoch;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]")
                    .expect("valid template"),
            );
            bar.set_position(session.state.step);
            bar.reset_eta();
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            steps_per_epoch,
            last_log_step: session.state.step,
            last_log_time: now,
            last_line_time: now,
            images_per_second: 0.0,
        }
    }

    /// Records a finished step; returns the metrics line when one is due.
    pub fn record(&mut self, session: &Session, stats: &StepStats) -> Option<StepMetrics> {
        let state = &session.state;
        let config = &state.config;
        let epoch = state.epoch + 1;
        let message = format!(
            "epoch {epoch}/{}  D {:.3}  G {:.3}  {:.1} img/s",
            config.epochs, stats.loss_d, stats.loss_g, self.images_per_second
        );
        if let Some(bar) = &self.bar {
            bar.set_position(state.step);
            bar.set_message(message.clone());
        } else if self.last_line_time.elapsed() >= LOG_INTERVAL {
            let remaining = config.epochs * self.steps_per_epoch - state.step.min(config.epochs * self.steps_per_epoch);
            // The rate is unknown until the first metrics line of this invocation.
            let eta = match self.images_per_second > 0.0 {
                true => {
                    let seconds = remaining as f64 * config.batch_size as f64 / self.images_per_second;
                    humantime::format_duration(Duration::from_secs(seconds as u64)).to_string()
                }
                false => "unknown".to_owned(),
            };
            info!("step {}  {message}  ETA {eta}", state.step);
            self.last_line_time = Instant::now();
        }

        // Lines fall on multiples of log_every, so a resumed run logs the same steps as an
        // uninterrupted one.
        if state.step % config.log_every != 0 {
            return None;
        }
        let elapsed = self.last_log_time.elapsed().as_secs_f64().max(1e-9);
        self.images_per_second = ((state.step - self.last_log_step) * config.batch_size as u64) as f64 / elapsed;
        self.last_log_step = state.step;
        self.last_log_time = Instant::now();
        Some(StepMetrics {
            step: state.step,
            epoch,
            images_seen: state.images_seen,
            loss_d: stats.loss_d,
            loss_g: stats.loss_g,
            d_real: stats.d_real,
            d_fake: stats.d_fake,
            images_per_second: self.images_per_second,
        })
    }

    /// Runs `work` with the bar hidden and leaves its duration out of the next throughput
    /// figure, so an evaluation between steps does not show as slow training.
    pub fn pause<T>(&mut self, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = match &self.bar {
            Some(bar) => bar.suspend(work),
            None => work(),
        };
        self.last_log_time += started.elapsed();
        result
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
