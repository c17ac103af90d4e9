//! `kao report`: one Markdown page comparing training runs, with PNG plots of their losses,
//! FID and KID, and their sample grids at the epochs each run keeps.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::fsutil::{StagingDir, write_atomic};
use crate::plot::{Series, line_chart};
use crate::train::checkpoint::{self, TrainState};
use crate::train::metrics::{self, MetricsLog};

/// File name of the page inside the report folder.
pub const REPORT_FILE: &str = "report.md";

/// The parts of one run folder that the report shows.
pub struct RunSummary {
    /// Label in tables and legends: the run folder's name, made unique.
    pub name: String,
    pub folder: PathBuf,
    /// State of the newest checkpoint.
    pub state: TrainState,
    pub log: MetricsLog,
    /// Sample grids to show, as (epoch counted from 1, file), oldest first.
    pub grids: Vec<(u64, PathBuf)>,
}

impl RunSummary {
    /// Reads a run folder written by `kao train`.
    pub fn read(folder: &Path) -> Result<Self> {
        let (_, state) = checkpoint::newest_valid(folder)?.with_context(|| {
            format!("{} has no checkpoints; pass a run folder written by `kao train` (the --output of a run)", folder.display())
        })?;
        let log = metrics::read_log(folder)?;
        let grids = shown_grids(folder, &state.config.keep_epochs)?;
        let name = folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_owned())
            .file_name()
            .map(|name| file_safe(&name.to_string_lossy()))
            .unwrap_or_else(|| "run".to_owned());
        Ok(Self { name, folder: folder.to_owned(), state, log, grids })
    }

    /// Mean training throughput over the run's logged steps, in real images per second.
    fn images_per_second(&self) -> Option<f64> {
        let rates: Vec<f64> = self.log.steps.iter().map(|line| line.images_per_second).filter(|rate| *rate > 0.0).collect();
        (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
    }
}

/// Replaces characters that would break a Markdown link or a file name with `-`.
fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect()
}

/// Returns the end-of-epoch sample grids of the epochs in `keep_epochs`, plus the newest one.
fn shown_grids(folder: &Path, keep_epochs: &[u64]) -> Result<Vec<(u64, PathBuf)>> {
    let samples = folder.join("samples");
    let mut grids: Vec<(u64, PathBuf)> = match samples.is_dir() {
        true => std::fs::read_dir(&samples)
            .with_context(|| format!("failed to list {}", samples.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter_map(|path| epoch_of_grid(&path).map(|epoch| (epoch, path)))
            .collect(),
        false => Vec::new(),
    };
    grids.sort();
    let newest = grids.last().map(|(epoch, _)| *epoch);
    grids.retain(|(epoch, _)| keep_epochs.contains(epoch) || Some(*epoch) == newest);
    Ok(grids)
}

/// Parses the epoch of an end-of-epoch grid named `epoch-NNNN.png`; mid-epoch grids (which
/// also name a step) return `None`.
fn epoch_of_grid(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("epoch-")?.strip_suffix(".png")?.parse().ok()
}

/// Writes `output/report.md` with its plots and grids, replacing an earlier report there.
/// Returns the page's path.
pub fn write_report(run_folders: &[PathBuf], output: &Path) -> Result<PathBuf> {
    if run_folders.is_empty() {
        bail!("no run folders given; pass one or more --output folders of `kao train`");
    }
    let replace = output.join(REPORT_FILE).is_file();
    if output.exists() && !replace {
        bail!("{} exists and is not a kao report; choose another --output", output.display());
    }
    if replace {
        check_only_report_files(output)?;
    }
    let mut runs = run_folders.iter().map(|folder| RunSummary::read(folder)).collect::<Result<Vec<_>>>()?;
    make_names_unique(&mut runs);

    crate::fsutil::create_parent(output)?;
    let staging = StagingDir::beside(output)?;
    let page = render(&runs, staging.path())?;
    write_atomic(&staging.path().join(REPORT_FILE), page.as_bytes())?;
    staging.commit(output, replace)?;
    Ok(output.join(REPORT_FILE))
}

/// Fails when a folder with an earlier report also contains files the report did not write,
/// because replacing the report replaces the whole folder.
fn check_only_report_files(output: &Path) -> Result<()> {
    let entries = std::fs::read_dir(output).with_context(|| format!("failed to list {}", output.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let written_by_report = name == REPORT_FILE || name == "grids" || name.ends_with(".png");
        if !written_by_report {
            bail!(
                "{} contains {name}, which kao report did not write; move it away or choose another --output",
                output.display()
            );
        }
    }
    Ok(())
}

/// Appends `-2`, `-3` and so on to run names that repeat, since names become file names.
fn make_names_unique(runs: &mut [RunSummary]) {
    for index in 1..runs.len() {
        let mut name = runs[index].name.clone();
        let mut suffix = 2;
        while runs[..index].iter().any(|run| run.name == name) {
            name = format!("{}-{suffix}", runs[index].name);
            suffix += 1;
        }
        runs[index].name = name;
    }
}

/// Draws the plots and copies the grids into `folder`, and returns the Markdown page.
fn render(runs: &[RunSummary], folder: &Path) -> Result<String> {
    let mut page = String::from("# Training report\n\n");
    write_summary_table(&mut page, runs);
    page.push('\n');
    write_settings(&mut page, runs);

    page.push_str("\n## Losses\n\n");
    for run in runs {
        let file = format!("loss-{}.png", run.name);
        plot_losses(run, &folder.join(&file))?;
        writeln!(page, "![{} losses]({file})\n", run.name)?;
    }

    page.push_str("## FID and KID\n\n");
    if runs.iter().all(|run| run.log.evals.is_empty()) {
        page.push_str("No run logged an evaluation (train with `--eval-every EPOCHS` to add them).\n");
    } else {
        plot_scores(runs, folder)?;
        page.push_str("![FID over epochs](fid.png)\n\n![KID over epochs](kid.png)\n\n");
        write_scores_table(&mut page, runs);
    }

    page.push_str("\n## Samples\n\n");
    write_grids_table(&mut page, runs, folder)?;
    Ok(page)
}

fn write_summary_table(page: &mut String, runs: &[RunSummary]) {
    page.push_str("| run | arch | size | width | batch | epochs | steps | images seen | training time | images/s |\n");
    page.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for run in runs {
        let config = &run.state.config;
        let seconds = std::time::Duration::from_secs(run.state.train_seconds.round() as u64);
        let rate = run.images_per_second().map(|rate| format!("{rate:.1}")).unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(
            page,
            "| {} | {} | {} px | {} | {} | {} | {} | {} | {} | {rate} |",
            run.name,
            format!("{:?}", config.model.arch).to_lowercase(),
            config.model.resolution,
            config.model.channels,
            config.batch_size,
            epochs_done(&run.state),
            run.state.step,
            run.state.images_seen,
            humantime::format_duration(seconds),
        );
    }
}

/// Lists each run's folder, data and the training settings the summary table leaves out.
fn write_settings(page: &mut String, runs: &[RunSummary]) {
    for run in runs {
        let config = &run.state.config;
        let ema = config.ema_kimg.map(|kimg| format!("{kimg} kimg")).unwrap_or_else(|| "none".to_owned());
        let _ = writeln!(
            page,
            "- **{}**: `{}`, data `{}`; z of {}, lr {}, Adam betas ({}, {}), seed {}, flips {}, DiffAugment {}, \
             style mixing {}, EMA half-life {ema}, R1 gamma {}.",
            run.name,
            run.folder.display(),
            config.data.display(),
            config.model.latent_dim,
            config.lr,
            config.beta1,
            config.beta2,
            config.seed,
            on_off(config.flip),
            on_off(config.diffaugment),
            config.style_mixing,
            config.r1_gamma,
        );
    }
}

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

/// Describes how far a run got: complete epochs, plus the steps of an unfinished one.
fn epochs_done(state: &TrainState) -> String {
    match state.step_in_epoch {
        0 => state.epoch.to_string(),
        steps => format!("{} (+{steps} steps)", state.epoch),
    }
}

/// Writes one row per evaluated epoch and two columns (FID, KID) per run.
fn write_scores_table(page: &mut String, runs: &[RunSummary]) {
    let epochs = sorted_epochs(runs.iter().flat_map(|run| run.log.evals.iter().map(|line| line.epoch)));
    write_table_header(page, runs, &["FID", "KID"]);
    for epoch in epochs {
        let _ = write!(page, "| {epoch} |");
        for run in runs {
            match run.log.evals.iter().rev().find(|line| line.epoch == epoch) {
                Some(line) => {
                    let _ = write!(page, " {:.2} | {:.4} |", line.fid, line.kid);
                }
                None => page.push_str(" - | - |"),
            }
        }
        page.push('\n');
    }

    let describe = |run: &RunSummary| {
        let mut counts: Vec<(usize, usize)> = run.log.evals.iter().map(|line| (line.eval_samples, line.real_samples)).collect();
        counts.dedup();
        let counts: Vec<String> = counts.iter().map(|(generated, real)| format!("{generated} generated vs {real} training")).collect();
        (!counts.is_empty()).then(|| format!("{}: {}", run.name, counts.join(", then ")))
    };
    let counts: Vec<String> = runs.iter().filter_map(describe).collect();
    let _ = writeln!(
        page,
        "\nFaces scored per evaluation ({}). FID falls as the count grows, so compare runs scored at the same counts.",
        counts.join("; ")
    );
}

fn sorted_epochs(epochs: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut epochs: Vec<u64> = epochs.collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs
}

/// Writes the header of a table with an epoch column and, per run, one column for each of
/// `columns` (an empty name labels the column with the run alone).
fn write_table_header(page: &mut String, runs: &[RunSummary], columns: &[&str]) {
    page.push_str("| epoch |");
    for run in runs {
        for column in columns {
            let label = format!("{} {column}", run.name);
            let _ = write!(page, " {} |", label.trim_end());
        }
    }
    page.push_str("\n|---|");
    page.push_str(&"---|".repeat(runs.len() * columns.len()));
    page.push('\n');
}

/// Copies each shown grid into `folder/grids` and lays them out with one column per run.
fn write_grids_table(page: &mut String, runs: &[RunSummary], folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder.join("grids"))?;
    let epochs = sorted_epochs(runs.iter().flat_map(|run| run.grids.iter().map(|(epoch, _)| *epoch)));
    if epochs.is_empty() {
        page.push_str("No run has an end-of-epoch sample grid yet.\n");
        return Ok(());
    }

    write_table_header(page, runs, &[""]);
    for epoch in epochs {
        let _ = write!(page, "| {epoch} |");
        for run in runs {
            match run.grids.iter().find(|(grid_epoch, _)| *grid_epoch == epoch) {
                Some((_, source)) => {
                    let file = format!("grids/{}-epoch-{epoch:04}.png", run.name);
                    std::fs::copy(source, folder.join(&file))
                        .with_context(|| format!("failed to copy {}", source.display()))?;
                    let _ = write!(page, " ![{} epoch {epoch}]({file}) |", run.name);
                }
                None => page.push_str(" - |"),
            }
        }
        page.push('\n');
    }
    let _ = writeln!(page, "\nEach grid shows the same latents at every epoch of its run.");
    Ok(())
}

fn plot_losses(run: &RunSummary, path: &Path) -> Result<()> {
    let title = format!("{}: training losses", run.name);
    line_chart(path, &title, "step", "loss", &metrics::loss_series(&run.log.steps))
}

/// Draws `fid.png` and `kid.png` with one line per run over epochs.
fn plot_scores(runs: &[RunSummary], folder: &Path) -> Result<()> {
    let series = |score: fn(&metrics::EvalMetrics) -> f64| -> Vec<Series> {
        runs.iter()
            .map(|run| Series {
                label: run.name.clone(),
                points: run.log.evals.iter().map(|line| (line.epoch as f64, score(line))).collect(),
            })
            .collect()
    };
    line_chart(&folder.join("fid.png"), "FID (lower is better)", "epoch", "FID", &series(|line| line.fid))?;
    line_chart(&folder.join("kid.png"), "KID (lower is better)", "epoch", "KID", &series(|line| line.kid))
}
