use super::*;
use crate::test_utils::RecordingIrq;

const SEC: u64 = 1_000_000_000;
/// 2024-03-15 13:45:30 UTC, a Friday.
const EPOCH: u64 = 1_710_510_330;

fn rtc() -> (Rtc, RecordingIrq) {
    let irq = RecordingIrq::new();
    (Rtc::new(EPOCH, Box::new(irq.clone())), irq)
}

fn rd(rtc: &mut Rtc, idx: u8, now: u64) -> u8 {
    rtc.write(0, idx, now);
    rtc.read(1, now)
}

fn wr(rtc: &mut Rtc, idx: u8, v: u8, now: u64) {
    rtc.write(0, idx, now);
    rtc.write(1, v, now);
}

fn clock(rtc: &mut Rtc, now: u64) -> [u8; 8] {
    [0x32, 0x09, 0x08, 0x07, 0x06, 0x04, 0x02, 0x00].map(|i| rd(rtc, i, now))
}

#[test]
fn reads_the_injected_time_in_bcd() {
    let (mut rtc, _) = rtc();
    assert_eq!(
        clock(&mut rtc, 0),
        [0x20, 0x24, 0x03, 0x15, 0x06, 0x13, 0x45, 0x30]
    );
    assert_eq!(rd(&mut rtc, 0x0A, 0), 0x26);
    assert_eq!(rd(&mut rtc, 0x0B, 0), 0x02);
    assert_eq!(rd(&mut rtc, 0x0D, 0), 0x80, "VRT: valid RAM and time");
}

#[test]
fn time_advances_with_virtual_time() {
    let (mut rtc, _) = rtc();
    assert_eq!(rd(&mut rtc, 0x00, 5 * SEC + SEC / 2), 0x35);
    assert_eq!(rd(&mut rtc, 0x02, 5 * SEC + SEC / 2), 0x45);
    assert_eq!(rd(&mut rtc, 0x00, 30 * SEC), 0x00);
    assert_eq!(rd(&mut rtc, 0x02, 30 * SEC), 0x46, "minute carried");
    assert_eq!(rtc.time_secs(3600 * SEC), EPOCH as i64 + 3600);
}

#[test]
fn binary_and_12_hour_formats() {
    let (mut rtc, _) = rtc();
    wr(&mut rtc, 0x0B, 0x04, 0); // binary, 12 hour
    assert_eq!(rd(&mut rtc, 0x04, 0), 0x81, "1 PM");
    assert_eq!(rd(&mut rtc, 0x00, 0), 30);
    assert_eq!(rd(&mut rtc, 0x09, 0), 24);
    assert_eq!(rd(&mut rtc, 0x32, 0), 20);
    wr(&mut rtc, 0x04, 0x80 | 12, 0); // write 12 PM = noon
    assert_eq!(rtc.time_secs(0), EPOCH as i64 - 3600);
    wr(&mut rtc, 0x04, 12, 0); // 12 AM = midnight
    wr(&mut rtc, 0x0B, 0x06, 0); // binary, 24 hour
    assert_eq!(rd(&mut rtc, 0x04, 0), 0);
    wr(&mut rtc, 0x0B, 0x02, 0);
    assert_eq!(rd(&mut rtc, 0x07, 0), 0x15);
}

#[test]
fn uip_is_set_in_the_last_244us_of_each_second() {
    let (mut rtc, _) = rtc();
    assert_eq!(rd(&mut rtc, 0x0A, SEC - 244_142) & 0x80, 0);
    assert_eq!(rd(&mut rtc, 0x0A, SEC - 244_141) & 0x80, 0x80);
    assert_eq!(
        rd(&mut rtc, 0x00, SEC - 1),
        0x30,
        "old time during the update window"
    );
    assert_eq!(rd(&mut rtc, 0x0A, SEC) & 0x80, 0);
    assert_eq!(rd(&mut rtc, 0x00, SEC), 0x31);
}

#[test]
fn linux_mc146818_set_time_sequence() {
    let (mut rtc, _) = rtc();
    let t = 10 * SEC + 300_000_000;
    let save_control = rd(&mut rtc, 0x0B, t);
    wr(&mut rtc, 0x0B, save_control | 0x80, t); // RTC_SET
    let save_freq = rd(&mut rtc, 0x0A, t);
    wr(&mut rtc, 0x0A, save_freq | 0x70, t); // RTC_DIV_RESET2
    for (i, v) in [
        (0x09, 0x99),
        (0x08, 0x12),
        (0x07, 0x31),
        (0x04, 0x23),
        (0x02, 0x59),
        (0x00, 0x58),
    ] {
        wr(&mut rtc, i, v, t);
    }
    wr(&mut rtc, 0x32, 0x19, t);
    assert_eq!(rd(&mut rtc, 0x00, t + 3 * SEC), 0x58, "held while SET");
    let t = t + 3 * SEC;
    wr(&mut rtc, 0x0B, save_control, t);
    wr(&mut rtc, 0x0A, save_freq, t);
    assert_eq!(rd(&mut rtc, 0x00, t + SEC / 2 - 1), 0x58);
    assert_eq!(
        rd(&mut rtc, 0x00, t + SEC / 2),
        0x59,
        "first update 500 ms after reset"
    );
    assert_eq!(
        clock(&mut rtc, t + SEC / 2 + SEC),
        [0x20, 0x00, 0x01, 0x01, 0x07, 0x00, 0x00, 0x00],
        "Y2K rollover into Saturday 2000-01-01 with the century"
    );
}

#[test]
fn periodic_interrupt_rate_1024hz_and_2hz() {
    let (mut rtc, irq) = rtc();
    wr(&mut rtc, 0x0B, 0x02 | 0x40, 0); // PIE
    let mut n = 0;
    while let Some(d) = rtc.next_deadline().filter(|&d| d <= SEC) {
        rtc.advance(d);
        assert!(irq.level());
        assert_eq!(rd(&mut rtc, 0x0C, d) & 0xC0, 0xC0, "IRQF | PF");
        assert!(!irq.level(), "reading C releases IRQ 8");
        n += 1;
    }
    assert_eq!(n, 1024);
    wr(&mut rtc, 0x0A, 0x2F, SEC); // rate 15: 2 Hz
    let d1 = rtc.next_deadline().unwrap();
    assert_eq!(d1, SEC + SEC / 2);
    rtc.advance(d1 - 1);
    assert!(!irq.level(), "exact deadline: nothing before it");
    rtc.advance(d1);
    assert!(irq.level());
}

#[test]
fn update_ended_and_alarm_interrupts() {
    let (mut rtc, irq) = rtc();
    wr(&mut rtc, 0x0B, 0x12, 0); // UIE
    assert_eq!(rtc.next_deadline(), Some(SEC));
    rtc.advance(SEC);
    assert!(irq.level());
    assert_eq!(
        rd(&mut rtc, 0x0C, SEC),
        0xD0,
        "IRQF | UF, and PF (rate 6 runs without PIE)"
    );
    // Alarm at hh:mm:35 with minute and hour don't-care.
    wr(&mut rtc, 0x01, 0x35, SEC);
    wr(&mut rtc, 0x03, 0xC0, SEC);
    wr(&mut rtc, 0x05, 0xFF, SEC);
    wr(&mut rtc, 0x0B, 0x22, SEC); // AIE only
    rtc.advance(4 * SEC);
    assert!(!irq.level(), "clock shows :34");
    rtc.advance(5 * SEC);
    assert!(irq.level());
    assert_eq!(rd(&mut rtc, 0x0C, 5 * SEC) & !0x40, 0xB0, "IRQF | AF | UF");
    // Flags are set even when their interrupt is disabled, without IRQ 8.
    wr(&mut rtc, 0x0B, 0x02, 5 * SEC);
    rtc.advance(7 * SEC);
    assert!(!irq.level());
    assert_eq!(rd(&mut rtc, 0x0C, 7 * SEC), 0x50, "PF and UF, no IRQF");
    assert_eq!(rd(&mut rtc, 0x0C, 7 * SEC), 0x00, "read-to-clear");
}

#[test]
fn alarm_is_found_after_a_long_idle_jump() {
    let (mut rtc, _) = rtc();
    wr(&mut rtc, 0x01, 0x00, 0);
    wr(&mut rtc, 0x03, 0x00, 0);
    wr(&mut rtc, 0x05, 0x03, 0); // 03:00:00, next night
    rtc.advance(20 * 3600 * SEC);
    assert_eq!(rd(&mut rtc, 0x0C, 20 * 3600 * SEC) & 0x20, 0x20);
    rtc.advance(21 * 3600 * SEC);
    assert_eq!(
        rd(&mut rtc, 0x0C, 21 * 3600 * SEC) & 0x20,
        0,
        "not again within the hour"
    );
}

#[test]
fn cmos_memory_fields_and_checksum() {
    let (mut rtc, _) = rtc();
    rtc.set_memory_size(128 << 20);
    let w = |r: &Rtc, i: u8| u16::from(r.cmos(i)) | u16::from(r.cmos(i + 1)) << 8;
    assert_eq!(w(&rtc, 0x15), 640);
    assert_eq!(w(&rtc, 0x17), 0xFFFF, "127 MB of extended memory saturates");
    assert_eq!(w(&rtc, 0x30), 0xFFFF);
    assert_eq!(w(&rtc, 0x34), 1792);
    rtc.set_memory_size(32 << 20);
    assert_eq!(w(&rtc, 0x17), 31 * 1024);
    assert_eq!(w(&rtc, 0x34), 256);
    let sum: u16 = (0x10..=0x2D).map(|i| u16::from(rtc.cmos(i))).sum();
    assert_eq!(
        u16::from(rtc.cmos(0x2E)) << 8 | u16::from(rtc.cmos(0x2F)),
        sum
    );
    assert_eq!(
        rd(&mut rtc, 0x31, 0),
        ((31u16 * 1024) >> 8) as u8,
        "visible through the ports"
    );
}

#[test]
fn index_port_nmi_mask_and_plain_ram() {
    let (mut rtc, _) = rtc();
    rtc.write(0, 0x80 | 0x0F, 0);
    assert!(rtc.nmi_disabled());
    rtc.write(1, 0x0A, 0); // shutdown status: jump via 40:67
    assert_eq!(rtc.cmos(CMOS_SHUTDOWN), 0x0A);
    assert_eq!(rtc.read(0, 0), 0xFF, "index port is write-only");
    rtc.write(0, 0x7F, 0);
    assert!(!rtc.nmi_disabled());
    rtc.write(1, 0x5A, 0);
    assert_eq!(rtc.read(1, 0), 0x5A);
    wr(&mut rtc, 0x0D, 0x00, 0);
    assert_eq!(rd(&mut rtc, 0x0D, 0), 0x80, "register D is read-only");
}

#[test]
fn state_round_trip() {
    let (mut rtc, _) = rtc();
    wr(&mut rtc, 0x0B, 0x42, 0);
    rtc.advance(SEC / 3);
    let saved = rtc.state();
    let irq = RecordingIrq::new();
    let mut copy = Rtc::from_state(saved.clone(), Box::new(irq.clone()));
    assert_eq!(copy.state(), saved);
    assert!(irq.level(), "PF pending with PIE: line restored high");
    assert_eq!(copy.next_deadline(), rtc.next_deadline());
    assert_eq!(clock(&mut copy, 9 * SEC), clock(&mut rtc, 9 * SEC));
}

#[test]
fn random_guest_accesses_never_panic() {
    let (mut rtc, _) = rtc();
    let mut x = 0x0123_4567_89AB_CDEFu64;
    let mut now = 0u64;
    for _ in 0..50_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        now += (x >> 32) % 50_000_000;
        match x % 4 {
            0 | 1 => rtc.write((x >> 2) as u16, (x >> 8) as u8, now),
            2 => {
                rtc.read((x >> 2) as u16, now);
            }
            _ => {
                rtc.advance(now);
                if let Some(d) = rtc.next_deadline() {
                    assert!(d > now);
                }
            }
        }
    }
}
