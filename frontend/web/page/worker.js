// tab86's Web Worker: owns the wasm package (pkg-web, `wasm-bindgen --target web`)
// and one Machine, fetches the boot files with progress, and runs the machine in
// slices of at most SLICE_MS so input and control messages are handled between
// them. The page (page.js) never touches the machine: it sends messages.
//
// page -> worker: {type: "boot", kernel, initrd, cmdline, mem, jit}  URLs, command line, bytes of
//                 RAM, false to interpret only (when the package has a JIT)
//                 {type: "input", bytes}   console input for COM1 (Uint8Array)
//                 {type: "pause" | "resume" | "reset" | "poweroff"}
//                 {type: "discard"}        power off, delete the disk's overlay, boot again
//                 {type: "overlay"}        send the overlay's bytes (for a download)
// The boot message may also carry image (a chunked image's manifest.json URL)
// and imageAppend (its command line): with a package that has disks
// (MachineOptions.add_chunked_disk) the image is vda, its writes kept in an OPFS
// file (the native overlay format) named after the image URL.
// Instant start: unless the boot message says cold (?cold, or ?mem= given), the
// worker looks for snapshot/debian-i386.snap and snapshot/debian-i386.cow beside
// the image's manifest.json (images/build-snapshot.sh makes them) and restores
// that machine when the OPFS overlay is new (it is then filled with the shipped
// overlay) or still byte-identical to the shipped overlay; an overlay written
// since, a missing snapshot or one the package refuses is a notice and a cold
// boot. After a restore it types one newline, which releases the shell the
// snapshot left waiting in `read` and sets the guest's clock from the RTC.
// Reset always boots cold.
// file (the native overlay format) named after the image URL, or in IndexedDB
// where OPFS has no sync handles or the boot message says storage: "idb".
// worker -> page: {type: "progress", what, loaded, total}   a boot file arriving (total 0 if unknown)
//                 {type: "output", bytes}  COM1 output (Uint8Array)
//                 {type: "message", text}  driver messages
//                 {type: "state", state}   "loading" | "running" | "paused" | "off"
//                 {type: "stats", mips, instructions, jitShare, wasmBytes, guestBytes}
//                 {type: "error", title, detail}
//                 {type: "exit", status}   the guest stopped the machine (0: it powered off)
//                 {type: "disk", fetched, chunks, total, inFlight, storage}   the image streaming
//                                          (storage: where its changes are kept, "opfs" | "idb" | "memory")
//                 {type: "diskerror", text}   a chunk failed (HTTP error, verification): the
//                                          guest got an I/O error if it stayed unavailable
//                 {type: "overlay", bytes, name}  the overlay file (answer to "overlay")
//                 {type: "notice", text}   something the user should know (not an error)

import init, { Machine, MachineOptions } from "./pkg-web/tab86_web.js";

const SLICE_MS = 25; // run() budget: short enough that input and controls feel immediate
const STATS_MS = 500;

let wasm = null; // the package's exports (its memory, for the status line)
let boot = null; // {kernel, initrd, cmdline, mem}: bytes kept for reset
let m = null;
let paused = false;
let generation = 0; // bumped by reset/power off: an older loop stops
let wake = null; // ends an idle wait or a pause early
// The disk (when booting an image): its manifest, the overlay's OPFS handles
// and the fetch counters the status line shows.
let disk = null; // {url, manifest, total, file, handle, name, label, fetched, chunks}
// The shipped snapshot to restore at the next start (consumed by it).
let snapshot = null; // {bytes, wroteOverlay}
const SNAPSHOT = "snapshot/debian-i386.snap";
const SNAPSHOT_OVERLAY = "snapshot/debian-i386.cow";
// The disk's name for the package when restoring: the disk's id (its
// guest-visible serial, which a snapshot records) is the last 20 bytes of
// "<image> + overlay <name>", and the shipped snapshot was taken natively over
// an overlay whose path ends like this.
const SNAPSHOT_DISK_LABEL = "tab86/overlay/debian-i386.cow";

function post(msg, transfer) {
  self.postMessage(msg, transfer || []);
}

function fail(title, detail) {
  post({ type: "error", title, detail: String(detail) });
}

function kick() {
  if (wake) wake();
}

async function fetchBytes(what, url) {
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch the ${what} ${url}: ${e.message} (network error, or the server does not allow this page's origin)`);
  }
  if (!r.ok) throw new Error(`cannot fetch the ${what} ${url}: HTTP ${r.status} ${r.statusText}`);
  const total = Number(r.headers.get("content-length")) || 0;
  if (!r.body) {
    const b = new Uint8Array(await r.arrayBuffer());
    post({ type: "progress", what, loaded: b.length, total: b.length });
    return b;
  }
  const reader = r.body.getReader();
  const parts = [];
  let loaded = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    const now = performance.now();
    if (now - last > 100) {
      post({ type: "progress", what, loaded, total });
      last = now;
    }
  }
  post({ type: "progress", what, loaded, total: total || loaded });
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// The shipped snapshot beside the image, if it fits the OPFS overlay (filled
// from the shipped one when new); null (with a notice) for a cold boot.
async function shippedSnapshot(image) {
  let snap;
  let shippedOverlay;
  try {
    [snap, shippedOverlay] = await Promise.all([
      fetchBytes("snapshot", new URL(SNAPSHOT, image).href),
      fetchBytes("snapshot overlay", new URL(SNAPSHOT_OVERLAY, image).href),
    ]);
  } catch (e) {
    post({ type: "notice", text: `No snapshot beside the image (${e.message}): booting it cold (about a minute natively, longer here).` });
    return null;
  }
  const h = disk.handle;
  const size = h.getSize();
  if (size === 0) {
    h.write(shippedOverlay, { at: 0 });
    h.flush();
    return { bytes: snap, wroteOverlay: true };
  }
  const mine = new Uint8Array(size);
  h.read(mine, { at: 0 });
  if (size === shippedOverlay.length && mine.every((b, i) => b === shippedOverlay[i])) return { bytes: snap, wroteOverlay: false };
  post({ type: "notice", text: "The disk has changes made in this browser after the snapshot: booting it cold to keep them (Discard changes starts from the snapshot again)." });
  return null;
}

function build() {
  if (snapshot) {
    const s = snapshot;
    snapshot = null;
    try {
      const o = new MachineOptions();
      o.snapshot = s.bytes;
      o.rtc_epoch = Math.floor(Date.now() / 1000);
      if (boot.jit === false && "jit" in o) o.jit = false;
      jitSeen = boot.jit !== false;
      const overlay = disk.handle ? syncFile(disk.handle, disk.name) : undefined;
      o.add_chunked_disk(disk.url, disk.manifest, overlay, SNAPSHOT_DISK_LABEL, false);
      const restored = new Machine(o);
      restored.input(new TextEncoder().encode("\n"));
      boot.mem = 512 * 1024 * 1024; // the snapshot's RAM, for the status line
      return restored;
    } catch (e) {
      post({ type: "notice", text: `The snapshot does not fit this image (${e}): booting it cold.` });
      if (s.wroteOverlay) disk.handle.truncate(0); // the overlay starts new for the cold boot
    }
  }
  const o = new MachineOptions();
  o.mem = boot.mem;
  o.kernel = boot.kernel;
  o.initrd = boot.initrd;
  o.cmdline = boot.cmdline;
  o.deterministic = false;
  o.rtc_epoch = Math.floor(Date.now() / 1000);
  if (boot.jit === false && "jit" in o) o.jit = false; // ?jit=0: interpret only
  jitSeen = boot.jit !== false;
  // A new overlay gets its header when the disk is added: if the machine then
  // cannot be built (a bad ?kernel=), the file is left empty again, so the next
  // load of the image still restores its snapshot.
  const wasEmpty = disk && disk.handle && disk.handle.getSize() === 0;
  try {
    if (disk) {
      const overlay = disk.handle ? syncFile(disk.handle, disk.name) : undefined;
      o.add_chunked_disk(disk.url, disk.manifest, overlay, disk.name, false);
    }
    return new Machine(o); // throws a message on bad input
  } catch (e) {
    if (wasEmpty) disk.handle.truncate(0);
    throw e;
  }
}

// The overlay file as the package wants it: synchronous reads and writes at
// offsets (OPFS FileSystemSyncAccessHandle, which only Workers have).
function syncFile(h, name) {
  // Failures are thrown as strings: the package's message for the guest's I/O error.
  const wrap = (what, f) => {
    try {
      return f();
    } catch (e) {
      throw `${name}: ${what}: ${e && e.message ? e.message : e}`;
    }
  };
  return {
    read(offset, buf) {
      wrap("read", () => {
        const n = h.read(buf, { at: offset });
        if (n !== buf.length) throw new Error(`short read at ${offset} (${n} of ${buf.length} bytes)`);
      });
    },
    write(offset, data) {
      wrap("write", () => {
        const n = h.write(data, { at: offset });
        if (n !== data.length) throw new Error(`short write at ${offset} (${n} of ${data.length} bytes)`);
      });
    },
    sync() {
      wrap("sync", () => h.flush());
    },
    size() {
      return wrap("size", () => h.getSize());
    },
  };
}

async function overlayName(url) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url)));
  return `overlay-${[...d.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("")}.cow`;
}

// Opens (creating it if new) the overlay in the origin private file system. An
// overlay another tab holds is refused (OPFS lets one sync handle per file).
// Returns null where OPFS has no sync handles in Workers.
async function openOverlay(name) {
  if (!(self.navigator && navigator.storage && navigator.storage.getDirectory)) return null;
  let file;
  let dir;
  try {
    const root = await navigator.storage.getDirectory();
    dir = await root.getDirectoryHandle("tab86", { create: true });
    file = await dir.getFileHandle(name, { create: true });
    if (typeof file.createSyncAccessHandle !== "function") return null;
  } catch {
    return null;
  }
  let handle;
  try {
    handle = await file.createSyncAccessHandle();
  } catch (e) {
    if (e && e.name === "NoModificationAllowedError")
      throw new Error(`the disk's local changes (${name}) are open in another tab: close it, or use that tab`);
    throw e;
  }
  return {
    kind: "opfs",
    handle,
    // Deletes the file (its handle closed first) for "discard local changes".
    remove: async () => dir.removeEntry(name),
  };
}

// The overlay kept in IndexedDB, where OPFS has no sync handles in Workers (or
// with ?storage=idb): the same file, in the native overlay format, held in
// memory and stored as 4 KiB pages (database "tab86", store "pages", keys
// [name, page]; [name, -1] holds the file's length). Each flush() stores the
// pages written since the last one in one transaction; IndexedDB commits
// read-write transactions on one store in the order they were made, so a tab
// that dies keeps a prefix of the flushes, and the format's flush ordering then
// recovers the overlay's last complete flush. Nothing the guest does after a
// flush is shown before that flush committed (settled(), awaited by the run
// loop), and a transaction that fails makes the next flush fail (the guest gets
// an I/O error and the overlay stops taking writes, as after a failed fsync).
// A Web Lock per overlay refuses a second tab.
const IDB_PAGE = 4096;
function idbRequest(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
async function idbOpen() {
  const r = indexedDB.open("tab86", 1);
  r.onupgradeneeded = () => r.result.createObjectStore("pages");
  return idbRequest(r);
}
const idbRange = (name) => IDBKeyRange.bound([name, -Infinity], [name, Infinity]);
// Holds the Web Lock `name` until release() (null if another tab holds it).
function holdLock(name) {
  if (!(self.navigator && navigator.locks)) return Promise.resolve(() => {});
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (!lock) return resolve(null);
        return new Promise((release) => resolve(release));
      })
      .catch(reject);
  });
}
async function openIdbOverlay(name) {
  if (!self.indexedDB) return null;
  const release = await holdLock(`tab86-overlay-${name}`);
  if (!release) throw new Error(`the disk's local changes (${name}) are open in another tab: close it, or use that tab`);
  let db;
  try {
    db = await idbOpen();
    const tx = db.transaction("pages", "readonly");
    const st = tx.objectStore("pages");
    const [keys, values] = await Promise.all([idbRequest(st.getAllKeys(idbRange(name))), idbRequest(st.getAll(idbRange(name)))]);
    let len = 0;
    keys.forEach((k, i) => {
      if (k[1] === -1) len = values[i];
    });
    const buf = new Uint8Array(Math.max(len, IDB_PAGE));
    keys.forEach((k, i) => {
      if (k[1] >= 0 && k[1] * IDB_PAGE < len) buf.set(values[i].subarray(0, len - k[1] * IDB_PAGE), k[1] * IDB_PAGE);
    });
    return { kind: "idb", handle: idbHandle(db, name, buf, len, release), remove: () => idbRemove(name) };
  } catch (e) {
    release();
    if (db) db.close();
    throw new Error(`IndexedDB: ${e && e.message ? e.message : e}`);
  }
}
async function idbRemove(name) {
  const db = await idbOpen();
  try {
    const tx = db.transaction("pages", "readwrite");
    tx.objectStore("pages").delete(idbRange(name));
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}
function idbHandle(db, name, buf, len, release) {
  const bytes = growableBytes(buf, len);
  const dirty = new Set();
  let resized = false;
  let failed = null;
  let pending = 0;
  let last = Promise.resolve();
  return {
    read: (b, o) => bytes.read(b, o),
    write(data, { at }) {
      bytes.write(data, { at });
      for (let p = Math.floor(at / IDB_PAGE); p * IDB_PAGE < at + data.length; p++) dirty.add(p);
      return data.length;
    },
    // (The instant start empties a new overlay again when a restore fails.)
    truncate(n) {
      if (n < bytes.getSize()) {
        bytes.truncate(n);
        resized = true;
      }
    },
    flush() {
      if (failed) throw failed;
      if (!dirty.size && !resized) return;
      resized = false;
      const tx = db.transaction("pages", "readwrite");
      const st = tx.objectStore("pages");
      const len = bytes.getSize();
      for (const p of dirty) st.put(bytes.slice(p * IDB_PAGE, Math.min((p + 1) * IDB_PAGE, len)), [name, p]);
      st.put(len, [name, -1]);
      dirty.clear();
      pending++;
      last = new Promise((resolve) => {
        tx.oncomplete = () => {
          pending--;
          resolve();
        };
        tx.onerror = tx.onabort = () => {
          pending--;
          failed = new Error(`storing a flush in IndexedDB failed: ${tx.error && tx.error.message}`);
          resolve();
        };
      });
    },
    getSize: () => bytes.getSize(),
    // Resolves when every flush so far is stored (null when none is pending).
    settled: () => (pending ? last : null),
    close() {
      db.close();
      release();
    },
  };
}

// The overlay's storage: OPFS where Workers have sync handles, else IndexedDB;
// `kind` "idb" (?storage=idb) skips OPFS. {kind, handle, remove} or null.
async function openStorage(name, kind) {
  if (kind !== "idb") {
    const o = await openOverlay(name);
    if (o) return o;
  }
  return openIdbOverlay(name);
}

// Bytes that grow as they are written, with the overlay handle's read, write,
// truncate and getSize; `buf` holds the first `len` of them.
function growableBytes(buf = new Uint8Array(0), len = 0) {
  return {
    read(b, { at }) {
      const n = Math.max(0, Math.min(b.length, len - at));
      b.set(buf.subarray(at, at + n));
      return n;
    },
    write(data, { at }) {
      if (at + data.length > buf.length) {
        const grown = new Uint8Array(Math.max(at + data.length, buf.length * 2));
        grown.set(buf.subarray(0, len));
        buf = grown;
      }
      buf.set(data, at);
      len = Math.max(len, at + data.length);
      return data.length;
    },
    truncate(n) {
      len = Math.min(len, n);
    },
    slice: (from, to) => buf.slice(from, Math.min(to, len)),
    getSize: () => len,
  };
}

// An overlay "file" in memory, for browsers without OPFS sync handles or IndexedDB.
function memoryHandle() {
  return { ...growableBytes(), flush() {}, close() {} };
}

function closeOverlay() {
  if (disk && disk.handle) {
    try {
      disk.handle.flush();
      disk.handle.close();
    } catch {
      // already closed
    }
    disk.handle = null;
  }
}

// Performs the fetches the disks posted; answers reach only the machine that asked.
function startFetches(gen) {
  if (!disk || typeof m.take_fetches !== "function") return;
  for (const f of m.take_fetches()) {
    const { id, url, start, end } = f;
    const delay = f.delay_ms;
    f.free?.();
    const go = async () => {
      const headers = start >= 0 ? { Range: `bytes=${start}-${end - 1}` } : {};
      let status = 0;
      let bytes = null;
      let why = "";
      try {
        // A fault injected for automation (window.tab86.failFetches) answers
        // instead of the network, the way a failing server or CDN would.
        const fault = faults.find((x) => url.includes(x.match));
        const r = fault
          ? new Response(fault.body, { status: fault.status, statusText: fault.status === 200 ? "OK" : "Injected" })
          : await fetch(url, { headers });
        status = r.status;
        if (r.status === 200 || (start >= 0 && r.status === 206)) {
          bytes = new Uint8Array(await r.arrayBuffer());
          // A server that ignores Range sends the whole file.
          if (start >= 0 && r.status === 200) bytes = bytes.subarray(start, end);
        } else why = `HTTP ${r.status} ${r.statusText}`;
      } catch (e) {
        status = 0;
        why = `network error: ${e.message}`;
      }
      if (gen !== generation || !m) return;
      if (bytes) {
        disk.fetched += bytes.length;
        disk.chunks++;
        m.complete_fetch(id, bytes);
      } else {
        post({ type: "diskerror", text: `${url}: ${why} (the disk retries; the guest gets an I/O error if it stays unavailable)` });
        m.fail_fetch(id, status, why);
      }
      diskProgress();
      kick();
    };
    if (delay > 0) setTimeout(go, delay);
    else go();
  }
}

let progressAt = 0;
function diskProgress(force) {
  const now = performance.now();
  if (!disk || (!force && now - progressAt < 200)) return;
  progressAt = now;
  post({
    type: "disk",
    fetched: disk.fetched,
    chunks: disk.chunks,
    total: disk.total,
    inFlight: typeof m?.fetches_in_flight === "function" ? m.fetches_in_flight() : 0,
    storage: disk.storage ? disk.storage.kind : "memory",
  });
}

function flush() {
  const out = m.take_output();
  if (out.length) post({ type: "output", bytes: out }, [out.buffer]);
  const msg = m.take_messages();
  if (msg) post({ type: "message", text: msg });
  if (disk && typeof m.take_disk_errors === "function") {
    const err = m.take_disk_errors();
    if (err) post({ type: "diskerror", text: err.trim() });
  }
}

// A macrotask yield without setTimeout's 4 ms clamp.
const channel = new MessageChannel();
const queued = [];
channel.port1.onmessage = () => queued.shift()();
function yieldTask() {
  return new Promise((resolve) => {
    queued.push(resolve);
    channel.port2.postMessage(0);
  });
}

function sleep(ms) {
  return new Promise((resolve) => {
    const w = () => {
      clearTimeout(t);
      if (wake === w) wake = null;
      resolve();
    };
    const t = setTimeout(w, Math.max(0, ms));
    wake = w;
  });
}

// The statistics the status line shows: MIPS over the last interval, the JIT's
// share of instructions when the package has a JIT, memory.
let statsAt = 0;
let statsInsns = 0;
function stats(force) {
  const now = performance.now();
  if (!force && now - statsAt < STATS_MS) return;
  const insns = m.instructions();
  const mips = statsAt && now > statsAt ? (insns - statsInsns) / (now - statsAt) / 1e3 : 0;
  statsAt = now;
  statsInsns = insns;
  post({
    type: "stats",
    mips,
    instructions: insns,
    jitShare: jitShare(),
    wasmBytes: wasm.memory.buffer.byteLength,
    guestBytes: boot.mem,
  });
}

// The share of instructions run in generated code since power-on, from the
// driver's statistics ("jit: ... N instructions (P%)"); null without a JIT.
let jitSeen = true;
function jitShare() {
  if (!jitSeen) return null;
  const r = /jit: \d+ modules .*? \d+ instructions \(([\d.]+)%\)/.exec(m.stats());
  if (!r) return null;
  return Number(r[1]) / 100;
}

async function loop(gen) {
  post({ type: "state", state: "running" });
  statsAt = 0;
  while (gen === generation && m) {
    if (paused) {
      await sleep(1e9);
      continue;
    }
    let kind;
    try {
      kind = m.run(SLICE_MS);
    } catch (e) {
      // A panic in the machine traps the wasm instance: nothing more can run.
      fail("The emulator stopped with an internal error", e && e.stack ? e.stack : e);
      m = null;
      post({ type: "state", state: "off" });
      return;
    }
    // Flushes stored in IndexedDB are committed before the guest's output after
    // them is shown (OPFS flushes are durable when flush() returns).
    const stored = disk && disk.handle && disk.handle.settled && disk.handle.settled();
    if (stored) {
      await stored;
      if (gen !== generation || !m) return;
    }
    flush();
    startFetches(gen);
    stats(false);
    if (kind === "exit") {
      const status = m.exit_status;
      stats(true);
      m.free();
      m = null;
      post({ type: "exit", status });
      post({ type: "state", state: "off" });
      return;
    }
    if (kind === "idle") {
      const t = performance.now();
      await sleep(m.wait_ms);
      if (m && gen === generation) m.idled(performance.now() - t);
    } else if (kind === "io") {
      await sleep(50); // a fetch's answer ends it early
    } else {
      await yieldTask();
    }
  }
}

function start() {
  generation++;
  kick(); // an older loop's wait ends now (it sees the new generation and stops)
  if (m) m.free();
  m = null;
  try {
    m = build();
  } catch (e) {
    fail("The machine cannot start", e);
    post({ type: "state", state: "off" });
    return;
  }
  paused = false;
  diskProgress(true);
  loop(generation);
}

function stop() {
  generation++;
  kick();
  if (m) m.free();
  m = null;
  post({ type: "state", state: "off" });
}

// Fetch faults injected for automation: [{match, status, body}] (URL substring).
let faults = [];
// The boot message said cold (?cold): Discard changes boots cold too.
let discardCold = false;

self.onmessage = async (e) => {
  const d = e.data;
  switch (d.type) {
    case "boot": {
      discardCold = !!d.cold;
      post({ type: "state", state: "loading" });
      try {
        wasm = await init();
      } catch (err) {
        fail("This browser cannot run the emulator's WebAssembly", err.message || err);
        post({ type: "state", state: "off" });
        return;
      }
      const disks = "add_chunked_disk" in MachineOptions.prototype;
      let cmdline = d.cmdline;
      try {
        if (d.image && disks) {
          const manifest = await fetchBytes("manifest", d.image);
          let total = 0;
          try {
            total = Number(JSON.parse(new TextDecoder().decode(manifest)).size) || 0;
          } catch {
            throw new Error(`${d.image} is not a chunked image's manifest.json (not JSON)`);
          }
          const name = await overlayName(d.image);
          const o = await openStorage(name, d.storage);
          disk = { url: d.image, manifest, total, name, fetched: 0, chunks: 0, handle: o && o.handle, storage: o, storageKind: d.storage };
          if (!o) {
            disk.handle = memoryHandle();
            post({ type: "notice", text: "This browser has neither synchronous OPFS files in Workers nor IndexedDB: the disk's changes are kept in memory and lost when the tab closes." });
          }
          if (d.imageAppend) cmdline = d.imageAppend;
          snapshot = d.cold ? null : await shippedSnapshot(d.image);
        } else if (d.image && d.imageExplicit) {
          throw new Error(`?image=${d.image}: this build of the package has no disks under wasm yet; the kernel and initramfs boot without ?image`);
        }
        const [kernel, initrd] = await Promise.all([
          fetchBytes("kernel", d.kernel),
          d.initrd ? fetchBytes("initrd", d.initrd) : Promise.resolve(undefined),
        ]);
        boot = { kernel, initrd, cmdline, mem: d.mem, jit: d.jit };
      } catch (err) {
        fail("The page cannot load its boot files", err.message || err);
        post({ type: "state", state: "off" });
        return;
      }
      start();
      break;
    }
    case "discard": {
      // Power off, delete the overlay, boot the pristine image again.
      stop();
      if (disk && disk.storage) {
        closeOverlay();
        try {
          await disk.storage.remove();
          disk.storage = await openStorage(disk.name, disk.storageKind);
          disk.handle = disk.storage.handle;
        } catch (e) {
          fail("The local changes cannot be discarded", e.message || e);
          return;
        }
      } else if (disk) {
        disk.handle = memoryHandle();
      }
      // The pristine image starts from its snapshot again, if it has one.
      if (disk && !discardCold) snapshot = await shippedSnapshot(disk.url);
      if (boot) start();
      break;
    }
    case "overlay": {
      if (!disk || !disk.handle) {
        fail("No overlay to download", "the machine has no disk image with local changes");
        break;
      }
      const h = disk.handle;
      const bytes = new Uint8Array(h.getSize());
      h.read(bytes, { at: 0 });
      post({ type: "overlay", bytes, name: disk.name }, [bytes.buffer]);
      break;
    }
    case "input":
      if (m) {
        m.input(d.bytes);
        kick();
      }
      break;
    case "pause":
      if (m && !paused) {
        paused = true;
        post({ type: "state", state: "paused" });
      }
      break;
    case "resume":
      if (m && paused) {
        paused = false;
        kick();
        post({ type: "state", state: "running" });
      }
      break;
    case "reset":
      if (boot) start();
      break;
    case "poweroff":
      stop();
      break;
    case "faults":
      faults = d.faults;
      break;
  }
};

self.onerror = (e) => fail("The emulator's worker failed", e.message || e);
post({ type: "state", state: "loading" });
