//! What a run or item state means for a person: one status word, a progress percentage, and
//! whether results can be downloaded. Derived exactly as the TypeScript SDK derives them.
//!
//! ```
//! use aignostics::{RunStatus, run_progress, run_status};
//! # let run: aignostics::models::RunReadResponse = serde_json::from_value(serde_json::json!({
//! #   "run_id": "r", "application_id": "he-tme", "version_number": "1.0.0", "state": "PROCESSING",
//! #   "output": "NONE", "submitted_at": "", "submitted_by": "",
//! #   "statistics": {"item_count": 4, "item_pending_count": 1, "item_processing_count": 1,
//! #     "item_user_error_count": 0, "item_system_error_count": 0, "item_skipped_count": 0,
//! #     "item_succeeded_count": 2}})).unwrap();
//! assert_eq!(run_status(&run), RunStatus::Processing);
//! assert_eq!(run_progress(&run), 50.0);
//! ```

use std::fmt;

use crate::models::{ItemResultReadResponse, ItemState, RunOutput, RunReadResponse, RunState};

/// The status of a run as shown to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Waiting for items to be processed (`PENDING`).
    Pending,
    /// Items are being processed (`PROCESSING`).
    Processing,
    /// Finished and every item succeeded (`COMPLETED`).
    Completed,
    /// Finished and some, not all, items succeeded (`COMPLETED_WITH_ERRORS`).
    CompletedWithErrors,
    /// Cancelled by the user (`CANCELED`).
    Canceled,
    /// Finished with no successful item (`FAILED`).
    Failed,
    /// A state this crate cannot interpret (`UNKNOWN`).
    Unknown,
}

impl RunStatus {
    /// The status word: `PENDING`, `PROCESSING`, `COMPLETED`, `COMPLETED_WITH_ERRORS`,
    /// `CANCELED`, `FAILED` or `UNKNOWN`.
    ///
    /// ```
    /// assert_eq!(aignostics::RunStatus::CompletedWithErrors.as_str(), "COMPLETED_WITH_ERRORS");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            Self::Canceled => "CANCELED",
            Self::Failed => "FAILED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of an item as shown to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemStatus {
    /// Waiting to be processed (`PENDING`).
    Pending,
    /// Being processed (`PROCESSING`).
    Processing,
    /// Processed successfully (`COMPLETED`).
    Completed,
    /// Ended with an error or was cancelled (`FAILED`).
    Failed,
    /// Not processed (`SKIPPED`).
    Skipped,
    /// A state this crate cannot interpret (`UNKNOWN`).
    Unknown,
}

impl ItemStatus {
    /// The status word: `PENDING`, `PROCESSING`, `COMPLETED`, `FAILED`, `SKIPPED` or `UNKNOWN`.
    ///
    /// ```
    /// assert_eq!(aignostics::ItemStatus::Skipped.as_str(), "SKIPPED");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Skipped => "SKIPPED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Item termination reasons that count as a failure.
pub const ERROR_TERMINATION_REASONS: [&str; 4] = [
    "CANCELED_BY_SYSTEM",
    "CANCELED_BY_USER",
    "SYSTEM_ERROR",
    "USER_ERROR",
];

/// The status of a run: `PENDING` and `PROCESSING` as they are; a terminated run is
/// `CANCELED` when the user cancelled it, otherwise `COMPLETED` (full output),
/// `COMPLETED_WITH_ERRORS` (partial output) or `FAILED` (no output); anything else `UNKNOWN`.
///
/// ```
/// # use aignostics::{run_status, RunStatus};
/// # fn show(run: &aignostics::models::RunReadResponse) {
/// if run_status(run) == RunStatus::Completed {
///     println!("all items succeeded");
/// }
/// # }
/// ```
pub fn run_status(run: &RunReadResponse) -> RunStatus {
    match &run.state {
        RunState::Pending => RunStatus::Pending,
        RunState::Processing => RunStatus::Processing,
        RunState::Terminated => match run.termination_reason.as_ref().map(|r| r.as_str()) {
            Some("CANCELED_BY_USER") => RunStatus::Canceled,
            Some("CANCELED_BY_SYSTEM" | "ALL_ITEMS_PROCESSED") => match &run.output {
                RunOutput::None => RunStatus::Failed,
                RunOutput::Partial => RunStatus::CompletedWithErrors,
                RunOutput::Full => RunStatus::Completed,
                _ => RunStatus::Unknown,
            },
            _ => RunStatus::Unknown,
        },
        _ => RunStatus::Unknown,
    }
}

/// The share of a run's items that finished (succeeded, failed or skipped), in percent (0 to
/// 100, not rounded); 0 for a run without items.
///
/// ```
/// # fn show(run: &aignostics::models::RunReadResponse) {
/// println!("{:.0}% done", aignostics::run_progress(run));
/// # }
/// ```
pub fn run_progress(run: &RunReadResponse) -> f64 {
    // Counts come from the server: `items_finished` saturates them and the ratio is clamped
    // to 0-100, so nonsense such as negative or oversized counts still gives a percentage.
    let (done, total) = run.items_finished();
    if total == 0 {
        return 0.0;
    }
    (done as f64 / total as f64 * 100.0).clamp(0.0, 100.0)
}

/// Whether a run's item results can be downloaded: its status is `COMPLETED` or
/// `COMPLETED_WITH_ERRORS`.
///
/// ```
/// # fn show(run: &aignostics::models::RunReadResponse) {
/// if aignostics::can_download_run_items(run) {
///     println!("results ready");
/// }
/// # }
/// ```
pub fn can_download_run_items(run: &RunReadResponse) -> bool {
    matches!(
        run_status(run),
        RunStatus::Completed | RunStatus::CompletedWithErrors
    )
}

/// The status of an item: `PENDING` and `PROCESSING` as they are; a terminated item is
/// `COMPLETED` (succeeded), `SKIPPED`, `FAILED` (an error or cancellation reason) or `UNKNOWN`
/// (no or an unknown reason); an unknown state is `UNKNOWN`.
///
/// ```
/// # fn show(item: &aignostics::models::ItemResultReadResponse) {
/// println!("{}: {}", item.external_id, aignostics::item_status(item));
/// # }
/// ```
pub fn item_status(item: &ItemResultReadResponse) -> ItemStatus {
    match &item.state {
        ItemState::Pending => ItemStatus::Pending,
        ItemState::Processing => ItemStatus::Processing,
        ItemState::Terminated => match item.termination_reason.as_ref().map(|r| r.as_str()) {
            None => ItemStatus::Unknown,
            Some(reason) if ERROR_TERMINATION_REASONS.contains(&reason) => ItemStatus::Failed,
            Some("SKIPPED") => ItemStatus::Skipped,
            Some("SUCCEEDED") => ItemStatus::Completed,
            Some(_) => ItemStatus::Unknown,
        },
        _ => ItemStatus::Unknown,
    }
}

/// Whether an item's results can be downloaded: its status is not `PENDING`, `PROCESSING`,
/// `FAILED` or `SKIPPED` (so `UNKNOWN` counts as downloadable, as in the TypeScript SDK).
///
/// ```
/// # fn show(item: &aignostics::models::ItemResultReadResponse) {
/// if aignostics::can_download_item(item) {
///     println!("{} is ready", item.external_id);
/// }
/// # }
/// ```
pub fn can_download_item(item: &ItemResultReadResponse) -> bool {
    !matches!(
        item_status(item),
        ItemStatus::Pending | ItemStatus::Processing | ItemStatus::Failed | ItemStatus::Skipped
    )
}

impl RunReadResponse {
    /// This run's [`RunStatus`]; see [`run_status`].
    ///
    /// ```
    /// # fn show(run: &aignostics::models::RunReadResponse) {
    /// println!("{}", run.status());
    /// # }
    /// ```
    pub fn status(&self) -> RunStatus {
        run_status(self)
    }

    /// This run's progress in percent; see [`run_progress`].
    ///
    /// ```
    /// # fn show(run: &aignostics::models::RunReadResponse) {
    /// println!("{:.1}%", run.progress());
    /// # }
    /// ```
    pub fn progress(&self) -> f64 {
        run_progress(self)
    }

    /// Finished items (succeeded, failed or skipped) and all items of this run, from the
    /// server's counts: summed without overflow, never negative.
    ///
    /// ```
    /// # fn show(run: &aignostics::models::RunReadResponse) {
    /// let (done, total) = run.items_finished();
    /// println!("{done}/{total} items finished");
    /// # }
    /// ```
    pub fn items_finished(&self) -> (u64, u64) {
        let s = &self.statistics;
        let done = [
            s.item_succeeded_count,
            s.item_user_error_count,
            s.item_system_error_count,
            s.item_skipped_count,
        ]
        .into_iter()
        .map(|n| n.max(0) as u64)
        .fold(0u64, u64::saturating_add);
        (done, s.item_count.max(0) as u64)
    }

    /// Whether this run's item results can be downloaded; see [`can_download_run_items`].
    ///
    /// ```
    /// # fn show(run: &aignostics::models::RunReadResponse) {
    /// let ready = run.can_download_items();
    /// # }
    /// ```
    pub fn can_download_items(&self) -> bool {
        can_download_run_items(self)
    }
}

impl ItemResultReadResponse {
    /// This item's [`ItemStatus`]; see [`item_status`].
    ///
    /// ```
    /// # fn show(item: &aignostics::models::ItemResultReadResponse) {
    /// println!("{}", item.status());
    /// # }
    /// ```
    pub fn status(&self) -> ItemStatus {
        item_status(self)
    }

    /// Whether this item's results can be downloaded; see [`can_download_item`].
    ///
    /// ```
    /// # fn show(item: &aignostics::models::ItemResultReadResponse) {
    /// let ready = item.can_download();
    /// # }
    /// ```
    pub fn can_download(&self) -> bool {
        can_download_item(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(state: &str, reason: Option<&str>, output: &str, stats: [i64; 5]) -> RunReadResponse {
        let [count, succeeded, user_error, system_error, skipped] = stats;
        serde_json::from_value(json!({
            "run_id": "r", "application_id": "a", "version_number": "1.0.0",
            "state": state, "termination_reason": reason, "output": output,
            "submitted_at": "", "submitted_by": "",
            "statistics": {
                "item_count": count, "item_pending_count": 0, "item_processing_count": 0,
                "item_user_error_count": user_error, "item_system_error_count": system_error,
                "item_skipped_count": skipped, "item_succeeded_count": succeeded
            }
        }))
        .unwrap()
    }

    fn item(state: &str, reason: Option<&str>) -> ItemResultReadResponse {
        serde_json::from_value(json!({
            "item_id": "i", "external_id": "e", "state": state, "termination_reason": reason,
            "output": "NONE", "input_artifacts": [], "output_artifacts": []
        }))
        .unwrap()
    }

    // Proves a run's item counts from the server (overflowing in sum, negative) are summed
    // saturating and never negative, so no count can crash a caller. (FR-35, FR-78, NFR-13)
    #[test]
    fn hostile_item_counts_saturate() {
        assert_eq!(
            run("PROCESSING", None, "NONE", [3, 1, 1, 0, 0]).items_finished(),
            (2, 3)
        );
        let mut hostile = run("PROCESSING", None, "NONE", [-1, i64::MAX, i64::MAX, -5, 0]);
        hostile.statistics.item_skipped_count = i64::MAX;
        assert_eq!(hostile.items_finished(), (u64::MAX, 0));
    }

    // Proves every run state/reason/output combination maps as the TypeScript SDK maps it. (FR-35)
    #[test]
    fn run_status_table() {
        let z = [0; 5];
        let cases = [
            ("PENDING", None, "NONE", RunStatus::Pending),
            ("PROCESSING", None, "PARTIAL", RunStatus::Processing),
            (
                "TERMINATED",
                Some("CANCELED_BY_USER"),
                "FULL",
                RunStatus::Canceled,
            ),
            (
                "TERMINATED",
                Some("ALL_ITEMS_PROCESSED"),
                "NONE",
                RunStatus::Failed,
            ),
            (
                "TERMINATED",
                Some("ALL_ITEMS_PROCESSED"),
                "PARTIAL",
                RunStatus::CompletedWithErrors,
            ),
            (
                "TERMINATED",
                Some("ALL_ITEMS_PROCESSED"),
                "FULL",
                RunStatus::Completed,
            ),
            (
                "TERMINATED",
                Some("CANCELED_BY_SYSTEM"),
                "PARTIAL",
                RunStatus::CompletedWithErrors,
            ),
            (
                "TERMINATED",
                Some("CANCELED_BY_SYSTEM"),
                "NONE",
                RunStatus::Failed,
            ),
            (
                "TERMINATED",
                Some("ALL_ITEMS_PROCESSED"),
                "SOMETHING",
                RunStatus::Unknown,
            ),
            ("TERMINATED", None, "FULL", RunStatus::Unknown),
            ("TERMINATED", Some("NEW_REASON"), "FULL", RunStatus::Unknown),
            ("PAUSED", None, "NONE", RunStatus::Unknown),
        ];
        for (state, reason, output, expected) in cases {
            let r = run(state, reason, output, z);
            assert_eq!(run_status(&r), expected, "{state} {reason:?} {output}");
            assert_eq!(
                can_download_run_items(&r),
                matches!(
                    expected,
                    RunStatus::Completed | RunStatus::CompletedWithErrors
                )
            );
        }
    }

    // Proves progress counts every finished item and is 0 for an empty run. (FR-35)
    #[test]
    fn progress() {
        assert_eq!(run_progress(&run("PENDING", None, "NONE", [0; 5])), 0.0);
        let r = run("PROCESSING", None, "NONE", [8, 1, 1, 1, 1]);
        assert_eq!(run_progress(&r), 50.0);
        assert_eq!(r.progress(), 50.0);
        let r = run("PROCESSING", None, "NONE", [3, 1, 0, 0, 0]);
        assert!((run_progress(&r) - 100.0 / 3.0).abs() < 1e-9);
        let r = run("PROCESSING", None, "NONE", [4, 0, 1, 1, 1]);
        assert_eq!(
            run_progress(&r),
            75.0,
            "user, system and skipped count as done"
        );
    }

    // Proves counts that overflow when summed, negative counts and more done than announced
    // give a percentage in 0-100 instead of a panic. (NFR-13)
    #[test]
    fn progress_of_hostile_counts() {
        let max = i64::MAX;
        for counts in [
            [max, max, max, max, max],
            [1, max, max, 0, 0],
            [10, -5, -5, 0, 0],
            [-3, 1, 1, 1, 1],
            [i64::MIN, max, 0, 0, 0],
        ] {
            let p = run_progress(&run("PROCESSING", None, "NONE", counts));
            assert!((0.0..=100.0).contains(&p), "{counts:?}: {p}");
        }
        assert_eq!(
            run_progress(&run("PROCESSING", None, "NONE", [1, max, max, 0, 0])),
            100.0
        );
    }

    // Proves every item state/reason maps as the TypeScript SDK maps it, UNKNOWN downloadable. (FR-35)
    #[test]
    fn item_status_table() {
        let cases = [
            ("PENDING", None, ItemStatus::Pending, false),
            ("PROCESSING", None, ItemStatus::Processing, false),
            ("TERMINATED", Some("SUCCEEDED"), ItemStatus::Completed, true),
            ("TERMINATED", Some("USER_ERROR"), ItemStatus::Failed, false),
            (
                "TERMINATED",
                Some("SYSTEM_ERROR"),
                ItemStatus::Failed,
                false,
            ),
            (
                "TERMINATED",
                Some("CANCELED_BY_USER"),
                ItemStatus::Failed,
                false,
            ),
            (
                "TERMINATED",
                Some("CANCELED_BY_SYSTEM"),
                ItemStatus::Failed,
                false,
            ),
            ("TERMINATED", Some("SKIPPED"), ItemStatus::Skipped, false),
            ("TERMINATED", None, ItemStatus::Unknown, true),
            ("TERMINATED", Some("NEW_REASON"), ItemStatus::Unknown, true),
            ("WEIRD", None, ItemStatus::Unknown, true),
        ];
        for (state, reason, expected, downloadable) in cases {
            let i = item(state, reason);
            assert_eq!(item_status(&i), expected, "{state} {reason:?}");
            assert_eq!(i.status(), expected);
            assert_eq!(can_download_item(&i), downloadable, "{state} {reason:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        // Proves any item counts give a progress between 0 and 100, never a panic. (NFR-16, NFR-13)
        #[test]
        fn progress_is_a_percentage(counts in proptest::prelude::any::<[i64; 5]>()) {
            let p = run_progress(&run("PROCESSING", None, "NONE", counts));
            proptest::prop_assert!((0.0..=100.0).contains(&p), "{:?}: {}", counts, p);
        }
    }
}
