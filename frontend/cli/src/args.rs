//! Command-line parsing for `tab86` (no dependencies; the options are few and flat).

use tab86_machine::{ClockMode, Config, DebugCon, Firmware};

/// What to do.
pub enum Command {
    /// Boot a machine.
    Run,
    /// Print usage.
    Help,
    /// `tab86 pack ...`: the arguments after "pack".
    Pack(Vec<String>),
    /// `tab86 serve ...`: the arguments after "serve".
    Serve(Vec<String>),
}

/// Parsed options.
pub struct Args {
    pub command: Command,
    pub bios: Option<String>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub append: Option<String>,
    pub mem: u32,
    pub debugcon: Vec<(u16, Option<String>)>,
    pub script: Option<String>,
    pub serial_log: Option<String>,
    pub timeout: Option<f64>,
    pub deterministic: bool,
    /// `--no-apic`: the PIC-only board instead of the APIC board.
    pub no_apic: bool,
    /// `--rtc-epoch SECS`: the CMOS clock at power-on (Unix seconds).
    pub rtc_epoch: Option<u64>,
    pub stats: bool,
    pub slice: u64,
    pub dump_ram: Option<String>,
    pub disks: Vec<tab86_storage::DiskSpec>,
    pub disk_cache_mb: Option<u64>,
    /// `--ca-file FILE`: a PEM CA bundle trusted for https disks, besides the
    /// bundled public roots (falls back to `TAB86_CA_FILE`).
    pub ca_file: Option<String>,
    /// `--trace` kinds: instructions, interrupts, exceptions.
    pub trace: Option<(bool, bool, bool)>,
    pub trace_file: Option<String>,
    pub trace_start: u64,
    /// `--profile FILE`: guest EIP samples, one per slice.
    pub profile: Option<String>,
    /// `--no-jit`: interpret only.
    pub no_jit: bool,
    /// `--jit-threshold N`: block runs that compile a page, the cost rule off
    /// (for benchmarks; by default the cost rule decides from [`tab86_cpu::jit::HOT`]).
    pub jit_threshold: Option<u32>,
    /// `--jit-opt LEVEL`: Cranelift's optimization level (for benchmarks).
    pub jit_opt: tab86_jit_wasmtime::JitOpt,
    /// `--save-state FILE`: snapshot at exit (and the target of Ctrl-A S).
    pub save_state: Option<String>,
    /// `--load-state FILE`: continue a snapshot instead of booting.
    pub load_state: Option<String>,
    /// `--cold`: boot the default Debian image from scratch, not from its snapshot.
    pub cold: bool,
    /// `--image DIR_OR_URL`: where the default Debian image and its snapshot are
    /// (default `~/.cache/tab86/rootfs/http`).
    pub image: Option<String>,
    /// A snapshot to continue, already read (the default image's, see `instant`).
    pub snapshot: Option<Vec<u8>>,
}

/// Usage text.
pub const USAGE: &str = "usage:
  tab86 [run] [--cold] [--image DIR_OR_URL]
                                   the Debian root image (images/build-rootfs.sh) at its root shell in
                                   about a second, restored from the snapshot images/build-snapshot.sh
                                   ships beside it (snapshot/ in DIR_OR_URL, default
                                   ~/.cache/tab86/rootfs/http); writes go to the overlay
                                   ~/.cache/tab86/overlay/debian-i386.cow. It boots cold instead (with a
                                   one-line note) when the snapshot is missing or does not fit the image,
                                   the options or the overlay (an overlay written since the snapshot is
                                   kept and booted cold; delete it to start from the snapshot again);
                                   --cold always boots cold. Without a Debian image: the busybox
                                   initramfs of images/build.sh
  tab86 run --bios FILE            start a 64/128 KiB firmware/test ROM at the reset vector
  tab86 run --kernel K [--initrd I] [--append STR]   Linux boot protocol (bzImage) or Multiboot
  tab86 pack IMAGE OUTDIR [--chunk-size N]   cut a raw image into a chunked image (manifest.json + chunks/)
  tab86 serve DIR [--port N] [--latency-ms MS] [--verbose] [--max-connections N] [--max-per-client N]
                                   serve DIR over HTTP on 127.0.0.1 (default port 8080; at most 512
                                   connections, 128 per client address)
options:
  --mem SIZE            guest RAM, e.g. 256M (default 256M; 16M with --bios)
  --debugcon PORT[:FILE]  append guest writes to PORT to FILE (default stderr); repeatable
  --script FILE         expect-like console script (wait/send/sendline/timeout)
  --serial-log FILE     copy of everything the guest prints on COM1
  --timeout SECS        stop with status 124 after SECS host seconds
  --deterministic       virtual time from retired instructions (same output every run; the
                        CMOS clock starts at 2023-11-14 22:13:20 UTC unless --rtc-epoch)
  --no-apic             the PIC-only board (8259A pair only, no local APIC/IO-APIC/MADT)
  --rtc-epoch SECS      the CMOS clock at power-on, in Unix seconds (default: now)
  --stats               print instructions, MIPS and cache size at exit
  --dump-ram FILE       write guest RAM to FILE when the machine stops (debugging)
  --disk PATH_OR_URL    a virtio-blk disk (repeatable: vda, vdb, ...): a raw image file (read-write),
                        a chunked image folder or manifest.json, an http:// or https:// URL of a
                        manifest.json (or ending in /) for a chunked image, or of a raw image
                        (read with Range)
  --overlay FILE        for the last --disk: keep it read-only, write to this copy-on-write file
                        (created if missing; refused if made for another base image)
  --disk-ro             for the last --disk: read-only
  --disk-cache-mb N     memory cache for remote disks, per disk (default 64)
  --ca-file FILE        also trust the CA certificates in this PEM file for https disks (default:
                        $TAB86_CA_FILE if set; the bundled public roots are always trusted)
  --trace LIST          trace insn,int,exc (instructions, interrupts, exceptions)
  --trace-file FILE     write the trace to FILE (default stderr)
  --trace-start N       start tracing after N instructions
  --save-state FILE     save a snapshot of the machine to FILE at exit (and on Ctrl-A S)
  --load-state FILE     continue the machine saved in FILE (same --disk options; RAM size and
                        clock mode come from the snapshot)
  --cold                with no machine given: boot the Debian image from scratch (about a minute)
  --image DIR_OR_URL    with no machine given: the chunked Debian image (and its snapshot/) to use
  --no-jit              interpret only (by default hot code is compiled to wasm and run by wasmtime)
  --jit-threshold N     compile a page when one of its blocks has run N times (benchmarks; by
                        default a page compiles once its runs pay for the compile time)
  --jit-opt LEVEL       Cranelift's optimization level: none, speed (default), size (benchmarks)
  --profile FILE        sample the guest's linear EIP at the end of every slice, weighted by the
                        instructions it retired; write 'count address' lines to FILE at exit
exit status: 0 poweroff/halt after a kernel boot, (v<<1)|1 after isa-debug-exit v,
  2 --bios halted with interrupts off, 3 triple fault, 4 error, 5 script failed, 124 timeout";

/// The CMOS clock of a deterministic run (2023-11-14 22:13:20 UTC), as the test
/// boots and the Node runner use it.
const DETERMINISTIC_RTC_EPOCH: u64 = 1_700_000_000;

fn parse_size(s: &str) -> Result<u32, String> {
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1 << 20),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size '{s}'"))?;
    let bytes = n.saturating_mul(mul);
    if !(1 << 20..=3 << 30).contains(&bytes) {
        return Err(format!("--mem {s}: must be between 1M and 3G"));
    }
    Ok(bytes as u32)
}

/// The longest `--timeout` accepted: a year, far beyond any run and far inside
/// what a host clock can add to `Instant`.
const MAX_TIMEOUT_SECS: f64 = 365.0 * 86400.0;

/// Parses `--timeout SECS`: a finite, non-negative number of seconds up to a year.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=MAX_TIMEOUT_SECS).contains(&v) => Ok(v),
        _ => Err(format!(
            "bad --timeout '{s}': give seconds from 0 to {MAX_TIMEOUT_SECS}"
        )),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u16::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|_| format!("bad port '{s}'"))
}

/// Parses the arguments after the program name.
pub fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        command: Command::Run,
        bios: None,
        kernel: None,
        initrd: None,
        append: None,
        mem: 0,
        debugcon: Vec::new(),
        script: None,
        serial_log: None,
        timeout: None,
        deterministic: false,
        no_apic: false,
        rtc_epoch: None,
        stats: false,
        slice: 200_000,
        dump_ram: None,
        disks: Vec::new(),
        disk_cache_mb: None,
        ca_file: None,
        trace: None,
        trace_file: None,
        trace_start: 0,
        profile: None,
        no_jit: false,
        jit_threshold: None,
        jit_opt: Default::default(),
        save_state: None,
        load_state: None,
        cold: false,
        image: None,
        snapshot: None,
    };
    let mut it = args.peekable();
    if let Some(first) = it.peek() {
        match first.as_str() {
            "run" => {
                it.next();
            }
            "help" | "-h" | "--help" => {
                a.command = Command::Help;
                return Ok(a);
            }
            "pack" | "serve" => {
                let tool = it.next().unwrap_or_default();
                let rest = it.collect();
                a.command = if tool == "pack" {
                    Command::Pack(rest)
                } else {
                    Command::Serve(rest)
                };
                return Ok(a);
            }
            _ => {}
        }
    }
    while let Some(opt) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{opt} needs a value"));
        match opt.as_str() {
            "--bios" => a.bios = Some(val()?),
            "--kernel" => a.kernel = Some(val()?),
            "--initrd" => a.initrd = Some(val()?),
            "--append" => a.append = Some(val()?),
            "--mem" | "-m" => a.mem = parse_size(&val()?)?,
            "--debugcon" => {
                let v = val()?;
                let (p, f) = match v.split_once(':') {
                    Some((p, f)) => (p, Some(f.to_string())),
                    None => (v.as_str(), None),
                };
                a.debugcon.push((parse_port(p)?, f));
            }
            "--script" => a.script = Some(val()?),
            "--serial-log" => a.serial_log = Some(val()?),
            "--timeout" => {
                let v = val()?;
                a.timeout = Some(parse_seconds(&v)?);
            }
            "--deterministic" => a.deterministic = true,
            "--no-apic" => a.no_apic = true,
            "--rtc-epoch" => {
                let v = val()?;
                a.rtc_epoch = Some(
                    v.parse()
                        .map_err(|_| format!("bad --rtc-epoch '{v}': give Unix seconds"))?,
                );
            }
            "--stats" => a.stats = true,
            "--dump-ram" => a.dump_ram = Some(val()?),
            "--disk" => a.disks.push(tab86_storage::DiskSpec {
                source: val()?,
                ..Default::default()
            }),
            "--overlay" | "--disk-ro" => {
                let ov = if opt == "--overlay" {
                    Some(val()?)
                } else {
                    None
                };
                let d = a
                    .disks
                    .last_mut()
                    .ok_or_else(|| format!("{opt} must follow a --disk"))?;
                match ov {
                    Some(f) => d.overlay = Some(f.into()),
                    None => d.read_only = true,
                }
            }
            "--disk-cache-mb" => {
                let v = val()?;
                a.disk_cache_mb = Some(
                    v.parse()
                        .map_err(|_| format!("bad --disk-cache-mb '{v}'"))?,
                );
            }
            "--ca-file" => a.ca_file = Some(val()?),
            "--trace" => {
                let mut t = (false, false, false);
                for k in val()?.split(',') {
                    match k {
                        "insn" => t.0 = true,
                        "int" => t.1 = true,
                        "exc" => t.2 = true,
                        _ => return Err(format!("--trace: unknown kind '{k}' (insn, int, exc)")),
                    }
                }
                a.trace = Some(t);
            }
            "--trace-file" => a.trace_file = Some(val()?),
            "--profile" => a.profile = Some(val()?),
            "--no-jit" => a.no_jit = true,
            "--jit-threshold" => {
                let v = val()?;
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("bad --jit-threshold '{v}'"))?;
                a.jit_threshold = Some(n.max(1));
            }
            "--jit-opt" => a.jit_opt = val()?.parse()?,
            "--save-state" => a.save_state = Some(val()?),
            "--load-state" => a.load_state = Some(val()?),
            "--cold" => a.cold = true,
            "--image" => a.image = Some(val()?),
            "--trace-start" => {
                let v = val()?;
                a.trace_start = v.parse().map_err(|_| format!("bad --trace-start '{v}'"))?;
            }
            "-h" | "--help" => a.command = Command::Help,
            _ => return Err(format!("unknown option '{opt}'")),
        }
    }
    if a.trace.is_none() && (a.trace_file.is_some() || a.trace_start != 0) {
        return Err("--trace-file and --trace-start need --trace".into());
    }
    if a.bios.is_some() && a.kernel.is_some() {
        return Err("--bios and --kernel exclude each other".into());
    }
    if a.load_state.is_some() && (a.bios.is_some() || a.kernel.is_some() || a.initrd.is_some()) {
        return Err(
            "--load-state continues a saved machine: no --bios, --kernel or --initrd".into(),
        );
    }
    if (a.cold || a.image.is_some())
        && (a.bios.is_some()
            || a.kernel.is_some()
            || a.initrd.is_some()
            || a.load_state.is_some()
            || !a.disks.is_empty())
    {
        return Err(
            "--cold and --image are for the default Debian machine: no --bios, --kernel, --initrd, --load-state or --disk".into(),
        );
    }
    Ok(a)
}

fn read(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {path}: {e}"))
}

/// The default image from images/build.sh (its images.env).
fn default_image() -> Result<(String, String), String> {
    let cache = crate::instant::cache_dir();
    let env = format!("{cache}/images/images.env");
    let text = std::fs::read_to_string(&env).map_err(|_| format!("no kernel given and no default image at {env}: run images/build.sh (or pass --kernel/--bios)"))?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{k}="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .ok_or_else(|| format!("{env} has no {k}"))
    };
    Ok((get("KERNEL")?, get("INITRD")?))
}

impl Args {
    /// The CPU trace asked for with `--trace` (opens `--trace-file`).
    pub fn trace(&self) -> Result<Option<tab86_machine::Trace>, String> {
        let Some((insn, int, exc)) = self.trace else {
            return Ok(None);
        };
        let out: Box<dyn std::io::Write> = match &self.trace_file {
            Some(f) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(f).map_err(|e| format!("cannot create {f}: {e}"))?,
            )),
            None => Box::new(std::io::stderr()),
        };
        Ok(Some(tab86_machine::Trace::new(
            insn,
            int,
            exc,
            self.trace_start,
            out,
        )))
    }

    /// Builds the machine configuration (reads the files named on the command line).
    pub fn machine_config(&self) -> Result<Config, String> {
        // A snapshot brings its own RAM size and clock mode unless they are given
        // (and then they must match it).
        let mut saved = None;
        let firmware = if let Some(bytes) = &self.snapshot {
            let h = tab86_machine::snapshot::peek_header(bytes)
                .map_err(|e| format!("the shipped snapshot: {e}"))?;
            saved = Some(h);
            Firmware::Snapshot(bytes.clone())
        } else if let Some(f) = &self.load_state {
            let bytes = read(f, "snapshot")?;
            let h =
                tab86_machine::snapshot::peek_header(&bytes).map_err(|e| format!("{f}: {e}"))?;
            saved = Some(h);
            Firmware::Snapshot(bytes)
        } else if let Some(b) = &self.bios {
            Firmware::Bios(read(b, "ROM")?)
        } else {
            let (kernel, initrd) = match &self.kernel {
                Some(k) => (k.clone(), self.initrd.clone()),
                None => {
                    let (k, i) = default_image()?;
                    (k, Some(self.initrd.clone().unwrap_or(i)))
                }
            };
            Firmware::Kernel {
                kernel: read(&kernel, "kernel")?,
                initrd: match initrd {
                    Some(i) => Some(read(&i, "initrd")?),
                    None => None,
                },
                cmdline: self
                    .append
                    .clone()
                    .unwrap_or_else(|| "console=ttyS0".into()),
            }
        };
        let mem = if self.mem != 0 {
            self.mem
        } else if let Some(h) = &saved {
            h.mem_size
        } else if self.bios.is_some() {
            16 << 20
        } else {
            256 << 20
        };
        let mut debugcon = Vec::new();
        for (port, file) in &self.debugcon {
            let out: Box<dyn std::io::Write> = match file {
                Some(f) => Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(f)
                        .map_err(|e| format!("cannot open {f}: {e}"))?,
                ),
                None => Box::new(std::io::stderr()),
            };
            debugcon.push(DebugCon { port: *port, out });
        }
        Ok(Config {
            mem_size: mem,
            firmware,
            clock: if self.deterministic || saved.as_ref().is_some_and(|h| h.deterministic) {
                ClockMode::Deterministic
            } else {
                ClockMode::RealTime
            },
            debugcon,
            serial: Box::new(std::io::sink()),
            rtc_epoch: self.rtc_epoch.unwrap_or(if self.deterministic {
                // A fixed start, so that deterministic runs (and the Node runner's)
                // print the same dates and take the same paths.
                DETERMINISTIC_RTC_EPOCH
            } else {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            }),
            disks: Vec::new(),
            apic: !self.no_apic,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Args, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn trace_options() {
        let a = p(&["run", "--trace", "insn,exc", "--trace-start", "42"]).unwrap();
        assert_eq!(a.trace, Some((true, false, true)));
        assert_eq!(a.trace_start, 42);
        assert!(p(&["--trace", "int"]).unwrap().trace == Some((false, true, false)));
        assert!(p(&["--trace", "insn,bogus"]).is_err());
        assert!(p(&["--trace-file", "t.log"]).is_err());
        assert!(p(&["--trace", "exc", "--trace-start", "x"]).is_err());
    }
}
