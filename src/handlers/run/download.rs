//! [`Run::download_to`]: the entry of the download engine (see `crate::download`).

use std::path::Path;

use super::Run;
use crate::download::{DownloadOptions, DownloadReport, download_run};
use crate::error::Result;

impl Run {
    /// Downloads every result of the run into `dir/{run_id}/{external_id}/{artifact name}{ext}`
    /// and returns what happened; per-artifact failures are in the report, not an error.
    ///
    /// - `dir` must exist and be a directory.
    /// - Names are sanitised into single path components (no separators, `.`/`..`, control or
    ///   Windows-reserved characters or device names), so external ids like `../../x` stay
    ///   inside `dir`. Names that collide after sanitising, even only by case, get a short
    ///   hash suffix, so two artifacts never share a file.
    /// - The extension follows the artifact's MIME type (`metadata.media_type`, else
    ///   `mime_type`): `.png`, `.tiff`, `.parquet`, `.json` (JSON and GeoJSON), `.csv`, else
    ///   `.bin`.
    /// - Like the Python SDK, only items that are `TERMINATED` with output `FULL` are
    ///   downloaded, and of those only artifacts whose output is `AVAILABLE`. Items that
    ///   terminated without output are listed in [`DownloadReport::failed_items`]; deleted
    ///   artifacts and artifacts without checksum metadata in [`DownloadReport::failed`].
    /// - Every file is verified against its published CRC32C before it appears under its
    ///   final name; existing verified files are skipped without any request, so calling
    ///   again after an interruption only fetches what is missing, resuming partial files.
    /// - By default the call waits for the run and downloads items as they finish, polling
    ///   the run and its items without the cache; see [`DownloadOptions`].
    ///
    /// Errors: an invalid `dir`, a failure reading the run or its items (after retries), or
    /// [`Error::Timeout`](crate::Error::Timeout) when [`DownloadOptions::timeout`] expires before the run terminates.
    /// Files completed before such an error stay on disk and are skipped next time.
    ///
    /// The bearer token is only sent to the platform, never to the storage host; each
    /// download uses a fresh signed URL, asks for `Accept-Encoding: identity`, and reads the
    /// body in bounded chunks, so memory stays constant whatever the artifact size.
    ///
    /// ```no_run
    /// use aignostics::DownloadOptions;
    /// # let client = aignostics::Client::new()?;
    /// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    /// let report = run.download_to("results", &DownloadOptions::default())?;
    /// println!("{} new files, {} bytes", report.downloaded.len(), report.bytes);
    /// for failure in &report.failed {
    ///     eprintln!("{}: {}", failure.path.display(), failure.error);
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn download_to(
        &self,
        dir: impl AsRef<Path>,
        options: &DownloadOptions,
    ) -> Result<DownloadReport> {
        download_run(self, dir.as_ref(), options)
    }
}
