//! The order-id index: caller-supplied `u64` order id -> arena slot.
//!
//! Small ids (below a configurable limit) are looked up in a directly indexed
//! table that grows on demand; all others go to an Fx-hashed map. Exchanges
//! and benchmark workloads mostly number orders densely from zero, so the hot
//! path is one array read; any `u64` id still works. No SipHash anywhere.

use super::ladder::NIL;
use rustc_hash::FxHashMap;

#[derive(Clone, Debug)]
pub(crate) struct IdIndex {
    direct: Vec<u32>,
    direct_limit: u64,
    sparse: FxHashMap<u64, u32>,
}

impl IdIndex {
    pub(crate) fn new(direct_limit: u64) -> Self {
        IdIndex {
            direct: Vec::new(),
            direct_limit,
            sparse: FxHashMap::default(),
        }
    }

    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<u32> {
        if id < self.direct_limit {
            match self.direct.get(id as usize) {
                Some(&s) if s != NIL => Some(s),
                _ => None,
            }
        } else {
            self.sparse.get(&id).copied()
        }
    }

    /// Prefetches the direct-table entry of `id` (a hint; no effect on
    /// state).
    #[inline]
    pub(crate) fn prefetch(&self, id: u64) {
        if id < self.direct_limit {
            if let Some(e) = self.direct.get(id as usize) {
                super::prefetch::prefetch(e);
            }
        }
    }

    /// Records `id -> slot`; the id must not be present.
    #[inline]
    pub(crate) fn insert(&mut self, id: u64, slot: u32) {
        if id < self.direct_limit {
            let i = id as usize;
            if i >= self.direct.len() {
                let want = (i + 1).next_power_of_two().max(1024);
                let cap = usize::try_from(self.direct_limit).unwrap_or(usize::MAX);
                self.direct.resize(want.min(cap), NIL);
            }
            self.direct[i] = slot;
        } else {
            self.sparse.insert(id, slot);
        }
    }

    #[inline]
    pub(crate) fn remove(&mut self, id: u64) {
        if id < self.direct_limit {
            if let Some(s) = self.direct.get_mut(id as usize) {
                *s = NIL;
            }
        } else {
            self.sparse.remove(&id);
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.direct.capacity() * 4 + self.sparse.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_sparse() {
        let mut ix = IdIndex::new(100);
        for id in [0u64, 5, 99, 100, 1 << 40, u64::MAX] {
            assert_eq!(ix.get(id), None);
            ix.insert(id, 7);
            assert_eq!(ix.get(id), Some(7));
        }
        ix.remove(5);
        ix.remove(u64::MAX);
        assert_eq!(ix.get(5), None);
        assert_eq!(ix.get(u64::MAX), None);
        assert_eq!(ix.get(99), Some(7));
        ix.remove(12_345); // absent: no effect
        assert_eq!(ix.get(1 << 40), Some(7));
    }
}
