//! What a failed command says: a kind (one word a script can branch on,
//! also the exit code), one line saying what went wrong, and what to do.
//!
//! Human output is `error: <message>; <hint>` on one line; with `--json` it
//! is `{"error": {"kind", "message", "hint"}}` on stderr. The node's own
//! detail (libp2p's nested reasons) stays in the node's log.

use std::process::ExitCode;

use serde::Serialize;

/// Kinds of failure, with their exit codes (documented in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Anything not classified below (exit 1).
    Failed,
    /// The node failed at something that is not the user's fault (exit 1).
    Internal,
    /// The command line or a value in it is wrong (exit 2, as clap's usage errors).
    Invalid,
    /// No such contact, message, post or account (exit 3).
    NotFound,
    /// A name or short id matches several things (exit 4).
    Ambiguous,
    /// Not allowed: not a friend, not yours, wrong token (exit 5).
    Forbidden,
    /// Already taken or in a conflicting state (exit 6).
    Conflict,
    /// Over a quota or a size limit (exit 7).
    Quota,
    /// A peer could not be reached, or the node is busy (exit 8).
    Unreachable,
    /// No node runs for this home, or the home has no identity (exit 9).
    NotRunning,
}

impl Kind {
    /// The kind for the API's `kind` word (or, from an old node, none).
    pub fn from_api(word: &str) -> Kind {
        match word {
            "invalid" => Kind::Invalid,
            "not_found" => Kind::NotFound,
            "ambiguous" => Kind::Ambiguous,
            "forbidden" | "unauthorized" => Kind::Forbidden,
            "conflict" => Kind::Conflict,
            "quota" => Kind::Quota,
            "unreachable" | "unavailable" => Kind::Unreachable,
            "internal" => Kind::Internal,
            _ => Kind::Failed,
        }
    }

    /// The process exit code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Failed | Kind::Internal => 1,
            Kind::Invalid => 2,
            Kind::NotFound => 3,
            Kind::Ambiguous => 4,
            Kind::Forbidden => 5,
            Kind::Conflict => 6,
            Kind::Quota => 7,
            Kind::Unreachable => 8,
            Kind::NotRunning => 9,
        }
    }
}

/// A failure the CLI can classify.
#[derive(Debug, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// What kind of failure.
    pub kind: Kind,
    /// What went wrong, one line.
    pub message: String,
    /// What to do about it, if the message does not say.
    pub hint: Option<String>,
}

impl CliError {
    /// A failure of `kind` with no separate hint.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what to do.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A value on the command line is wrong.
    pub fn invalid(message: impl Into<String>) -> anyhow::Error {
        Self::new(Kind::Invalid, message).into()
    }
}

/// `{"error": {...}}`, the `--json` form.
#[derive(Serialize)]
struct JsonError<'a> {
    error: &'a CliError,
}

/// Prints `e` for a human or as JSON on stderr and returns its exit code.
pub fn report(e: &anyhow::Error, json: bool) -> ExitCode {
    let classified = match e.downcast_ref::<CliError>() {
        Some(c) => CliError {
            kind: c.kind,
            message: one_line(&c.message),
            hint: c.hint.as_deref().map(one_line),
        },
        None => {
            // Untyped: the whole chain of causes, on one line.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            CliError::new(Kind::Failed, one_line(&msg))
        }
    };
    if json {
        let text = serde_json::to_string(&JsonError { error: &classified })
            .unwrap_or_else(|_| r#"{"error":{"kind":"failed","message":"","hint":null}}"#.into());
        eprintln!("{text}");
    } else {
        match &classified.hint {
            Some(h) => eprintln!("error: {}; {h}", classified.message),
            None => eprintln!("error: {}", classified.message),
        }
    }
    ExitCode::from(classified.kind.exit_code())
}

/// Whitespace (newlines included) folded to single spaces.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_kinds_map_to_distinct_exit_codes() {
        assert_eq!(Kind::from_api("not_found").exit_code(), 3);
        assert_eq!(Kind::from_api("ambiguous").exit_code(), 4);
        assert_eq!(Kind::from_api("quota").exit_code(), 7);
        assert_eq!(Kind::from_api("something new").exit_code(), 1);
        let e = CliError::new(Kind::NotFound, "no post\n here").hint("look");
        let v = serde_json::to_value(JsonError { error: &e }).unwrap();
        assert_eq!(v["error"]["kind"], "not_found");
        assert_eq!(v["error"]["hint"], "look");
    }
}
