//! Ascending lists of positions, delta-coded: the query indexes' lists at a byte or two per entry.
//!
//! Why: the observation query keeps four lists of positions (by type, affiliation, cell and day,
//! [`crate::observation_query`]), one entry per observation in each. As plain `u32`s with the
//! spare capacity of growing vectors they took about 21 bytes per observation, a fifth of the
//! state that stays resident for a large log (DESIGN §11). Positions in a list ascend and sit
//! close together (observations of one day or type follow each other in the log), so the
//! differences between neighbours take one or two bytes as LEB128 varints.
//!
//! How: entries are in groups of [`GROUP`]. A group's first position is kept whole, with where
//! its deltas start in the byte string, so a reader jumps to the group holding a cursor by binary
//! search over the groups and decodes at most one group to reach it. A list answers how many
//! positions lie at or after a cursor (the query planner's estimate) and walks them in order.
//!
//! Invariant: positions are pushed strictly ascending (records are indexed in log order, once).

/// Entries per group (one whole position and one offset per group: 0.125 bytes per entry).
const GROUP: usize = 64;

/// Ascending positions, delta-coded in groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct PositionList {
    /// Per group: its first position and where its other entries' deltas start in `bytes`.
    groups: Vec<(u32, u32)>,
    bytes: Vec<u8>,
    len: usize,
    last: u32,
}

impl PositionList {
    /// Appends `p`, which is above every position in the list.
    pub(crate) fn push(&mut self, p: u32) {
        debug_assert!(self.len == 0 || p > self.last, "positions ascend");
        if self.len.is_multiple_of(GROUP) {
            let at = u32::try_from(self.bytes.len()).expect("a list's deltas below 4 GiB");
            self.groups.push((p, at));
        } else {
            let mut d = p - self.last;
            while d >= 0x80 {
                self.bytes.push((d as u8) | 0x80);
                d >>= 7;
            }
            self.bytes.push(d as u8);
        }
        self.last = p;
        self.len += 1;
    }

    /// The positions at or after `start`, in order.
    pub(crate) fn from(&self, start: u32) -> Tail<'_> {
        // The last group starting at or before `start` holds the first position ≥ `start`, or
        // that position starts the group after it.
        let g = self.groups.partition_point(|&(first, _)| first <= start);
        let mut tail = Tail::at_group(self, g.saturating_sub(1));
        while tail.peek().is_some_and(|p| p < start) {
            tail.next();
        }
        tail
    }
}

/// The positions of a list from some point on ([`PositionList::from`]).
#[derive(Debug, Clone)]
pub(crate) struct Tail<'a> {
    list: &'a PositionList,
    /// Group of the next position and its index in the group.
    group: usize,
    in_group: usize,
    /// Where the next delta is in `bytes` (within the group).
    byte: usize,
    /// The next position (`None` at the end).
    next: Option<u32>,
}

impl<'a> Tail<'a> {
    fn at_group(list: &'a PositionList, group: usize) -> Tail<'a> {
        let (next, byte) = match list.groups.get(group) {
            Some(&(first, at)) => (Some(first), at as usize),
            None => (None, list.bytes.len()),
        };
        Tail {
            list,
            group,
            in_group: 0,
            byte,
            next,
        }
    }

    /// The next position, without moving past it.
    pub(crate) fn peek(&self) -> Option<u32> {
        self.next
    }

    /// How many positions are left.
    pub(crate) fn remaining(&self) -> usize {
        match self.next {
            Some(_) => self.list.len - (self.group * GROUP + self.in_group),
            None => 0,
        }
    }
}

impl Iterator for Tail<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let current = self.next?;
        let index = self.group * GROUP + self.in_group + 1;
        if index >= self.list.len {
            self.next = None;
        } else if self.in_group + 1 == GROUP {
            *self = Tail::at_group(self.list, self.group + 1);
        } else {
            let (mut d, mut shift) = (0u32, 0);
            loop {
                let b = self.list.bytes[self.byte];
                self.byte += 1;
                d |= u32::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            self.in_group += 1;
            self.next = Some(current + d);
        }
        Some(current)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A list reads back as the plain vector it was pushed from, from any cursor: the
        /// positions at or after it and how many they are.
        #[test]
        fn a_list_reads_back_from_any_cursor(
            gaps in prop::collection::vec(
                prop_oneof![4 => 1u32..4, 2 => 1u32..300, 1 => 1u32..100_000, 1 => Just(1 << 28)],
                0..400,
            ),
            cursors in prop::collection::vec(any::<u32>(), 1..20),
        ) {
            let mut plain: Vec<u32> = Vec::new();
            let mut list = PositionList::default();
            let mut p = 0u32;
            for (i, g) in gaps.iter().enumerate() {
                p = if i == 0 { g - 1 } else { p.saturating_add(*g) };
                if plain.last().is_some_and(|&l| l >= p) {
                    break;
                }
                plain.push(p);
                list.push(p);
            }
            prop_assert_eq!(list.from(0).remaining(), plain.len());
            let probes = cursors
                .iter()
                .copied()
                .chain(plain.iter().copied())
                .chain(plain.iter().map(|p| p.saturating_add(1)))
                .chain([0, u32::MAX]);
            for start in probes {
                let expected: Vec<u32> = plain.iter().copied().filter(|&p| p >= start).collect();
                let tail = list.from(start);
                prop_assert_eq!(tail.remaining(), expected.len(), "start {}", start);
                prop_assert_eq!(tail.peek(), expected.first().copied());
                prop_assert_eq!(tail.collect::<Vec<u32>>(), expected);
            }
        }
    }

    /// Close positions take a byte each.
    #[test]
    fn close_positions_take_a_byte() {
        let mut list = PositionList::default();
        for p in 0..64_000u32 {
            list.push(3 * p);
        }
        assert!(list.bytes.len() < 64_000, "{} bytes", list.bytes.len());
        assert_eq!(list.groups.len(), 1_000);
    }
}
