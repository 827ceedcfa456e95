use super::*;
use crate::request::{A20Gate, BoardRequest, BoardRequests};
use crate::test_utils::RecordingIrq;

const DATA: u16 = 0;
const CMD: u16 = 4;

struct Rig {
    kbc: I8042,
    irq1: RecordingIrq,
    irq12: RecordingIrq,
    q: BoardRequests,
    a20: A20Gate,
}

fn rig() -> Rig {
    let q = BoardRequests::new();
    let a20 = A20Gate::new(q.clone(), true);
    let (irq1, irq12) = (RecordingIrq::new(), RecordingIrq::new());
    let kbc = I8042::new(
        Box::new(irq1.clone()),
        Box::new(irq12.clone()),
        a20.clone(),
        q.clone(),
    );
    Rig {
        kbc,
        irq1,
        irq12,
        q,
        a20,
    }
}

/// Linux `i8042_command`: write the command, the parameter bytes, then collect
/// `replies` bytes, each only after the status says OBF.
fn command(k: &mut I8042, cmd: u8, params: &[u8], replies: usize) -> Vec<u8> {
    k.write(CMD, cmd);
    for &p in params {
        assert_eq!(k.read(CMD) & 0x02, 0, "input buffer empty");
        k.write(DATA, p);
    }
    (0..replies)
        .map(|_| {
            assert_eq!(k.read(CMD) & 0x01, 0x01, "reply ready for {cmd:#x}");
            k.read(DATA)
        })
        .collect()
}

#[test]
fn linux_i8042_probe() {
    let Rig { mut kbc, irq12, .. } = rig();
    // i8042_controller_check / i8042_flush.
    assert_ne!(kbc.read(CMD), 0xFF);
    while kbc.read(CMD) & 1 != 0 {
        kbc.read(DATA);
    }
    // i8042_controller_selftest.
    assert_eq!(command(&mut kbc, 0xAA, &[], 1), [0x55]);
    assert_eq!(kbc.read(CMD) & 0x04, 0x04, "system flag");
    // i8042_controller_init: read the command byte, write it back modified.
    let ctr = command(&mut kbc, 0x20, &[], 1)[0];
    assert_eq!(ctr, 0x45, "BIOS hand-off: XLATE | SYS | KBDINT");
    let ctr = (ctr & !0x03) | 0x30; // interrupts off, both ports disabled
    command(&mut kbc, 0x60, &[ctr], 0);
    assert_eq!(command(&mut kbc, 0x20, &[], 1), [0x74]);
    // i8042_check_aux: AUX loopback, then the bit assignment test.
    assert_eq!(command(&mut kbc, 0xD3, &[0x5A], 0), []);
    assert_eq!(kbc.read(CMD) & 0x21, 0x21, "OBF with AUXDATA");
    assert_eq!(kbc.read(DATA), 0x5A);
    command(&mut kbc, 0xA7, &[], 0);
    assert_ne!(command(&mut kbc, 0x20, &[], 1)[0] & 0x20, 0, "AUX disabled");
    command(&mut kbc, 0xA8, &[], 0);
    assert_eq!(command(&mut kbc, 0x20, &[], 1)[0] & 0x20, 0, "AUX enabled");
    // AUX IRQ delivery test: AUXINT on, loop a byte, expect IRQ 12.
    command(&mut kbc, 0x60, &[0x47 | 0x02], 0);
    kbc.write(CMD, 0xD3);
    kbc.write(DATA, 0xA5);
    assert!(irq12.level());
    assert_eq!(kbc.read(DATA), 0xA5);
    assert!(!irq12.level());
    // Port tests.
    assert_eq!(command(&mut kbc, 0xAB, &[], 1), [0x00]);
    assert_eq!(command(&mut kbc, 0xA9, &[], 1), [0x00]);
}

#[test]
fn keyboard_answers_atkbd_probe_with_irq1() {
    let Rig { mut kbc, irq1, .. } = rig();
    kbc.write(DATA, 0xFF); // reset
    assert!(irq1.level());
    assert_eq!(kbc.read(DATA), 0xFA);
    assert!(irq1.level(), "next byte follows at once");
    assert_eq!(kbc.read(DATA), 0xAA);
    assert!(!irq1.level());
    kbc.write(DATA, 0xF2); // get ID (translated)
    let id: Vec<u8> = (0..3).map(|_| kbc.read(DATA)).collect();
    assert_eq!(id, [0xFA, 0xAB, 0x41]);
    kbc.write(DATA, 0xED);
    kbc.write(DATA, 0x07);
    assert_eq!((kbc.read(DATA), kbc.read(DATA)), (0xFA, 0xFA));
    kbc.write(DATA, 0x42); // not a command
    assert_eq!(kbc.read(DATA), 0xFE);
    assert_eq!(kbc.read(CMD) & 1, 0);
    assert_eq!(kbc.read(DATA), 0xFE, "empty buffer repeats the last byte");
}

#[test]
fn host_keys_respect_the_disable_bit_and_scanning() {
    let Rig { mut kbc, irq1, .. } = rig();
    kbc.write(CMD, 0xAD);
    kbc.push_keys(&[0x1E, 0x9E]);
    assert_eq!(
        kbc.read(CMD) & 1,
        0,
        "held while the keyboard port is disabled"
    );
    kbc.write(CMD, 0xAE);
    assert!(irq1.level());
    assert_eq!((kbc.read(DATA), kbc.read(DATA)), (0x1E, 0x9E));
    kbc.write(DATA, 0xF5); // disable scanning
    assert_eq!(kbc.read(DATA), 0xFA);
    kbc.push_keys(&[0x1E]);
    assert_eq!(kbc.read(CMD) & 1, 0, "a disabled keyboard sends nothing");
}

#[test]
fn reset_and_a20_requests() {
    let Rig {
        mut kbc, q, a20, ..
    } = rig();
    kbc.write(CMD, 0xDD);
    assert!(!a20.enabled());
    // Linux boot code enable_a20_kbc: 0xD1, 0xDF, then the 0xFF null command.
    kbc.write(CMD, 0xD1);
    kbc.write(DATA, 0xDF);
    kbc.write(CMD, 0xFF);
    assert!(a20.enabled());
    assert_eq!(
        command(&mut kbc, 0xD0, &[], 1)[0] & 0x03,
        0x03,
        "output port: A20, not reset"
    );
    kbc.write(CMD, 0xFE);
    assert_eq!(
        q.drain(),
        [
            BoardRequest::A20(false),
            BoardRequest::A20(true),
            BoardRequest::Reset
        ]
    );
    kbc.write(CMD, 0xD1);
    kbc.write(DATA, 0x00);
    assert_eq!(q.drain(), [BoardRequest::A20(false), BoardRequest::Reset]);
}

#[test]
fn aux_device_writes_time_out() {
    let Rig { mut kbc, irq12, .. } = rig();
    command(&mut kbc, 0x60, &[0x47], 0);
    kbc.write(CMD, 0xD4);
    kbc.write(DATA, 0xF2);
    assert_eq!(kbc.read(CMD) & 0x61, 0x61, "OBF, AUXDATA, timeout");
    assert!(irq12.level());
    assert_eq!(kbc.read(DATA), 0xFE);
}

#[test]
fn port92_fast_a20_and_reset() {
    let q = BoardRequests::new();
    let a20 = A20Gate::new(q.clone(), false);
    let mut p = Port92::new(a20.clone(), q.clone());
    p.write(0x02);
    assert_eq!(p.read(), 0x02);
    assert!(a20.enabled());
    p.write(0x03);
    p.write(0x03); // already set: no second reset
    p.write(0x02);
    p.write(0x03);
    assert_eq!(
        q.drain(),
        [
            BoardRequest::A20(true),
            BoardRequest::Reset,
            BoardRequest::Reset
        ]
    );
    p.write(0x00);
    assert!(!a20.enabled());
    let copy = Port92::from_state(Port92State { value: 0x02 }, a20.clone(), q.clone());
    assert_eq!(copy.read(), 0x02);
    assert!(
        a20.enabled() && q.drain() == [BoardRequest::A20(false)],
        "restore is silent"
    );
}

#[test]
fn state_round_trip() {
    let r = rig();
    let mut kbc = r.kbc;
    kbc.write(DATA, 0xF2);
    kbc.read(DATA);
    kbc.write(CMD, 0x60);
    let saved = kbc.state();
    let irq1 = RecordingIrq::new();
    let mut copy = I8042::from_state(
        saved.clone(),
        Box::new(irq1.clone()),
        Box::new(RecordingIrq::new()),
        r.a20.clone(),
        r.q.clone(),
    );
    assert_eq!(copy.state(), saved);
    assert!(irq1.level(), "ID bytes pending: IRQ 1 high");
    for _ in 0..2 {
        assert_eq!(copy.read(DATA), kbc.read(DATA));
    }
    copy.write(DATA, 0x01);
    kbc.write(DATA, 0x01);
    assert_eq!(copy.state(), kbc.state());
}

#[test]
fn random_guest_accesses_never_panic() {
    let Rig { mut kbc, q, .. } = rig();
    let mut x = 0x5555_AAAA_1234_4321u64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x >> 8) as u8;
        match x % 4 {
            0 => kbc.write(CMD, v),
            1 => kbc.write(DATA, v),
            2 => {
                kbc.read((x >> 2) as u16 & 4);
            }
            _ => kbc.push_keys(&[v]),
        }
        q.drain();
    }
    assert!(kbc.state().ctrl_queue.len() <= 16);
}
