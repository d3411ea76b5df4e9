//! Commands (`argv` arrays or `sh -c` strings) and the check that their program exists.

use std::path::{Path, PathBuf};

use toml_edit::Value;

use crate::types::Command;
use crate::values::string_array;
use crate::walk::{Ctx, Field};

/// Decides whether programs named by a spec exist. Injectable so tests do not
/// depend on the machine; [`SystemResolver`] asks the real filesystem.
pub trait ProgramResolver {
    /// Whether `path` (absolute, or relative to the current directory) is an executable file.
    fn is_executable(&self, path: &Path) -> bool;
    /// Whether `name` (no `/`) is an executable found on `PATH`.
    fn on_path(&self, name: &str) -> bool;
}

/// The real filesystem and the process's `PATH`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl ProgramResolver for SystemResolver {
    fn is_executable(&self, path: &Path) -> bool {
        is_executable_file(path)
    }

    fn on_path(&self, name: &str) -> bool {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path).any(|dir| is_executable_file(&dir.join(name)))
    }
}

/// Every program exists (for tools that only want the file's structure checked).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumeExists;

impl ProgramResolver for AssumeExists {
    fn is_executable(&self, _: &Path) -> bool {
        true
    }

    fn on_path(&self, _: &str) -> bool {
        true
    }
}

#[cfg(unix)]
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Where a program named in a spec lives: `base_dir/program` when it contains `/`
/// (an absolute program stays absolute), `None` when it is to be looked up on `PATH`.
pub fn program_path(program: &str, base_dir: &Path) -> Option<PathBuf> {
    program.contains('/').then(|| base_dir.join(program))
}

/// Reports at `pos` when `program` does not exist.
pub(crate) fn check_program(cx: &mut Ctx<'_>, program: &str, pos: usize, what: &str) {
    match program_path(program, &cx.base_dir) {
        Some(path) => {
            if !cx.resolver.is_executable(&path) {
                let msg = format!(
                    "{what} `{program}` not found (no executable file at {})",
                    path.display()
                );
                cx.error(pos, msg);
            }
        }
        None => {
            if !cx.resolver.on_path(program) {
                cx.error(pos, format!("{what} `{program}` not found (not on PATH)"));
            }
        }
    }
}

/// A non-empty argv whose program exists; `what` names it in messages ("command").
pub(crate) fn read_argv(cx: &mut Ctx<'_>, f: &Field<'_>, what: &str) -> Option<Vec<String>> {
    let argv = string_array(cx, f)?;
    let Some((program, pos)) = argv.first() else {
        cx.error(
            f.value_pos(),
            format!("`{}` must not be empty: give at least the program", f.name),
        );
        return None;
    };
    if program.trim().is_empty() {
        cx.error(*pos, format!("`{}` has an empty program name", f.name));
        return None;
    }
    check_program(cx, program, *pos, what);
    Some(argv.into_iter().map(|(s, _)| s).collect())
}

/// `command = ["prog", "arg"]` or `command = "shell line"`.
pub(crate) fn read_command(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<Command> {
    match f.value() {
        Some(Value::Array(_)) => read_argv(cx, f, "command").map(Command::Argv),
        Some(Value::String(s)) => {
            let line = s.value();
            if line.trim().is_empty() {
                cx.error(f.value_pos(), "`command` must not be empty");
                return None;
            }
            if !cx.resolver.on_path("sh") {
                cx.error(f.value_pos(), "`sh` not found (not on PATH), needed to run a string command; use an argv array");
            }
            Some(Command::Shell(line.clone()))
        }
        _ => {
            let msg = format!(
                "`command` must be an argv array like [\"python3\", \"app.py\"] or a shell string, found {}",
                f.node.kind()
            );
            cx.error(f.value_pos(), msg);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_paths() {
        let base = Path::new("/srv/app");
        assert_eq!(program_path("python3", base), None);
        assert_eq!(
            program_path("./run.sh", base),
            Some(PathBuf::from("/srv/app/./run.sh"))
        );
        assert_eq!(
            program_path("bin/x", base),
            Some(PathBuf::from("/srv/app/bin/x"))
        );
        assert_eq!(
            program_path("/usr/bin/env", base),
            Some(PathBuf::from("/usr/bin/env"))
        );
    }

    #[test]
    fn system_resolver_finds_sh_and_not_nonsense() {
        assert!(SystemResolver.on_path("sh"));
        assert!(!SystemResolver.on_path("shoal-no-such-program-xyz"));
        assert!(!SystemResolver.is_executable(Path::new("/definitely/not/here")));
    }
}
