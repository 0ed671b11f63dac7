//! Ctrl-C: a long command says what goes on without it and how to resume, then exits 130 (the
//! shell's status for SIGINT). Runs live on the platform, and every transfer resumes, so
//! stopping is always safe; the user is told so instead of being left guessing.

use std::sync::{Mutex, Once};

/// What an interruption leaves behind, as the running command last described it.
static LEFT_BEHIND: Mutex<Option<String>> = Mutex::new(None);

/// The exit status of an interrupted command.
pub const INTERRUPTED: u8 = 130;

/// Installs the handler. Without a handler (another one installed, an unsupported platform)
/// Ctrl-C ends the process as usual.
fn install() {
    let _ = ctrlc::set_handler(|| {
        let left = LEFT_BEHIND
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // After a progress bar's line: start a fresh one.
        match left {
            Some(left) => eprintln!("\ninterrupted: {left}"),
            None => eprintln!("\ninterrupted"),
        }
        std::process::exit(i32::from(INTERRUPTED));
    });
}

/// Describes what an interruption from now on leaves behind and how to resume it. The handler
/// is installed on the first call, so short commands start with no extra thread.
pub fn leaves(text: impl Into<String>) {
    static INSTALLED: Once = Once::new();
    *LEFT_BEHIND.lock().unwrap_or_else(|p| p.into_inner()) = Some(text.into());
    INSTALLED.call_once(install);
}
