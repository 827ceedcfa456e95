use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::blk::{feature as blkf, req, status as bst};
use super::mock::{Buf, DriverQueue, MockMemory};
use super::pci::{COMMON_OFFSET, DEVICE_OFFSET, ISR_CONFIG, ISR_OFFSET, ISR_QUEUE, NOTIFY_OFFSET};
use super::queue::{QueueError, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE};
use super::*;
use crate::block::{BlockBackend, BlockCompletion, BlockError, BlockOp, MemDisk, RequestId};
use crate::bus::{IoSize, PioDevice};
use crate::pci::PciFunction;
use crate::test_utils::RecordingIrq;

const HDR: u64 = 0x10000;
const DATA: u64 = 0x20000;
const STATUS: u64 = 0x30000;
const TABLE: u64 = 0x38000;

/// How the test backend behaves.
#[derive(Default)]
struct Ctl {
    /// Every request fails with an I/O error.
    fail: bool,
    /// Completions are held until `release`.
    hold: bool,
    held: Vec<BlockCompletion>,
    ops: Vec<BlockOp>,
}

/// A MemDisk whose behaviour and traffic the test controls and sees.
struct TestDisk {
    disk: MemDisk,
    ctl: Rc<RefCell<Ctl>>,
}

impl BlockBackend for TestDisk {
    fn capacity(&self) -> u64 {
        self.disk.capacity()
    }
    fn read_only(&self) -> bool {
        self.disk.read_only()
    }
    fn supports_discard(&self) -> bool {
        self.disk.supports_discard()
    }
    fn id(&self) -> String {
        "test-serial-0123456789abcdef".into()
    }
    fn submit(&mut self, id: RequestId, op: BlockOp) {
        let mut c = self.ctl.borrow_mut();
        c.ops.push(op.clone());
        if c.fail {
            c.held.push(BlockCompletion {
                id,
                result: Err(BlockError::Io("test failure".into())),
            });
            return;
        }
        drop(c);
        self.disk.submit(id, op);
        let done = self.disk.poll();
        self.ctl.borrow_mut().held.extend(done);
    }
    fn poll(&mut self) -> Vec<BlockCompletion> {
        let mut c = self.ctl.borrow_mut();
        if c.hold {
            return Vec::new();
        }
        std::mem::take(&mut c.held)
    }
    fn in_flight(&self) -> usize {
        self.ctl.borrow().held.len()
    }
}

type Parts = (
    Rc<RefCell<VirtioPci>>,
    RecordingIrq,
    Rc<Cell<bool>>,
    Rc<RefCell<Ctl>>,
);

struct Rig {
    dev: Rc<RefCell<VirtioPci>>,
    io: VirtioPciIo,
    mem: MockMemory,
    q: DriverQueue,
    irq: RecordingIrq,
    kick: Rc<Cell<bool>>,
    ctl: Rc<RefCell<Ctl>>,
}

fn device(data: Vec<u8>, ro: bool, in_order: bool) -> Parts {
    let ctl = Rc::new(RefCell::new(Ctl::default()));
    let disk = TestDisk {
        disk: MemDisk::new(data, ro),
        ctl: ctl.clone(),
    };
    let irq = RecordingIrq::new();
    let kick = Rc::new(Cell::new(false));
    let dev = VirtioPci::new(
        Box::new(VirtioBlk::new(Box::new(disk)).in_order(in_order)),
        Box::new(irq.clone()),
        kick.clone(),
    );
    (Rc::new(RefCell::new(dev)), irq, kick, ctl)
}

impl Rig {
    fn new(data: Vec<u8>, ro: bool) -> Self {
        Self::with_features(data, ro, |offered| offered)
    }

    /// Initialise the device as Linux does, accepting `pick(offered)`.
    fn with_features(data: Vec<u8>, ro: bool, pick: impl Fn(u64) -> u64) -> Self {
        Self::build(data, ro, false, pick)
    }

    /// [`Rig::with_features`], with in-order delivery when `in_order`.
    fn build(data: Vec<u8>, ro: bool, in_order: bool, pick: impl Fn(u64) -> u64) -> Self {
        let (dev, irq, kick, ctl) = device(data, ro, in_order);
        let mut r = Rig {
            io: VirtioPciIo(dev.clone()),
            dev,
            mem: MockMemory::new(1 << 20),
            q: DriverQueue::new(0x1000, 16),
            irq,
            kick,
            ctl,
        };
        r.w8(0x14, status::ACKNOWLEDGE | status::DRIVER);
        let offered = r.features();
        let f = pick(offered);
        r.set_features(f);
        r.w8(
            0x14,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
        );
        assert_ne!(r.r8(0x14) & status::FEATURES_OK, 0, "features refused");
        r.w16(0x16, 0);
        assert_eq!(r.r16(0x18), 256, "queue 0 offers 256 entries");
        r.w16(0x18, 16);
        let (d, a, u) = (r.q.desc, r.q.avail, r.q.used);
        for (off, v) in [(0x20, d), (0x28, a), (0x30, u)] {
            r.w32(off, v as u32);
            r.w32(off + 4, (v >> 32) as u32);
        }
        r.w16(0x1C, 1);
        r.w8(
            0x14,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
        );
        assert_eq!(r.r8(0x14) & status::DRIVER_OK, status::DRIVER_OK);
        r
    }

    fn r8(&mut self, off: u16) -> u8 {
        self.io.pio_read(off, IoSize::Byte, 0) as u8
    }
    fn r16(&mut self, off: u16) -> u16 {
        self.io.pio_read(off, IoSize::Word, 0) as u16
    }
    fn r32(&mut self, off: u16) -> u32 {
        self.io.pio_read(off, IoSize::Dword, 0)
    }
    fn w8(&mut self, off: u16, v: u8) {
        self.io.pio_write(off, IoSize::Byte, v.into(), 0)
    }
    fn w16(&mut self, off: u16, v: u16) {
        self.io.pio_write(off, IoSize::Word, v.into(), 0)
    }
    fn w32(&mut self, off: u16, v: u32) {
        self.io.pio_write(off, IoSize::Dword, v, 0)
    }

    fn features(&mut self) -> u64 {
        self.w32(0x00, 0);
        let lo = self.r32(0x04);
        self.w32(0x00, 1);
        let hi = self.r32(0x04);
        u64::from(hi) << 32 | u64::from(lo)
    }

    fn set_features(&mut self, f: u64) {
        self.w32(0x08, 0);
        self.w32(0x0C, f as u32);
        self.w32(0x08, 1);
        self.w32(0x0C, (f >> 32) as u32);
    }

    fn status(&mut self) -> u8 {
        self.r8(COMMON_OFFSET + 0x14)
    }

    /// Publish `head`, notify queue 0 and let the device work.
    fn kick_and_run(&mut self, head: u16) {
        self.q.publish(&mut self.mem, head);
        self.w16(NOTIFY_OFFSET, 0);
        assert!(
            self.kick.replace(false),
            "notify asks the board to end the slice"
        );
        self.run();
    }

    fn run(&mut self) {
        self.dev.borrow_mut().process(&mut self.mem);
    }

    fn header(&mut self, ty: u32, sector: u64) {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&ty.to_le_bytes());
        h[8..16].copy_from_slice(&sector.to_le_bytes());
        self.mem.put(HDR, &h);
        self.mem.put(STATUS, &[0xEE]);
    }

    /// One request with a direct chain: header, `data`, status. Returns the status
    /// byte and the used length.
    fn request(&mut self, ty: u32, sector: u64, data: &[Buf]) -> (u8, u32) {
        self.header(ty, sector);
        let mut bufs = vec![Buf::r(HDR, 16)];
        bufs.extend_from_slice(data);
        bufs.push(Buf::w(STATUS, 1));
        let head = self.q.chain(&mut self.mem, &bufs);
        self.kick_and_run(head);
        let used = self.q.take_used(&self.mem);
        assert_eq!(used.len(), 1, "one completion");
        assert_eq!(used[0].0, u32::from(head));
        (self.mem.slice(STATUS, 1)[0], used[0].1)
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn pci_identity_and_capabilities() {
    let (dev, ..) = device(vec![0; 4096], false, false);
    let mut f = VirtioPciFunction(dev.clone());
    assert_eq!(
        f.config_read(0),
        0x1042_1AF4,
        "vendor 1AF4, modern block device 1042"
    );
    assert_eq!(f.config_read(0x3C) >> 8 & 0xFF, 1, "INTA#");
    assert_ne!(f.config_read(0x04) >> 16 & 0x10, 0, "capability list");
    // Walk the list: common, notify, ISR, device, PCI cfg, all in BAR0.
    let mut at = f.config_read(0x34) as u8;
    let mut found = Vec::new();
    while at != 0 {
        let h = f.config_read(at);
        assert_eq!(h & 0xFF, 0x09, "vendor-specific capability");
        let ty = (h >> 24) as u8;
        let bar = f.config_read(at + 4) & 0xFF;
        let offset = f.config_read(at + 8);
        let length = f.config_read(at + 12);
        assert_eq!(bar, 0);
        found.push((ty, offset, length));
        if ty == 2 {
            assert_eq!(f.config_read(at + 16), 0, "notify_off_multiplier");
        }
        at = (h >> 8) as u8;
    }
    assert_eq!(
        found,
        vec![
            (1, 0, 0x38),
            (2, u32::from(NOTIFY_OFFSET), 2),
            (3, u32::from(ISR_OFFSET), 1),
            (4, u32::from(DEVICE_OFFSET), 60),
            (5, 0, 0)
        ]
    );
    // BAR0 sizing: an I/O BAR of 128 ports.
    f.config_write(0x10, 0xFFFF_FFFF, 0xF);
    assert_eq!(f.config_read(0x10), 0xFFFF_FF81);
    f.config_write(0x10, 0xC040, 0xF);
    assert_eq!(dev.borrow().io_window(), None, "I/O decoding is off");
    f.config_write(0x04, 1, 0x3);
    assert_eq!(
        dev.borrow().io_window(),
        Some(0xC000),
        "aligned to the BAR size"
    );
}

#[test]
fn pci_cfg_window_reaches_the_bar() {
    let (dev, ..) = device(vec![0; 8192], false, false);
    let mut f = VirtioPciFunction(dev);
    // Read the capacity (device cfg offset 0) through the window: 16 sectors.
    f.config_write(0x84 + 8, u32::from(DEVICE_OFFSET), 0xF);
    f.config_write(0x84 + 12, 4, 0xF);
    assert_eq!(f.config_read(0x94), 16);
    // Write the status through it.
    f.config_write(0x84 + 8, 0x14, 0xF);
    f.config_write(0x84 + 12, 1, 0xF);
    f.config_write(0x94, u32::from(status::ACKNOWLEDGE), 0x1);
    assert_eq!(f.config_read(0x94), u32::from(status::ACKNOWLEDGE));
}

#[test]
fn feature_negotiation() {
    let (dev, ..) = device(vec![0; 4096], false, false);
    let mut r = Rig {
        io: VirtioPciIo(dev.clone()),
        dev,
        mem: MockMemory::new(1 << 16),
        q: DriverQueue::new(0x1000, 16),
        irq: RecordingIrq::new(),
        kick: Rc::new(Cell::new(false)),
        ctl: Rc::default(),
    };
    let f = r.features();
    for bit in [
        feature::VERSION_1,
        feature::INDIRECT_DESC,
        feature::EVENT_IDX,
        blkf::FLUSH,
        blkf::SEG_MAX,
        blkf::BLK_SIZE,
        blkf::DISCARD,
    ] {
        assert_ne!(f & bit, 0, "offers {bit:#x}");
    }
    assert_eq!(f & blkf::RO, 0);
    r.w8(0x14, status::ACKNOWLEDGE | status::DRIVER);
    // Without VERSION_1 the modern transport refuses.
    r.set_features(blkf::FLUSH);
    r.w8(
        0x14,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
    );
    assert_eq!(r.status() & status::FEATURES_OK, 0);
    // A bit that was not offered is refused too.
    r.set_features(feature::VERSION_1 | 1 << 40);
    r.w8(
        0x14,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
    );
    assert_eq!(r.status() & status::FEATURES_OK, 0);
    // DRIVER_OK without FEATURES_OK does not go live.
    r.w8(
        0x14,
        status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
    );
    assert_eq!(r.status() & status::DRIVER_OK, 0);
    // A subset is accepted, and then the features are frozen.
    r.set_features(feature::VERSION_1 | blkf::FLUSH);
    r.w8(
        0x14,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
    );
    assert_ne!(r.status() & status::FEATURES_OK, 0);
    r.set_features(feature::VERSION_1 | blkf::FLUSH | feature::EVENT_IDX);
    assert_eq!(
        r.dev.borrow().driver_features(),
        feature::VERSION_1 | blkf::FLUSH
    );
    // Queue size negotiation: powers of two up to the maximum only.
    r.w16(0x16, 0);
    r.w16(0x18, 100);
    assert_eq!(r.r16(0x18), 256);
    r.w16(0x18, 512);
    assert_eq!(r.r16(0x18), 256);
    r.w16(0x18, 64);
    assert_eq!(r.r16(0x18), 64);
    // A queue that does not exist reads size 0.
    r.w16(0x16, 1);
    assert_eq!(r.r16(0x18), 0);
    assert_eq!(r.r16(0x12), 1, "num_queues");
}

#[test]
fn blk_config_space() {
    let mut r = Rig::new(vec![0; 1 << 20], false);
    assert_eq!(r.r32(DEVICE_OFFSET), 2048, "capacity in sectors");
    assert_eq!(r.r32(DEVICE_OFFSET + 4), 0);
    assert_eq!(r.r32(DEVICE_OFFSET + 12), 254, "seg_max");
    assert_eq!(r.r32(DEVICE_OFFSET + 20), 512, "blk_size");
    assert_eq!(r.r32(DEVICE_OFFSET + 40), 16, "max_discard_seg");
}

#[test]
fn write_then_read_multi_segment() {
    let mut r = Rig::new(vec![0; 64 * 512], false);
    let data = pattern(3 * 512, 7);
    r.mem.put(DATA, &data);
    // Three segments of uneven sizes, written at sector 4.
    let (st, len) = r.request(
        req::OUT,
        4,
        &[
            Buf::r(DATA, 100),
            Buf::r(DATA + 100, 1000),
            Buf::r(DATA + 1100, 436),
        ],
    );
    assert_eq!((st, len), (bst::OK, 1));
    assert!(r.irq.level(), "interrupt raised");
    assert_eq!(r.r8(ISR_OFFSET), ISR_QUEUE);
    assert!(!r.irq.level(), "reading the ISR clears it and drops INTx#");
    assert_eq!(r.r8(ISR_OFFSET), 0);
    // Read it back into two segments.
    let (st, len) = r.request(req::IN, 4, &[Buf::w(0x40000, 512), Buf::w(0x50000, 1024)]);
    assert_eq!((st, len), (bst::OK, 3 * 512 + 1));
    assert_eq!(r.mem.slice(0x40000, 512), &data[..512]);
    assert_eq!(r.mem.slice(0x50000, 1024), &data[512..]);
    let ops = r.ctl.borrow().ops.clone();
    assert_eq!(
        ops[0],
        BlockOp::Write {
            offset: 2048,
            data: data.clone()
        }
    );
    assert_eq!(
        ops[1],
        BlockOp::Read {
            offset: 2048,
            len: 1536
        }
    );
}

#[test]
fn indirect_descriptors() {
    let mut r = Rig::new(pattern(16 * 512, 3), false);
    r.header(req::IN, 2);
    let head = r.q.indirect(
        &mut r.mem,
        TABLE,
        &[
            Buf::r(HDR, 16),
            Buf::w(DATA, 512),
            Buf::w(DATA + 4096, 512),
            Buf::w(STATUS, 1),
        ],
    );
    r.kick_and_run(head);
    assert_eq!(r.q.take_used(&r.mem), vec![(u32::from(head), 1025)]);
    assert_eq!(r.mem.slice(STATUS, 1), [bst::OK]);
    let disk = pattern(16 * 512, 3);
    assert_eq!(r.mem.slice(DATA, 512), &disk[1024..1536]);
    assert_eq!(r.mem.slice(DATA + 4096, 512), &disk[1536..2048]);
}

#[test]
fn indirect_refused_when_not_negotiated() {
    let mut r = Rig::with_features(vec![0; 4096], false, |f| f & !feature::INDIRECT_DESC);
    r.header(req::IN, 0);
    let head =
        r.q.indirect(&mut r.mem, TABLE, &[Buf::r(HDR, 16), Buf::w(STATUS, 1)]);
    r.kick_and_run(head);
    assert_ne!(r.status() & status::DEVICE_NEEDS_RESET, 0);
    assert_eq!(r.dev.borrow().last_error(), Some(QueueError::BadIndirect));
}

#[test]
fn flush_get_id_discard_and_unsupported() {
    let mut r = Rig::new(vec![0xAB; 32 * 512], false);
    assert_eq!(r.request(req::FLUSH, 0, &[]), (bst::OK, 1));
    assert_eq!(r.ctl.borrow().ops.last(), Some(&BlockOp::Flush));
    let (st, len) = r.request(req::GET_ID, 0, &[Buf::w(DATA, 20)]);
    assert_eq!((st, len), (bst::OK, 21));
    assert_eq!(r.mem.slice(DATA, 20), b"test-serial-01234567");
    // Discard two ranges.
    let mut seg = Vec::new();
    for (sector, n) in [(2u64, 2u32), (10, 1)] {
        seg.extend_from_slice(&sector.to_le_bytes());
        seg.extend_from_slice(&n.to_le_bytes());
        seg.extend_from_slice(&0u32.to_le_bytes());
    }
    r.mem.put(DATA, &seg);
    assert_eq!(
        r.request(req::DISCARD, 0, &[Buf::r(DATA, 32)]),
        (bst::OK, 1)
    );
    let (st, _) = r.request(req::IN, 0, &[Buf::w(0x40000, 12 * 512)]);
    assert_eq!(st, bst::OK);
    let back = r.mem.slice(0x40000, 12 * 512);
    for (i, b) in back.chunks(512).enumerate() {
        let zero = matches!(i, 2 | 3 | 10);
        assert!(
            b.iter().all(|&x| x == if zero { 0 } else { 0xAB }),
            "sector {i}"
        );
    }
    // Discard flags are reserved; a range past the end fails.
    r.mem.put(DATA + 12, &1u32.to_le_bytes());
    assert_eq!(
        r.request(req::DISCARD, 0, &[Buf::r(DATA, 16)]).0,
        bst::UNSUPP
    );
    r.mem.put(DATA, &31u64.to_le_bytes());
    r.mem.put(DATA + 12, &0u32.to_le_bytes());
    assert_eq!(
        r.request(req::DISCARD, 0, &[Buf::r(DATA, 16)]).0,
        bst::IOERR
    );
    assert_eq!(r.request(99, 0, &[]), (bst::UNSUPP, 1));
}

#[test]
fn discard_without_the_feature_is_unsupported() {
    let mut r = Rig::with_features(vec![0xAB; 8 * 512], false, |f| f & !blkf::DISCARD);
    r.mem.put(DATA, &[0; 16]);
    r.mem.put(DATA + 8, &1u32.to_le_bytes());
    assert_eq!(
        r.request(req::DISCARD, 0, &[Buf::r(DATA, 16)]).0,
        bst::UNSUPP
    );
    assert!(r.ctl.borrow().ops.is_empty(), "nothing reached the backend");
}

#[test]
fn out_of_range_and_misaligned_are_ioerr() {
    let mut r = Rig::new(vec![0; 8 * 512], false);
    assert_eq!(r.request(req::IN, 8, &[Buf::w(DATA, 512)]), (bst::IOERR, 1));
    assert_eq!(
        r.request(req::IN, 7, &[Buf::w(DATA, 1024)]),
        (bst::IOERR, 1)
    );
    assert_eq!(
        r.request(req::IN, u64::MAX / 256, &[Buf::w(DATA, 512)]),
        (bst::IOERR, 1)
    );
    assert_eq!(
        r.request(req::OUT, 0, &[Buf::r(DATA, 100)]),
        (bst::IOERR, 1)
    );
    // A data buffer outside guest RAM fails the request, not the device.
    assert_eq!(
        r.request(req::OUT, 0, &[Buf::r(1 << 40, 512)]),
        (bst::IOERR, 1)
    );
    assert_eq!(r.request(req::IN, 0, &[Buf::w(1 << 40, 512)]).0, bst::IOERR);
    assert_eq!(r.status() & status::DEVICE_NEEDS_RESET, 0);
    assert!(
        r.ctl.borrow().ops.len() == 1,
        "only the in-range read reached the backend"
    );
}

#[test]
fn failing_backend_gives_ioerr() {
    let mut r = Rig::new(vec![0; 8 * 512], false);
    r.ctl.borrow_mut().fail = true;
    r.mem.put(DATA, &[0x55; 512]);
    assert_eq!(r.request(req::IN, 0, &[Buf::w(DATA, 512)]), (bst::IOERR, 1));
    assert_eq!(
        r.request(req::OUT, 0, &[Buf::r(DATA, 512)]),
        (bst::IOERR, 1)
    );
    assert_eq!(r.request(req::FLUSH, 0, &[]), (bst::IOERR, 1));
}

#[test]
fn read_only_disk_refuses_writes() {
    let mut r = Rig::new(vec![0x11; 8 * 512], true);
    let f = r.dev.borrow().driver_features();
    assert_ne!(f & blkf::RO, 0, "RO offered and accepted");
    assert_eq!(f & blkf::DISCARD, 0, "no discard on a read-only disk");
    r.mem.put(DATA, &[0x22; 512]);
    assert_eq!(
        r.request(req::OUT, 0, &[Buf::r(DATA, 512)]),
        (bst::IOERR, 1)
    );
    assert!(
        r.ctl.borrow().ops.is_empty(),
        "the write never reached the backend"
    );
    assert_eq!(r.request(req::IN, 0, &[Buf::w(DATA, 512)]), (bst::OK, 513));
    assert_eq!(r.mem.slice(DATA, 512), &[0x11; 512][..]);
}

#[test]
fn event_idx_suppresses_interrupts_until_used_event() {
    let mut r = Rig::new(pattern(8 * 512, 1), false);
    // The driver wants an interrupt only when the third request completes (used idx 2 -> 3).
    r.q.set_used_event(&mut r.mem, 2);
    for i in 0..3u64 {
        r.irq.clear();
        r.header(req::IN, i);
        let head = r.q.chain(
            &mut r.mem,
            &[Buf::r(HDR, 16), Buf::w(DATA, 512), Buf::w(STATUS, 1)],
        );
        r.kick_and_run(head);
        assert_eq!(r.q.take_used(&r.mem).len(), 1);
        assert_eq!(
            r.q.avail_event(&r.mem),
            i as u16 + 1,
            "device asks to be notified of the next buffer"
        );
        assert_eq!(r.irq.rising_edges(), usize::from(i == 2), "request {i}");
    }
    assert_eq!(r.r8(ISR_OFFSET), ISR_QUEUE);
}

#[test]
fn no_interrupt_flag_without_event_idx() {
    let mut r = Rig::with_features(vec![0; 8 * 512], false, |f| f & !feature::EVENT_IDX);
    r.q.set_avail_flags(&mut r.mem, 1);
    assert_eq!(r.request(req::FLUSH, 0, &[]).0, bst::OK);
    assert!(!r.irq.level());
    r.q.set_avail_flags(&mut r.mem, 0);
    assert_eq!(r.request(req::FLUSH, 0, &[]).0, bst::OK);
    assert!(r.irq.level());
}

#[test]
fn malformed_chains_need_reset_and_never_hang() {
    type Build = fn(&mut Rig) -> u16;
    let cases: [(Build, QueueError); 5] = [
        // A two-descriptor loop.
        (
            |r| {
                r.q.write_desc(&mut r.mem, 0, HDR, 16, DESC_F_NEXT, 1);
                r.q.write_desc(&mut r.mem, 1, DATA, 16, DESC_F_NEXT, 0);
                0
            },
            QueueError::ChainTooLong,
        ),
        // next past the table.
        (
            |r| {
                r.q.write_desc(&mut r.mem, 0, HDR, 16, DESC_F_NEXT, 16);
                0
            },
            QueueError::BadIndex(16),
        ),
        // A loop inside an indirect table.
        (
            |r| {
                let mut d = [0u8; 16];
                d[0..8].copy_from_slice(&HDR.to_le_bytes());
                d[8..12].copy_from_slice(&16u32.to_le_bytes());
                d[12..14].copy_from_slice(&DESC_F_NEXT.to_le_bytes());
                r.mem.put(TABLE, &d);
                r.q.write_desc(&mut r.mem, 0, TABLE, 16, DESC_F_INDIRECT, 0);
                0
            },
            QueueError::ChainTooLong,
        ),
        // Nested indirect.
        (
            |r| {
                let mut d = [0u8; 16];
                d[0..8].copy_from_slice(&TABLE.to_le_bytes());
                d[8..12].copy_from_slice(&16u32.to_le_bytes());
                d[12..14].copy_from_slice(&DESC_F_INDIRECT.to_le_bytes());
                r.mem.put(TABLE, &d);
                r.q.write_desc(&mut r.mem, 0, TABLE, 16, DESC_F_INDIRECT, 0);
                0
            },
            QueueError::BadIndirect,
        ),
        // Readable after writable.
        (
            |r| {
                r.q.write_desc(&mut r.mem, 0, STATUS, 1, DESC_F_WRITE | DESC_F_NEXT, 1);
                r.q.write_desc(&mut r.mem, 1, HDR, 16, 0, 0);
                0
            },
            QueueError::ReadableAfterWritable,
        ),
    ];
    for (build, err) in cases {
        let mut r = Rig::new(vec![0; 8 * 512], false);
        let head = build(&mut r);
        r.kick_and_run(head);
        assert_ne!(r.status() & status::DEVICE_NEEDS_RESET, 0, "{err:?}");
        assert_eq!(r.dev.borrow().last_error(), Some(err));
        assert!(r.irq.level());
        assert_eq!(r.r8(ISR_OFFSET), ISR_CONFIG);
        // Further notifies are ignored until the driver resets.
        r.kick_and_run(head);
        assert!(r.q.take_used(&r.mem).is_empty());
    }
}

#[test]
fn rings_outside_ram_and_avail_overrun() {
    let mut r = Rig::new(vec![0; 8 * 512], false);
    r.q.set_avail_idx(&mut r.mem, 17);
    r.w16(NOTIFY_OFFSET, 0);
    r.run();
    assert!(matches!(
        r.dev.borrow().last_error(),
        Some(QueueError::AvailOverrun { .. })
    ));

    // A driver that puts its descriptor table past the end of RAM.
    let (dev, _irq, kick, _) = device(vec![0; 4096], false, false);
    let mut r2 = Rig {
        io: VirtioPciIo(dev.clone()),
        dev,
        mem: MockMemory::new(1 << 16),
        q: DriverQueue::new(0x1000, 16),
        irq: RecordingIrq::new(),
        kick,
        ctl: Rc::default(),
    };
    r2.w8(0x14, 3);
    let f = r2.features();
    r2.set_features(f);
    r2.w8(0x14, 11);
    r2.w16(0x18, 16);
    r2.w32(0x20, 0xFFFF_FFF0);
    r2.w32(0x24, 0xFFFF_FFFF);
    r2.w32(0x28, r2.q.avail as u32);
    r2.w32(0x30, r2.q.used as u32);
    r2.w16(0x1C, 1);
    r2.w8(0x14, 15);
    r2.q.publish(&mut r2.mem, 3);
    r2.w16(NOTIFY_OFFSET, 0);
    r2.run();
    assert!(matches!(
        r2.dev.borrow().last_error(),
        Some(QueueError::Memory(_))
    ));
}

/// Two reads that the backend finishes in the reverse order: the used ring gets
/// them as they finish, or, with in-order delivery (deterministic machines), the
/// later one waits for the earlier and both arrive in the driver's order.
#[test]
fn in_order_delivery_holds_back_a_request_that_overtook_an_earlier_one() {
    for in_order in [false, true] {
        let mut r = Rig::build(pattern(8 * 512, 4), false, in_order, |f| f);
        r.ctl.borrow_mut().hold = true;
        let mut heads = Vec::new();
        for i in 0..2u64 {
            r.header(req::IN, i);
            let head = r.q.chain(
                &mut r.mem,
                &[
                    Buf::r(HDR, 16),
                    Buf::w(DATA + 512 * i, 512),
                    Buf::w(STATUS + 1 + i, 1),
                ],
            );
            r.kick_and_run(head);
            heads.push(u32::from(head));
        }
        assert_eq!(r.dev.borrow().in_flight(), 2);
        let mut held = std::mem::take(&mut r.ctl.borrow_mut().held);
        assert_eq!(held.len(), 2);
        let first = held.remove(0);
        // The second request finishes first.
        r.ctl.borrow_mut().held = held;
        r.ctl.borrow_mut().hold = false;
        r.run();
        let used = r.q.take_used(&r.mem);
        if in_order {
            assert!(used.is_empty(), "held back behind the first: {used:?}");
            assert_eq!(r.dev.borrow().in_flight(), 2);
        } else {
            assert_eq!(used, vec![(heads[1], 513)]);
        }
        r.ctl.borrow_mut().held = vec![first];
        r.run();
        let used2 = r.q.take_used(&r.mem);
        if in_order {
            assert_eq!(used2, vec![(heads[0], 513), (heads[1], 513)]);
        } else {
            assert_eq!(used2, vec![(heads[0], 513)]);
        }
        assert_eq!(r.dev.borrow().in_flight(), 0);
        assert_eq!(r.mem.slice(STATUS + 1, 2), [bst::OK, bst::OK]);
        assert_eq!(r.mem.slice(DATA, 1024), &pattern(8 * 512, 4)[..1024]);
    }
}

#[test]
fn reset_clears_state_and_drops_stale_completions() {
    let mut r = Rig::new(pattern(8 * 512, 9), false);
    r.ctl.borrow_mut().hold = true;
    r.header(req::IN, 0);
    let head = r.q.chain(
        &mut r.mem,
        &[Buf::r(HDR, 16), Buf::w(DATA, 512), Buf::w(STATUS, 1)],
    );
    r.kick_and_run(head);
    assert_eq!(r.dev.borrow().in_flight(), 1);
    assert!(
        r.q.take_used(&r.mem).is_empty(),
        "not complete while the backend holds it"
    );
    // Reset with the request in flight.
    r.w8(0x14, 0);
    assert_eq!(r.status(), 0);
    assert_eq!(r.dev.borrow().in_flight(), 0);
    assert_eq!(r.dev.borrow().driver_features(), 0);
    assert_eq!(r.r16(0x1C), 0, "queue disabled");
    assert!(!r.irq.level());
    // Re-initialise on a fresh ring; the stale completion must not appear in it.
    let ctl = r.ctl.clone();
    let mut r2 = Rig {
        io: r.io.clone(),
        dev: r.dev.clone(),
        mem: r.mem.clone(),
        q: DriverQueue::new(0x8000, 16),
        irq: r.irq.clone(),
        kick: r.kick.clone(),
        ctl: ctl.clone(),
    };
    r2.w8(0x14, 3);
    let f = r2.features();
    r2.set_features(f);
    r2.w8(0x14, 11);
    r2.w16(0x18, 16);
    let (d, a, u) = (r2.q.desc, r2.q.avail, r2.q.used);
    r2.w32(0x20, d as u32);
    r2.w32(0x28, a as u32);
    r2.w32(0x30, u as u32);
    r2.w16(0x1C, 1);
    r2.w8(0x14, 15);
    ctl.borrow_mut().hold = false;
    let (st, len) = r2.request(req::IN, 1, &[Buf::w(DATA, 512)]);
    assert_eq!((st, len), (bst::OK, 513));
    assert_eq!(r2.mem.slice(DATA, 512), &pattern(8 * 512, 9)[512..1024]);
    assert!(
        r2.q.take_used(&r2.mem).is_empty(),
        "the stale completion was dropped"
    );
}

#[test]
fn bad_requests_are_returned_without_status() {
    let mut r = Rig::new(vec![0; 8 * 512], false);
    // Header too short: returned with nothing written.
    r.header(req::IN, 0);
    let head = r.q.chain(&mut r.mem, &[Buf::r(HDR, 8), Buf::w(STATUS, 1)]);
    r.kick_and_run(head);
    assert_eq!(r.q.take_used(&r.mem), vec![(u32::from(head), 0)]);
    assert_eq!(r.mem.slice(STATUS, 1), [0xEE]);
    // No writable status byte.
    let head = r.q.chain(&mut r.mem, &[Buf::r(HDR, 16)]);
    r.kick_and_run(head);
    assert_eq!(r.q.take_used(&r.mem), vec![(u32::from(head), 0)]);
    assert_eq!(r.status() & status::DEVICE_NEEDS_RESET, 0);
}
