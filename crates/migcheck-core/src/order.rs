//! Ordering thousands of items where build scripts run: unoptimised.
//!
//! Cargo compiles build scripts and their dependencies at `opt-level = 0`,
//! and the standard library's sorts are generic, so they are compiled there
//! too: sorting the 6,900 files of a 5,000-migration history by name took
//! about as long as reading them. A radix sort over integer keys does a few
//! plain passes instead.

/// The indices of `keys` in increasing key order, equal keys in their
/// original order (stable): an LSD radix sort over the bytes in which the
/// keys differ.
pub fn order_by_key(keys: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    let mut next = vec![0; keys.len()];
    let (mut all, mut any) = (u64::MAX, 0u64);
    for &k in keys {
        all &= k;
        any |= k;
    }
    let varying = all ^ any;
    for shift in (0..64).step_by(8) {
        if (varying >> shift) & 0xff == 0 {
            continue;
        }
        let mut starts = [0usize; 257];
        for &k in keys {
            starts[((k >> shift) & 0xff) as usize + 1] += 1;
        }
        for b in 0..256 {
            starts[b + 1] += starts[b];
        }
        for &i in &order {
            let b = ((keys[i] >> shift) & 0xff) as usize;
            next[starts[b]] = i;
            starts[b] += 1;
        }
        std::mem::swap(&mut order, &mut next);
    }
    order
}

/// `items` in the order [`order_by_key`] gives for `key`.
pub fn sorted_by_key<T>(items: Vec<T>, key: impl Fn(&T) -> u64) -> Vec<T> {
    let keys: Vec<u64> = items.iter().map(key).collect();
    let order = order_by_key(&keys);
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.iter().map(|&i| slots[i].take().expect("each index once")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_like_the_standard_sort() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (len, spread) in [(0, 1), (1, 1), (2, 1), (50, 3), (1000, 1 << 20), (1000, u64::MAX), (300, 256)] {
            let keys: Vec<u64> = (0..len).map(|_| if spread == u64::MAX { next() } else { next() % spread }).collect();
            let items: Vec<(u64, usize)> = keys.iter().copied().zip(0..).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|i| i.0);
            assert_eq!(sorted_by_key(items, |i| i.0), expected, "{len} keys below {spread}");
        }
        let timestamps: Vec<u64> = (0..500).rev().map(|i| 20_260_000_000_000 + i * 7).collect();
        let order = order_by_key(&timestamps);
        assert!(order.windows(2).all(|w| timestamps[w[0]] < timestamps[w[1]]));
    }
}
