//! The composition root of tab86: builds a PC (CPU, RAM, ROM, chipset) from a
//! [`Config`] and runs it in bounded slices on a virtual clock.
//!
//! The machine never blocks: [`Machine::run`] executes at most a given number of
//! instructions and returns an [`Event`] saying whether the guest is busy, idle until
//! a timer deadline, or stopped. Frontends (the CLI, later Node and the browser) own
//! the loop, the host clock and the console.
#![deny(missing_docs)]

mod board;
pub use board::BoardState;
mod disks;
mod firmware;
pub mod script;
pub mod snapshot;

use board::Board;
use std::io::Write;
use tab86_bios::{
    build_acpi_tables, load_linux, load_multiboot, pc_e820_map, AcpiConfig, IrqOverride,
    KernelFormat, LinuxBootOptions, MadtConfig, MultibootOptions, PciRoute, ACPI_TABLES_BASE,
    INTI_LEVEL_HIGH, INTI_LEVEL_LOW,
};
use tab86_cpu::msr::TimeBase;
use tab86_cpu::state::{sreg, Segment, TableReg};
/// CPU tracing (`--trace`), re-exported for front ends.
pub use tab86_cpu::trace::Trace;
use tab86_cpu::{Cpu, Exit, PhysMem};
use tab86_devices::chipset::{Chipset, ChipsetConfig};
use tab86_devices::pci::{PirqRouter, FIRMWARE_PIRQ_IRQS};
use tab86_devices::{BoardRequest, InterruptLine};

/// I/O base of the ACPI PM block on kernel boots (the PIIX4 default in QEMU too).
pub const ACPI_PM_BASE: u16 = 0x600;

/// Where PCI memory BARs live (inclusive): above the largest RAM (3.5 GiB) and
/// below the IO-APIC/local-APIC/ROM area, as the `_CRS` of the root bridge says.
pub const PCI_MEM_WINDOW: (u32, u32) = (0xE000_0000, 0xFEBF_FFFF);

/// The ACPI description of this board: PM block, SCI on IRQ 9, the PCI
/// interrupt routing firmware programmed (every slot, every pin), and on the
/// APIC board the MADT.
fn acpi_config(apic: bool) -> AcpiConfig {
    let madt = apic.then(|| {
        // IRQ 0 on pin 2, the SCI level/high, the PCI IRQs level/low (the _PRT's
        // polarity; the PIRQ router's outputs are wired active-low, see Board).
        let mut overrides = vec![
            IrqOverride {
                irq: 0,
                gsi: 2,
                flags: 0,
            },
            IrqOverride {
                irq: 9,
                gsi: 9,
                flags: INTI_LEVEL_HIGH,
            },
        ];
        let mut pci: Vec<u8> = FIRMWARE_PIRQ_IRQS.to_vec();
        pci.sort_unstable();
        pci.dedup();
        overrides.extend(pci.into_iter().map(|irq| IrqOverride {
            irq,
            gsi: u32::from(irq),
            flags: INTI_LEVEL_LOW,
        }));
        MadtConfig {
            lapic_base: tab86_devices::apic::APIC_DEFAULT_BASE,
            lapic_id: 0,
            ioapic_id: 1,
            ioapic_base: tab86_devices::apic::IOAPIC_BASE,
            overrides,
        }
    });
    let pci_routes = (1..32u8)
        .flat_map(|slot| {
            (0..4u8).map(move |pin| PciRoute {
                slot,
                pin,
                irq: FIRMWARE_PIRQ_IRQS[PirqRouter::pirq_of(slot, pin + 1)],
            })
        })
        .collect();
    AcpiConfig {
        pm_base: ACPI_PM_BASE,
        sci_irq: 9,
        pci_routes,
        s5_slp_typ: tab86_devices::acpi_pm::SLP_TYP_S5 as u8,
        pci_mem_window: PCI_MEM_WINDOW,
        madt,
    }
}

/// What the machine starts.
pub enum Firmware {
    /// A 64 KiB or 128 KiB ROM image ending at 1 MiB, entered at the reset vector.
    Bios(Vec<u8>),
    /// A Linux bzImage or a Multiboot kernel, loaded as a boot loader would.
    Kernel {
        /// The kernel file.
        kernel: Vec<u8>,
        /// The initrd (Linux) or the first module (Multiboot).
        initrd: Option<Vec<u8>>,
        /// The command line.
        cmdline: String,
    },
    /// Continue a machine saved by [`Machine::save_state`] (the snapshot file's
    /// bytes; see [`snapshot`] for the format and what must match).
    Snapshot(Vec<u8>),
}

/// How virtual time relates to host time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// Virtual time is the host's wall clock (interactive use).
    RealTime,
    /// Virtual time is derived from retired instructions (1 ns each), and HLT
    /// skips to the next timer event: the same boot gives the same output.
    Deterministic,
}

/// A port whose written bytes go to a sink (QEMU's debugcon).
pub struct DebugCon {
    /// The I/O port.
    pub port: u16,
    /// Where the bytes go.
    pub out: Box<dyn Write>,
}

/// Everything needed to build a machine.
pub struct Config {
    /// Guest RAM in bytes.
    pub mem_size: u32,
    /// What to boot.
    pub firmware: Firmware,
    /// Real-time or deterministic clock.
    pub clock: ClockMode,
    /// Debug console ports.
    pub debugcon: Vec<DebugCon>,
    /// COM1 output.
    pub serial: Box<dyn Write>,
    /// Wall-clock seconds since 1970 for the RTC at power-on.
    pub rtc_epoch: u64,
    /// Block devices, attached as virtio-blk disks in order (vda, vdb, ...).
    pub disks: Vec<Box<dyn tab86_devices::BlockBackend>>,
    /// The APIC board (local APIC, IO-APIC, MADT, CPUID APIC bit): the default,
    /// as on every PC since the Pentium. `false` builds the PIC-only board
    /// (`--no-apic`), where the 8259A pair drives INTR directly.
    pub apic: bool,
}

/// The host's monotonic clock, supplied by the frontend (Instant natively,
/// performance.now() in a browser).
pub trait HostClock {
    /// Nanoseconds since an arbitrary fixed point.
    fn now_ns(&self) -> u64;
}

/// A machine could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The ROM, kernel or initrd was rejected by the loader.
    Boot(String),
    /// The chipset could not be configured.
    Devices(String),
    /// RAM size out of range.
    Memory(String),
    /// A snapshot could not be restored (nothing was changed).
    Snapshot(snapshot::SnapshotError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Boot(m) => write!(f, "cannot boot: {m}"),
            Error::Devices(m) => write!(f, "device setup failed: {m}"),
            Error::Memory(m) => write!(f, "memory: {m}"),
            Error::Snapshot(e) => write!(f, "{e}"),
        }
    }
}
impl std::error::Error for Error {}

/// Why the machine stopped for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The guest wrote to isa-debug-exit: the process status is this value.
    DebugExit(u32),
    /// The guest powered off (ACPI S5), or asked for a reset while running a
    /// kernel (treated like QEMU's `-no-reboot`).
    Poweroff,
    /// HLT with interrupts disabled: nothing can wake the CPU.
    HaltedNoWake,
    /// A triple fault shut the processor down.
    TripleFault {
        /// CS selector at the time.
        cs: u16,
        /// EIP at the time.
        eip: u32,
    },
}

/// What a call to [`Machine::run`] ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Instructions ran; call again.
    Ran,
    /// The CPU is halted until a timer or input: nothing to do for `wait_ns` host
    /// nanoseconds (real-time mode only; deterministic mode skips ahead itself).
    Idle {
        /// Time to the next timer event (u64::MAX when there is none).
        wait_ns: u64,
    },
    /// Deterministic mode: disk requests are outstanding, and the guest must not
    /// run until they complete (its time must not depend on the host's storage).
    /// The host waits for the disks (natively [`Machine::wait_io`]; in a browser
    /// until the backend's fetch settles) and calls `run` again.
    WaitingForIo,
    /// The machine stopped.
    Stopped(Stop),
}

/// Counters for `--stats` and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Retired instructions.
    pub instructions: u64,
    /// Virtual time in nanoseconds.
    pub virtual_ns: u64,
    /// Decoded blocks in the cache.
    pub blocks: usize,
    /// Calls of [`Machine::run`] (slices between device updates).
    pub slices: u64,
    /// Slices that ended with the CPU halted.
    pub halts: u64,
    /// Host nanoseconds real-time mode left out of guest time: the host kept the
    /// machine's thread off the processor while the guest had work (see
    /// [`Machine::set_thread_cpu_clock`]).
    pub stolen_ns: u64,
}

/// A PC.
pub struct Machine {
    /// The CPU with guest memory.
    pub cpu: Cpu,
    board: Board,
    clock: ClockMode,
    host: Box<dyn HostClock>,
    bios_mode: bool,
    /// Host time at power-on, so real-time virtual time starts at zero.
    host_t0: u64,
    /// Virtual time at `host_t0` (0 at power-on; the saved instant after a
    /// real-time restore, since the host clock may be younger than the guest's).
    virtual_t0: u64,
    /// Virtual time skipped while halted (real-time mode adds it to the host clock).
    stopped: Option<Stop>,
    /// Counters for [`Stats`].
    slices: u64,
    halts: u64,
    /// The options a snapshot of this machine records (see [`snapshot::Header`]).
    options: snapshot::Header,
    /// Every disk wakes the host when a request completes ([`Machine::set_io_waker`]).
    io_waker: bool,
    /// Instructions and host nanoseconds of the slices since the last speed
    /// estimate (real-time mode).
    speed: (u64, u64),
    /// Host wall and thread CPU clocks when the last `run` ended, if it left the
    /// guest running (real-time mode, hosts with a thread CPU clock): the wall
    /// time that passed without the thread running until the next `run` was
    /// stolen from the guest (see [`Machine::set_thread_cpu_clock`]).
    ran_until: Option<(u64, u64)>,
    /// Host time stolen from the running guest in all (left out of its clock).
    stolen_ns: u64,
    /// The machine's thread's CPU clock ([`Machine::set_thread_cpu_clock`]).
    thread_cpu: Option<Box<dyn Fn() -> u64>>,
}

fn segment_from(s: &tab86_bios::Segment) -> Segment {
    Segment::from_descriptor(s.selector, s.descriptor as u32, (s.descriptor >> 32) as u32)
}

impl Machine {
    /// Builds and powers on a machine.
    pub fn new(cfg: Config, host: Box<dyn HostClock>) -> Result<Machine, Error> {
        let ram = cfg.mem_size;
        if !(1 << 20..=3 << 30).contains(&ram) {
            return Err(Error::Memory(format!(
                "{ram} bytes of RAM is outside 1 MiB..3 GiB"
            )));
        }
        let mut mem = PhysMem::new(ram);
        let rtc_epoch = cfg.rtc_epoch;
        let mut options = snapshot::Header {
            tab86_version: env!("CARGO_PKG_VERSION").into(),
            mem_size: mem.ram_size(),
            deterministic: cfg.clock == ClockMode::Deterministic,
            bios_rom: Vec::new(),
            fw_cfg_cmdline: None,
            debugcon_ports: cfg.debugcon.iter().map(|d| d.port).collect(),
            apic: cfg.apic,
            disks: cfg
                .disks
                .iter()
                .map(|d| snapshot::DiskIdentity::of(d.as_ref()))
                .collect(),
        };
        // A snapshot is decoded and checked against these options before anything
        // is built; it is applied once the machine stands.
        let restore = match &cfg.firmware {
            Firmware::Snapshot(bytes) => {
                let snap = snapshot::decode_for(bytes, Some(&options)).map_err(Error::Snapshot)?;
                options.bios_rom = snap.header.bios_rom.clone();
                options.fw_cfg_cmdline = snap.header.fw_cfg_cmdline.clone();
                Some(snap)
            }
            _ => None,
        };
        let bios_mode = match &cfg.firmware {
            Firmware::Bios(_) => true,
            Firmware::Snapshot(_) => !options.bios_rom.is_empty(),
            Firmware::Kernel { .. } => false,
        };
        let mut chipset = Chipset::new(ChipsetConfig {
            rtc_epoch_secs: cfg.rtc_epoch,
            ram_bytes: ram as u64,
            serial: [Some(cfg.serial), None, None, None],
            debugcon: cfg.debugcon.into_iter().map(|d| (d.port, d.out)).collect(),
            debug_exit_port: Some(0xF4),
            acpi_pm_base: (!bios_mode).then_some(ACPI_PM_BASE),
        })
        .map_err(|e| Error::Devices(e.to_string()))?;
        let mut cpu;
        let apic = cfg.apic;
        match cfg.firmware {
            Firmware::Bios(rom) => {
                tab86_bios::validate_bios_rom(&rom).map_err(|e| Error::Boot(e.to_string()))?;
                mem.map_rom(&rom);
                options.bios_rom = rom;
                cpu = Cpu::new(mem);
            }
            Firmware::Snapshot(_) => {
                if bios_mode {
                    tab86_bios::validate_bios_rom(&options.bios_rom).map_err(|e| {
                        Error::Snapshot(snapshot::SnapshotError::Corrupted(format!("its ROM: {e}")))
                    })?;
                    mem.map_rom(&options.bios_rom);
                }
                if let Some(cmdline) = &options.fw_cfg_cmdline {
                    // fw_cfg's contents follow from the options; its selector and
                    // read offset are not saved (they start at item 0).
                    let map = pc_e820_map(ram).map_err(|e| Error::Boot(e.to_string()))?;
                    firmware::add_fw_cfg(&mut chipset, ram, cmdline, &map)?;
                }
                cpu = Cpu::new(mem);
            }
            Firmware::Kernel {
                kernel,
                initrd,
                cmdline,
            } => {
                // We are the firmware: set up what a BIOS leaves for the OS.
                chipset.route_pci_interrupts();
                let tables = build_acpi_tables(&acpi_config(apic), ACPI_TABLES_BASE);
                let at = ACPI_TABLES_BASE as usize;
                mem.ram_mut()[at..at + tables.len()].copy_from_slice(&tables);
                let map = pc_e820_map(ram).map_err(|e| Error::Boot(e.to_string()))?;
                firmware::add_fw_cfg(&mut chipset, ram, &cmdline, &map)?;
                options.fw_cfg_cmdline = Some(cmdline.clone());
                let entry = match KernelFormat::detect(&kernel) {
                    Some(KernelFormat::BzImage) => {
                        let mut opts = LinuxBootOptions::new(&cmdline, &map);
                        if let Some(i) = &initrd {
                            opts = opts.with_initrd(i);
                        }
                        load_linux(mem.ram_mut(), &kernel, &opts).map_err(|e| Error::Boot(e.to_string()))?.entry
                    }
                    Some(KernelFormat::Multiboot) => {
                        let acpi_end = ACPI_TABLES_BASE + tables.len() as u32;
                        firmware::post_for_multiboot(&mut chipset, mem.ram_mut(), &map, acpi_end)?;
                        let mods: Vec<tab86_bios::MultibootModule> = initrd
                            .iter()
                            .map(|d| tab86_bios::MultibootModule { data: d, cmdline: "" })
                            .collect();
                        let opts = MultibootOptions { cmdline: &cmdline, modules: &mods, e820: &map };
                        load_multiboot(mem.ram_mut(), &kernel, &opts).map_err(|e| Error::Boot(e.to_string()))?.entry
                    }
                    None => {
                        return Err(Error::Boot(
                            "the kernel is neither a Linux bzImage (no HdrS header) nor a Multiboot image".into(),
                        ))
                    }
                };
                cpu = Cpu::new(mem);
                let s = &mut cpu.state;
                s.gpr = [
                    entry.eax, entry.ecx, entry.edx, entry.ebx, entry.esp, entry.ebp, entry.esi,
                    entry.edi,
                ];
                s.eip = entry.eip;
                s.eflags = entry.eflags;
                s.gdtr = TableReg {
                    base: entry.gdt_base,
                    limit: entry.gdt_limit as u32,
                };
                cpu.set_cr0(entry.cr0)
                    .map_err(|_| Error::Boot("invalid CR0 in boot state".into()))?;
                cpu.state.seg[sreg::DS] = segment_from(&entry.ds);
                cpu.state.seg[sreg::ES] = segment_from(&entry.es);
                cpu.state.seg[sreg::FS] = segment_from(&entry.fs);
                cpu.state.seg[sreg::GS] = segment_from(&entry.gs);
                cpu.state.seg[sreg::SS] = segment_from(&entry.ss);
                cpu.set_cs(segment_from(&entry.cs), 0);
            }
        }
        cpu.invalidate_all();
        // On kernel boots the PIRQ router's outputs reach the IO-APIC active-low,
        // as our MADT and _PRT say; a BIOS describes its own board.
        let active_low = if bios_mode {
            0
        } else {
            FIRMWARE_PIRQ_IRQS.iter().fold(0, |m, &irq| m | 1 << irq)
        };
        let mut board = Board::new(chipset, apic, active_low);
        if apic {
            if !bios_mode {
                // We are the firmware: leave the local APIC in virtual-wire mode.
                board.set_virtual_wire();
            }
            cpu.cpuid.features_edx |= tab86_cpu::cpuid::edx::APIC;
        }
        if let Some(base) = board.apic_base_msr() {
            cpu.state.apic_base = base;
        }
        let in_order = cfg.clock == ClockMode::Deterministic;
        board.virtio = disks::attach(
            &mut board.chipset,
            cfg.disks,
            &board.kick,
            !bios_mode,
            in_order,
        )
        .map_err(Error::Devices)?;
        let t0 = host.now_ns();
        let mut m = Machine {
            cpu,
            board,
            clock: cfg.clock,
            host,
            bios_mode,
            host_t0: t0,
            virtual_t0: 0,
            stopped: None,
            slices: 0,
            halts: 0,
            options,
            speed: (0, 0),
            io_waker: false,
            ran_until: None,
            stolen_ns: 0,
            thread_cpu: None,
        };
        if m.clock == ClockMode::RealTime {
            // Start from a typical interpreter speed (10 ns per instruction); refined per slice.
            m.set_time(0, 10_000);
        }
        let a20 = if bios_mode {
            m.board.chipset.a20_enabled()
        } else {
            true
        };
        m.cpu.mem.set_a20(a20);
        if let Some(snap) = restore {
            m.apply_snapshot(snap, rtc_epoch).map_err(Error::Snapshot)?;
        }
        Ok(m)
    }

    /// Virtual time now.
    pub fn now_ns(&self) -> u64 {
        self.cpu.time.now_ns(self.cpu.state.icount)
    }

    fn set_time(&mut self, base_ns: u64, ns_per_kinstr: u64) {
        let t = TimeBase {
            base_ns,
            base_icount: self.cpu.state.icount,
            ns_per_kinstr,
        };
        self.cpu.time = t;
        self.board.time = t;
    }

    /// Runs up to `budget` instructions (fewer if a timer falls due first). Never
    /// blocks: in deterministic mode it returns [`Event::WaitingForIo`] instead of
    /// running while disk requests are outstanding.
    pub fn run(&mut self, budget: u64) -> Event {
        // Real-time mode with the thread's CPU clock: every moment of a slice, and
        // of the time from a slice that left the guest running to the next one,
        // is the guest's; the part of it this thread did not run (the host ran
        // something else, or the thread waited on a lock a starved thread held)
        // is left out of guest time.
        let start = match &self.thread_cpu {
            Some(f) if self.clock == ClockMode::RealTime => Some((self.host.now_ns(), f())),
            _ => None,
        };
        if let (Some((w0, c0)), Some((w, c))) = (self.ran_until.take(), start) {
            self.steal(w.saturating_sub(w0).saturating_sub(c.saturating_sub(c0)));
        }
        let ev = self.run_slice(budget);
        if let (Some((w0, c0)), Some(f)) = (start, &self.thread_cpu) {
            let (w, c) = (self.host.now_ns(), f());
            self.steal(w.saturating_sub(w0).saturating_sub(c.saturating_sub(c0)));
            // The guest has work: until the next slice, time the host keeps this
            // thread waiting is stolen from it (after a halt it waits by choice).
            self.ran_until = (ev == Event::Ran).then_some((w, c));
        }
        ev
    }

    /// Gives real-time mode the CPU time of the thread that runs the machine, in
    /// nanoseconds (natively the thread's CPU clock; a browser has none). With it,
    /// host time during which the host kept this thread off the processor while
    /// the guest had work is left out of guest time: the guest pauses, as if the
    /// whole machine had been suspended, instead of seeing time pass with nothing
    /// done. Without it a loaded host expires the guest's own timeouts (systemd
    /// gives up on its serial console after 90 s of a boot that the host slowed
    /// down six times). Waiting while the guest is halted is guest time as before.
    pub fn set_thread_cpu_clock(&mut self, clock: Box<dyn Fn() -> u64>) {
        self.thread_cpu = Some(clock);
    }

    /// Leaves `ns` of host time the running guest did not get out of real-time
    /// virtual time. (Nothing is forgiven: slices are often well under a
    /// millisecond, and a slack per slice would let most of a starved host's
    /// waiting through.)
    fn steal(&mut self, ns: u64) {
        self.host_t0 = self.host_t0.saturating_add(ns);
        self.stolen_ns += ns;
    }

    fn run_slice(&mut self, budget: u64) -> Event {
        if let Some(s) = self.stopped {
            return Event::Stopped(s);
        }
        if self.waiting_for_io() {
            return Event::WaitingForIo;
        }
        self.slices += 1;
        let now = self.now_ns();
        if self.clock == ClockMode::RealTime {
            // Re-anchor to the wall clock, never moving backwards.
            // Catch up with the wall clock, but never past the next timer deadline:
            // a jump over several PIT periods would lose ticks (jiffies would fall
            // behind the TSC and Linux would mark the TSC unstable).
            let wall = self
                .host
                .now_ns()
                .saturating_sub(self.host_t0)
                .saturating_add(self.virtual_t0);
            let target = match self.board.next_deadline() {
                Some(d) => wall.min(d),
                None => wall,
            };
            let ns_per_k = self.cpu.time.ns_per_kinstr;
            self.set_time(target.max(now), ns_per_k);
        }
        let now = self.now_ns();
        self.board.advance(now);
        let mut budget = budget.max(1);
        if let Some(d) = self.board.next_deadline() {
            let ns = d.saturating_sub(now);
            // Rounded up, so the slice reaches the deadline: rounded down, a
            // slice of 1 instruction could advance virtual time by 0 ns and the
            // machine would spin on 1-instruction slices until the wall clock
            // passed the deadline.
            let instr =
                (ns as u128 * 1000).div_ceil(self.cpu.time.ns_per_kinstr.max(1) as u128) as u64;
            budget = budget.min(instr.max(1));
        }
        let host_before = self.host.now_ns();
        let cpu_before = self.thread_cpu.as_ref().map(|f| f());
        let icount_before = self.cpu.state.icount;
        let exit = self.cpu.run(&mut self.board, budget);
        if self.clock == ClockMode::RealTime {
            // Interpolate virtual time inside a slice at the measured speed, so the
            // TSC and the PIT keep agreeing between wall-clock re-anchors.
            // Short slices (a local APIC timer programmed ends one) add up until
            // they are long enough to measure. The speed is the thread's own
            // (its CPU time where the host has it): a host that keeps the
            // emulator waiting does not make the guest's processor slower.
            let ran = self.cpu.state.icount - icount_before;
            let wall = self.host.now_ns().saturating_sub(host_before);
            let busy = match (cpu_before, self.thread_cpu.as_ref().map(|f| f())) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => wall,
            };
            self.speed.0 += ran;
            self.speed.1 += busy;
            if self.speed.0 >= 100_000 {
                let (ran, host_ns) = std::mem::take(&mut self.speed);
                let est = (host_ns as u128 * 1000 / ran as u128) as u64;
                let old = self.cpu.time.ns_per_kinstr;
                let ns_per_k = ((old * 3 + est) / 4).clamp(100, 100_000);
                let now = self.now_ns();
                self.set_time(now, ns_per_k);
            }
        }
        // x87 FERR# drives IRQ 13 (CR0.NE = 0); a write to port 0xF0 clears it.
        if std::mem::take(&mut self.board.ferr_clear) {
            self.cpu.fpu.clear_ferr();
        }
        self.board.ferr.set_level(self.cpu.fpu.ferr());
        let now = self.now_ns();
        self.board.advance(now);
        if !self.board.virtio.is_empty() {
            disks::service(&self.board.virtio, &mut self.cpu.mem);
            self.board.sync_irqs();
        }
        if let Some(ev) = self.handle_requests() {
            return ev;
        }
        if self.clock == ClockMode::Deterministic && disks::in_flight(&self.board.virtio) > 0 {
            return Event::WaitingForIo;
        }
        match exit {
            Exit::Budget => Event::Ran,
            Exit::Halted => {
                self.halts += 1;
                if self.board.wake_pending() {
                    return Event::Ran;
                }
                let deadline = self.board.next_deadline();
                match self.clock {
                    ClockMode::Deterministic => match deadline {
                        Some(d) => {
                            let ns_per_k = self.cpu.time.ns_per_kinstr;
                            self.set_time(d.max(now), ns_per_k);
                            self.board.advance(d.max(now));
                            Event::Ran
                        }
                        None => Event::Idle { wait_ns: u64::MAX },
                    },
                    ClockMode::RealTime => {
                        let mut wait_ns = deadline.map_or(u64::MAX, |d| d.saturating_sub(now));
                        if !self.io_waker && disks::in_flight(&self.board.virtio) > 0 {
                            // Come back soon to collect disk completions.
                            wait_ns = wait_ns.min(1_000_000);
                        }
                        Event::Idle { wait_ns }
                    }
                }
            }
            Exit::HaltedNoWake => self.stop(Stop::HaltedNoWake),
            Exit::TripleFault => {
                let cs = self.cpu.state.seg[sreg::CS].selector;
                let eip = self.cpu.state.eip;
                self.stop(Stop::TripleFault { cs, eip })
            }
        }
    }

    /// Deterministic mode with disk requests outstanding after delivering every
    /// completion that is ready: the CPU must not run yet.
    fn waiting_for_io(&mut self) -> bool {
        if self.clock != ClockMode::Deterministic || disks::in_flight(&self.board.virtio) == 0 {
            return false;
        }
        disks::service(&self.board.virtio, &mut self.cpu.mem);
        self.board.sync_irqs();
        disks::in_flight(&self.board.virtio) > 0
    }

    /// Has every disk call `waker` (from any thread) when a request completes, so
    /// a real-time host can sleep through [`Event::Idle`] until then; without
    /// one (or with a backend that cannot) the machine asks to be run again
    /// every millisecond while requests are outstanding.
    pub fn set_io_waker(&mut self, waker: tab86_devices::Waker) {
        let mut all = true;
        for s in &self.board.virtio {
            all &= s.dev.borrow_mut().set_waker(waker.clone());
        }
        self.io_waker = all;
    }

    /// Blocks for at most `timeout_ns` until a disk request completes: for native
    /// hosts after [`Event::WaitingForIo`] (a browser waits on its fetches instead).
    pub fn wait_io(&mut self, timeout_ns: u64) {
        disks::wait(&self.board.virtio, timeout_ns);
    }

    fn stop(&mut self, s: Stop) -> Event {
        self.stopped = Some(s);
        Event::Stopped(s)
    }

    fn handle_requests(&mut self) -> Option<Event> {
        for r in self.board.chipset.drain_requests() {
            match r {
                BoardRequest::Exit(code) => return Some(self.stop(Stop::DebugExit(code))),
                BoardRequest::A20(on) => {
                    self.cpu.mem.set_a20(on);
                    self.cpu.invalidate_all();
                }
                BoardRequest::Poweroff => return Some(self.stop(Stop::Poweroff)),
                BoardRequest::Reset => {
                    if self.bios_mode {
                        self.cpu.reset();
                        self.board.reset_apic();
                        if let Some(base) = self.board.apic_base_msr() {
                            self.cpu.state.apic_base = base;
                        }
                        self.cpu.mem.set_a20(self.board.chipset.a20_enabled());
                    } else {
                        return Some(self.stop(Stop::Poweroff));
                    }
                }
            }
        }
        None
    }

    /// Bytes typed on the console (COM1).
    pub fn serial_input(&mut self, bytes: &[u8]) {
        let _ = self.board.chipset.serial_receive(0, bytes);
        self.board.sync_irqs();
    }

    /// The board's NMI input (a front-panel NMI button): LINT1 of the local APIC
    /// on the APIC board, the CPU's NMI pin on the PIC-only board.
    pub fn nmi(&mut self) {
        self.board.raise_nmi();
    }

    /// How many bytes the console can accept now without host-side buffering.
    pub fn serial_room(&self) -> usize {
        self.board.chipset.uarts[0]
            .as_ref()
            .map_or(0, |u| u.rx_room())
    }

    /// CS selector and EIP (for messages).
    pub fn cs_eip(&self) -> (u16, u32) {
        (self.cpu.state.seg[sreg::CS].selector, self.cpu.state.eip)
    }

    /// CS base and EIP (the linear address of the next instruction is their sum).
    pub fn linear_eip(&self) -> (u32, u32) {
        (self.cpu.state.seg[sreg::CS].base, self.cpu.state.eip)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            instructions: self.cpu.state.icount,
            virtual_ns: self.now_ns(),
            blocks: self.cpu.cached_blocks(),
            slices: self.slices,
            halts: self.halts,
            stolen_ns: self.stolen_ns,
        }
    }
}
