//! The browser page in a real browser: `tab86 serve target/web` serves the page
//! `bash frontend/web/build.sh` built, and `frontend/web/test/browser.mjs` drives
//! headless Chromium (Debian's `chromium`, through `playwright-core` from the page's
//! npm lock) against it: the Debian kernel and busybox initramfs boot to a shell in
//! the tab's terminal, commands typed as key presses print what they should
//! (`uname -a`, UTF-8, `stty size` equal to the page's terminal), pause/resume,
//! power off/reset, and the error panels (a missing boot file, a file that is not
//! a kernel, a bad memory size). Then, with the Debian image build.sh linked into
//! the page: a root shell from the chunked image over HTTP, a file written and
//! synced found again after a reload (the OPFS overlay), a second tab on the same
//! overlay refused, a chunk failing (HTTP 500, then a corrupt body) giving the
//! guest an I/O error and the page an error panel while the tab keeps working, the
//! same persistence with the overlay in IndexedDB (`?storage=idb`), and the
//! browser closed while the guest writes and syncs in a loop: the reopened
//! profile boots from the overlay's last flush with the synced file there and the
//! base unchanged.
//! The screenshot is kept in `target/web-test/`.
//!
//! Needs the images (images/build.sh), Node 18 or later, chromium and the built
//! page (.ci/setup-host, then build.sh). Without them the test is skipped with a
//! message, except in CI (`CI` set), where it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tab86_tests::guest::{images, skip_without};

/// The browser binary: `TAB86_CHROMIUM`, else `chromium` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TAB86_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tab86 serve DIR --port 0` and returns it with the address it printed.
fn serve(dir: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tab86"))
        .args(["serve", dir.to_str().unwrap(), "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tab86 serve");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .expect("read tab86 serve's first line");
    let server = Server(child);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("tab86 serve printed no address: {line:?}"))
        .to_string();
    (server, url)
}

#[test]
fn the_page_boots_a_shell_in_headless_chromium() {
    if images().is_none() {
        return skip_without("images", "images/build.sh");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let web = root.join("target/web");
    if !web.join("index.html").exists() || !web.join("pkg-web/tab86_web.js").exists() {
        return skip_without("browser page", "bash frontend/web/build.sh");
    }
    if !root
        .join("frontend/web/node_modules/playwright-core")
        .exists()
    {
        return skip_without("playwright-core", "bash frontend/web/build.sh (npm ci)");
    }
    let Some(browser) = chromium() else {
        return skip_without("chromium", ".ci/setup-host (apt-get install chromium)");
    };
    if Command::new("node").arg("--version").output().is_err() {
        return skip_without("node", ".ci/setup-host");
    }
    let (_server, url) = serve(&web);
    let out_dir = root.join("target/web-test");
    let out = Command::new("node")
        .arg(root.join("frontend/web/test/browser.mjs"))
        .arg(&url)
        .arg(&out_dir)
        .env("TAB86_CHROMIUM", &browser)
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{}\n(the page's console and serial output are in {})",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        out_dir.display()
    );
    assert!(
        stdout.contains(" 0 failed"),
        "no summary line from browser.mjs"
    );
    // CI builds the Debian image before the page: the disk checks must run there.
    assert!(
        std::env::var("CI").is_err() || !stdout.contains("browser: SKIPPED"),
        "browser.mjs skipped checks in CI:\n{stdout}"
    );
    assert!(
        out_dir.join("screenshot.png").exists(),
        "no screenshot in {}",
        out_dir.display()
    );
}
