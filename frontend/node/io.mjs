// Disk I/O for tab86 under Node: the host side of the wasm package's disks
// (frontend/web/src/disk.rs). The formats and policies (manifest, chunk
// verification, retries, read-ahead, the overlay format) are in the package;
// this file only moves bytes: `fetch` (or node:fs for local paths) for the
// manifest and the chunks, synchronous node:fs calls for the overlay file.
//
//   const disks = await openDisks(pkg, options, [{ source, overlay, readOnly }]);
//   const m = new pkg.Machine(options);
//   const io = new DiskIO(m, onMessage);  // call io.pump() after every m.step/m.run
//   await io.settled();                   // after "io": until a fetch is answered
//   disks.commit();                       // after new Machine(): link new overlays into place
//
// Every failure is a message (thrown as DiskError when opening, reported to the
// guest as an I/O error while running); nothing here throws past the runner.

import fs from "node:fs";
import path from "node:path";

/** An error opening a disk: the runner prints the message and exits with 4. */
export class DiskError extends Error {}

const FETCH_TIMEOUT_MS = 60_000;

/** Whether a source is a URL (else a host path). */
const isUrl = (s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/** The CLI's classification: URLs ending in `/` or `.json` (and local folders
 * and .json files) are chunked images, other sources raw images. */
export function classify(source) {
  if (isUrl(source)) {
    if (source.endsWith("/")) return { kind: "chunked", url: source + "manifest.json" };
    if (source.endsWith(".json")) return { kind: "chunked", url: source };
    return { kind: "raw", url: source };
  }
  let dir = false;
  try {
    dir = fs.statSync(source).isDirectory();
  } catch {
    // a missing file is reported when it is read
  }
  if (dir) return { kind: "chunked", url: path.join(source, "manifest.json") };
  if (source.endsWith(".json")) return { kind: "chunked", url: source };
  return { kind: "raw", url: source };
}

/** Why a fetch failed: `err.status` is the HTTP status (0 for the network or a file). */
function fetchError(status, msg) {
  const e = new Error(msg);
  e.status = status;
  return e;
}

function describe(e) {
  const c = e && e.cause;
  if (c && (c.code || c.message)) return `${c.code ?? ""}${c.code && c.message ? " " : ""}${c.message ?? ""}`;
  return e && e.message ? e.message : String(e);
}

/** GETs a URL or reads a host path; `range` is [start, end) or undefined.
 * Resolves to a Uint8Array; rejects with an error carrying `status`. */
export async function getBytes(url, range) {
  if (!isUrl(url)) {
    try {
      if (!range) return new Uint8Array(await fs.promises.readFile(url));
      const fh = await fs.promises.open(url, "r");
      try {
        const buf = new Uint8Array(range[1] - range[0]);
        const { bytesRead } = await fh.read(buf, 0, buf.length, range[0]);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw fetchError(0, e.message);
    }
  }
  const headers = range ? { Range: `bytes=${range[0]}-${range[1] - 1}` } : {};
  let r;
  try {
    r = await fetch(url, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (e) {
    throw fetchError(0, describe(e));
  }
  if (!(r.status === 200 || (range && r.status === 206))) {
    try { await r.body?.cancel(); } catch { /* nothing to release */ }
    throw fetchError(r.status, `HTTP status ${r.status}`);
  }
  let bytes;
  try {
    bytes = new Uint8Array(await r.arrayBuffer());
  } catch (e) {
    throw fetchError(0, describe(e));
  }
  // A server that ignored the Range header sent the whole image.
  if (range && r.status === 200) bytes = bytes.subarray(range[0], range[1]);
  return bytes;
}

/** The size of a raw image (HEAD, else a one-byte Range GET; stat for paths). */
async function rawSize(url) {
  if (!isUrl(url)) {
    try {
      return fs.statSync(url).size;
    } catch (e) {
      throw new DiskError(`cannot open disk ${e.message}`);
    }
  }
  try {
    const r = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    const n = Number(r.headers.get("content-length"));
    if (r.ok && Number.isSafeInteger(n) && n > 0) return n;
    const g = await fetch(url, { headers: { Range: "bytes=0-0" }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    try { await g.body?.cancel(); } catch { /* nothing to release */ }
    const m = /\/(\d+)$/.exec(g.headers.get("content-range") ?? "");
    if (g.status === 206 && m) return Number(m[1]);
    throw new Error(`HTTP status ${g.status}, no size`);
  } catch (e) {
    throw new DiskError(`cannot open disk ${url}: ${describe(e)}`);
  }
}

/** The overlay file as the package wants it: synchronous read/write/sync/size. */
function fileHandle(fd, name) {
  const wrap = (what, f) => {
    try {
      return f();
    } catch (e) {
      throw `${name}: ${what}: ${e.message}`; // a string: the package's message
    }
  };
  return {
    read(offset, buf) {
      wrap("read", () => {
        let done = 0;
        while (done < buf.length) {
          const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
          if (n === 0) throw new Error(`short read at ${offset + done}`);
          done += n;
        }
      });
    },
    write(offset, data) {
      wrap("write", () => {
        let done = 0;
        while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
      });
    },
    sync() {
      wrap("sync", () => fs.fdatasyncSync(fd));
    },
    size() {
      return wrap("size", () => fs.fstatSync(fd).size);
    },
  };
}

/**
 * Opens the disks into `options` (a MachineOptions): fetches manifests and
 * opens overlays. `specs` = [{ source, overlay, readOnly }]. Throws DiskError.
 * Returns { commit() } which links newly created overlays into place; call it
 * once the machine accepted them (as the CLI, a new overlay is written and
 * synced under NAME.new first, so a crash never leaves half an overlay).
 */
export async function openDisks(options, specs) {
  const fresh = [];
  for (const spec of specs) {
    const c = classify(spec.source);
    if (c.kind === "raw") {
      if (spec.overlay !== undefined)
        throw new DiskError(`overlay ${spec.overlay}: an overlay over a raw image is not supported under Node yet; use a chunked image`);
      if (!spec.readOnly && !isUrl(spec.source))
        process.stderr.write(`tab86: ${spec.source}: local raw images are read-only under Node\n`);
      const size = await rawSize(c.url);
      try {
        options.add_raw_disk(c.url, size);
      } catch (e) {
        throw new DiskError(String(e));
      }
      continue;
    }
    let manifest;
    try {
      manifest = await getBytes(c.url);
    } catch (e) {
      throw new DiskError(`cannot ${isUrl(c.url) ? "fetch" : "read"} ${c.url}: ${e.message}`);
    }
    let handle;
    let name;
    if (spec.overlay !== undefined) {
      name = spec.overlay;
      let fd;
      try {
        fd = fs.openSync(name, "r+");
      } catch (e) {
        if (e.code !== "ENOENT") throw new DiskError(`overlay ${name}: ${e.message}`);
        const tmp = `${name}.new`;
        try {
          fd = fs.openSync(tmp, "w+");
        } catch (e2) {
          throw new DiskError(`overlay ${name}: ${e2.message}`);
        }
        fresh.push({ tmp, name });
      }
      handle = fileHandle(fd, name);
    }
    try {
      options.add_chunked_disk(c.url, manifest, handle, name, !!spec.readOnly);
    } catch (e) {
      throw new DiskError(String(e));
    }
  }
  return {
    commit() {
      for (const { tmp, name } of fresh) {
        try {
          fs.linkSync(tmp, name);
        } catch (e) {
          if (e.code !== "EEXIST") fs.renameSync(tmp, name);
          else throw new DiskError(`overlay ${name}: created by another process meanwhile`);
        }
        try { fs.unlinkSync(tmp); } catch { /* renamed */ }
      }
      fresh.length = 0;
    },
  };
}

/** Performs a machine's fetches and delivers their results. */
export class DiskIO {
  /** `onAnswer` is called after each answered fetch (to wake an idle wait). */
  constructor(machine, onAnswer = () => {}) {
    this.m = machine;
    this.onAnswer = onAnswer;
    this.waiters = [];
    this.inFlight = 0;
  }

  /** Starts every fetch the machine posted since the last call. */
  pump() {
    for (const f of this.m.take_fetches()) {
      const id = f.id;
      const url = f.url;
      const range = f.start >= 0 ? [f.start, f.end] : undefined;
      const delay = f.delay_ms;
      f.free();
      this.inFlight++;
      const go = async () => {
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        return getBytes(url, range);
      };
      go().then(
        (bytes) => this.answer(() => this.m.complete_fetch(id, bytes)),
        (e) => this.answer(() => this.m.fail_fetch(id, e.status ?? 0, e.message ?? String(e))),
      );
    }
  }

  answer(deliver) {
    this.inFlight--;
    try {
      deliver();
    } catch (e) {
      process.stderr.write(`tab86: delivering a fetch: ${e}\n`);
    }
    this.pump(); // a retry may have been posted
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
    this.onAnswer();
  }

  /** Resolves when the next fetch is answered (at once if none is running). */
  settled() {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
}
