//! The command line about itself: refusing a wrong command (with a typo
//! hint worth following, and as JSON under `--json`), shell completions,
//! the manual page, and whether to use colour.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{error::ContextKind, error::ErrorKind, CommandFactory};

use crate::error::{report, CliError, Kind};
use crate::Cli;

/// Colour only for a terminal, and never with `NO_COLOR` set (no-color.org).
pub fn colour_on_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Handles what clap refused: help and version print and succeed; a wrong
/// command line is one error (JSON under `--json`) with exit code 2.
pub fn refused(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(Kind::Invalid.exit_code());
        }
        _ => {}
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let typo = match (e.kind(), e.get(ContextKind::InvalidSubcommand)) {
        (ErrorKind::InvalidSubcommand, Some(v)) => Some(v.to_string()),
        _ => None,
    };
    if let Some(typed) = typo {
        let (path, choices) = command_level(&args);
        let mut err = CliError::new(Kind::Invalid, format!("`{path} {typed}` is not a command"));
        err = match closest(&typed, &choices) {
            Some(best) => err.hint(format!("did you mean `{path} {best}`?")),
            None => err.hint(format!("see `{path} --help`")),
        };
        return report(&err.into(), json);
    }
    if !json {
        let _ = e.print();
        return ExitCode::from(Kind::Invalid.exit_code());
    }
    // clap's text: "error: <what>\n\nUsage: ...\n\nFor more information...".
    let rendered = e.render().to_string();
    let what = rendered
        .lines()
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_string();
    report(
        &CliError::new(Kind::Invalid, what)
            .hint("see `weft --help`")
            .into(),
        true,
    )
}

/// The command the user reached before the unknown word (`weft contacts`)
/// and its subcommands' names.
fn command_level(args: &[String]) -> (String, Vec<String>) {
    let mut cmd = Cli::command();
    let mut path = String::from("weft");
    for a in args {
        let Some(sub) = cmd.find_subcommand(a).cloned() else {
            if !a.starts_with('-') {
                break;
            }
            continue;
        };
        path.push(' ');
        path.push_str(a);
        cmd = sub;
    }
    let names = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    (path, names)
}

/// The choice nearest to `typed` by edit distance with transpositions
/// (`stauts` → `status`), if any is near enough to be a typo of it.
fn closest(typed: &str, choices: &[String]) -> Option<String> {
    let typed = typed.to_lowercase();
    choices
        .iter()
        .map(|c| (osa_distance(&typed, c), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1) || c.starts_with(&typed))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// Optimal string alignment distance: insertions, deletions,
/// substitutions and swaps of neighbours each cost 1.
fn osa_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// `weft completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "weft", &mut std::io::stdout());
}

/// `weft man`: the manual page (roff) on stdout.
pub fn man() -> anyhow::Result<()> {
    let page = clap_mangen::Man::new(Cli::command());
    page.render(&mut std::io::stdout())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_hints_point_at_the_command_meant() {
        let top = command_level(&[]).1;
        assert_eq!(closest("stauts", &top).as_deref(), Some("status"));
        assert_eq!(closest("contcts", &top).as_deref(), Some("contacts"));
        let (path, sub) = command_level(&["contacts".into()]);
        assert_eq!(path, "weft contacts");
        assert_eq!(closest("unblok", &sub).as_deref(), Some("unblock"));
        assert_eq!(closest("zzzzzz", &top), None);
    }

    /// Every subcommand's `--help` ends with an example.
    #[test]
    fn every_subcommand_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
                let p = format!("{path} {}", sub.get_name());
                if sub.get_after_help().is_none() {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "weft", &mut missing);
        assert!(missing.is_empty(), "no example under: {missing:?}");
    }

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }
}
