//! Debian bookworm from a disk streamed over HTTP: `tab86 serve`'s server in this
//! process serves the chunked image that images/build-rootfs.sh packed, the
//! machine boots it through virtio-blk with a copy-on-write overlay, the test logs
//! in on the serial getty, runs a few commands, writes a file and powers off. A
//! second boot with the same overlay must find the file, and the served chunks
//! must still match the manifest (the base image is never written). The same
//! image also boots on Debian's default 686-pae kernel (PAE, NX) with the APIC
//! board.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tab86_machine::{ClockMode, Config, Firmware, Stop};
use tab86_storage::open::{open, DiskOptions, DiskSpec};
use tab86_storage::serve::{ServeOptions, Server};
use tab86_tests::guest::{debian_image, run_script, skip_without, Outcome};

fn boot(
    kernel: &[u8],
    initrd: &[u8],
    cmdline: &str,
    url: &str,
    overlay: &Path,
    script: &str,
) -> Outcome {
    let spec = DiskSpec {
        source: url.to_string(),
        overlay: Some(overlay.to_path_buf()),
        read_only: false,
    };
    let disk = open(&spec, &DiskOptions::default()).expect("open the HTTP disk");
    let cfg = Config {
        mem_size: 512 << 20,
        firmware: Firmware::Kernel {
            kernel: kernel.to_vec(),
            initrd: Some(initrd.to_vec()),
            cmdline: cmdline.to_string(),
        },
        clock: ClockMode::Deterministic,
        debugcon: Vec::new(),
        serial: Box::new(std::io::sink()),
        rtc_epoch: 1_700_000_000,
        disks: vec![Box::new(disk.backend)],
        apic: true,
    };
    run_script(cfg, script, Duration::from_secs(1800))
}

/// Every chunk file still hashes to the name the manifest gives it.
fn chunks_match_manifest(http: &Path) -> usize {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(http.join("manifest.json")).unwrap()).unwrap();
    let chunks = manifest["chunks"].as_array().expect("chunks");
    for c in chunks {
        let name = c.as_str().unwrap();
        let data = std::fs::read(http.join("chunks").join(name)).unwrap();
        let hex: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, name, "chunk {name} changed");
    }
    chunks.len()
}

#[test]
fn debian_boots_over_http_and_keeps_writes_in_the_overlay() {
    let img = match debian_image() {
        Ok(i) => i,
        Err((what, hint)) => return skip_without(what, hint),
    };
    let (kernel, initrd, http) = (img.kernel, img.initrd, img.chunks);
    let (prompt, cmdline) = (img.prompt, img.cmdline);
    let manifest_before = std::fs::read(http.join("manifest.json")).unwrap();

    let server = Server::start(&http, "127.0.0.1:0", ServeOptions::default()).expect("serve");
    let url = format!("http://{}/manifest.json", server.addr());
    let work = std::env::temp_dir().join(format!("tab86-disk-boot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let overlay = work.join("overlay.img");
    let kernel = std::fs::read(&kernel).unwrap();
    let initrd = std::fs::read(&initrd).unwrap();
    let token = format!(
        "tab86-persist-{:08x}",
        std::process::id().wrapping_mul(2_654_435_761)
    );

    let first = format!(
        "timeout 600\n\
         wait -t 1500 {prompt}\n\
         mark shell\n\
         sendline cat /etc/debian_version\n\
         wait \\b12\\.\\d+\n\
         wait {prompt}\n\
         sendline echo BIN=$(ls /usr/bin | wc -l) PKGS=$(dpkg -l | wc -l)\n\
         wait BIN=\\d+ PKGS=\\d+\n\
         wait {prompt}\n\
         sendline echo {token} > /root/persist.txt; sync; echo WROTE-OK\n\
         wait [\\r\\n]WROTE-OK\n\
         wait {prompt}\n\
         sendline poweroff\n"
    );
    let run = boot(&kernel, &initrd, &cmdline, &url, &overlay, &first);
    assert_eq!(run.stop, Stop::Poweroff, "first boot:\n{}", run.tail());
    let counts: Vec<u64> = run
        .log
        .split("BIN=")
        .nth(2)
        .map(|t| {
            t.split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .take(2)
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        matches!(counts[..], [bins, pkgs] if bins > 100 && pkgs > 100),
        "ls /usr/bin and dpkg -l counts {counts:?}:\n{}",
        run.tail()
    );
    assert!(run.log.contains("reboot: Power down"), "{}", run.tail());
    println!(
        "disk_boot: first boot {:.1} s host, {} instructions",
        run.elapsed.as_secs_f64(),
        run.stats.instructions
    );

    let second = format!(
        "timeout 600\n\
         wait -t 1500 {prompt}\n\
         sendline cat /root/persist.txt\n\
         wait [\\r\\n]{token}\n\
         wait {prompt}\n\
         sendline poweroff\n"
    );
    let run = boot(&kernel, &initrd, &cmdline, &url, &overlay, &second);
    assert_eq!(run.stop, Stop::Poweroff, "second boot:\n{}", run.tail());
    println!(
        "disk_boot: second boot {:.1} s host; the file written in the first boot was there",
        run.elapsed.as_secs_f64()
    );

    assert_eq!(
        std::fs::read(http.join("manifest.json")).unwrap(),
        manifest_before
    );
    let n = chunks_match_manifest(&http);
    println!("disk_boot: passed; the {n} served chunks still match the manifest");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn debian_boots_over_http_on_the_686_pae_kernel() {
    let img = match debian_image() {
        Ok(i) => i,
        Err((what, hint)) => return skip_without(what, hint),
    };
    let Some((kernel, initrd)) = img.pae else {
        return skip_without(
            "686-pae kernel, its initramfs and modules in the root image",
            "images/build-rootfs.sh",
        );
    };
    let prompt = img.prompt;
    let server = Server::start(&img.chunks, "127.0.0.1:0", ServeOptions::default()).expect("serve");
    let url = format!("http://{}/manifest.json", server.addr());
    let work = std::env::temp_dir().join(format!("tab86-disk-boot-pae-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let script = format!(
        "timeout 600\n\
         wait -t 1500 {prompt}\n\
         sendline uname -r\n\
         wait [\\r\\n]6\\.[0-9.]+-\\d+-686-pae\\s\n\
         wait {prompt}\n\
         sendline test -f /lib/modules/$(uname -r)/modules.dep && lsmod | grep -q '^virtio_blk' && echo MODS-OK\n\
         wait [\\r\\n]MODS-OK\n\
         wait {prompt}\n\
         sendline poweroff\n"
    );
    let run = boot(
        &std::fs::read(&kernel).unwrap(),
        &std::fs::read(&initrd).unwrap(),
        &img.cmdline,
        &url,
        &work.join("overlay.img"),
        &script,
    );
    assert_eq!(run.stop, Stop::Poweroff, "686-pae boot:\n{}", run.tail());
    assert!(run.log.contains("reboot: Power down"), "{}", run.tail());
    println!(
        "disk_boot: 686-pae boot to the root shell and poweroff {:.1} s host, {} instructions",
        run.elapsed.as_secs_f64(),
        run.stats.instructions
    );
    let _ = std::fs::remove_dir_all(&work);
}
