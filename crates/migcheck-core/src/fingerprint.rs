//! The files the checker keeps between builds (the scratch-database cache,
//! the memo, the line cache) are checked against corruption with one cheap
//! fingerprint, and written through a temporary file and a rename so that a
//! build killed half-way leaves no half-written file. A file whose fingerprint
//! does not match is ignored: it only ever costs speed.

use std::fs;
use std::path::Path;

/// A fingerprint of bytes against corruption (not against tampering: the
/// files live in Cargo's OUT_DIR), with the length: four
/// independent rotate-xor-multiply lanes over 8-byte words. Each step is a
/// bijection of its lane, so any single changed word changes it. Written for
/// opt-level 0, where build scripts run: plain operators in one loop (a
/// `wrapping_mul` or `rotate_left` there is a function call), so that it
/// stays a few milliseconds for a database of thousands of tables.
#[allow(clippy::manual_rotate)] // `rotate_left` is a call at opt-level 0
pub fn fingerprint(bytes: &[u8]) -> u64 {
    const K: u128 = 0x9e37_79b9_7f4a_7c15;
    // `(x as u128 * K) as u64` is `x.wrapping_mul(K)` without the call; a
    // macro rather than a closure, which would be a call too.
    macro_rules! step {
        ($lane:expr, $word:expr) => {
            ((($lane << 23 | $lane >> 41) ^ $word) as u128 * K) as u64
        };
    }
    let mut lanes = [bytes.len() as u64, 1, 2, 3];
    let (words, tail) = bytes.split_at(bytes.len() / 32 * 32);
    // SAFETY: any bit pattern is a valid `[u64; 4]`; `align_to` only splits.
    let (head, aligned, rest) = unsafe { words.align_to::<[u64; 4]>() };
    if head.is_empty() && rest.is_empty() {
        // Buffers from the allocator are aligned: read them in place.
        let mut i = 0;
        while i < aligned.len() {
            let [w, x, y, z] = aligned[i];
            // Little-endian machines read the words as they are; others swap.
            #[cfg(target_endian = "big")]
            let [w, x, y, z] = [w.swap_bytes(), x.swap_bytes(), y.swap_bytes(), z.swap_bytes()];
            lanes = [step!(lanes[0], w), step!(lanes[1], x), step!(lanes[2], y), step!(lanes[3], z)];
            i += 1;
        }
    } else {
        for chunk in words.chunks_exact(32) {
            let word = |k: usize| u64::from_le_bytes(chunk[8 * k..8 * k + 8].try_into().expect("8 bytes"));
            lanes = [
                step!(lanes[0], word(0)),
                step!(lanes[1], word(1)),
                step!(lanes[2], word(2)),
                step!(lanes[3], word(3)),
            ];
        }
    }
    for &b in tail {
        lanes[0] = step!(lanes[0], u64::from(b));
    }
    let mut h = 0;
    for lane in lanes {
        h = step!(h, lane);
    }
    h
}

/// Writes `body` and its [`fingerprint`] to `dir/name`, through a temporary
/// file and a rename (a build killed half-way leaves no half-written file).
pub fn store_fingerprinted(dir: &Path, name: &str, mut body: Vec<u8>) -> std::io::Result<()> {
    let sum = fingerprint(&body);
    body.extend_from_slice(&sum.to_le_bytes());
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    fs::write(&tmp, &body)?;
    fs::rename(tmp, dir.join(name))
}

/// The body [`store_fingerprinted`] wrote to `dir/name`, if it is there and
/// its fingerprint matches.
pub fn load_fingerprinted(dir: &Path, name: &str) -> Option<Vec<u8>> {
    let mut bytes = fs::read(dir.join(name)).ok()?;
    let body = bytes.len().checked_sub(8)?;
    let sum = u64::from_le_bytes(bytes[body..].try_into().ok()?);
    bytes.truncate(body);
    (sum == fingerprint(&bytes)).then_some(bytes)
}
