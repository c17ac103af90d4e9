//! Progress bars for counted work; hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// Creates a bar for `total` items with a label, rate and ETA.
pub fn counter_bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} {bar:30} {pos}/{len}  {per_sec}  ETA {eta}").expect("valid template"),
    );
    bar.set_message(label.to_string());
    bar
}

/// Seconds between log lines when no bar can be shown.
const LOG_INTERVAL_SECONDS: f64 = 30.0;

/// Progress of counted work: a bar on a terminal, else a log line with rate and ETA every
/// 30 seconds, so runs in the background still show how far they are.
pub struct CountProgress {
    bar: ProgressBar,
    label: String,
    total: u64,
    started: std::time::Instant,
    last_log: std::time::Instant,
}

impl CountProgress {
    pub fn new(total: u64, label: &str) -> Self {
        let now = std::time::Instant::now();
        Self { bar: counter_bar(total, label), label: label.to_owned(), total, started: now, last_log: now }
    }

    /// Records that `done` items are finished.
    pub fn set(&mut self, done: u64) {
        self.bar.set_position(done);
        if !self.bar.is_hidden() || self.last_log.elapsed().as_secs_f64() < LOG_INTERVAL_SECONDS {
            return;
        }
        self.last_log = std::time::Instant::now();
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let eta = std::time::Duration::from_secs(((self.total - done.min(self.total)) as f64 / rate.max(1e-9)) as u64);
        tracing::info!("{}: {done}/{}  {rate:.1}/s  ETA {}", self.label, self.total, humantime::format_duration(eta));
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
