//! How the command fails: one line on stderr and an exit code.

use std::fmt;
use std::process::ExitCode;

use ms_core::{Error, ErrorKind};

/// Exit code of a failure at run time (cannot connect, cannot listen, file exists, ...).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of invalid input: a malformed address, an unusable flag value (clap uses it too).
pub const EXIT_USAGE: u8 = 2;

/// A failure: printed as `multiserver: <message>` on one line, then the process exits with
/// `code`.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What went wrong, on one line.
    pub message: String,
    /// Optional lines printed after the message when stderr is a terminal (e.g. a caret
    /// pointing at the offending byte).
    pub detail: Option<String>,
}

impl Failure {
    /// A run-time failure (exit 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_FAILURE,
            message: message.into(),
            detail: None,
        }
    }

    /// Invalid input (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
            detail: None,
        }
    }

    /// Adds lines shown under the message on a terminal.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Prints the failure on stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        use std::io::IsTerminal as _;
        use std::io::Write as _;
        let line = one_line(&self.message);
        let mut stderr = std::io::stderr().lock();
        // Nothing sensible is left to do if stderr itself is gone.
        let _ = writeln!(stderr, "multiserver: {line}");
        if let Some(detail) = &self.detail
            && std::io::stderr().is_terminal()
        {
            let _ = writeln!(stderr, "{detail}");
        }
        ExitCode::from(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Prints one line on stdout and flushes it; a closed stdout is a failure, not a panic.
pub fn print_line(line: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::runtime(format!("cannot write to stdout: {e}")))
}

/// Prints `multiserver: <message>` on one line on stderr, whatever the log level: for what the
/// user must hear once (a new identity was created, `RUST_LOG` is ignored).
pub fn notice(message: &str) {
    use std::io::Write as _;
    let line = one_line(message);
    // Nothing sensible is left to do if stderr itself is gone.
    let _ = writeln!(std::io::stderr().lock(), "multiserver: {line}");
}

/// Whether a connection ended because the peer closed it without the secret-handshake
/// goodbye: how most peers hang up (a JavaScript peer's `rpc.close()`, a killed process), not a
/// failure worth a warning. Tampering, a stream cut inside a frame, timeouts are not this.
pub fn is_missing_goodbye(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ms_shs::BoxStreamError>())
        .is_some_and(|e| matches!(e, ms_shs::BoxStreamError::MissingGoodbye))
}

/// What a kind of failure means for the user, in a few words, or `None` when the error's own
/// message says it all (an invalid address, an abort). `transform` is the transform that
/// failed, when one did: `shs` failures get hints about keys.
pub fn explain(kind: ErrorKind, transform: Option<&str>) -> Option<&'static str> {
    let shs = transform == Some("shs");
    Some(match kind {
        ErrorKind::Refused => "nobody is listening there",
        ErrorKind::Timeout => "no answer in time (the peer or the path to it is slow or silent)",
        ErrorKind::Incompatible if shs => {
            "the peer uses a different network key (--app-key) or protocol"
        }
        ErrorKind::Incompatible => "the peer speaks a different protocol",
        ErrorKind::PeerMisbehaved => "the peer broke the protocol (tampered or garbled data)",
        ErrorKind::Rejected if shs => {
            "the peer did not accept us (not authorized, or it is not the key we dialled)"
        }
        ErrorKind::Rejected => "the peer refused us",
        ErrorKind::Closed => "the connection broke",
        ErrorKind::Configuration => "our own settings are unusable",
        _ => return None,
    })
}

/// The transform whose failure decided the error's kind, if a transform failed.
pub fn failed_transform(error: &Error) -> Option<&str> {
    match error {
        Error::Transform { transform, .. } => Some(transform),
        Error::AllFailed { attempts, .. } => attempts
            .iter()
            .find(|a| a.error.kind() == error.kind())
            .and_then(|a| failed_transform(&a.error)),
        _ => None,
    }
}

/// Collapses line breaks so that a message is always one line.
pub fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_of_a_peer_is_explained() {
        for kind in [
            ErrorKind::Refused,
            ErrorKind::Timeout,
            ErrorKind::Incompatible,
            ErrorKind::PeerMisbehaved,
            ErrorKind::Rejected,
            ErrorKind::Closed,
            ErrorKind::Configuration,
        ] {
            assert!(explain(kind, None).is_some(), "{kind}");
        }
        assert_eq!(explain(ErrorKind::Aborted, None), None);
        let shs = explain(ErrorKind::Incompatible, Some("shs")).unwrap();
        assert!(shs.contains("network key"), "{shs}");
        assert!(
            !explain(ErrorKind::Incompatible, Some("noauth"))
                .unwrap()
                .contains("key")
        );
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\nb\r\n c\n"), "a b c");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn only_a_missing_goodbye_is_a_hang_up() {
        use ms_shs::BoxStreamError;
        assert!(is_missing_goodbye(&BoxStreamError::MissingGoodbye.into()));
        for error in [
            BoxStreamError::InvalidHeader,
            BoxStreamError::InvalidBody,
            BoxStreamError::TruncatedFrame { got: 1, wanted: 34 },
        ] {
            assert!(!is_missing_goodbye(&error.into()));
        }
        let plain = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        assert!(!is_missing_goodbye(&plain));
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(!is_missing_goodbye(&timeout));
    }
}
