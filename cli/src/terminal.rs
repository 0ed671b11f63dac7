//! What reaches the terminal: server strings made harmless, and `--quiet`.
//!
//! Text from the platform (external ids, error messages, names) is printed in tables, notes
//! and errors. A control character in it (an escape sequence setting the clipboard through
//! OSC 52, moving the cursor, clearing the screen, or bidirectional overrides that reorder
//! what is shown) would act on the user's terminal instead of being shown. Human output
//! therefore shows every such character as a visible escape (`\u{1b}`); `--json` output is
//! exact, since JSON encodes control characters itself.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Turns notes and progress off (`--quiet`); errors are still printed.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Which line breaks may pass through unescaped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// None: a table cell stays on its line.
    Nothing,
    /// `\n` (and `\t`): multi-line text such as a changelog or a whole report.
    Lines,
}

/// Characters that change what a terminal does or shows rather than being shown: C0 and C1
/// controls, DEL, and the bidirectional embedding, override and isolate characters.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character replaced by its visible escape.
pub fn escape(text: &str, keep: Keep) -> Cow<'_, str> {
    let kept = |c: char| keep == Keep::Lines && matches!(c, '\n' | '\t');
    if !text.chars().any(|c| is_unsafe(c) && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) && !kept(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A message for the person at the terminal: on stderr (stdout stays parseable), escaped,
/// and not at all with `--quiet`.
pub fn note(text: &str) {
    if !quiet() {
        eprintln!("{}", escape(text, Keep::Lines));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Proves escape sequences (OSC 52 clipboard, cursor movement), carriage returns and bidi
    // overrides are shown as escapes, while ordinary text, including non-ASCII, is untouched
    // (FR-78).
    #[test]
    fn control_characters_are_shown_not_sent() {
        let osc52 = "slide\u{1b}]52;c;SGVsbG8=\u{7}";
        assert_eq!(
            escape(osc52, Keep::Nothing),
            "slide\\u{1b}]52;c;SGVsbG8=\\u{7}"
        );
        assert_eq!(escape("a\u{1b}[2Jb\rc", Keep::Lines), "a\\u{1b}[2Jb\\u{d}c");
        assert_eq!(escape("x\u{202e}y", Keep::Lines), "x\\u{202e}y");
        assert_eq!(escape("a\nb", Keep::Nothing), "a\\u{a}b");
        assert_eq!(escape("a\nb\tc", Keep::Lines), "a\nb\tc");
        assert!(matches!(
            escape("Zürich 東京", Keep::Nothing),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape("\u{9b}31m", Keep::Lines), "\\u{9b}31m");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        // Proves no input, however hostile, leaves a control character in escaped text (FR-78).
        #[test]
        fn escaped_text_has_no_control_characters(text in any::<String>()) {
            let cell = escape(&text, Keep::Nothing);
            prop_assert!(!cell.chars().any(is_unsafe));
            let lines = escape(&text, Keep::Lines);
            prop_assert!(!lines.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'));
        }
    }
}
