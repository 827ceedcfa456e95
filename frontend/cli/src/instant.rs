//! `tab86 run` without a machine: the Debian root image `images/build-rootfs.sh`
//! built, started from the snapshot `images/build-snapshot.sh` shipped beside its
//! chunked layout (a root shell in about a second), or booted cold when that
//! snapshot does not fit.
//!
//! Layout of an image folder or URL (`--image`, default
//! `~/.cache/tab86/rootfs/http/`): `manifest.json` and `chunks/` (the disk), and
//! `snapshot/debian-i386.snap` (the machine at the root shell) with
//! `snapshot/debian-i386.cow` (the copy-on-write overlay as it was when the
//! snapshot was taken: the snapshot records its flush generation, the overlay
//! records the base image's identity).
//!
//! The user's writes go to `~/.cache/tab86/overlay/debian-i386.cow`. A snapshot
//! is only consistent with the overlay it was taken with, so:
//! - no overlay yet: the shipped overlay is copied there and the snapshot restored;
//! - the overlay is still byte-identical to the shipped one: restored;
//! - the overlay has later writes: a cold boot over it (the user's changes are
//!   kept; deleting the file starts from the snapshot again), with a one-line note.
//!
//! Any other misfit (no snapshot, other format version, other RAM size, clock
//! mode or board, a disk that does not match) is a one-line note and a cold boot;
//! `--cold` always boots cold.
//!
//! The guest's clock: the snapshot is saved with the shell blocked in `read` in
//! front of a command that sets the system clock from the RTC
//! (`/sys/class/rtc/rtc0/since_epoch`, else `hwclock --hctosys`). A restore sets
//! the CMOS clock to the host's time and types one newline, so the guest's clock
//! jumps to now and the shell prints its prompt.

use crate::args::Args;
use std::path::{Path, PathBuf};

/// The snapshot's folder under the image folder or URL.
pub const SNAPSHOT_DIR: &str = "snapshot";
/// The machine at the root shell.
pub const SNAPSHOT_FILE: &str = "debian-i386.snap";
/// The overlay that goes with it.
pub const OVERLAY_FILE: &str = "debian-i386.cow";
/// RAM of the default Debian machine (the snapshot's).
pub const DEBIAN_MEM: u32 = 512 << 20;
/// What a restore types to release the shell (and set the guest's clock).
pub const RESUME_INPUT: &[u8] = b"\n";

/// How the default machine starts.
pub struct Start {
    /// The shipped snapshot is being restored (type [`RESUME_INPUT`] once built).
    pub restore: bool,
    /// The user's overlay was created from the shipped one for this restore: a
    /// cold boot after a failed restore deletes it and starts a new one.
    pub created_overlay: Option<PathBuf>,
}

pub use tab86_storage::cache::cache_dir;
use tab86_storage::cache::read_env;

fn get(
    env: &std::collections::HashMap<String, String>,
    key: &str,
    file: &str,
) -> Result<String, String> {
    env.get(key)
        .cloned()
        .ok_or_else(|| format!("{file} has no {key}"))
}

/// Whether the command line names no machine (no firmware, kernel, snapshot or disk).
pub fn applies(args: &Args) -> bool {
    args.bios.is_none()
        && args.kernel.is_none()
        && args.initrd.is_none()
        && args.load_state.is_none()
        && args.disks.is_empty()
}

/// Reads `name` under the image folder or URL `base`.
fn fetch(base: &str, name: &str) -> Result<Vec<u8>, String> {
    if base.contains("://") {
        use tab86_storage::http::{Client, Timeouts, Url};
        let dir = if base.ends_with('/') {
            base.to_string()
        } else {
            format!("{base}/")
        };
        let url = Url::parse(&dir)?.join(name);
        let mut c = Client::new(Timeouts {
            total: std::time::Duration::from_secs(600),
            ..Timeouts::default()
        });
        let r = c
            .request("GET", &url, None, 4 << 30)
            .map_err(|e| format!("{url}: {e}"))?;
        if r.status != 200 {
            return Err(format!("{url}: HTTP {}", r.status));
        }
        Ok(r.body)
    } else {
        let p = Path::new(base).join(name);
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    }
}

/// Fills in the default Debian machine (kernel, initramfs, command line, RAM, the
/// disk with the user's overlay) and, unless `--cold` or it does not fit, the
/// shipped snapshot. `None`: no Debian image is built, so the busybox initramfs
/// boots as before.
pub fn prepare(args: &mut Args) -> Result<Option<Start>, String> {
    let cache = cache_dir();
    let rootfs_env = format!("{cache}/rootfs/rootfs.env");
    if !Path::new(&rootfs_env).exists() && args.image.is_none() {
        if args.cold {
            return Err(format!(
                "--cold: no Debian image at {rootfs_env} (images/build-rootfs.sh builds it)"
            ));
        }
        return Ok(None);
    }
    let rootfs = read_env(&rootfs_env)?;
    let images_env = format!("{cache}/images/images.env");
    let images = read_env(&images_env)?;
    let base = args
        .image
        .clone()
        .unwrap_or_else(|| format!("{cache}/rootfs/http"));
    let overlay = PathBuf::from(format!("{cache}/overlay/{OVERLAY_FILE}"));
    if let Some(dir) = overlay.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    args.kernel = Some(get(&images, "KERNEL", &images_env)?);
    args.initrd = Some(get(&images, "INITRD", &images_env)?);
    if args.append.is_none() {
        args.append = Some(get(&rootfs, "CMDLINE", &rootfs_env)?);
    }
    if args.mem == 0 {
        args.mem = DEBIAN_MEM;
    }
    let source = if base.contains("://") && !base.ends_with('/') && !base.ends_with(".json") {
        format!("{base}/")
    } else {
        base.clone()
    };
    args.disks.push(tab86_storage::DiskSpec {
        source,
        overlay: Some(overlay.clone()),
        read_only: false,
    });
    if args.cold {
        return Ok(Some(Start {
            restore: false,
            created_overlay: None,
        }));
    }
    match shipped(args, &base, &overlay) {
        Ok((bytes, created)) => {
            args.snapshot = Some(bytes);
            Ok(Some(Start {
                restore: true,
                created_overlay: created,
            }))
        }
        Err(why) => {
            eprintln!("tab86: cold boot of the Debian image (about a minute): {why}");
            Ok(Some(Start {
                restore: false,
                created_overlay: None,
            }))
        }
    }
}

/// The shipped snapshot if it fits this machine and the user's overlay; the
/// overlay is created from the shipped one when missing (its path returned).
fn shipped(args: &Args, base: &str, overlay: &Path) -> Result<(Vec<u8>, Option<PathBuf>), String> {
    let snap_name = format!("{SNAPSHOT_DIR}/{SNAPSHOT_FILE}");
    let bytes = fetch(base, &snap_name)
        .map_err(|e| format!("no shipped snapshot ({e}; images/build-snapshot.sh makes it)"))?;
    let h = tab86_machine::snapshot::peek_header(&bytes)
        .map_err(|e| format!("the shipped snapshot is refused: {e}"))?;
    if h.mem_size != args.mem || h.deterministic != args.deterministic || h.apic == args.no_apic {
        return Err(format!(
            "the shipped snapshot is of a {} MiB {} {} machine, not the one these options ask for",
            h.mem_size >> 20,
            if h.deterministic {
                "deterministic"
            } else {
                "real-time"
            },
            if h.apic { "APIC" } else { "PIC-only" }
        ));
    }
    let ov_name = format!("{SNAPSHOT_DIR}/{OVERLAY_FILE}");
    let shipped_overlay =
        fetch(base, &ov_name).map_err(|e| format!("the shipped snapshot has no overlay ({e})"))?;
    if overlay.exists() {
        let unreadable =
            |e: std::io::Error| format!("cannot read the overlay {}: {e}", overlay.display());
        // Sizes first: a used overlay has grown, and is not read whole to see that.
        let same_size =
            std::fs::metadata(overlay).map_err(unreadable)?.len() == shipped_overlay.len() as u64;
        if !same_size || std::fs::read(overlay).map_err(unreadable)? != shipped_overlay {
            return Err(format!(
                "the overlay {} has writes made after the snapshot (they are kept; delete it to start from the snapshot again)",
                overlay.display()
            ));
        }
        return Ok((bytes, None));
    }
    if let Some(dir) = overlay.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = overlay.with_extension("cow.tmp");
    std::fs::write(&tmp, &shipped_overlay)
        .and_then(|_| std::fs::rename(&tmp, overlay))
        .map_err(|e| format!("cannot write the overlay {}: {e}", overlay.display()))?;
    Ok((bytes, Some(overlay.to_path_buf())))
}
