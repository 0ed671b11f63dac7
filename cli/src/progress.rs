//! Progress of uploads, `runs wait` and `runs download` on stderr: indicatif bars when stderr
//! is a terminal, otherwise one line per change (readable in CI logs); nothing with `--quiet`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use aignostics::DownloadEvent;
use aignostics::models::RunReadResponse;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::context::{Ctx, note};
use crate::terminal::{Keep, escape};

fn bar(template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The bytes of the upload in flight, as a bar on a terminal; lines (one per finished upload,
/// from [`line`](Self::line)) everywhere.
pub struct UploadBar {
    bar: Mutex<Option<ProgressBar>>,
    interactive: bool,
}

impl UploadBar {
    pub fn new(ctx: &Ctx) -> Self {
        Self {
            bar: Mutex::new(None),
            interactive: ctx.interactive,
        }
    }

    /// `label` has `done` of `total` bytes stored.
    pub fn update(&self, label: &str, done: u64, total: u64) {
        if !self.interactive {
            return;
        }
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let bar = slot.get_or_insert_with(|| {
            bar("{spinner} [{bar:30}] {bytes}/{total_bytes} {msg} ({binary_bytes_per_sec})")
        });
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(escape(label, Keep::Nothing).into_owned());
    }

    /// A finished upload's one line, above the bar.
    pub fn line(&self, text: &str) {
        match &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(bar) => bar.println(escape(text, Keep::Nothing)),
            None => note!("{text}"),
        }
    }

    /// Removes the bar (before other output).
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
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
        let (done, total) = run.items_finished();
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

/// What is known of a download so far.
#[derive(Default)]
struct Transfers {
    /// Bytes of every artifact file seen so far: received and (when known) total.
    files: HashMap<PathBuf, (u64, Option<u64>)>,
    finished: u64,
    /// Items finished / total, and whether the run has terminated (no more files to come).
    items: Option<(u64, u64, bool)>,
    last_line: String,
}

impl Transfers {
    /// "3/6 items finished · 5 files, 768 KiB so far (more as items finish)".
    fn summary(&self) -> String {
        let received = self
            .files
            .values()
            .map(|(received, _)| *received)
            .fold(0u64, u64::saturating_add);
        let files = if self.finished == 1 { "file" } else { "files" };
        let bytes = format!("{} {files}, {}", self.finished, HumanBytes(received));
        match self.items {
            Some((done, total, false)) => {
                format!("{done}/{total} items finished · {bytes} so far (more as items finish)")
            }
            Some((done, total, true)) => format!("{done}/{total} items finished · {bytes}"),
            None => bytes,
        }
    }
}

/// Follows the events of `Run::download_to`, and the run's item counts.
pub struct DownloadProgress {
    bar: Option<ProgressBar>,
    run_id: String,
    transfers: Mutex<Transfers>,
}

impl DownloadProgress {
    pub fn new(ctx: &Ctx, run_id: &str) -> Self {
        Self {
            bar: ctx
                .interactive
                .then(|| bar("{spinner} [{bar:30}] {msg} ({elapsed})")),
            run_id: run_id.to_string(),
            transfers: Mutex::new(Transfers::default()),
        }
    }

    /// The run's item counts changed (or were looked at again).
    pub fn items(&self, done: u64, total: u64, terminated: bool) {
        let mut t = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        t.items = Some((done, total, terminated));
        self.show(&mut t);
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
                t.finished = t.finished.saturating_add(1);
                if self.bar.is_none() {
                    note!("downloaded {} ({bytes} bytes)", path.display());
                }
            }
            DownloadEvent::Skipped { path } if self.bar.is_none() => {
                note!("already there: {}", path.display());
            }
            // Failures are summed up once, when the download has ended.
            _ => {}
        }
        self.show(&mut t);
    }

    /// The bar (items done of total) and its message, or a line when the item counts change.
    fn show(&self, t: &mut Transfers) {
        match &self.bar {
            Some(bar) => {
                if let Some((done, total, _)) = t.items {
                    bar.set_length(total.max(1));
                    bar.set_position(done);
                }
                bar.set_message(escape(&t.summary(), Keep::Nothing).into_owned());
            }
            None => {
                let Some((done, total, _)) = t.items else {
                    return;
                };
                let line = format!("run {}: {done}/{total} items finished", self.run_id);
                if t.last_line != line {
                    note!("{line}");
                    t.last_line = line;
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

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the summary names items done of total and says that more bytes are to come
    // until the run has terminated (FR-73).
    #[test]
    fn summary_shows_items_and_growing_total() {
        let mut t = Transfers::default();
        t.files.insert("a".into(), (786_432, Some(786_432)));
        t.finished = 3;
        t.items = Some((1, 6, false));
        assert_eq!(
            t.summary(),
            "1/6 items finished · 3 files, 768.00 KiB so far (more as items finish)"
        );
        t.items = Some((6, 6, true));
        assert_eq!(t.summary(), "6/6 items finished · 3 files, 768.00 KiB");
    }
}
