//! Bounds-checked little-endian field access for parsing untrusted files.
//!
//! Every read returns `None` instead of panicking when the field does not
//! fit, so parsers can turn a short file into a precise error.

/// Reads a byte at `off`.
pub(crate) fn u8_at(data: &[u8], off: usize) -> Option<u8> {
    data.get(off).copied()
}

/// Reads a little-endian `u16` at `off`.
pub(crate) fn u16_at(data: &[u8], off: usize) -> Option<u16> {
    let b = data.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Reads a little-endian `u32` at `off`.
pub(crate) fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u64` at `off`.
pub(crate) fn u64_at(data: &[u8], off: usize) -> Option<u64> {
    let b = data.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Writes a little-endian `u16` at `off` of a buffer the caller sized.
pub(crate) fn put_u16(buf: &mut [u8], off: usize, v: u16) {
    buf[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u32` at `off` of a buffer the caller sized.
pub(crate) fn put_u32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u64` at `off` of a buffer the caller sized.
pub(crate) fn put_u64(buf: &mut [u8], off: usize, v: u64) {
    buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Rounds `v` up to a multiple of `align` (any non-zero value; 0 means 1).
pub(crate) fn align_up(v: u64, align: u64) -> u64 {
    let a = align.max(1);
    v.div_ceil(a).saturating_mul(a)
}

/// Rounds `v` down to a multiple of `align` (any non-zero value; 0 means 1).
pub(crate) fn align_down(v: u64, align: u64) -> u64 {
    let a = align.max(1);
    v / a * a
}

/// Whether `[a, a + alen)` and `[b, b + blen)` share a byte.
pub(crate) fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    alen > 0 && blen > 0 && a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let d = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(u8_at(&d, 7), Some(8));
        assert_eq!(u8_at(&d, 8), None);
        assert_eq!(u16_at(&d, 6), Some(0x0807));
        assert_eq!(u16_at(&d, 7), None);
        assert_eq!(u32_at(&d, 4), Some(0x0807_0605));
        assert_eq!(u32_at(&d, usize::MAX), None);
        assert_eq!(u64_at(&d, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(u64_at(&d, 1), None);
    }

    #[test]
    fn alignment_and_overlap() {
        assert_eq!(align_up(0x1001, 0x1000), 0x2000);
        assert_eq!(align_up(0x1000, 0x1000), 0x1000);
        assert_eq!(align_up(5, 0), 5);
        assert_eq!(align_up(u64::MAX, 0x1000), u64::MAX);
        assert_eq!(align_down(0x1FFF, 0x1000), 0x1000);
        assert!(overlaps(0, 10, 9, 1));
        assert!(!overlaps(0, 10, 10, 1));
        assert!(!overlaps(0, 0, 0, 10));
    }
}
