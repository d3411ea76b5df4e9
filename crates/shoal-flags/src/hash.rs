//! MurmurHash3 x86_32, fed incrementally so a flag name and a user key hash without being joined.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3 (x86, 32-bit) of `data` with `seed`, as in Austin Appleby's reference.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    let mut h = Murmur3::new(seed);
    h.write(data);
    h.finish()
}

/// An incremental MurmurHash3 x86_32: `write` any number of slices, then `finish`.
/// The result equals [`murmur3_32`] of their concatenation. It is `Copy` and holds no
/// heap memory, so a state after a fixed prefix (`"<flag>:"`) can be kept and reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Murmur3 {
    h: u32,
    /// Pending bytes (little-endian), fewer than four.
    tail: u32,
    tail_len: u32,
    /// Total length modulo 2^32, as the reference mixes it in.
    len: u32,
}

impl Murmur3 {
    /// A hasher with `seed`.
    pub const fn new(seed: u32) -> Self {
        Murmur3 {
            h: seed,
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    /// Feeds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u32);
        let mut rest = bytes;
        // Complete a pending block first.
        while self.tail_len > 0 {
            let Some((&b, more)) = rest.split_first() else {
                return;
            };
            self.push(b);
            rest = more;
        }
        let mut blocks = rest.chunks_exact(4);
        for block in &mut blocks {
            let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
            self.h = mix_block(self.h, k);
        }
        for &b in blocks.remainder() {
            self.push(b);
        }
    }

    fn push(&mut self, b: u8) {
        self.tail |= u32::from(b) << (8 * self.tail_len);
        self.tail_len += 1;
        if self.tail_len == 4 {
            self.h = mix_block(self.h, self.tail);
            self.tail = 0;
            self.tail_len = 0;
        }
    }

    /// The hash of everything written.
    pub fn finish(self) -> u32 {
        let mut h = self.h;
        if self.tail_len > 0 {
            h ^= scramble(self.tail);
        }
        fmix32(h ^ self.len)
    }
}

fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

fn mix_block(h: u32, k: u32) -> u32 {
    (h ^ scramble(k))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// murmur3's finalizer: a bijection of `u32` that spreads every input bit over the
/// output (used to derive each flag's bucket from one hash of the user key).
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{any, prop, proptest};

    use super::*;

    /// Published vectors of the reference implementation (SMHasher's `MurmurHash3_x86_32`).
    #[test]
    fn reference_vectors() {
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0),
            (b"", 1, 0x514e_28b7),
            (b"", 0xffff_ffff, 0x81f1_6f39),
            (b"\xff\xff\xff\xff", 0, 0x7629_3b50),
            (b"\x21\x43\x65\x87", 0, 0xf55b_516b),
            (b"\x21\x43\x65\x87", 0x5082_edee, 0x2362_f9de),
            (b"\x21\x43\x65", 0, 0x7e4a_8634),
            (b"\x21\x43", 0, 0xa0f7_b07a),
            (b"\x21", 0, 0x7266_1cf4),
            (b"\x00\x00\x00\x00", 0, 0x2362_f9de),
            (b"\x00\x00\x00", 0, 0x85f0_b427),
            (b"\x00\x00", 0, 0x30f4_c306),
            (b"\x00", 0, 0x514e_28b7),
            (b"test", 0, 0xba6b_d213),
            (b"aaaa", 0x9747_b28c, 0x5a97_808a),
            (b"aaa", 0x9747_b28c, 0x283e_0130),
            (b"aa", 0x9747_b28c, 0x5d21_1726),
            (b"a", 0x9747_b28c, 0x7fa0_9ea6),
            (b"abcd", 0x9747_b28c, 0xf047_8627),
            (b"abc", 0x9747_b28c, 0xc84a_62dd),
            (b"ab", 0x9747_b28c, 0x7487_5592),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4cba),
            (
                b"The quick brown fox jumps over the lazy dog",
                0x9747_b28c,
                0x2fa8_26cd,
            ),
        ];
        for &(data, seed, want) in cases {
            assert_eq!(
                murmur3_32(data, seed),
                want,
                "murmur3_32({data:?}, {seed:#x})"
            );
        }
    }

    proptest! {
        /// Any split of the input into pieces gives the one-shot hash.
        #[test]
        fn incremental_equals_one_shot(
            data in prop::collection::vec(any::<u8>(), 0..64),
            cuts in prop::collection::vec(0usize..64, 0..6),
            seed in any::<u32>(),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut h = Murmur3::new(seed);
            let mut at = 0;
            for c in cuts {
                h.write(&data[at..c]);
                at = c;
            }
            h.write(&data[at..]);
            assert_eq!(h.finish(), murmur3_32(&data, seed));
        }
    }
}
