//! Disks on the command line: `--disk/--overlay/--disk-ro/--disk-cache-mb` for
//! `run`, the `pack` and `serve` tools, storage counters for `--stats`, and a
//! stderr logger for the storage layer's warnings (failed fetches, recoveries).

use crate::args::Args;
use std::sync::Arc;
use std::time::Duration;
use tab86_machine::Config;
use tab86_storage::pack::{pack, DEFAULT_CHUNK_SIZE};
use tab86_storage::serve::{ServeOptions, Server};
use tab86_storage::{DiskOptions, Store};

/// Prints the storage layer's log lines (info and above) and the other crates'
/// warnings and errors (e.g. a JIT module that failed) on stderr.
struct StorageLog;

impl log::Log for StorageLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        let level = if m.target().starts_with("tab86_storage") {
            log::Level::Info
        } else {
            log::Level::Warn
        };
        m.target().starts_with("tab86") && m.level() <= level
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            // SAFETY: isatty only inspects the descriptor.
            let tty = unsafe { libc::isatty(2) } == 1;
            let eol = if tty { "\r\n" } else { "\n" };
            let what = r.target().trim_start_matches("tab86_");
            let what = what.split("::").next().unwrap_or(what);
            eprint!("tab86: {what} {}: {}{eol}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: StorageLog = StorageLog;

/// Installs the stderr logger (once; later calls do nothing).
pub fn init_log() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Opens the `--disk`s into `cfg.disks`; returns their stores for `--stats`.
pub fn attach(args: &Args, cfg: &mut Config) -> Result<Vec<Arc<dyn Store>>, String> {
    if args.disks.is_empty() {
        return Ok(Vec::new());
    }
    let mut opts = DiskOptions::default();
    if let Some(mb) = args.disk_cache_mb {
        opts.fetch.cache_bytes = mb << 20;
    }
    let ca_file = args.ca_file.clone().or_else(|| {
        std::env::var("TAB86_CA_FILE")
            .ok()
            .filter(|v| !v.is_empty())
    });
    if let Some(ca) = ca_file {
        opts.fetch.tls = tab86_storage::http::TlsConfig::new(Some(ca.as_ref()))?;
    }
    let mut stores = Vec::new();
    for spec in &args.disks {
        let d = tab86_storage::open(spec, &opts)?;
        stores.push(d.store);
        cfg.disks.push(Box::new(d.backend));
    }
    Ok(stores)
}

/// One line per disk with counters (remote images only).
pub fn print_stats(stores: &[Arc<dyn Store>]) {
    for (i, s) in stores.iter().enumerate() {
        let name = format!("vd{}", (b'a' + (i as u8 % 26)) as char);
        match s.stats() {
            Some(st) => eprintln!("tab86: stats: {name} ({}): {}", s.describe(), st.summary()),
            None => eprintln!("tab86: stats: {name} ({}): local", s.describe()),
        }
    }
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("bad size '{s}'"))
}

/// `tab86 pack IMAGE OUTDIR [--chunk-size N]`.
pub fn pack_main(rest: &[String]) -> i32 {
    let mut pos = Vec::new();
    let mut chunk = DEFAULT_CHUNK_SIZE;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if a == "--chunk-size" {
            match it.next().map(|v| parse_bytes(v)) {
                Some(Ok(n)) => chunk = n,
                Some(Err(e)) => return fail(&e),
                None => return fail("--chunk-size needs a value"),
            }
        } else if a.starts_with("--") {
            return fail(&format!("pack: unknown option '{a}'"));
        } else {
            pos.push(a.as_str());
        }
    }
    let [image, outdir] = pos[..] else {
        return fail("usage: tab86 pack IMAGE OUTDIR [--chunk-size N]");
    };
    match pack(image.as_ref(), outdir.as_ref(), chunk) {
        Ok(r) => {
            println!(
                "tab86: packed {image}: {} bytes in {} chunks of {chunk} ({} distinct, {} bytes stored) into {outdir}",
                r.size, r.chunks, r.unique, r.stored_bytes
            );
            0
        }
        Err(e) => fail(&e),
    }
}

const SERVE_USAGE: &str = "usage: tab86 serve DIR [--port N] [--latency-ms MS] [--verbose] [--max-connections N] [--max-per-client N]";

/// Parses `tab86 serve`'s arguments: the folder, the port and the options.
fn parse_serve(rest: &[String]) -> Result<(String, u16, ServeOptions), String> {
    let mut dir = None;
    let mut port: u16 = 8080;
    let mut opts = ServeOptions::default();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut number = |what: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{what} needs a number"))
        };
        match a.as_str() {
            "--port" => {
                port = u16::try_from(number("--port")?).map_err(|_| "--port is 0..65535")?
            }
            "--latency-ms" => opts.latency = Duration::from_millis(number("--latency-ms")?),
            "--max-connections" => {
                opts.limits.max_connections = number("--max-connections")?.max(1) as usize
            }
            "--max-per-client" => {
                opts.limits.max_per_client = number("--max-per-client")?.max(1) as usize
            }
            "--verbose" => opts.verbose = true,
            s if s.starts_with("--") => return Err(format!("serve: unknown option '{s}'")),
            s if dir.is_none() => dir = Some(s.to_string()),
            _ => return Err(SERVE_USAGE.into()),
        }
    }
    Ok((dir.ok_or(SERVE_USAGE)?, port, opts))
}

/// `tab86 serve DIR [--port N] [--latency-ms MS] [--verbose] [--max-connections N] [--max-per-client N]`.
pub fn serve_main(rest: &[String]) -> i32 {
    let (dir, port, opts) = match parse_serve(rest) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    match Server::start(dir.as_ref(), &format!("127.0.0.1:{port}"), opts.clone()) {
        Ok(s) => {
            eprintln!(
                "tab86: serving {dir} on http://{}/ (latency {} ms); Ctrl-C stops",
                s.addr(),
                opts.latency.as_millis()
            );
            s.run_forever();
            0
        }
        Err(e) => fail(&format!("serve: {e}")),
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("tab86: {msg}");
    4
}

#[cfg(test)]
mod tests {
    use crate::args::{parse, Command};

    fn args(s: &str) -> Result<crate::args::Args, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn disk_options_apply_to_the_disk_before_them() {
        let a = args("run --disk a.img --overlay a.ovl --disk http://h/m.json --disk b.img --disk-ro --disk-cache-mb 16").unwrap();
        assert_eq!(a.disks.len(), 3);
        assert_eq!(a.disks[0].overlay.as_deref(), Some("a.ovl".as_ref()));
        assert!(!a.disks[0].read_only);
        assert_eq!(a.disks[1].source, "http://h/m.json");
        assert!(a.disks[1].overlay.is_none() && !a.disks[1].read_only);
        assert!(a.disks[2].read_only);
        assert_eq!(a.disk_cache_mb, Some(16));
        assert_eq!(
            args("run --ca-file my-ca.pem").unwrap().ca_file.as_deref(),
            Some("my-ca.pem")
        );
        assert!(args("--overlay x.ovl")
            .err()
            .unwrap()
            .contains("must follow a --disk"));
        assert!(args("--disk-cache-mb lots").is_err());
    }

    #[test]
    fn pack_and_serve_take_the_rest_of_the_line() {
        match args("pack in.img out --chunk-size 128K").unwrap().command {
            Command::Pack(rest) => assert_eq!(rest, ["in.img", "out", "--chunk-size", "128K"]),
            _ => panic!("not pack"),
        }
        assert!(
            matches!(args("serve dir --port 1").unwrap().command, Command::Serve(r) if r.len() == 3)
        );
        assert_eq!(super::parse_bytes("128K"), Ok(128 << 10));
        assert_eq!(super::parse_bytes("1M"), Ok(1 << 20));
        assert!(super::parse_bytes("x").is_err());
    }

    #[test]
    fn serve_options_reach_the_server_limits() {
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let (dir, port, o) = super::parse_serve(&v(
            "www --port 9000 --latency-ms 40 --max-connections 64 --max-per-client 8",
        ))
        .unwrap();
        assert_eq!((dir.as_str(), port), ("www", 9000));
        assert_eq!(o.latency.as_millis(), 40);
        assert_eq!((o.limits.max_connections, o.limits.max_per_client), (64, 8));
        let (_, port, o) = super::parse_serve(&v("www")).unwrap();
        assert_eq!(port, 8080);
        assert_eq!(o.limits, tab86_storage::serve::Limits::default());
        assert!(super::parse_serve(&v("www --max-per-client many")).is_err());
        assert!(super::parse_serve(&v("www --port 70000")).is_err());
        assert!(super::parse_serve(&v("--verbose"))
            .unwrap_err()
            .contains("usage"));
    }

    #[test]
    fn a_missing_disk_is_a_clear_error() {
        let a = args("run --bios /dev/null --disk /nonexistent/disk.img").unwrap();
        let mut cfg = tab86_machine::Config {
            mem_size: 1 << 20,
            firmware: tab86_machine::Firmware::Bios(Vec::new()),
            clock: tab86_machine::ClockMode::Deterministic,
            debugcon: Vec::new(),
            serial: Box::new(std::io::sink()),
            rtc_epoch: 0,
            disks: Vec::new(),
            apic: true,
        };
        let e = super::attach(&a, &mut cfg).err().unwrap();
        assert!(e.contains("/nonexistent/disk.img"), "{e}");
        assert!(cfg.disks.is_empty());
    }
}
