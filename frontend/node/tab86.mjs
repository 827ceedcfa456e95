#!/usr/bin/env node
// tab86 under Node: the wasm-bindgen package (frontend/web, built into
// target/web/pkg by `bash frontend/web/build.sh`) run by the shared driver.
//
//   node frontend/node/tab86.mjs run --kernel K [--initrd I] [--append STR] [--mem 256M]
//        [--deterministic] [--timeout SECS] [--script FILE] [--serial-log FILE] [--stats]
//        [--rtc-epoch SECS] [--no-jit] [--jit-threshold RUNS] [--jit-sync]
//        [--disk PATH_OR_URL [--overlay FILE] [--disk-ro]]... [--disk-cache-mb N]
//        [--save-state FILE] [--load-state FILE]
//
// COM1 is standard output; standard input is forwarded to the guest unless a
// script drives the console. Exit statuses are the native CLI's.

import { createRequire } from "node:module";
import { readFileSync, openSync, writeSync, closeSync, existsSync, writeFileSync, renameSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { openDisks, DiskIO, DiskError } from "./io.mjs";

const ERROR = 4;
const USAGE = `usage: node frontend/node/tab86.mjs run --kernel K [--initrd I] [--append STR]
  [--mem SIZE] [--deterministic] [--timeout SECS] [--script FILE] [--serial-log FILE] [--stats]
  [--rtc-epoch SECS]  the CMOS clock at power-on (default: now; 1700000000 with --deterministic, as the CLI)
  [--disk PATH_OR_URL [--overlay FILE] [--disk-ro]]...  virtio-blk disks (vda, vdb, ...): a chunked
      image (URL ending in / or .json, a folder) or a raw image (URL read with Range, a file; read-only);
      --overlay keeps the writes in a copy-on-write file (the CLI's format)
  [--disk-cache-mb N]  memory cache per disk (default 64)
  [--no-jit]  interpret only (by default hot code is compiled to wasm and run by V8)
  [--jit-threshold RUNS]  runs of a block that make its page hot (default 20000)
  [--jit-sync]  compile with new WebAssembly.Module on the CPU's thread (default: WebAssembly.compile)
  [--save-state FILE]  save a snapshot of the machine to FILE at exit (a script's savestate FILE too)
  [--load-state FILE]  continue the machine saved in FILE (natively or here) instead of booting: no
      --kernel/--initrd; the same --disk options; RAM size and clock mode come from the snapshot
  (build the package first: bash frontend/web/build.sh)`;

function fail(msg) {
  process.stderr.write(`tab86: ${msg}\n`);
  process.exit(ERROR);
}

function parseSize(s) {
  const m = /^(\d+)([KkMmGg]?)$/.exec(s);
  if (!m) fail(`bad size '${s}'`);
  const mul = { "": 1 << 20, k: 1 << 10, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase()];
  const bytes = Number(m[1]) * mul;
  if (bytes < 1 << 20 || bytes > 3 * 2 ** 30) fail(`--mem ${s}: must be between 1M and 3G`);
  return bytes;
}

function parseArgs(argv) {
  const a = { append: "console=ttyS0", mem: 256 << 20, deterministic: false, stats: false, jit: true, jitAsync: true, disks: [] };
  let i = 0;
  if (argv[0] === "run") i++;
  else if (argv[0] === "help" || argv[0] === "-h" || argv[0] === "--help") {
    console.log(USAGE);
    process.exit(0);
  }
  const val = (opt) => {
    if (i >= argv.length) fail(`${opt} needs a value\n${USAGE}`);
    return argv[i++];
  };
  while (i < argv.length) {
    const opt = argv[i++];
    switch (opt) {
      case "--kernel": a.kernel = val(opt); break;
      case "--initrd": a.initrd = val(opt); break;
      case "--append": a.append = val(opt); break;
      case "--mem": case "-m": a.mem = parseSize(val(opt)); break;
      case "--script": a.script = val(opt); break;
      case "--serial-log": a.serialLog = val(opt); break;
      case "--timeout": {
        const v = val(opt);
        const t = Number(v);
        if (v === "" || !Number.isFinite(t) || t < 0 || t > 365 * 86400)
          fail(`bad --timeout '${v}': give seconds from 0 to ${365 * 86400}`);
        a.timeout = t;
        break;
      }
      case "--rtc-epoch": {
        const v = val(opt);
        if (!/^\d+$/.test(v)) fail(`bad --rtc-epoch '${v}': give Unix seconds`);
        a.rtcEpoch = Number(v);
        break;
      }
      case "--disk": a.disks.push({ source: val(opt) }); break;
      case "--overlay": case "--disk-ro": {
        const d = a.disks[a.disks.length - 1];
        if (!d) fail(`${opt} must follow a --disk`);
        if (opt === "--overlay") d.overlay = val(opt);
        else d.readOnly = true;
        break;
      }
      case "--disk-cache-mb": {
        const v = val(opt);
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65536) fail(`bad --disk-cache-mb '${v}'`);
        a.diskCacheMb = Number(v);
        break;
      }
      case "--save-state": a.saveState = val(opt); break;
      case "--load-state": a.loadState = val(opt); break;
      case "--deterministic": a.deterministic = true; break;
      case "--stats": a.stats = true; break;
      case "--no-jit": a.jit = false; break;
      case "--jit-sync": a.jitAsync = false; break;
      case "--jit-threshold": {
        const v = val(opt);
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 0xffffffff)
          fail(`bad --jit-threshold '${v}': give a number of runs from 1`);
        a.jitThreshold = Number(v);
        break;
      }
      default: fail(`unknown option '${opt}'\n${USAGE}`);
    }
  }
  if (a.loadState !== undefined && (a.kernel || a.initrd))
    fail("--load-state continues a saved machine: no --kernel or --initrd");
  if (!a.kernel && a.loadState === undefined) fail(`no --kernel given\n${USAGE}`);
  return a;
}

function read(file, what) {
  try {
    return readFileSync(file);
  } catch (e) {
    fail(`cannot read ${what} ${file}: ${e.message}`);
  }
}

function loadPackage() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dir = path.resolve(process.env.TAB86_WEB_PKG || path.join(here, "..", "..", "target", "web", "pkg"));
  const js = path.join(dir, "tab86_web.js");
  if (!existsSync(js)) fail(`no wasm package at ${dir}: run bash frontend/web/build.sh`);
  try {
    return createRequire(import.meta.url)(js);
  } catch (e) {
    fail(`cannot load the wasm package ${js}: ${e.message}`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const kernel = args.kernel === undefined ? undefined : read(args.kernel, "kernel");
  const snapshot = args.loadState === undefined ? undefined : read(args.loadState, "snapshot");
  const initrd = args.initrd === undefined ? undefined : read(args.initrd, "initrd");
  const script = args.script === undefined ? undefined : read(args.script, "script").toString("utf8");
  let log = null;
  if (args.serialLog !== undefined) {
    try {
      log = openSync(args.serialLog, "w");
    } catch (e) {
      fail(`cannot create ${args.serialLog}: ${e.message}`);
    }
  }
  const pkg = loadPackage();
  const o = new pkg.MachineOptions();
  o.mem = args.mem;
  if (kernel !== undefined) o.kernel = kernel;
  o.initrd = initrd;
  o.snapshot = snapshot;
  o.cmdline = args.append;
  o.deterministic = args.deterministic;
  o.timeout_ms = args.timeout === undefined ? undefined : args.timeout * 1e3;
  o.script = script;
  // Like the native CLI, the CMOS clock starts at the host's wall clock unless
  // --rtc-epoch says otherwise (to reproduce a native run's output byte for byte).
  o.jit = args.jit;
  o.jit_threshold = args.jitThreshold;
  o.jit_async = args.jitAsync;
  // A deterministic snapshot restores its CMOS clock from the snapshot; a
  // real-time one gets the host's time, as natively.
  o.rtc_epoch = args.rtcEpoch ?? (args.deterministic ? 1700000000 : Math.floor(Date.now() / 1000));
  let disks;
  try {
    if (args.diskCacheMb !== undefined) o.disk_cache_mb = args.diskCacheMb;
    disks = await openDisks(o, args.disks);
  } catch (e) {
    fail(e instanceof DiskError ? e.message : String(e));
  }
  let m;
  try {
    m = new pkg.Machine(o);
    disks.commit();
  } catch (e) {
    fail(e instanceof DiskError ? e.message : String(e));
  }
  const started = performance.now();

  let wake = null; // resolves an idle wait early when input arrives
  if (!m.scripted()) {
    process.stdin.on("data", (b) => {
      m.input(b);
      if (wake) wake();
    });
    process.stdin.on("end", () => process.stdin.pause());
  }
  const io = new DiskIO(m, () => { if (wake) wake(); });
  const store = (file, bytes) => {
    try {
      // Written under another name and renamed, as natively: a crash keeps the old file.
      writeFileSync(`${file}.tmp`, bytes);
      renameSync(`${file}.tmp`, file);
      return true;
    } catch (e) {
      process.stderr.write(`tab86: cannot write ${file}: ${e.message}\n`);
      return false;
    }
  };
  const flush = () => {
    io.pump();
    for (let s = m.take_saved(); s !== undefined; s = m.take_saved()) {
      if (!store(s.path, s.bytes)) {
        if (log !== null) closeSync(log);
        process.exit(ERROR);
      }
    }
    const diskErrors = m.take_disk_errors();
    if (diskErrors) process.stderr.write(diskErrors.replace(/^/gm, "tab86: ").replace(/tab86: $/, ""));
    const out = m.take_output();
    if (out.length) {
      writeSync(1, out);
      if (log !== null) writeSync(log, out);
    }
    const msg = m.take_messages();
    if (msg) process.stderr.write(msg);
  };

  let status;
  for (;;) {
    // Slices for up to 20 ms, then back to the event loop (stdin, signals).
    let kind;
    try {
      kind = m.run(20);
    } catch (e) {
      // A trap in JIT-generated code (called directly, it cannot be caught
      // inside wasm) or a panic: this machine cannot go on.
      flush();
      if (log !== null) closeSync(log);
      fail(`the machine stopped: ${e && e.message ? e.message : e}` +
        (args.jit ? " (a JIT bug if it is a WebAssembly trap: --no-jit runs without it)" : ""));
    }
    flush();
    if (kind === "exit") {
      status = m.exit_status;
      break;
    }
    if (kind === "idle") {
      const t = performance.now();
      await new Promise((resolve) => {
        const timer = setTimeout(() => { wake = null; resolve(); }, Math.max(0, m.wait_ms));
        wake = () => { clearTimeout(timer); wake = null; resolve(); };
      });
      m.idled(performance.now() - t);
    } else if (kind === "io") {
      await io.settled(); // deterministic mode waits for the disks
    } else {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (args.saveState !== undefined) {
    let bytes;
    try {
      bytes = m.save_state();
    } catch (e) {
      process.stderr.write(`tab86: ${e && e.message ? e.message : e}\n`);
      status = ERROR;
    }
    if (bytes !== undefined) {
      if (store(args.saveState, bytes)) process.stderr.write(`tab86: saved the machine to ${args.saveState} (${bytes.length} bytes)\n`);
      else status = ERROR;
    }
  }
  if (log !== null) closeSync(log);
  if (args.stats) process.stderr.write(m.stats() + "\n" + m.disk_stats());
  process.stdin.pause();
  process.exit(status);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
