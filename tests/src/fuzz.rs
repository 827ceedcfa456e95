//! A small in-tree fuzzer: mutates a seed corpus for a bounded time and feeds each
//! input to a target that must not panic (errors are fine; panics, which include
//! failed assertions of the target's own invariants, are bugs).
//!
//! It runs on stable Rust in every CI run without extra tools. Each target gets
//! `TAB86_FUZZ_SECS` seconds (default 3); `TAB86_FUZZ_SEED` fixes the random seed
//! (otherwise it comes from the clock and is printed, so a failure can be rerun).
//! A failing input is written to `$TAB86_FUZZ_CRASHES` (default `$TMPDIR/tab86-fuzz-crashes/`); the
//! panic names it; `TAB86_FUZZ_REPLAY=FILE` runs just that input. The longer soak
//! is the same command with a larger `TAB86_FUZZ_SECS` (see the README).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: fast, reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Values that sit on the edges of integer ranges, for mutations.
const INTERESTING: [u32; 12] = [
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
];

/// One mutation of `data` (kept at most `max_len` bytes), drawing on `corpus`.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, corpus: &[Vec<u8>], max_len: usize) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(16) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next_u64() as u8;
            }
            2 if len > 0 => {
                let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let w = [1, 2, 4][rng.below(3)];
                let i = rng.below(len);
                let n = w.min(len - i);
                data[i..i + n].copy_from_slice(&v[..n]);
            }
            3 if len < max_len => {
                let i = rng.below(len + 1);
                let n = (1 + rng.below(16)).min(max_len - len);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(i..i, bytes);
            }
            4 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                data.drain(i..i + n);
            }
            5 if !corpus.is_empty() => {
                // Splice in a piece of another seed at the same offset.
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() && len > 0 {
                    let i = rng.below(len.min(other.len()));
                    let n = (1 + rng.below(64)).min(len - i).min(other.len() - i);
                    data[i..i + n].copy_from_slice(&other[i..i + n]);
                }
            }
            6 if len > 0 => {
                // Duplicate a block elsewhere (repeated structures, e.g. descriptors).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                let j = rng.below(len);
                let piece = data[i..i + n].to_vec();
                let m = n.min(len - j);
                data[j..j + m].copy_from_slice(&piece[..m]);
            }
            7 => {
                let n = rng.below(max_len.min(256) + 1);
                *data = (0..n).map(|_| rng.next_u64() as u8).collect();
            }
            _ if len > 0 => {
                // The commonest mutation: one byte anywhere.
                let i = rng.below(len);
                data[i] = data[i].wrapping_add(1 + rng.below(255) as u8);
            }
            _ => {}
        }
    }
    data.truncate(max_len);
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn crash_dir() -> PathBuf {
    std::env::var_os("TAB86_FUZZ_CRASHES")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tab86-fuzz-crashes"))
}

/// What a fuzzing run did.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Inputs executed.
    pub execs: u64,
    /// The seed used.
    pub seed: u64,
}

/// Fuzzes `target` named `name`: the seeds first, then mutations of them for the
/// configured time. Panics (with the saved input's path) when the target panics.
pub fn fuzz(name: &str, seeds: &[Vec<u8>], max_len: usize, target: impl Fn(&[u8])) -> Report {
    if let Ok(path) = std::env::var("TAB86_FUZZ_REPLAY") {
        let input =
            std::fs::read(&path).unwrap_or_else(|e| panic!("TAB86_FUZZ_REPLAY {path}: {e}"));
        target(&input);
        return Report { execs: 1, seed: 0 };
    }
    let secs = env_u64("TAB86_FUZZ_SECS").unwrap_or(3);
    let seed = env_u64("TAB86_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut rng = Rng::new(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut execs = 0u64;
    let mut input = Vec::new();
    let mut run = |input: &[u8]| {
        execs += 1;
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let dir = crash_dir();
            let _ = std::fs::create_dir_all(&dir);
            let hash = input.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
            });
            let file = dir.join(format!("{name}-{hash:016x}.bin"));
            let _ = std::fs::write(&file, input);
            panic!(
                "fuzz target {name} panicked on a {}-byte input (seed {seed}); saved as {}; \
                 rerun with TAB86_FUZZ_REPLAY={}",
                input.len(),
                file.display(),
                file.display()
            );
        }
    };
    for s in seeds {
        run(s);
    }
    while Instant::now() < deadline {
        // Fresh from a seed most of the time, so mutations stay near valid input
        // and reach past the first checks; sometimes keep mutating the last one.
        if input.is_empty() || rng.below(4) != 0 {
            input = seeds
                .get(rng.below(seeds.len().max(1)))
                .cloned()
                .unwrap_or_default();
        }
        mutate(&mut rng, &mut input, seeds, max_len);
        run(&input);
    }
    eprintln!("fuzz {name}: {execs} inputs in {secs} s, seed {seed}, no panic");
    Report { execs, seed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_target_is_caught_and_its_input_saved() {
        let r = catch_unwind(|| {
            fuzz("selftest", &[b"abc".to_vec()], 64, |d| {
                assert!(!d.starts_with(b"ab"), "found it");
            })
        });
        let msg = r.expect_err("the target panics on its seed");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("TAB86_FUZZ_REPLAY="), "{msg}");
        let path = msg.rsplit("TAB86_FUZZ_REPLAY=").next().unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"abc");
    }

    #[test]
    fn mutations_stay_within_the_length_bound() {
        let mut rng = Rng::new(7);
        let mut d = vec![1u8; 10];
        for _ in 0..10_000 {
            mutate(&mut rng, &mut d, &[vec![9; 40]], 48);
            assert!(d.len() <= 48);
        }
    }
}
