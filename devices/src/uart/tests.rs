use super::*;
use crate::test_utils::{RecordingIrq, VecSink};

const RBR: u16 = 0;
const IER: u16 = 1;
const IIR: u16 = 2;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const MSR: u16 = 6;
const SCR: u16 = 7;

fn uart() -> (Uart, RecordingIrq, VecSink) {
    let irq = RecordingIrq::new();
    let sink = VecSink::new();
    (
        Uart::new(Box::new(irq.clone()), Box::new(sink.clone())),
        irq,
        sink,
    )
}

/// The register dance of Linux's 8250 `autoconfig()` + `autoconfig_16550a()`;
/// returns what Linux would conclude.
fn linux_autoconfig(u: &mut Uart) -> &'static str {
    let t = 0;
    // IER test.
    let scratch = u.read(IER, t);
    u.write(IER, 0, t);
    let scratch2 = u.read(IER, t) & 0x0F;
    u.write(IER, 0x0F, t);
    let scratch3 = u.read(IER, t) & 0x0F;
    u.write(IER, scratch, t);
    if scratch2 != 0 || scratch3 != 0x0F {
        return "IER test failed";
    }
    // Loopback test: MSR must mirror MCR.
    let save_mcr = u.read(MCR, t);
    let save_lcr = u.read(LCR, t);
    u.write(MCR, 0x10 | 0x0A, t);
    let status1 = u.read(MSR, t) & 0xF0;
    u.write(MCR, save_mcr, t);
    if status1 != 0x90 {
        return "LSR safety check engaged";
    }
    u.write(LCR, 0xBF, t);
    u.write(2, 0, t); // EFR on enhanced parts
    u.write(LCR, 0, t);
    u.write(FCR, 0x01, t);
    let kind = match u.read(IIR, t) >> 6 {
        0 => "8250/16450",
        1 => "unknown",
        2 => "16550",
        _ => "16550A",
    };
    if kind != "16550A" {
        return kind;
    }
    // autoconfig_16550a: no EFR with DLAB set or with 0xBF ...
    u.write(LCR, 0x80, t);
    if u.read(2, t) == 0 {
        return "ST16C650V1";
    }
    u.write(LCR, 0xBF, t);
    if u.read(2, t) == 0 {
        return "ST16C650V2";
    }
    // ... not a TI16750 (64-byte FIFO bit) ...
    u.write(LCR, 0, t);
    u.write(FCR, 0x21, t);
    let s1 = u.read(IIR, t) & 0xE0;
    u.write(FCR, 0x01, t);
    u.write(LCR, 0x80, t);
    u.write(FCR, 0x21, t);
    let s2 = u.read(IIR, t) & 0xE0;
    u.write(FCR, 0x01, t);
    u.write(LCR, 0, t);
    if s1 == 0xC0 && s2 == 0xE0 {
        return "16750";
    }
    // ... and not an XScale (IER bit 6 UUE).
    let iersave = u.read(IER, t);
    u.write(IER, iersave & !0x40, t);
    if u.read(IER, t) & 0x40 == 0 {
        u.write(IER, iersave | 0x40, t);
        if u.read(IER, t) & 0x40 != 0 {
            return "XScale";
        }
    }
    u.write(IER, iersave, t);
    u.write(LCR, save_lcr, t);
    "16550A"
}

#[test]
fn linux_autoconfig_detects_a_16550a() {
    let (mut u, irq, sink) = uart();
    assert_eq!(linux_autoconfig(&mut u), "16550A");
    u.write(SCR, 0xA5, 0);
    assert_eq!(u.read(SCR, 0), 0xA5);
    u.write(SCR, 0x5A, 0);
    assert_eq!(u.read(SCR, 0), 0x5A);
    assert!(sink.contents().is_empty());
    assert!(!irq.level());
}

#[test]
fn linux_startup_thre_reassertion_test() {
    let (mut u, irq, _) = uart();
    // serial8250_clear_fifos + clear interrupt registers.
    u.write(FCR, 0x01, 0);
    u.write(FCR, 0x07, 0);
    u.write(FCR, 0x00, 0);
    for r in [LSR, RBR, IIR, MSR] {
        u.read(r, 0);
    }
    assert_ne!(u.read(LSR, 0), 0xFF, "a UART is present");
    u.write(MCR, 0x0B, 0); // DTR | RTS | OUT2
    u.write(IER, 0x02, 0);
    assert!(irq.level(), "THRE interrupt as soon as THRI is enabled");
    let iir1 = u.read(IIR, 0);
    assert_eq!(iir1, 0x02);
    assert!(!irq.level(), "reading IIR clears THRE");
    u.write(IER, 0, 0);
    u.write(IER, 0x02, 0);
    let iir = u.read(IIR, 0);
    assert_eq!(iir & 0x01, 0, "THRE re-asserted: no UART_BUG_THRE");
    u.write(IER, 0, 0);
}

#[test]
fn transmit_goes_to_the_sink_and_raises_thre() {
    let (mut u, irq, sink) = uart();
    u.write(MCR, 0x08, 0);
    u.write(IER, 0x02, 0);
    assert_eq!(u.read(IIR, 0), 0x02);
    for &b in b"hello\n" {
        assert_eq!(u.read(LSR, 0) & 0x60, 0x60, "THRE and TEMT");
        u.write(RBR, b, 0);
    }
    assert_eq!(sink.text(), "hello\n");
    assert!(irq.level());
    assert_eq!(u.read(IIR, 0), 0x02);
}

#[test]
fn receive_fifo_trigger_level_and_character_timeout() {
    let (mut u, irq, _) = uart();
    u.write(LCR, 0x83, 0);
    u.write(0, 1, 0); // 115200 baud
    u.write(1, 0, 0);
    u.write(LCR, 0x03, 0); // 8N1
    assert_eq!(u.char_time_ns(), 86_805);
    u.write(FCR, 0x81, 0); // FIFO on, trigger at 8
    u.write(MCR, 0x0B, 0);
    u.write(IER, 0x01, 0);
    u.advance(1_000);
    u.receive(b"abcde");
    assert_eq!(u.read(LSR, 1_000) & 1, 1);
    assert_eq!(u.read(IIR, 1_000), 0xC1, "5 bytes < trigger 8: no RDA yet");
    let deadline = 1_000 + 4 * 86_805;
    assert_eq!(u.next_deadline(), Some(deadline));
    u.advance(deadline - 1);
    assert!(!irq.level());
    u.advance(deadline);
    assert!(irq.level());
    assert_eq!(u.read(IIR, deadline), 0xCC, "character timeout");
    assert_eq!(u.read(RBR, deadline), b'a');
    assert_eq!(
        u.read(IIR, deadline),
        0xC1,
        "reading RBR clears the timeout"
    );
    assert_eq!(
        u.next_deadline(),
        Some(2 * deadline - 1_000),
        "re-armed from the read"
    );
    u.receive(b"fghij");
    assert_eq!(u.read(IIR, deadline), 0xC4, "8 bytes: RDA");
    let mut got = Vec::new();
    while u.read(LSR, deadline) & 1 != 0 {
        got.push(u.read(RBR, deadline));
    }
    assert_eq!(got, b"bcdefghij");
    assert_eq!(u.next_deadline(), None);
    assert!(!irq.level());
}

#[test]
fn host_bytes_wait_while_the_fifo_is_full() {
    let (mut u, _, _) = uart();
    u.write(FCR, 0x01, 0);
    assert_eq!(u.rx_room(), 16);
    let data: Vec<u8> = (0..40).collect();
    u.receive(&data);
    assert_eq!(u.rx_room(), 0);
    assert_eq!(u.host_pending(), 24);
    let mut got = Vec::new();
    while u.read(LSR, 0) & 1 != 0 {
        got.push(u.read(RBR, 0));
    }
    assert_eq!(got, data, "nothing lost, order kept");
    assert_eq!(u.read(LSR, 0) & 0x02, 0, "no overrun");
    assert_eq!(u.rx_room(), 16);
}

#[test]
fn iir_priority_order() {
    let (mut u, _, _) = uart();
    u.write(MCR, 0x10, 0); // loopback, FIFO off: one-byte holding register
    u.write(RBR, 1, 0);
    u.write(RBR, 2, 0); // overrun
    u.write(IER, 0x0F, 0);
    assert_eq!(
        u.read(MSR, 0),
        0x0B,
        "entering loopback dropped CTS, DSR, DCD"
    );
    u.write(MCR, 0x11, 0); // + DTR: a modem status change (DDSR)
    assert_eq!(u.read(IIR, 0), 0x06, "line status first");
    assert_eq!(u.read(LSR, 0) & 0x03, 0x03, "OE and DR");
    assert_eq!(u.read(IIR, 0), 0x04, "then received data");
    assert_eq!(u.read(RBR, 0), 1, "the overrunning byte was lost");
    assert_eq!(
        u.read(IIR, 0),
        0x02,
        "then THR empty (cleared by this read)"
    );
    assert_eq!(u.read(IIR, 0), 0x00, "then modem status");
    assert_eq!(u.read(MSR, 0), 0x22, "DSR mirrors DTR, with DDSR");
    assert_eq!(u.read(IIR, 0), 0x01);
}

#[test]
fn out2_gates_the_irq_and_loopback_disables_it() {
    let (mut u, irq, _) = uart();
    u.write(IER, 0x02, 0);
    assert!(!irq.level(), "pending THRE, but OUT2 is off");
    u.write(MCR, 0x08, 0);
    assert!(irq.level());
    u.write(MCR, 0x18, 0);
    assert!(!irq.level(), "loopback forces OUT2 inactive");
    u.write(MCR, 0x00, 0);
    assert!(!irq.level());
    assert_eq!(
        u.read(IIR, 0),
        0x02,
        "the UART itself still has THRE pending"
    );
}

#[test]
fn loopback_echoes_and_mirrors_modem_lines() {
    let (mut u, _, sink) = uart();
    u.write(FCR, 0x07, 0);
    u.receive(b"host");
    let _ = u.read(MSR, 0);
    u.write(MCR, 0x1F, 0);
    assert_eq!(u.read(MSR, 0) & 0xF0, 0xF0);
    u.write(MCR, 0x10, 0);
    assert_eq!(u.read(MSR, 0), 0x0F, "all inputs fell: DCTS DDSR TERI DDCD");
    // "host" is already in the FIFO; loopback bytes queue behind it.
    u.write(RBR, b'X', 0);
    let mut got = Vec::new();
    while u.read(LSR, 0) & 1 != 0 {
        got.push(u.read(RBR, 0));
    }
    assert_eq!(got, b"hostX");
    u.receive(b"later");
    assert_eq!(u.read(LSR, 0) & 1, 0, "line disconnected in loopback");
    u.write(MCR, 0x00, 0);
    assert_eq!(u.read(RBR, 0), b'l');
    assert!(sink.contents().is_empty(), "nothing left the chip");
}

#[test]
fn divisor_latch_access() {
    let (mut u, _, _) = uart();
    u.write(IER, 0x05, 0);
    u.write(LCR, 0x83, 0);
    u.write(0, 0x01, 0);
    u.write(1, 0x02, 0);
    assert_eq!((u.read(0, 0), u.read(1, 0)), (0x01, 0x02));
    u.write(LCR, 0x03, 0);
    assert_eq!(u.read(IER, 0), 0x05, "IER untouched by DLM writes");
    assert_eq!(u.state().divisor, 0x0201);
}

#[test]
fn fifo_off_is_16450_mode() {
    let (mut u, _, _) = uart();
    u.write(IER, 0x01, 0);
    u.receive(b"xyz");
    assert_eq!(u.read(IIR, 0), 0x04, "no FIFO bits, RDA on one byte");
    assert_eq!(u.host_pending(), 2);
    assert_eq!(u.read(RBR, 0), b'x');
    assert_eq!(u.read(RBR, 0), b'y');
    assert_eq!(u.next_deadline(), None, "no character timeout without FIFO");
}

#[test]
fn fcr_clears_and_needs_enable_bit() {
    let (mut u, _, _) = uart();
    u.write(FCR, 0xC1, 0);
    u.receive(&[7; 20]);
    u.write(FCR, 0xC3, 0); // clear RX: the waiting host bytes move in
    assert_eq!(u.host_pending(), 0);
    assert_eq!(u.state().rx.len(), 4);
    u.write(FCR, 0x80, 0); // enable bit 0: FIFO off, trigger not programmed
    assert_eq!(u.state().fcr, 0);
    assert_eq!(u.read(IIR, 0) & 0xC0, 0);
}

#[test]
fn state_round_trip() {
    let (mut u, _, _) = uart();
    u.write(FCR, 0x81, 0);
    u.write(IER, 0x03, 0);
    u.write(MCR, 0x0B, 0);
    u.receive(&[1; 30]);
    let saved = u.state();
    let irq = RecordingIrq::new();
    let sink = VecSink::new();
    let mut copy = Uart::from_state(saved.clone(), Box::new(irq.clone()), Box::new(sink.clone()));
    assert_eq!(copy.state(), saved);
    assert!(irq.level(), "restored line level");
    for _ in 0..30 {
        assert_eq!(copy.read(RBR, 10), u.read(RBR, 10));
    }
    copy.write(RBR, b'z', 10);
    assert_eq!(sink.contents(), b"z");
}

#[test]
fn random_guest_accesses_never_panic() {
    let (mut u, _, _) = uart();
    let mut x = 0xDEAD_BEEF_1234_5678u64;
    let mut now = 0;
    for i in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        now += (x >> 48) % 50_000;
        let v = (x >> 8) as u8;
        match x % 5 {
            0 | 1 => u.write((x >> 3) as u16, v, now),
            2 => {
                u.read((x >> 3) as u16, now);
            }
            3 => u.receive(&[v; 5][..usize::from(v % 5)]),
            _ => {
                u.advance(now);
                if let Some(d) = u.next_deadline() {
                    assert!(d > now);
                }
            }
        }
        if i % 1000 == 0 {
            assert!(u.state().rx.len() <= 16);
        }
    }
}
