//! Instant start (issue 17): `tab86 run` with no machine restores the snapshot
//! `images/build-snapshot.sh` shipped beside the Debian image, as a user gets it
//! (a private cache with a new overlay, the shared image as `--image`):
//! - the root shell is there, the guest's clock is the host's (not the saved
//!   instant), `cat /etc/debian_version` works, a file written and synced lands
//!   in the user's overlay;
//! - the next `tab86 run` sees an overlay written since the snapshot: it says so
//!   in one line and boots cold over that overlay, which has the file;
//! - a snapshot that does not fit the options (`--mem`) or the image (another
//!   chunked image) is a one-line note and a cold boot, and a new overlay made
//!   for the failed restore is not left behind over the other image.
//!
//! Needs the Debian image and its snapshot (`images/build-rootfs.sh`,
//! `images/build-snapshot.sh`); skips without them outside CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};
use tab86_tests::guest::{cache_dir, debian_image, skip_without};

/// `tab86 run ARGS` with `cache` as its cache (the user's overlay lives there).
fn tab86(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tab86"))
        .arg("run")
        .args(args)
        .env("TAB86_CACHE", cache)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tab86")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).replace('\r', ""),
        String::from_utf8_lossy(&o.stderr).replace('\r', ""),
    )
}

/// A user's cache: the image scripts' env files, no overlay yet.
fn user_cache(dir: &Path) -> PathBuf {
    let cache = dir.join("cache");
    let real = cache_dir();
    for f in ["images/images.env", "rootfs/rootfs.env"] {
        let to = cache.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(format!("{real}/{f}"), &to).unwrap();
    }
    cache
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_shipped_snapshot_starts_debian_at_its_shell_and_the_overlay_keeps_writes() {
    let img = match debian_image() {
        Ok(i) => i,
        Err((what, hint)) => return skip_without(what, hint),
    };
    if !img.chunks.join("snapshot/debian-i386.snap").exists() {
        return skip_without(
            "shipped snapshot",
            "TAB86_BIN=target/ci/tab86 images/build-snapshot.sh",
        );
    }
    let work = std::env::temp_dir().join(format!("tab86-instant-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let cache = user_cache(&work);
    let image = img.chunks.to_str().unwrap().to_string();
    let prompt = &img.prompt;
    let overlay = cache.join("overlay/debian-i386.cow");

    // 1. Restored: clock, commands, a file written and synced.
    let script = work.join("restore.script");
    std::fs::write(
        &script,
        format!(
            "timeout 120\n\
             wait {prompt}\n\
             mark shell\n\
             sendline echo CLOCK $(date +%s) END\n\
             wait CLOCK \\d+ END\n\
             wait {prompt}\n\
             sendline cat /etc/debian_version\n\
             wait \\b12\\.\\d+\n\
             wait {prompt}\n\
             sendline echo instant-and-written > /root/instant.txt; sync; echo WROTE''-OK\n\
             wait WROTE-OK\n\
             wait {prompt}\n\
             sendline poweroff\n"
        ),
    )
    .unwrap();
    let before = now();
    let o = tab86(
        &cache,
        &["--image", &image, "--script", script.to_str().unwrap()],
    );
    let after = now();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "restored run:\n{err}\n{out}");
    assert!(
        err.contains("restored at its root shell"),
        "not restored:\n{err}"
    );
    let clock: u64 = out
        .split("CLOCK ")
        .filter_map(|s| s.split(" END").next()?.trim().parse().ok())
        .next()
        .unwrap_or_else(|| panic!("no CLOCK line:\n{out}"));
    assert!(
        clock + 5 >= before && clock <= after + 1,
        "the guest's clock after the restore is {clock}, the host's was {before}..{after}"
    );
    let shell = err
        .lines()
        .find(|l| l.contains("mark shell:"))
        .unwrap_or_default();
    eprintln!(
        "instant: restored to the shell: {shell}; guest clock {clock}, host {before}..{after}"
    );
    assert!(overlay.exists(), "no user overlay at {}", overlay.display());

    // 2. The overlay was written since the snapshot: a note and a cold boot,
    // which finds the file.
    let script = work.join("cold.script");
    std::fs::write(
        &script,
        format!(
            "timeout 1500\n\
             wait -t 1500 {prompt}\n\
             sendline cat /root/instant.txt\n\
             wait [\\r\\n]instant-and-written\n\
             wait {prompt}\n\
             sendline poweroff\n"
        ),
    )
    .unwrap();
    let o = tab86(
        &cache,
        &["--image", &image, "--script", script.to_str().unwrap()],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "cold run:\n{err}\n{out}");
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("cold boot")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(
        notes[0].contains("writes made after the snapshot") && !err.contains("restored at"),
        "{err}"
    );
    eprintln!("instant: after a restart: {}", notes[0]);

    // 3. Options the snapshot was not taken with: a note and a cold boot
    // (stopped early here).
    let fresh = user_cache(&work.join("fresh"));
    let o = tab86(
        &fresh,
        &["--image", &image, "--mem", "256M", "--timeout", "1"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(124), "{err}");
    assert!(
        err.contains("cold boot") && err.contains("512 MiB real-time APIC machine"),
        "{err}"
    );

    // 4. Another image with this snapshot beside it: refused (the shipped
    // overlay belongs to another base), a note, a cold boot on a new overlay.
    let other = work.join("other");
    let raw = work.join("other.img");
    std::fs::write(&raw, vec![0u8; 4 << 20]).unwrap();
    let packed = Command::new(env!("CARGO_BIN_EXE_tab86"))
        .args(["pack", raw.to_str().unwrap(), other.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(packed.status.success(), "{packed:?}");
    #[cfg(unix)]
    std::os::unix::fs::symlink(img.chunks.join("snapshot"), other.join("snapshot")).unwrap();
    let fresh = user_cache(&work.join("fresh-other"));
    let o = tab86(
        &fresh,
        &["--image", other.to_str().unwrap(), "--timeout", "1"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(124), "{err}");
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("cold boot")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(!err.contains("restored at"), "{err}");
    eprintln!("instant: another image: {}", notes[0]);
    let _ = std::fs::remove_dir_all(&work);
}
