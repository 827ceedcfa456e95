//! Virtual-time arithmetic shared by the timed devices.
//!
//! Devices run on a virtual clock in nanoseconds (`u64`). A device clocked at `hz`
//! sees tick `n` at the instant `tick_time(n, hz) = ceil(n * 1e9 / hz)`, and at time
//! `t` has seen `ticks_at(t, hz) = floor(t * hz / 1e9)` ticks. The two are exact
//! inverses (`ticks_at(tick_time(n)) == n`), so counters never drift and deadlines
//! computed from ticks land exactly on the tick they name.

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Input clock of the 8254 PIT on a PC (14.31818 MHz / 12, rounded as Linux does).
pub const PIT_HZ: u64 = 1_193_182;

/// Number of whole ticks of a `hz` clock that have happened at or before `ns`.
#[inline]
pub fn ticks_at(ns: u64, hz: u64) -> u64 {
    ((ns as u128 * hz as u128) / NS_PER_SEC as u128) as u64
}

/// The virtual time (ns) at which tick `tick` of a `hz` clock happens; saturates at `u64::MAX`.
#[inline]
pub fn tick_time(tick: u64, hz: u64) -> u64 {
    if hz == 0 {
        return u64::MAX;
    }
    let ns = (tick as u128 * NS_PER_SEC as u128).div_ceil(hz as u128);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_time_and_ticks_at_are_inverse() {
        for n in [
            0u64,
            1,
            2,
            3,
            1193,
            1_193_181,
            1_193_182,
            1_193_183,
            987_654_321,
        ] {
            let t = tick_time(n, PIT_HZ);
            assert_eq!(ticks_at(t, PIT_HZ), n, "tick {n}");
            if t > 0 {
                assert_eq!(ticks_at(t - 1, PIT_HZ), n - 1, "just before tick {n}");
            }
        }
        assert_eq!(tick_time(PIT_HZ, PIT_HZ), NS_PER_SEC);
        assert_eq!(tick_time(1, PIT_HZ), 839); // 838.095... rounded up
    }

    #[test]
    fn extreme_values_saturate() {
        assert_eq!(tick_time(u64::MAX, PIT_HZ), u64::MAX);
        assert_eq!(tick_time(5, 0), u64::MAX);
        assert!(ticks_at(u64::MAX, PIT_HZ) > 0);
    }
}
