//! `kao report` arguments.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::report::write_report;

/// Compare training runs on one Markdown page. It shows a summary table, each run's losses
/// over steps and FID and KID over epochs (from `kao train --eval-every`). It also shows the
/// sample grids at the epochs each run keeps (--keep-epochs) and at its newest epoch, side by
/// side. Writes OUTPUT/report.md
/// and its PNG files; an earlier report in OUTPUT is replaced.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run folders (the --output of `kao train`), in the order of the report's columns.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Report folder [default: RUN/report when one run is given].
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let output = match (&args.output, args.runs.as_slice()) {
        (Some(output), _) => output.clone(),
        (None, [run]) => run.join("report"),
        (None, _) => bail!("{} runs were given; pass --output to say where their shared report goes", args.runs.len()),
    };
    let page = write_report(&args.runs, &output)?;
    println!("wrote {}", page.display());
    Ok(())
}
