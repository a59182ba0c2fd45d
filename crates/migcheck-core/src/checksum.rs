//! Checksums of migration files and the chain hash that seals their order.
//!
//! Line endings are normalised before hashing (CRLF and lone CR become LF), so a
//! Windows checkout with `core.autocrlf` produces the same checksums; nothing
//! else is normalised, so any other edit changes the checksum.

use sha2::{Digest as _, Sha256};

use crate::model::Digest;

/// SHA-256 of `bytes` with line endings normalised to `\n`.
pub fn checksum(bytes: &[u8]) -> Digest {
    // Most files have no CR: `contains` on bytes is a memchr, fast even where
    // build scripts run unoptimised.
    if !bytes.contains(&b'\r') {
        return checksum_raw(bytes);
    }
    let mut hasher = Sha256::new();
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|&b| b == b'\r') {
        hasher.update(&rest[..i]);
        if rest.get(i + 1) != Some(&b'\n') {
            hasher.update(b"\n");
        }
        rest = &rest[i + 1..];
    }
    hasher.update(rest);
    hasher.finalize().into()
}

/// SHA-256 of `bytes` exactly as they are.
pub fn checksum_raw(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// The next link of the chain: `sha256(previous || line)`. Any insertion,
/// deletion, edit or reordering of the lines changes every later link.
pub fn chain(previous: &Digest, line: &str) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(line.as_bytes());
    hasher.finalize().into()
}

/// Lower-case hexadecimal.
pub fn to_hex(digest: &Digest) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, digest);
    out
}

/// Appends `digest` in lower-case hexadecimal.
pub fn push_hex(out: &mut String, digest: &Digest) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 64];
    // A plain loop: thousands of these per build, and build scripts run unoptimised.
    let mut i = 0;
    while i < 32 {
        digits[2 * i] = HEX[(digest[i] >> 4) as usize];
        digits[2 * i + 1] = HEX[(digest[i] & 0xf) as usize];
        i += 1;
    }
    out.push_str(std::str::from_utf8(&digits).expect("hexadecimal digits are ASCII"));
}

/// Parses 64 hexadecimal digits (either case).
pub fn from_hex(text: &str) -> Option<Digest> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    // A plain loop over a table: a lock file has thousands of these, and build
    // scripts run unoptimised.
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        let (high, low) = (HEX_VALUE[usize::from(bytes[2 * i])], HEX_VALUE[usize::from(bytes[2 * i + 1])]);
        if (high | low) > 15 {
            return None;
        }
        out[i] = (high << 4) | low;
        i += 1;
    }
    Some(out)
}

/// Each byte's value as a hexadecimal digit, 0xff for anything else.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = match c as u8 {
            b @ b'0'..=b'9' => b - b'0',
            b @ b'a'..=b'f' => b - b'a' + 10,
            b @ b'A'..=b'F' => b - b'A' + 10,
            _ => 0xff,
        };
        c += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_normalised_and_nothing_else() {
        let lf = checksum(b"CREATE TABLE a (x);\nSELECT 1;\n");
        assert_eq!(lf, checksum(b"CREATE TABLE a (x);\r\nSELECT 1;\r\n"));
        assert_eq!(lf, checksum(b"CREATE TABLE a (x);\rSELECT 1;\r"));
        assert_ne!(lf, checksum(b"CREATE TABLE a (x); \nSELECT 1;\n"));
        assert_ne!(lf, checksum(b"\xef\xbb\xbfCREATE TABLE a (x);\nSELECT 1;\n"));
    }

    #[test]
    fn known_sha256() {
        assert_eq!(to_hex(&checksum(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let d = checksum(b"x");
        assert_eq!(from_hex(&to_hex(&d)), Some(d));
        // Every byte value, against the formatter.
        for chunk in (0..=255u8).collect::<Vec<_>>().chunks(32) {
            let d: Digest = chunk.try_into().unwrap();
            assert_eq!(to_hex(&d), d.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
        assert_eq!(from_hex(&to_hex(&d).to_uppercase()), Some(d));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
        assert_eq!(from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn chain_depends_on_order() {
        let a = chain(&chain(&crate::model::CHAIN_START, "1"), "2");
        let b = chain(&chain(&crate::model::CHAIN_START, "2"), "1");
        assert_ne!(a, b);
    }
}
