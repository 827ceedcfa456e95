//! tab86's cache folder on this machine, where the image scripts put the Debian
//! kernels, initramfs and root image and describe them in `KEY=value` files
//! (`images/images.env`, `rootfs/rootfs.env`): one reading of both for the CLI's
//! instant start and for the tests.

use std::collections::HashMap;

/// `$TAB86_CACHE`, else `$XDG_CACHE_HOME/tab86`, else `~/.cache/tab86`, as the
/// image scripts choose it.
pub fn cache_dir() -> String {
    std::env::var("TAB86_CACHE").unwrap_or_else(|_| {
        let base = std::env::var("XDG_CACHE_HOME")
            .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_default()));
        format!("{base}/tab86")
    })
}

/// The `KEY=value` lines of an `.env` file the image scripts write (comments
/// skipped, a value's surrounding single or double quotes removed).
pub fn read_env(path: &str) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_read_as_the_scripts_write_them() {
        let path = std::env::temp_dir().join(format!("tab86-env-{}", std::process::id()));
        std::fs::write(
            &path,
            "# a comment\nKERNEL=/a/b\nCMDLINE='console=ttyS0 root=/dev/vda rw'\nP=\"x y\"\n",
        )
        .unwrap();
        let env = read_env(path.to_str().unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(env.len(), 3);
        assert_eq!(env["KERNEL"], "/a/b");
        assert_eq!(env["CMDLINE"], "console=ttyS0 root=/dev/vda rw");
        assert_eq!(env["P"], "x y");
        assert!(read_env("/nonexistent/tab86.env").is_err());
    }
}
