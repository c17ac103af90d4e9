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
