//! Where the command keeps its files: the secret and the unix socket.

use std::path::PathBuf;

use crate::error::Failure;

/// The environment variable that overrides the configuration directory (also `--config-dir`).
pub const CONFIG_DIR_ENV: &str = "MULTISERVER_CONFIG_DIR";

/// The name of the secret file in the configuration directory.
pub const SECRET_FILE: &str = "secret";

/// The name of the unix socket in the configuration directory (the reference's layout).
pub const SOCKET_FILE: &str = "socket";

/// The configuration directory: `--config-dir` / `$MULTISERVER_CONFIG_DIR` when given, else
/// `$XDG_CONFIG_HOME/multiserver`, else `~/.config/multiserver` (`%APPDATA%\multiserver` on
/// Windows).
pub fn config_dir(explicit: Option<&PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(dir) = explicit {
        return Ok(dir.clone());
    }
    let non_empty = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = non_empty(CONFIG_DIR_ENV) {
        return Ok(dir);
    }
    if let Some(xdg) = non_empty("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join("multiserver"));
    }
    if cfg!(windows)
        && let Some(appdata) = non_empty("APPDATA")
    {
        return Ok(appdata.join("multiserver"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(home.join(".config").join("multiserver"));
    }
    Err(Failure::usage(format!(
        "cannot find a configuration directory: set ${CONFIG_DIR_ENV}, $XDG_CONFIG_HOME or $HOME, \
         or pass --config-dir or --secret"
    )))
}

/// Creates `dir` (and its parents) if needed; a new directory is private to its owner.
pub fn ensure_dir(dir: &std::path::Path) -> Result<(), Failure> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Failure::runtime(format!("cannot create directory {}: {e}", dir.display())))
}
