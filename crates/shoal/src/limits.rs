//! The process's limits, set before anything starts: the open-file soft limit
//! goes up to the hard limit, since every connection, log file, store file and
//! instance pipe is a descriptor. What it got is logged (`shoal-listen`) with
//! the listeners' connection budget derived from it, once logging is up.

use crate::cli::Command;

/// Raises the open-file limit for the commands that serve (`up`, `agent`); the
/// others are short-lived clients.
pub fn raise_for(command: &Command) {
    if !matches!(command, Command::Up(_) | Command::Agent(_)) {
        return;
    }
    if let Err(e) = shoal_listen::nofile::raise() {
        eprintln!("warning: cannot raise the open-file limit to the hard limit: {e}");
    }
}
