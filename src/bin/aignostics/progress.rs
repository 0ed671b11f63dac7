//! Progress of `runs wait` and `runs download` on stderr: indicatif bars when stderr is a
//! terminal, otherwise one line per change (readable in CI logs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use aignostics::DownloadEvent;
use aignostics::models::RunReadResponse;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::context::{Ctx, note};

fn bar(template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Finished / total items and the status word of a run.
fn run_counts(run: &RunReadResponse) -> (u64, u64) {
    let s = &run.statistics;
    let done = s.item_succeeded_count
        + s.item_user_error_count
        + s.item_system_error_count
        + s.item_skipped_count;
    (done.max(0) as u64, s.item_count.max(0) as u64)
}

/// Follows a run's state while `Run::wait` polls it.
pub struct WaitProgress {
    bar: Option<ProgressBar>,
    last: Mutex<String>,
}

impl WaitProgress {
    pub fn new(ctx: &Ctx) -> Self {
        Self {
            bar: ctx
                .interactive
                .then(|| bar("{spinner} {msg:<12} [{bar:30}] {pos}/{len} items ({elapsed})")),
            last: Mutex::new(String::new()),
        }
    }

    pub fn update(&self, run: &RunReadResponse) {
        let (done, total) = run_counts(run);
        let status = run.status().as_str();
        match &self.bar {
            Some(bar) => {
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(done);
                bar.set_message(status);
            }
            None => {
                let line = format!(
                    "run {}: {status} {done}/{total} items ({:.0}%)",
                    run.run_id,
                    run.progress()
                );
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if *last != line {
                    note!("{line}");
                    *last = line;
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Bytes of every artifact file seen so far: received and (when known) total.
#[derive(Default)]
struct Transfers {
    files: HashMap<PathBuf, (u64, Option<u64>)>,
    finished: usize,
}

/// Follows the events of `Run::download_to`.
pub struct DownloadProgress {
    bar: Option<ProgressBar>,
    transfers: Mutex<Transfers>,
}

impl DownloadProgress {
    pub fn new(ctx: &Ctx) -> Self {
        Self {
            bar: ctx
                .interactive
                .then(|| bar("{spinner} [{bar:30}] {bytes}/{total_bytes} {msg} ({elapsed})")),
            transfers: Mutex::new(Transfers::default()),
        }
    }

    pub fn event(&self, event: &DownloadEvent) {
        let mut t = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            DownloadEvent::Started { path, total } => {
                let entry = t.files.entry(path.clone()).or_insert((0, *total));
                entry.1 = *total;
            }
            DownloadEvent::Bytes {
                path,
                received,
                total,
            } => {
                t.files.insert(path.clone(), (*received, *total));
            }
            DownloadEvent::Finished { path, bytes } => {
                t.files.insert(path.clone(), (*bytes, Some(*bytes)));
                t.finished += 1;
                self.line(format!("downloaded {} ({bytes} bytes)", path.display()));
            }
            DownloadEvent::Skipped { path } => {
                self.line(format!("already there: {}", path.display()));
            }
            DownloadEvent::Failed { path, error } => {
                self.line(format!("failed: {}: {error}", path.display()));
            }
            _ => {}
        }
        if let Some(bar) = &self.bar {
            let total: u64 = t.files.values().filter_map(|(_, total)| *total).sum();
            let received: u64 = t.files.values().map(|(received, _)| *received).sum();
            // Until a size is known the bar stays empty rather than looking complete.
            if total.max(received) > 0 {
                bar.set_length(total.max(received));
            }
            bar.set_position(received);
            bar.set_message(format!("{} files", t.finished));
        }
    }

    /// A line on stderr: above the bar on a terminal (failures only), as is otherwise.
    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) if text.starts_with("failed") => bar.println(text),
            Some(_) => {}
            None => note!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
