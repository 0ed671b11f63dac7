//! `docs/CLI.md`'s command tree, written from the real command tree so it can never miss a
//! command or show a flag that is gone. A test compares the page with it;
//! `AIGNOSTICS_UPDATE_CLI_DOC=1 cargo test -p aignostics-cli doc_tree` rewrites the page.

use clap::{Arg, ArgAction, Command};

/// Width the lines are wrapped at.
const WIDTH: usize = 100;

/// The tree: the root's usage, then one entry per command, nested as the commands are.
pub fn render(root: &Command) -> String {
    let globals: Vec<String> = root
        .get_arguments()
        .filter(|a| a.is_global_set() && !a.is_hide_set())
        .map(|a| format!("[{}]", usage_of(a)))
        .collect();
    let mut out = format!("aignostics {} COMMAND\n", globals.join(" "));
    children(root, "", &mut out);
    out
}

fn children(cmd: &Command, indent: &str, out: &mut String) {
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|c| c.get_name() != "help" && !c.is_hide_set())
        .collect();
    for (i, sub) in subs.iter().enumerate() {
        let last = i + 1 == subs.len();
        let (branch, deeper) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let words: Vec<String> = std::iter::once(sub.get_name().to_string())
            .chain(
                sub.get_arguments()
                    .filter(|a| !a.is_global_set() && !a.is_hide_set())
                    .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
                    .map(|a| {
                        if a.is_required_set() {
                            usage_of(a)
                        } else {
                            format!("[{}]", usage_of(a))
                        }
                    }),
            )
            .collect();
        let child_indent = format!("{indent}{deeper}");
        // Continuation lines sit under the command's name, past the tree's own lines.
        let more = if sub.get_subcommands().next().is_some() {
            "│   "
        } else {
            "    "
        };
        wrap(
            &format!("{indent}{branch}"),
            &format!("{child_indent}{more}"),
            &words,
            out,
        );
        children(sub, &child_indent, out);
    }
}

/// `words` on lines of at most [`WIDTH`] characters: the first after `first`, the rest after
/// `rest`.
fn wrap(first: &str, rest: &str, words: &[String], out: &mut String) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in words {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = format!("{rest}  ");
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// How an argument is written: `NAME` (`NAME...`) for a positional, `--flag`, or
/// `--flag VALUE`.
fn usage_of(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map(ToString::to_string)
        .unwrap_or_else(|| arg.get_id().as_str().to_ascii_uppercase());
    let many = (matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1))
        && !value.ends_with("...");
    let dots = if many { "..." } else { "" };
    match arg.get_long() {
        None => format!("{value}{dots}"),
        Some(long) if !arg.get_action().takes_values() => format!("--{long}"),
        Some(long) => format!("--{long} {value}{dots}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page, and the part of it between the markers.
    fn page() -> (std::path::PathBuf, String) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CLI.md");
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    }

    const START: &str = "<!-- command tree: generated, see cli/src/doc_tree.rs -->\n```text\n";
    const END: &str = "```\n<!-- end of command tree -->";

    // Proves docs/CLI.md's command tree is the real one: every command, subcommand,
    // positional argument and flag, and nothing else. (FR-45)
    #[test]
    fn doc_tree_matches_the_commands() {
        let tree = render(&crate::args::Cli::command_tree());
        let (path, text) = page();
        let start = text.find(START).expect("the tree's start marker") + START.len();
        let end = start + text[start..].find(END).expect("the tree's end marker");
        if std::env::var_os("AIGNOSTICS_UPDATE_CLI_DOC").is_some() {
            std::fs::write(&path, format!("{}{tree}{}", &text[..start], &text[end..])).unwrap();
            return;
        }
        assert_eq!(
            text[start..end],
            tree,
            "docs/CLI.md's command tree is stale: run AIGNOSTICS_UPDATE_CLI_DOC=1 cargo test -p \
             aignostics-cli doc_tree"
        );
        for must in [
            "runs prepare",
            "slides",
            "bucket",
            "health",
            "--example-slides",
            "--slides",
        ] {
            let last = must.split(' ').next_back().unwrap();
            assert!(tree.contains(last), "{must} in\n{tree}");
        }
    }
}
