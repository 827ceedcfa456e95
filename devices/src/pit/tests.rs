use super::*;
use crate::test_utils::RecordingIrq;
use crate::time::{tick_time, PIT_HZ};

/// Virtual time of PIT clock tick `n`.
fn ns(n: u64) -> u64 {
    tick_time(n, PIT_HZ)
}

fn pit() -> (Pit, RecordingIrq) {
    let irq = RecordingIrq::new();
    (Pit::new(Box::new(irq.clone())), irq)
}

/// Counter latch command, then two reads (lohi access).
fn latched(pit: &mut Pit, ch: u16, now: u64) -> u16 {
    pit.write(3, (ch as u8) << 6, now);
    let lo = pit.read(ch, now);
    let hi = pit.read(ch, now);
    u16::from(lo) | u16::from(hi) << 8
}

fn program(pit: &mut Pit, ch: u16, control: u8, count: u16, now: u64) {
    pit.write(3, (ch as u8) << 6 | control, now);
    pit.write(ch, count as u8, now);
    pit.write(ch, (count >> 8) as u8, now);
}

#[test]
fn linux_periodic_mode2_hz100_counts_and_irq_deadlines() {
    let (mut pit, irq) = pit();
    // pit_set_periodic: outb(0x34, 0x43); LATCH = 11932 lsb, msb.
    program(&mut pit, 0, 0x34, 11932, ns(100));
    // The count loads on the next clock (tick 101), then counts down.
    assert_eq!(latched(&mut pit, 0, ns(101)), 11932);
    assert_eq!(latched(&mut pit, 0, ns(601)), 11432);
    assert_eq!(
        latched(&mut pit, 0, ns(101 + 11931)),
        1,
        "OUT low on count 1"
    );
    assert!(!pit.out(0, ns(101 + 11931)));
    let first = ns(101 + 11932);
    assert_eq!(pit.next_deadline(), Some(first));
    let before = irq.rising_edges();
    pit.advance(first - 1);
    assert_eq!(irq.rising_edges(), before, "nothing before the deadline");
    pit.advance(first);
    assert_eq!(
        irq.rising_edges(),
        before + 1,
        "IRQ0 edge exactly at the deadline"
    );
    assert_eq!(latched(&mut pit, 0, first), 11932, "reloaded");
    assert_eq!(pit.next_deadline(), Some(ns(101 + 2 * 11932)));
}

#[test]
fn ten_seconds_of_ticks_without_drift() {
    let (mut pit, irq) = pit();
    program(&mut pit, 0, 0x34, 11932, 0);
    let base = irq.rising_edges();
    for k in 1..=1000u64 {
        let d = pit.next_deadline().unwrap();
        assert_eq!(d, ns(1 + k * 11932), "tick {k}");
        pit.advance(d);
        assert_eq!(irq.rising_edges() as u64, base as u64 + k);
    }
    // A long jump (CPU halted with IRQ0 masked) delivers one edge, and the next
    // deadline is still on the period grid.
    pit.advance(3600 * 1_000_000_000);
    assert_eq!(irq.rising_edges() as u64, base as u64 + 1001);
    let t = ticks_at(3600 * 1_000_000_000, PIT_HZ);
    let k = (t - 1) / 11932 + 1;
    assert_eq!(pit.next_deadline(), Some(ns(1 + k * 11932)));
}

#[test]
fn mode3_square_wave_even_and_odd_counts() {
    let (mut pit, irq) = pit();
    program(&mut pit, 0, 0x36, 4, ns(1000));
    let outs: Vec<bool> = (1001..1009).map(|t| pit.out(0, ns(t))).collect();
    assert_eq!(outs, [true, true, false, false, true, true, false, false]);
    let ces: Vec<u16> = (1001..1005).map(|t| latched(&mut pit, 0, ns(t))).collect();
    assert_eq!(ces, [4, 2, 4, 2], "CE steps by two, once per half");

    program(&mut pit, 0, 0x36, 5, ns(2000));
    let outs: Vec<bool> = (2001..2011).map(|t| pit.out(0, ns(t))).collect();
    assert_eq!(
        outs,
        [true, true, true, false, false, true, true, true, false, false],
        "odd count: high (N+1)/2, low (N-1)/2"
    );
    assert_eq!(pit.next_deadline(), Some(ns(2006)));
    let before = irq.rising_edges();
    pit.advance(ns(2011));
    assert_eq!(irq.rising_edges(), before + 1);
    assert_eq!(pit.next_deadline(), Some(ns(2016)));
}

#[test]
fn linux_oneshot_mode4_strobe() {
    let (mut pit, irq) = pit();
    // pit_set_oneshot + pit_next_event(100).
    pit.write(3, 0x38, ns(2000));
    pit.write(0, 100, ns(2000));
    pit.write(0, 0, ns(2000));
    assert!(pit.out(0, ns(2100)));
    assert!(
        !pit.out(0, ns(2101)),
        "OUT low for one clock at terminal count"
    );
    assert!(pit.out(0, ns(2102)));
    assert_eq!(pit.next_deadline(), Some(ns(2102)));
    let before = irq.rising_edges();
    pit.advance(ns(2102));
    assert_eq!(irq.rising_edges(), before + 1);
    assert_eq!(pit.next_deadline(), None, "a one-shot fires once");
    assert_eq!(
        latched(&mut pit, 0, ns(2103)),
        0xFFFE,
        "CE wraps and keeps counting"
    );
}

#[test]
fn mode0_interrupt_on_terminal_count() {
    let (mut pit, irq) = pit();
    program(&mut pit, 0, 0x30, 10, ns(500));
    assert!(!pit.out(0, ns(500)), "mode 0 control word drops OUT");
    assert_eq!(
        pit.next_deadline(),
        Some(ns(511)),
        "OUT rises N+1 clocks after the write"
    );
    let before = irq.rising_edges();
    pit.advance(ns(600));
    assert_eq!(irq.rising_edges(), before + 1);
    assert!(pit.out(0, ns(700)), "OUT stays high");
    // Writing the first byte of a new count stops the counter and drops OUT.
    pit.write(0, 0x20, ns(700));
    assert!(!pit.out(0, ns(700)));
    assert_eq!(pit.next_deadline(), None);
    pit.write(0, 0x00, ns(800));
    assert_eq!(pit.next_deadline(), Some(ns(801 + 0x20)));
}

#[test]
fn linux_pit_calibrate_tsc_on_counter2() {
    let (mut pit, _) = pit();
    let mut port_b = PortB::new();
    let t0 = ns(5000);
    // outb((inb(0x61) & ~0x02) | 0x01, 0x61); outb(0xb0, 0x43); latch lsb, msb.
    let v = port_b.read(&pit, t0);
    port_b.write(&mut pit, (v & !0x02) | 0x01, t0);
    program(&mut pit, 2, 0xB0, 59659, t0);
    let tc = 5001 + 59659;
    assert_eq!(port_b.read(&pit, ns(tc - 1)) & 0x20, 0);
    assert_eq!(
        port_b.read(&pit, ns(tc)) & 0x20,
        0x20,
        "OUT2 visible in bit 5"
    );
    assert!(port_b.read(&pit, ns(tc)) & 0x01 == 0x01);
}

#[test]
fn linux_quick_pit_calibrate_reads_the_msb_unlatched() {
    let (mut pit, _) = pit();
    let mut port_b = PortB::new();
    port_b.write(&mut pit, 0x01, ns(10_000));
    program(&mut pit, 2, 0xB0, 0xFFFF, ns(10_000));
    // pit_verify_msb / pit_expect_msb: inb(0x42) (lsb, ignored), inb(0x42) (msb).
    for k in [0u64, 1, 2, 100, 200] {
        let t = ns(10_001 + 256 * k + 17);
        let lsb = pit.read(2, t);
        let msb = pit.read(2, t);
        assert_eq!(msb, 0xFF - k as u8, "msb after {k} x 256 clocks");
        assert_eq!(lsb, 0xFF - 17);
    }
}

#[test]
fn counter_latch_freezes_until_read() {
    let (mut pit, _) = pit();
    program(&mut pit, 0, 0x34, 1000, ns(10));
    pit.write(3, 0x00, ns(111));
    pit.write(3, 0x00, ns(200)); // ignored: a latch is pending
    assert_eq!(pit.read(0, ns(500)), (900u16 & 0xFF) as u8);
    pit.write(3, 0x00, ns(550)); // still ignored: the msb is pending
    assert_eq!(pit.read(0, ns(560)), (900u16 >> 8) as u8);
    assert_eq!(latched(&mut pit, 0, ns(600)), 1000 - (600 - 11));
}

#[test]
fn read_back_latches_status_then_count() {
    let (mut pit, _) = pit();
    program(&mut pit, 0, 0x34, 1000, ns(50));
    pit.write(3, 0xC2, ns(50)); // read-back: count and status of counter 0
    assert_eq!(
        pit.read(0, ns(50)),
        0xF4,
        "OUT high, null count, control 0x34"
    );
    assert_eq!(pit.read(0, ns(70)), 0xE8);
    assert_eq!(pit.read(0, ns(75)), 0x03, "count as of the read-back");
    pit.write(3, 0xE2, ns(80)); // status only
    assert_eq!(pit.read(0, ns(80)), 0xB4, "count loaded: null count clear");
    // Counters 0 and 2 at once; each keeps its own latches. Counter 2's GATE is
    // low: the count is loaded but does not count.
    program(&mut pit, 2, 0xB6, 300, ns(90));
    pit.write(3, 0xCA, ns(91));
    assert_eq!(pit.read(2, ns(91)), 0xB6);
    assert_eq!(pit.read(0, ns(91)), 0xB4);
    assert_eq!(
        pit.read(2, ns(95)) as u16 | (pit.read(2, ns(95)) as u16) << 8,
        300
    );
    assert_eq!(
        pit.read(0, ns(95)) as u16 | (pit.read(0, ns(95)) as u16) << 8,
        1000 - 40
    );
}

#[test]
fn lsb_only_and_msb_only_access() {
    let (mut pit, _) = pit();
    pit.write(3, 0x10, ns(0)); // counter 0, lsb only, mode 0
    pit.write(0, 0x50, ns(0));
    assert_eq!(pit.read(0, ns(11)), 0x50 - 10);
    assert_eq!(pit.read(0, ns(11)), 0x50 - 10, "every read is the lsb");
    pit.write(3, 0x20, ns(20)); // msb only
    pit.write(0, 0x02, ns(20)); // count 0x200
    assert_eq!(pit.read(0, ns(21 + 0x100)), 0x01);
    assert_eq!(pit.next_deadline(), Some(ns(21 + 0x200)));
}

#[test]
fn bcd_counting() {
    let (mut pit, irq) = pit();
    program(&mut pit, 0, 0x35, 0x1000, ns(0)); // mode 2, BCD 1000
    assert_eq!(latched(&mut pit, 0, ns(2)), 0x0999);
    assert_eq!(latched(&mut pit, 0, ns(1 + 990)), 0x0010);
    let before = irq.rising_edges();
    pit.advance(ns(1001));
    assert_eq!(irq.rising_edges(), before + 1, "period is 1000 decimal");
    program(&mut pit, 0, 0x31, 0x0000, ns(2000)); // BCD 0 = 10000
    assert_eq!(pit.next_deadline(), Some(ns(2001 + 10_000)));
    assert_eq!(latched(&mut pit, 0, ns(2002)), 0x9999);
}

#[test]
fn gate_controls_counter2_in_modes_0_1_2_5() {
    let (mut pit, _) = pit();
    // Mode 2, gate low: no counting, OUT high; rising gate reloads.
    program(&mut pit, 2, 0xB4, 100, ns(0));
    assert!(pit.out(2, ns(500)));
    pit.set_gate(2, true, ns(1000));
    assert!(!pit.out(2, ns(1100)));
    assert!(pit.out(2, ns(1101)));
    pit.set_gate(2, false, ns(1150));
    assert_eq!(latched(&mut pit, 2, ns(1300)), 100 - (1150 - 1101));
    assert!(pit.out(2, ns(1300)));
    pit.set_gate(2, true, ns(2000));
    assert_eq!(latched(&mut pit, 2, ns(2001)), 100);

    // Mode 1: hardware retriggerable one-shot.
    pit.set_gate(2, false, ns(2500));
    program(&mut pit, 2, 0xB2, 50, ns(2500));
    assert!(pit.out(2, ns(2600)), "waits for a trigger");
    pit.set_gate(2, true, ns(3000));
    assert!(pit.out(2, ns(3000)));
    assert!(!pit.out(2, ns(3001)));
    pit.set_gate(2, false, ns(3020));
    pit.set_gate(2, true, ns(3020)); // retrigger
    assert!(!pit.out(2, ns(3060)));
    assert!(pit.out(2, ns(3071)));

    // Mode 5: hardware-triggered strobe.
    pit.set_gate(2, false, ns(4000));
    program(&mut pit, 2, 0xBA, 10, ns(4000));
    pit.set_gate(2, true, ns(4100));
    assert!(pit.out(2, ns(4110)) && !pit.out(2, ns(4111)) && pit.out(2, ns(4112)));

    // Mode 0: gate low suspends counting.
    program(&mut pit, 2, 0xB0, 100, ns(5000));
    pit.set_gate(2, false, ns(5050));
    assert_eq!(latched(&mut pit, 2, ns(5090)), 100 - 49);
    pit.set_gate(2, true, ns(5200));
    assert!(!pit.out(2, ns(5250)));
    assert!(pit.out(2, ns(5251)));
}

#[test]
fn mode2_new_count_takes_effect_at_end_of_period() {
    let (mut pit, irq) = pit();
    program(&mut pit, 0, 0x34, 1000, 0);
    pit.write(0, 500u16 as u8, ns(1500));
    pit.write(0, (500u16 >> 8) as u8, ns(1500));
    assert_eq!(
        latched(&mut pit, 0, ns(1600)),
        1000 - 599,
        "old period continues"
    );
    assert_eq!(pit.next_deadline(), Some(ns(2001)));
    let before = irq.rising_edges();
    pit.advance(ns(2001));
    assert_eq!(pit.next_deadline(), Some(ns(2501)));
    pit.advance(ns(2501));
    assert_eq!(irq.rising_edges(), before + 2);
    assert_eq!(latched(&mut pit, 0, ns(2502)), 499);
}

#[test]
fn port_b_refresh_toggle_and_gate_bits() {
    let (mut pit, _) = pit();
    let mut port_b = PortB::new();
    assert_eq!(port_b.read(&pit, ns(0)) & 0x10, 0);
    assert_eq!(port_b.read(&pit, ns(18)) & 0x10, 0x10);
    assert_eq!(port_b.read(&pit, ns(35)) & 0x10, 0x10);
    assert_eq!(port_b.read(&pit, ns(36)) & 0x10, 0);
    port_b.write(&mut pit, 0xF3, ns(40));
    assert!(pit.gate(2));
    assert!(port_b.speaker_on());
    assert_eq!(
        port_b.read(&pit, ns(40)) & 0x0F,
        0x03,
        "only bits 3:0 are stored"
    );
    port_b.write(&mut pit, 0x00, ns(41));
    assert!(!pit.gate(2));
}

#[test]
fn power_on_state_ticks_at_18_2_hz() {
    let (pit, _) = pit();
    assert_eq!(pit.next_deadline(), Some(ns(65536)));
    assert_eq!(pit.mode(0), Some(3));
    assert!(!pit.gate(2));
}

#[test]
fn state_round_trip_continues_identically() {
    let (mut pit, _) = pit();
    program(&mut pit, 0, 0x34, 777, ns(3));
    program(&mut pit, 2, 0xB6, 1234, ns(9));
    pit.write(3, 0x00, ns(100)); // a pending latch is part of the state
    pit.advance(ns(5000));
    let saved = pit.state();
    let irq2 = RecordingIrq::new();
    let mut copy = Pit::from_state(saved, Box::new(irq2.clone()));
    assert_eq!(copy.state(), saved);
    assert_eq!(copy.next_deadline(), pit.next_deadline());
    assert_eq!(copy.read(0, ns(6000)), pit.read(0, ns(6000)));
    assert_eq!(
        latched(&mut copy, 2, ns(7000)),
        latched(&mut pit, 2, ns(7000))
    );
    assert_eq!(irq2.level(), pit.out(0, ns(7000)));
}

#[test]
fn random_guest_programming_never_panics_and_deadlines_advance() {
    let (mut pit, _) = pit();
    let mut port_b = PortB::new();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut now = 0u64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        now += (x >> 40) % 3000;
        let v = (x >> 8) as u8;
        match x % 6 {
            0 | 1 => pit.write((x >> 3) as u16 & 3, v, now),
            2 => {
                pit.read((x >> 3) as u16 & 3, now);
            }
            3 => port_b.write(&mut pit, v, now),
            4 => {
                port_b.read(&pit, now);
            }
            _ => {
                pit.advance(now);
                if let Some(d) = pit.next_deadline() {
                    assert!(d > now, "deadline {d} not after {now}");
                    now = d;
                    pit.advance(d);
                }
            }
        }
    }
}
