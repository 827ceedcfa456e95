use super::*;

fn select(fw: &mut FwCfg, key: u16) {
    fw.pio_write(FW_CFG_SELECTOR, IoSize::Word, u32::from(key), 0);
}

fn read(fw: &mut FwCfg, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| fw.pio_read(FW_CFG_DATA, IoSize::Byte, 0) as u8)
        .collect()
}

fn e820() -> Vec<u8> {
    let mut b = Vec::new();
    for (addr, len, kind) in [
        (0u64, 0x9FC00u64, 1u32),
        (0x9FC00, 0x400, 2),
        (0x100000, 0x1F00000, 1),
    ] {
        b.extend_from_slice(&addr.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&kind.to_le_bytes());
    }
    b
}

/// Looks a file up in the directory as a guest does: returns (key, size).
fn find_file(fw: &mut FwCfg, name: &str) -> Option<(u16, u32)> {
    select(fw, keys::FILE_DIR);
    let count = u32::from_be_bytes(read(fw, 4).try_into().unwrap());
    for _ in 0..count {
        let e = read(fw, DIR_ENTRY_SIZE);
        let size = u32::from_be_bytes(e[0..4].try_into().unwrap());
        let key = u16::from_be_bytes(e[4..6].try_into().unwrap());
        let end = e[8..].iter().position(|&b| b == 0).unwrap();
        if &e[8..8 + end] == name.as_bytes() {
            return Some((key, size));
        }
    }
    None
}

#[test]
fn signature_and_id() {
    let mut fw = FwCfg::new();
    select(&mut fw, keys::SIGNATURE);
    assert_eq!(read(&mut fw, 4), b"QEMU");
    select(&mut fw, keys::ID);
    let id = u32::from_le_bytes(read(&mut fw, 4).try_into().unwrap());
    assert_eq!(id & ID_TRADITIONAL, ID_TRADITIONAL);
    assert_eq!(id & ID_DMA, 0, "no DMA interface");
}

#[test]
fn past_the_end_and_unknown_keys_read_zero() {
    let mut fw = FwCfg::new();
    select(&mut fw, keys::SIGNATURE);
    assert_eq!(read(&mut fw, 6), b"QEMU\0\0");
    select(&mut fw, 0x1234);
    assert_eq!(read(&mut fw, 3), [0, 0, 0]);
    select(&mut fw, keys::RAM_SIZE); // not set on a bare device
    assert_eq!(read(&mut fw, 8), [0; 8]);
}

#[test]
fn selecting_rewinds() {
    let mut fw = FwCfg::new();
    select(&mut fw, keys::SIGNATURE);
    assert_eq!(read(&mut fw, 2), b"QE");
    select(&mut fw, keys::SIGNATURE);
    assert_eq!(read(&mut fw, 4), b"QEMU");
}

#[test]
fn wide_reads_and_the_selector_port_read_data() {
    let mut fw = FwCfg::new();
    select(&mut fw, keys::SIGNATURE);
    assert_eq!(fw.pio_read(FW_CFG_DATA, IoSize::Word, 0), 0x4551); // "QE"
    assert_eq!(
        fw.pio_read(FW_CFG_SELECTOR, IoSize::Byte, 0),
        u32::from(b'M')
    );
    assert_eq!(fw.pio_read(FW_CFG_DATA, IoSize::Byte, 0), u32::from(b'U'));
}

#[test]
fn writes_that_do_not_select() {
    let mut fw = FwCfg::new();
    select(&mut fw, keys::SIGNATURE);
    // A byte at the selector and anything at the data port are data
    // writes: ignored, the item and the read position stay.
    fw.pio_write(FW_CFG_SELECTOR, IoSize::Byte, 0x01, 0);
    fw.pio_write(FW_CFG_DATA, IoSize::Byte, 0x55, 0);
    select(&mut fw, keys::SIGNATURE | keys::WRITE_CHANNEL);
    fw.pio_write(FW_CFG_DATA, IoSize::Byte, 0x55, 0);
    select(&mut fw, keys::SIGNATURE);
    assert_eq!(read(&mut fw, 4), b"QEMU");
    // A dword write selects with its low word.
    fw.pio_write(FW_CFG_SELECTOR, IoSize::Dword, 0xABCD_0000, 0);
    assert_eq!(read(&mut fw, 1), b"Q");
}

#[test]
fn write_channel_and_arch_bits_are_part_of_the_key() {
    let mut fw = FwCfg::new();
    select(&mut fw, keys::SIGNATURE | keys::ARCH_LOCAL);
    assert_eq!(read(&mut fw, 4), [0; 4]);
}

#[test]
fn pc_items() {
    let map = e820();
    let mut fw = FwCfg::pc(32 << 20, 1, "console=ttyS0 quiet", &map).unwrap();
    select(&mut fw, keys::RAM_SIZE);
    assert_eq!(read(&mut fw, 8), (32u64 << 20).to_le_bytes());
    select(&mut fw, keys::NB_CPUS);
    assert_eq!(read(&mut fw, 2), [1, 0]);
    select(&mut fw, keys::CMDLINE_SIZE);
    let n = u32::from_le_bytes(read(&mut fw, 4).try_into().unwrap());
    assert_eq!(n as usize, "console=ttyS0 quiet".len() + 1);
    select(&mut fw, keys::CMDLINE_DATA);
    assert_eq!(read(&mut fw, n as usize), b"console=ttyS0 quiet\0");

    let (key, size) = find_file(&mut fw, "etc/e820").expect("etc/e820 listed");
    assert!(key >= keys::FILE_FIRST);
    assert_eq!(size as usize, map.len());
    select(&mut fw, key);
    assert_eq!(read(&mut fw, size as usize), map);

    let (key, size) = find_file(&mut fw, "etc/cmdline").expect("etc/cmdline listed");
    select(&mut fw, key);
    assert_eq!(read(&mut fw, size as usize), b"console=ttyS0 quiet\0");
    assert_eq!(find_file(&mut fw, "etc/e82"), None);
}

#[test]
fn bad_input_is_an_error() {
    assert!(FwCfg::pc(1 << 20, 1, "a\0b", &[]).is_err());
    let mut fw = FwCfg::new();
    assert_eq!(
        fw.add_file("", vec![]),
        Err(Error::FwCfg("a file name must not be empty"))
    );
    assert!(fw.add_file(&"x".repeat(56), vec![]).is_err());
    assert_eq!(fw.add_file(&"x".repeat(55), vec![]), Ok(keys::FILE_FIRST));
    assert!(fw.add_file(&"x".repeat(55), vec![1]).is_err(), "duplicate");
    assert!(fw.add_file("a\0b", vec![]).is_err());
    // The directory cannot be overwritten through set_item.
    fw.set_item(keys::FILE_DIR, vec![9; 4]);
    assert_eq!(&fw.item(keys::FILE_DIR).unwrap()[..4], &1u32.to_be_bytes());
}

#[test]
fn directory_lists_files_in_key_order() {
    let mut fw = FwCfg::new();
    let a = fw.add_file("b/second", vec![1, 2, 3]).unwrap();
    let b = fw.add_file("a/first", vec![]).unwrap();
    assert_eq!((a, b), (0x20, 0x21));
    let dir = fw.item(keys::FILE_DIR).unwrap().to_vec();
    assert_eq!(dir.len(), 4 + 2 * DIR_ENTRY_SIZE);
    assert_eq!(&dir[..4], &2u32.to_be_bytes());
    assert_eq!(&dir[4..8], &3u32.to_be_bytes());
    assert_eq!(&dir[8..10], &0x20u16.to_be_bytes());
    assert_eq!(&dir[12..20], b"b/second");
    assert!(dir[20..68].iter().all(|&b| b == 0));
    assert_eq!(&dir[68..72], &0u32.to_be_bytes());
    assert_eq!(&dir[72..74], &0x21u16.to_be_bytes());
}

#[test]
fn state_round_trip() {
    let mut fw = FwCfg::pc(64 << 20, 1, "x", &e820()).unwrap();
    select(&mut fw, keys::SIGNATURE);
    read(&mut fw, 2);
    let mut restored = FwCfg::from_state(fw.state());
    assert_eq!(read(&mut restored, 2), b"MU");
    assert_eq!(restored.item(keys::FILE_DIR), fw.item(keys::FILE_DIR));
    assert_eq!(find_file(&mut restored, "etc/e820").map(|f| f.1), Some(60));
}
