//! The price ladder of one side of a book: which price levels exist, in
//! price order, and which one is best.
//!
//! Prices are first turned into *keys* so that the best level is always the
//! smallest key: an ask's key is its price, a bid's key is `!price` (that is
//! `-price - 1`, order-reversing and overflow-free). Keys are grouped into
//! chunks of 64 consecutive keys. A chunk holds a 64-bit occupancy bitmap and
//! the level index of each occupied key. A directory (a fast-hashed map) finds
//! a chunk by number, and an ordered set holds the numbers of the non-empty
//! chunks; that set is touched only when a chunk turns empty or non-empty.
//!
//! So: finding a level is one map probe (or none, when it is in the cached
//! best chunk) and one array read; the next-best level after the best one
//! empties is a bit scan in the same chunk, or one ordered-set step to the
//! next non-empty chunk. Nothing ever scans over empty prices, and any `i64`
//! price range works; a market that wanders tens of thousands of ticks only
//! visits the chunks it lands in.
//!
//! Architecture invariant: `best` is always the smallest occupied key (or
//! `None`), and a chunk number is in `nonempty` exactly when its bitmap is
//! non-zero.

use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// "No level" in the level-index slots of a chunk.
pub(crate) const NIL: u32 = u32::MAX;

const CHUNK_BITS: u32 = 6;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: i64 = (CHUNK_LEN as i64) - 1;

#[derive(Clone, Debug)]
struct Chunk {
    /// Bit `i` is set when key `(number << 6) + i` holds a level.
    bits: u64,
    levels: [u32; CHUNK_LEN],
}

/// One side's ladder of price keys (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Ladder {
    chunks: Vec<Chunk>,
    free_chunks: Vec<u32>,
    dir: FxHashMap<i64, u32>,
    nonempty: BTreeSet<i64>,
    /// Smallest occupied key and its chunk slot.
    best: Option<(i64, u32)>,
    /// Chunks in `dir` whose bitmap is zero (kept for reuse; swept when many).
    empty_in_dir: usize,
}

#[inline]
fn split(key: i64) -> (i64, usize) {
    (key >> CHUNK_BITS, (key & CHUNK_MASK) as usize)
}

#[inline]
fn join(number: i64, bit: u32) -> i64 {
    (number << CHUNK_BITS) | i64::from(bit)
}

impl Ladder {
    /// The best (smallest) key and its level index.
    #[inline]
    pub(crate) fn best(&self) -> Option<(i64, u32)> {
        let (key, slot) = self.best?;
        let (_, bit) = split(key);
        Some((key, self.chunks[slot as usize].levels[bit]))
    }

    /// The level at `key`, if any.
    #[inline]
    pub(crate) fn get(&self, key: i64) -> Option<u32> {
        let (number, bit) = split(key);
        let slot = self.chunk_slot(number)?;
        let chunk = &self.chunks[slot as usize];
        if chunk.bits & (1u64 << bit) != 0 {
            Some(chunk.levels[bit])
        } else {
            None
        }
    }

    #[inline]
    fn chunk_slot(&self, number: i64) -> Option<u32> {
        if let Some((best_key, slot)) = self.best {
            if split(best_key).0 == number {
                return Some(slot);
            }
        }
        self.dir.get(&number).copied()
    }

    /// Records a new level at `key` (which must be vacant).
    pub(crate) fn insert(&mut self, key: i64, level: u32) {
        let (number, bit) = split(key);
        let slot = match self.chunk_slot(number) {
            Some(s) => s,
            None => self.new_chunk(number),
        };
        let chunk = &mut self.chunks[slot as usize];
        debug_assert!(chunk.bits & (1u64 << bit) == 0, "level already present");
        if chunk.bits == 0 {
            self.nonempty.insert(number);
            self.empty_in_dir -= 1;
        }
        chunk.bits |= 1u64 << bit;
        chunk.levels[bit] = level;
        match self.best {
            Some((b, _)) if b <= key => {}
            _ => self.best = Some((key, slot)),
        }
    }

    fn new_chunk(&mut self, number: i64) -> u32 {
        let fresh = Chunk {
            bits: 0,
            levels: [NIL; CHUNK_LEN],
        };
        let slot = if let Some(s) = self.free_chunks.pop() {
            self.chunks[s as usize] = fresh;
            s
        } else {
            self.chunks.push(fresh);
            u32::try_from(self.chunks.len() - 1).expect("chunk count fits u32")
        };
        self.dir.insert(number, slot);
        self.empty_in_dir += 1;
        slot
    }

    /// Removes the level at `key` (which must be present).
    pub(crate) fn remove(&mut self, key: i64) {
        let (number, bit) = split(key);
        let Some(slot) = self.chunk_slot(number) else {
            debug_assert!(false, "removing a missing level");
            return;
        };
        let chunk = &mut self.chunks[slot as usize];
        chunk.bits &= !(1u64 << bit);
        chunk.levels[bit] = NIL;
        let now_empty = chunk.bits == 0;
        if now_empty {
            self.nonempty.remove(&number);
            self.empty_in_dir += 1;
        }
        if self.best.map(|(b, _)| b) == Some(key) {
            self.best = self.next_occupied(key, slot);
        }
        if now_empty && self.empty_in_dir > 64 + self.nonempty.len() {
            self.sweep_empty_chunks();
        }
    }

    /// The smallest occupied key greater than `key`, with its chunk slot,
    /// given the slot of `key`'s chunk.
    fn next_occupied(&self, key: i64, slot: u32) -> Option<(i64, u32)> {
        let (number, bit) = split(key);
        let bits = self.chunks[slot as usize].bits;
        let above = if bit == CHUNK_LEN - 1 {
            0
        } else {
            bits & (!0u64 << (bit + 1))
        };
        if above != 0 {
            return Some((join(number, above.trailing_zeros()), slot));
        }
        let next = *self.nonempty.range(number + 1..).next()?;
        let s = self.dir[&next];
        let b = self.chunks[s as usize].bits;
        Some((join(next, b.trailing_zeros()), s))
    }

    /// The occupied key after `key` in best-to-worst order, with its level.
    pub(crate) fn next_after(&self, key: i64) -> Option<(i64, u32)> {
        let (number, _) = split(key);
        let (k, slot) = match self.chunk_slot(number) {
            Some(slot) => self.next_occupied(key, slot)?,
            None => {
                let next = *self.nonempty.range(number + 1..).next()?;
                let s = self.dir[&next];
                let b = self.chunks[s as usize].bits;
                (join(next, b.trailing_zeros()), s)
            }
        };
        let (_, bit) = split(k);
        Some((k, self.chunks[slot as usize].levels[bit]))
    }

    fn sweep_empty_chunks(&mut self) {
        let chunks = &self.chunks;
        let free = &mut self.free_chunks;
        self.dir.retain(|_, slot| {
            let keep = chunks[*slot as usize].bits != 0;
            if !keep {
                free.push(*slot);
            }
            keep
        });
        self.empty_in_dir = 0;
        if let Some((key, _)) = self.best {
            let slot = self.dir[&split(key).0];
            self.best = Some((key, slot));
        }
    }

    /// Number of chunks allocated (for memory accounting).
    pub(crate) fn chunk_capacity(&self) -> usize {
        self.chunks.capacity()
    }
}

/// The ladder key of `price` on a side: asks as is, bids order-reversed.
#[inline]
pub(crate) fn key_of(is_bid: bool, price: i64) -> i64 {
    if is_bid {
        !price
    } else {
        price
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_reverse_bids() {
        assert!(key_of(true, 10) < key_of(true, 9));
        assert!(key_of(false, 9) < key_of(false, 10));
        assert_eq!(key_of(true, i64::MIN), i64::MAX);
        assert_eq!(key_of(true, i64::MAX), i64::MIN);
    }

    #[test]
    fn matches_btreemap_on_random_ops() {
        let mut ladder = Ladder::default();
        let mut model: BTreeMap<i64, u32> = BTreeMap::new();
        let mut x: u64 = 0x1234_5678_9abc_def0;
        for i in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let wide = (x >> 40) % 3 == 0;
            let key = if wide {
                (x as i64) >> 20
            } else {
                ((x >> 8) % 2000) as i64 - 1000
            };
            if model.remove(&key).is_some() {
                ladder.remove(key);
            } else {
                ladder.insert(key, i);
                model.insert(key, i);
            }
            assert_eq!(ladder.best(), model.iter().next().map(|(k, v)| (*k, *v)));
            assert_eq!(ladder.get(key), model.get(&key).copied());
            if i % 997 == 0 {
                let mut walk = Vec::new();
                let mut cur = ladder.best();
                while let Some((k, v)) = cur {
                    walk.push((k, v));
                    cur = ladder.next_after(k);
                }
                let expect: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(walk, expect);
            }
        }
    }

    #[test]
    fn extreme_keys() {
        let mut l = Ladder::default();
        l.insert(i64::MAX, 1);
        l.insert(i64::MIN, 2);
        assert_eq!(l.best(), Some((i64::MIN, 2)));
        assert_eq!(l.next_after(i64::MIN), Some((i64::MAX, 1)));
        assert_eq!(l.next_after(i64::MAX), None);
        l.remove(i64::MIN);
        assert_eq!(l.best(), Some((i64::MAX, 1)));
        l.remove(i64::MAX);
        assert_eq!(l.best(), None);
    }
}
