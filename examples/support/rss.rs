//! The resident set of this process, for the examples that print memory curves.

/// The resident set of this process in KiB (0 where `/proc` is not there).
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// The peak resident set of this process in KiB (0 where `/proc` is not there).
#[allow(dead_code)]
pub fn peak_kib() -> u64 {
    status_kib("VmHWM:")
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
