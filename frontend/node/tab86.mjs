#!/usr/bin/env node
// tab86 under Node: the wasm-bindgen package (frontend/web, built into
// target/web/pkg by `bash frontend/web/build.sh`) run by the shared driver.
//
//   node frontend/node/tab86.mjs run --kernel K [--initrd I] [--append STR] [--mem 256M]
//        [--deterministic] [--timeout SECS] [--script FILE] [--serial-log FILE] [--stats]
//        [--rtc-epoch SECS] [--disk PATH_OR_URL [--overlay FILE] [--disk-ro]]...
//
// COM1 is standard output; standard input is forwarded to the guest unless a
// script drives the console. Exit statuses are the native CLI's.

import { createRequire } from "node:module";
import { readFileSync, openSync, writeSync, closeSync, existsSync } from "node:fs";
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
  (interpreter only; build the package first: bash frontend/web/build.sh)`;

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
  const a = { append: "console=ttyS0", mem: 256 << 20, deterministic: false, stats: false, disks: [] };
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
      case "--deterministic": a.deterministic = true; break;
      case "--stats": a.stats = true; break;
      case "--no-jit": break; // there is no JIT under Node yet
      default: fail(`unknown option '${opt}'\n${USAGE}`);
    }
  }
  if (!a.kernel) fail(`no --kernel given\n${USAGE}`);
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
  const kernel = read(args.kernel, "kernel");
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
  o.kernel = kernel;
  o.initrd = initrd;
  o.cmdline = args.append;
  o.deterministic = args.deterministic;
  o.timeout_ms = args.timeout === undefined ? undefined : args.timeout * 1e3;
  o.script = script;
  // Like the native CLI, the CMOS clock starts at the host's wall clock unless
  // --rtc-epoch says otherwise (to reproduce a native run's output byte for byte).
  o.rtc_epoch = args.rtcEpoch ?? (args.deterministic ? 1700000000 : Math.floor(Date.now() / 1000));
  let disks;
  try {
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
  const flush = () => {
    io.pump();
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
    const kind = m.run(20);
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
  if (log !== null) closeSync(log);
  if (args.stats) process.stderr.write(m.stats() + "\n" + m.disk_stats());
  process.stdin.pause();
  process.exit(status);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
