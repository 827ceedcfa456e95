//! Round trips and refusals on a small BIOS machine (no guest images needed).

use super::*;
use crate::{ClockMode, Config, Error, Event, Firmware, HostClock, Machine};
use std::cell::Cell;
use std::rc::Rc;
use tab86_devices::{BlockBackend, InterruptLine, IoSize, MemDisk};
use tab86_mmu::Bus;

struct Zero;
impl HostClock for Zero {
    fn now_ns(&self) -> u64 {
        0
    }
}

/// A 64 KiB ROM whose reset vector counts in EAX forever (`inc eax; jmp $-1`).
fn rom() -> Vec<u8> {
    let mut r = vec![0x90; 0x10000];
    r[0xFFF0..0xFFF3].copy_from_slice(&[0x40, 0xEB, 0xFD]);
    r
}

fn machine(
    firmware: Firmware,
    mem: u32,
    disks: Vec<Box<dyn BlockBackend>>,
) -> Result<Machine, Error> {
    board(firmware, mem, disks, true)
}

fn board(
    firmware: Firmware,
    mem: u32,
    disks: Vec<Box<dyn BlockBackend>>,
    apic: bool,
) -> Result<Machine, Error> {
    Machine::new(
        Config {
            mem_size: mem,
            firmware,
            clock: ClockMode::Deterministic,
            debugcon: Vec::new(),
            serial: Box::new(std::io::sink()),
            rtc_epoch: 1_700_000_000,
            disks,
            apic,
        },
        Box::new(Zero),
    )
}

fn disk() -> Vec<Box<dyn BlockBackend>> {
    vec![Box::new(MemDisk::new(vec![0; 1 << 20], false))]
}

/// A machine that ran a while with every device moved off its power-on state.
fn busy_machine() -> Machine {
    let mut m = machine(Firmware::Bios(rom()), 16 << 20, disk()).unwrap();
    let cs = &mut m.board.chipset;
    for (port, v) in [
        (0x20, 0x11),
        (0x21, 0x30),
        (0x21, 0x04),
        (0x21, 0x01),
        (0x21, 0xB8), // master PIC
        (0xA0, 0x11),
        (0xA1, 0x38),
        (0xA1, 0x02),
        (0xA1, 0x01),
        (0xA1, 0xEE), // slave PIC
        (0x43, 0x34),
        (0x40, 0x9B),
        (0x40, 0x2E),
        (0x43, 0xB6),
        (0x42, 0x10), // PIT 0 and 2
        (0x61, 0x03),
        (0x70, 0x0A),
        (0x71, 0x26),
        (0x70, 0x2F),
        (0x71, 0x5A), // port B, CMOS
        (0x3FB, 0x83),
        (0x3F8, 0x01),
        (0x3FB, 0x03),
        (0x3FA, 0xC7),
        (0x3F9, 0x0F), // COM1
        (0x3FC, 0x0B),
        (0x3FF, 0x77),
        (0x64, 0x60),
        (0x60, 0x45),
        (0x92, 0x02),
    ] {
        cs.io_write(port, IoSize::Byte, v, 0);
    }
    // PCI: the disk's BAR moved, the host bridge's PAM registers written.
    cs.io_write(0xCF8, IoSize::Dword, 0x8000_1010, 0);
    cs.io_write(0xCFC, IoSize::Dword, 0xD001, 0);
    cs.io_write(0xCF8, IoSize::Dword, 0x8000_1004, 0);
    cs.io_write(0xCFC, IoSize::Dword, 0x5, 0);
    cs.io_write(0xCF8, IoSize::Dword, 0x8000_0058, 0);
    cs.io_write(0xCFC, IoSize::Dword, 0x3333_3330, 0);
    cs.serial_receive(0, b"typed ahead of the guest, more than a FIFO holds")
        .unwrap();
    crate::disks::sync_bars(&mut m.board.chipset, &mut m.board.virtio);
    // The local APIC: enabled, a TPR, its timer periodic and running; the IO-APIC:
    // pin 4 (COM1) unmasked, level-triggered, and a rising ISA edge on IRQ 1 the
    // IO-APIC has not sampled yet.
    for (addr, v) in [
        (0xFEE0_00F0, 0x1FF),
        (0xFEE0_0080, 0x20),
        (0xFEE0_03E0, 0x3),
        (0xFEE0_0320, 0x2_0030),
        (0xFEE0_0380, 100_000),
        (0xFEC0_0000, 0x18),
        (0xFEC0_0010, 0x8041),
    ] {
        m.board.mmio_write(addr, 4, v);
    }
    m.cpu.state.gpr[3] = 0xDEAD_BEEF;
    m.cpu.simd.xmm[5] = 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210;
    m.cpu.fpu.fcw = 0x027F;
    for _ in 0..50 {
        assert_eq!(m.run(10_000), Event::Ran);
    }
    m.board.chipset.irq_lines().line(1).set_level(true);
    m
}

#[test]
fn save_restore_save_gives_the_same_bytes_and_the_same_future() {
    let mut a = busy_machine();
    let snap = a.save_state().unwrap();
    let mut b = machine(Firmware::Snapshot(snap.clone()), 16 << 20, disk()).unwrap();
    assert!(b.save_state().unwrap() == snap, "second save differs");
    // The restored state is the saved one, device by device.
    assert_eq!(a.board.chipset.state(), b.board.chipset.state());
    let board = b.board.state();
    assert_eq!(a.board.state(), board);
    let (lapic, ioapic) = board.apics.expect("APIC board");
    assert_eq!(
        (lapic.svr, lapic.tpr, lapic.initial_count),
        (0x1FF, 0x20, 100_000)
    );
    assert!(lapic.timer_next_ns.is_some(), "the timer runs");
    assert_eq!(
        ioapic.redir[4] & 0x1_A0FF,
        0x8041,
        "pin 4: level, unmasked, vector 41h"
    );
    assert_eq!(board.ioapic_edges & 2, 2, "IRQ 1's unsampled edge");
    assert_eq!(
        a.board.virtio[0].dev.borrow().state(),
        b.board.virtio[0].dev.borrow().state()
    );
    assert_eq!(
        b.board.chipset.io_read(0xD040, IoSize::Dword, b.now_ns()),
        2048,
        "disk BAR"
    );
    // Both continue alike.
    for _ in 0..20 {
        assert_eq!(a.run(7_777), b.run(7_777));
    }
    assert_eq!(a.cpu.state.gpr, b.cpu.state.gpr);
    assert_eq!(a.stats().instructions, b.stats().instructions);
    assert!(a.save_state().unwrap() == b.save_state().unwrap());
}

#[test]
fn mismatches_and_damage_are_refused_with_their_reason() {
    let snap = busy_machine().save_state().unwrap();
    let refuse =
        |bytes: Vec<u8>, mem: u32, disks| match machine(Firmware::Snapshot(bytes), mem, disks) {
            Err(Error::Snapshot(e)) => e,
            Err(e) => panic!("not a snapshot error: {e}"),
            Ok(_) => panic!("accepted"),
        };
    assert!(
        matches!(refuse(snap.clone(), 32 << 20, disk()), SnapshotError::Mismatch(m) if m.contains("RAM size"))
    );
    assert!(
        matches!(refuse(snap.clone(), 16 << 20, Vec::new()), SnapshotError::Mismatch(m) if m.contains("disks"))
    );
    match board(Firmware::Snapshot(snap.clone()), 16 << 20, disk(), false) {
        Err(Error::Snapshot(SnapshotError::Mismatch(m))) => {
            assert!(m.contains("interrupt controllers"), "{m}")
        }
        Err(e) => panic!("not a mismatch: {e}"),
        Ok(_) => panic!("an APIC board's snapshot restored on the PIC-only board"),
    }
    let other: Vec<Box<dyn BlockBackend>> = vec![Box::new(MemDisk::new(vec![0; 1 << 20], true))];
    assert!(
        matches!(refuse(snap.clone(), 16 << 20, other), SnapshotError::Mismatch(m) if m.contains("disk 0"))
    );
    assert!(matches!(
        refuse(snap[..snap.len() - 1].to_vec(), 16 << 20, disk()),
        SnapshotError::Truncated { .. }
    ));
    let mut v = snap.clone();
    v[8..12].copy_from_slice(&7u32.to_le_bytes());
    assert_eq!(
        refuse(v, 16 << 20, disk()),
        SnapshotError::Version { found: 7 }
    );
    let mut c = snap.clone();
    c[snap.len() / 3] ^= 1;
    assert!(
        matches!(refuse(c, 16 << 20, disk()), SnapshotError::Corrupted(m) if m.contains("checksum"))
    );
    assert_eq!(
        refuse(b"TAB86".to_vec(), 16 << 20, disk()),
        SnapshotError::NotASnapshot
    );
}

#[test]
fn damaged_bodies_with_a_valid_checksum_never_panic() {
    let snap = busy_machine().save_state().unwrap();
    let mut seed = 0x1234_5678_9ABC_DEF0u64;
    let mut rng = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let body_len = snap.len() - PREFIX - 4;
    let mut refused = 0;
    for _ in 0..300 {
        let mut b = snap.clone();
        for _ in 0..1 + rng() % 4 {
            let at = PREFIX + (rng() as usize % body_len);
            b[at] = rng() as u8;
        }
        let end = b.len() - 4;
        let crc = crc32fast::hash(&b[..end]);
        b[end..].copy_from_slice(&crc.to_le_bytes());
        if machine(Firmware::Snapshot(b), 16 << 20, disk()).is_err() {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "some damage must be detected by decoding alone"
    );
}

#[test]
fn real_time_restores_set_the_cmos_clock_to_the_host_time() {
    let build = |firmware, epoch| real_time_machine(firmware, epoch, Box::new(Zero));
    let year = |m: &mut Machine| {
        let now = m.now_ns();
        m.board.chipset.io_write(0x70, IoSize::Byte, 0x09, now);
        m.board.chipset.io_read(0x71, IoSize::Byte, now)
    };
    // 2023-11-14, saved; restored on 2027-01-15.
    let mut a = build(Firmware::Bios(rom()), 1_700_000_000);
    assert_eq!(year(&mut a), 0x23);
    let snap = a.save_state().unwrap();
    let mut b = build(Firmware::Snapshot(snap), 1_800_000_000);
    assert_eq!(year(&mut b), 0x27);
}

/// A host clock the test moves.
struct Manual(Rc<Cell<u64>>);
impl HostClock for Manual {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

/// A real-time machine on `host`'s clock, its CMOS clock at `rtc_epoch`.
fn real_time_machine(firmware: Firmware, rtc_epoch: u64, host: Box<dyn HostClock>) -> Machine {
    Machine::new(
        Config {
            mem_size: 16 << 20,
            firmware,
            clock: ClockMode::RealTime,
            debugcon: Vec::new(),
            serial: Box::new(std::io::sink()),
            rtc_epoch,
            disks: Vec::new(),
            apic: true,
        },
        host,
    )
    .unwrap()
}

#[test]
fn real_time_restores_continue_at_the_host_pace_from_the_saved_instant() {
    let build = |firmware, clock: &Rc<Cell<u64>>| {
        real_time_machine(firmware, 1_700_000_000, Box::new(Manual(clock.clone())))
    };
    let t = Rc::new(Cell::new(0));
    let mut a = build(Firmware::Bios(rom()), &t);
    t.set(5_000_000_000);
    // Each slice catches up with the host clock at most to the next timer event.
    for _ in 0..1000 {
        a.run(1000);
    }
    let saved = a.now_ns();
    assert!(saved >= 5_000_000_000);
    let snap = a.save_state().unwrap();
    // A new process: its host clock starts again near zero.
    let t2 = Rc::new(Cell::new(10));
    let mut b = build(Firmware::Snapshot(snap), &t2);
    t2.set(1_000_000_010);
    // 1000 slices of 1000 instructions are worth milliseconds by themselves.
    for _ in 0..1000 {
        b.run(1000);
    }
    // One host second later the guest is one second further, not waiting for
    // the host clock to reach the saved virtual time.
    assert!(
        b.now_ns() >= saved + 1_000_000_000,
        "{} vs {saved}",
        b.now_ns()
    );
}

/// A real-time machine counting in its ROM, on a host clock and a thread CPU
/// clock the test moves.
fn real_time(wall: &Rc<Cell<u64>>, cpu: &Rc<Cell<u64>>) -> Machine {
    let mut m = real_time_machine(
        Firmware::Bios(rom()),
        1_700_000_000,
        Box::new(Manual(wall.clone())),
    );
    let c = cpu.clone();
    m.set_thread_cpu_clock(Box::new(move || c.get()));
    m
}

#[test]
fn host_time_the_running_guest_did_not_get_is_not_guest_time() {
    // The guest counts forever (it never halts). Each slice the host clock moves
    // 50 ms, but the machine's thread ran for only 1 ms of it: the host kept it
    // waiting. Guest time follows what the thread ran, not the wall clock.
    let (wall, cpu) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let mut starved = real_time(&wall, &cpu);
    for _ in 0..200 {
        wall.set(wall.get() + 50_000_000);
        cpu.set(cpu.get() + 1_000_000);
        assert_eq!(starved.run(10_000), Event::Ran);
    }
    // 200 slices of 1 ms of CPU: about 0.2 s, never the 10 s that passed.
    let v = starved.now_ns();
    assert!(
        v < 1_000_000_000,
        "guest time {v} ns after 10 s of a starved host"
    );
    assert!(starved.stats().stolen_ns >= 9_000_000_000);

    // The same host pace with the thread running all the time: guest time keeps
    // up with the host clock (bounded by its next timer events).
    let (wall, cpu) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let mut fed = real_time(&wall, &cpu);
    for _ in 0..200 {
        wall.set(wall.get() + 50_000_000);
        cpu.set(cpu.get() + 50_000_000);
        fed.run(10_000);
    }
    let v = fed.now_ns();
    assert!(
        v >= 9_000_000_000,
        "guest time {v} ns after 10 s of a free host"
    );
    assert_eq!(fed.stats().stolen_ns, 0);
}
