//! Observation queries: filters, cursor pages, and the indexes that keep them cheap.
//!
//! A query ([`ObservationQuery`]) combines filters on the event window (`from`, `to`, overlap
//! semantics), a bounding box on the derived event point, event types, the signer's affiliation,
//! the agreement and the alleged party. Pages are in log order; the cursor is the log index of
//! the last item of the previous page, so pages stay stable while the log grows (new entries only
//! ever come after the cursor).
//!
//! Indexes, all maintained as observations are applied (no I/O, replay builds the same ones):
//! - per event type and per affiliation, the positions of the records in log order;
//! - a three-dimensional R-tree (rstar) over (longitude, latitude, event window in days), each
//!   record a box that is a point in space and an interval in time.
//!
//! The planner walks the smallest log-ordered candidate list (all records, one type, one
//! affiliation) from the cursor for a bounded number of records. When the filters are loose that
//! fills a page at once. When they are selective and space or time is constrained, it asks the
//! R-tree for the records inside the query box instead and keeps the `limit + 1` smallest
//! positions in a bounded heap. A bbox query therefore never scans the whole log, and no query
//! holds more than one page of results in memory.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use truce_model::taxonomy::EventType;

use crate::observation_record::{Names, ObservationRecord, RecordLog, Records, Stored};
use crate::outward::{down, up};

/// Milliseconds per day: the R-tree's time axis is in days, so that its three axes have
/// comparable spreads (degrees and days) and node splits stay meaningful.
const MS_PER_DAY: f64 = 86_400_000.0;

/// Records examined in log order before the planner switches to the R-tree (small under test, so
/// that the property tests exercise both plans).
#[cfg(not(test))]
const SCAN_BUDGET: usize = 8_192;
#[cfg(test)]
const SCAN_BUDGET: usize = 7;

/// What to look for. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ObservationQuery {
    /// Only observations whose window ends at or after this time (ms since the epoch).
    pub from_ms: Option<i64>,
    /// Only observations whose window starts at or before this time (ms since the epoch).
    pub to_ms: Option<i64>,
    /// Only observations whose derived event point lies in this box.
    pub bbox: Option<BBox>,
    /// Only these event types (empty: any).
    pub types: Vec<EventType>,
    /// Only observations signed by keys of these affiliations (empty: any).
    pub affiliations: Vec<String>,
    /// Only observations reported under this agreement.
    pub agreement: Option<String>,
    /// Only observations whose `alleged_party` is this party.
    pub party: Option<String>,
    /// Only observations after this log index (the cursor of the previous page).
    pub after: Option<u64>,
    /// Page size (at least 1).
    pub limit: usize,
}

impl ObservationQuery {
    /// A query for the first `limit` observations, unfiltered.
    pub fn new(limit: usize) -> ObservationQuery {
        ObservationQuery {
            limit,
            ..ObservationQuery::default()
        }
    }

    /// Whether `r` matches (the reference the tests hold the planner to).
    #[cfg(test)]
    fn matches(&self, r: &ObservationRecord) -> bool {
        self.from_ms.is_none_or(|f| r.to_ms >= f)
            && self.to_ms.is_none_or(|t| r.from_ms <= t)
            && self
                .bbox
                .is_none_or(|b| b.contains(r.point.lon, r.point.lat))
            && (self.types.is_empty() || self.types.contains(&r.event_type))
            && (self.affiliations.is_empty()
                || self.affiliations.iter().any(|a| **a == *r.affiliation))
            && self.agreement.as_deref().is_none_or(|a| *r.agreement == *a)
            && self
                .party
                .as_deref()
                .is_none_or(|p| r.alleged_party.as_deref() == Some(p))
    }

    /// The query's box in the R-tree's coordinates, if space or time is constrained.
    fn envelope(&self) -> Option<AABB<[f32; 3]>> {
        if self.bbox.is_none() && self.from_ms.is_none() && self.to_ms.is_none() {
            return None;
        }
        let b = self.bbox.unwrap_or(BBox {
            min_lon: -180.0,
            min_lat: -90.0,
            max_lon: 180.0,
            max_lat: 90.0,
        });
        // Days are ms divided by a constant: a monotone map, so the exact filters applied
        // afterwards never lose a record the R-tree should have returned.
        let from = self.from_ms.map_or(f64::MIN, |f| f as f64 / MS_PER_DAY);
        let to = self.to_ms.map_or(f64::MAX, |t| t as f64 / MS_PER_DAY);
        Some(AABB::from_corners(
            [down(b.min_lon), down(b.min_lat), down(from)],
            [up(b.max_lon), up(b.max_lat), up(to)],
        ))
    }
}

/// A longitude/latitude box, inclusive, in degrees (RFC 7946 order: west, south, east, north).
/// Boxes across the antimeridian are not represented: `min_lon <= max_lon` for a box that means
/// anything (the server's query parser refuses the others).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl BBox {
    /// Whether the point lies in the box (edges included).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        (self.min_lon..=self.max_lon).contains(&lon) && (self.min_lat..=self.max_lat).contains(&lat)
    }
}

/// A query with its names turned into the numbers the records hold ([`Names`]); a name no
/// record holds matches nothing.
struct Resolved<'q> {
    q: &'q ObservationQuery,
    affiliations: Vec<u32>,
    agreement: Option<u32>,
    party: Option<u32>,
    /// A named agreement, party or every named affiliation is unknown: nothing matches.
    empty: bool,
}

impl<'q> Resolved<'q> {
    fn new(q: &'q ObservationQuery, names: &Names) -> Resolved<'q> {
        let affiliations: Vec<u32> = q
            .affiliations
            .iter()
            .filter_map(|a| names.find(a))
            .collect();
        let agreement = q.agreement.as_deref().map(|a| names.find(a));
        let party = q.party.as_deref().map(|p| names.find(p));
        let empty = (!q.affiliations.is_empty() && affiliations.is_empty())
            || agreement == Some(None)
            || party == Some(None);
        Resolved {
            q,
            affiliations,
            agreement: agreement.flatten(),
            party: party.flatten(),
            empty,
        }
    }

    fn matches(&self, r: &Stored) -> bool {
        let q = self.q;
        q.from_ms.is_none_or(|f| r.to_ms >= f)
            && q.to_ms.is_none_or(|t| r.from_ms <= t)
            && q.bbox.is_none_or(|b| b.contains(r.lon, r.lat))
            && (q.types.is_empty() || q.types.contains(&r.event_type))
            && (q.affiliations.is_empty() || self.affiliations.contains(&r.affiliation))
            && self.agreement.is_none_or(|a| r.agreement == a)
            && self.party.is_none_or(|p| r.party == p)
    }
}

/// One page of a query.
#[derive(Debug)]
pub struct ObservationPage {
    /// The matching records, in log order.
    pub items: Vec<ObservationRecord>,
    /// The cursor for the next page (the log index of the last item), or `None` at the end.
    pub next: Option<u64>,
    /// How many records the plan examined (a measure of the query's cost).
    pub examined: usize,
}

/// An observation's box: (lon, lat, days) in `f32`, each bound rounded outward ([`down`],
/// [`up`]) — half the size of `f64` boxes, and a filter only: a box that meets the query's
/// (rounded outward too) is checked exactly against the record, so rounding can add candidates
/// but never lose a match.
type Located = GeomWithData<Rectangle<[f32; 3]>, u32>;

/// The indexes over the state's observation records, which are addressed by their position in
/// log order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObservationIndex {
    by_type: BTreeMap<EventType, Vec<u32>>,
    /// By the affiliation's number in [`Names`].
    by_affiliation: BTreeMap<u32, Vec<u32>>,
    located: RTree<Located>,
    /// Boxes not in `located` yet ([`ObservationIndex::defer`]); empty whenever a query runs.
    deferred: Vec<Located>,
}

impl ObservationIndex {
    /// Indexes `r`, stored at `position`.
    pub(crate) fn insert(&mut self, position: u32, r: &Stored) {
        let located = self.lists(position, r);
        self.flush();
        self.located.insert(located);
    }

    /// [`ObservationIndex::insert`], but the R-tree box waits for [`ObservationIndex::flush`],
    /// which loads all waiting boxes at once (bulk loading a million boxes is several times
    /// faster than inserting them one by one).
    pub(crate) fn defer(&mut self, position: u32, r: &Stored) {
        let located = self.lists(position, r);
        self.deferred.push(located);
    }

    /// Makes room for `additional` more deferred boxes.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.deferred.reserve_exact(additional);
    }

    /// Puts the deferred boxes into the R-tree.
    pub(crate) fn flush(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        let deferred = std::mem::take(&mut self.deferred);
        if self.located.size() == 0 {
            self.located = RTree::bulk_load(deferred);
        } else {
            for l in deferred {
                self.located.insert(l);
            }
        }
    }

    /// Adds `position` to the type and affiliation lists; its R-tree box.
    fn lists(&mut self, position: u32, r: &Stored) -> Located {
        self.by_type.entry(r.event_type).or_default().push(position);
        self.by_affiliation
            .entry(r.affiliation)
            .or_default()
            .push(position);
        let (from, to) = (r.from_ms as f64 / MS_PER_DAY, r.to_ms as f64 / MS_PER_DAY);
        GeomWithData::new(
            Rectangle::from_corners(
                [down(r.lon), down(r.lat), down(from)],
                [up(r.lon), up(r.lat), up(to)],
            ),
            position,
        )
    }

    /// One page of the records matching `q`; `items` are the records, in log order.
    pub(crate) fn query(&self, items: &RecordLog, q: &ObservationQuery) -> ObservationPage {
        debug_assert!(self.deferred.is_empty(), "queries see every observation");
        let limit = q.limit.max(1);
        let resolved = Resolved::new(q, &items.names);
        if resolved.empty {
            return ObservationPage {
                items: Vec::new(),
                next: None,
                examined: 0,
            };
        }
        let start = match q.after {
            Some(after) => items.partition_point(|r| r.index <= after),
            None => 0,
        };
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let mut found: Vec<u32> = Vec::with_capacity(limit + 1);
        let mut driver = self.driver(items.count(), &resolved, start);
        let envelope = q.envelope();
        let budget = if envelope.is_some() {
            SCAN_BUDGET
        } else {
            usize::MAX
        };
        let mut examined = 0usize;
        let mut complete = false;
        while found.len() <= limit {
            if examined == budget {
                break;
            }
            let Some(p) = driver.next() else {
                complete = true;
                break;
            };
            examined += 1;
            if resolved.matches(items.at(p as usize)) {
                found.push(p);
            }
        }
        if !complete
            && found.len() <= limit
            && let Some(envelope) = envelope
        {
            let (located, candidates) =
                self.by_location(items, &resolved, envelope, start, limit + 1);
            found = located;
            examined += candidates;
        }
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|&p| items.at(p as usize).index)
        } else {
            None
        };
        ObservationPage {
            items: found
                .iter()
                .map(|&p| items.view(p as usize).expect("a found position"))
                .collect(),
            next,
            examined,
        }
    }

    /// The smallest log-ordered candidate list for `q`, from position `start` on.
    fn driver<'s>(
        &'s self,
        len: usize,
        q: &Resolved<'_>,
        start: u32,
    ) -> Box<dyn Iterator<Item = u32> + 's> {
        let all = u32::try_from(len).unwrap_or(u32::MAX);
        let tail = |list: &'s Vec<u32>| &list[list.partition_point(|&p| p < start)..];
        let mut best: (usize, Option<Vec<&'s [u32]>>) = (len.saturating_sub(start as usize), None);
        if !q.q.types.is_empty() {
            let lists: Vec<&[u32]> =
                q.q.types
                    .iter()
                    .map(|t| self.by_type.get(t).map_or(&[][..], tail))
                    .collect();
            let n = lists.iter().map(|l| l.len()).sum();
            if n < best.0 {
                best = (n, Some(lists));
            }
        }
        if !q.q.affiliations.is_empty() {
            let lists: Vec<&[u32]> = q
                .affiliations
                .iter()
                .map(|a| self.by_affiliation.get(a).map_or(&[][..], tail))
                .collect();
            let n = lists.iter().map(|l| l.len()).sum();
            if n < best.0 {
                best = (n, Some(lists));
            }
        }
        match best.1 {
            None => Box::new(start..all),
            Some(lists) => Box::new(Merge::new(lists)),
        }
    }

    /// The `keep` smallest positions from `start` on of the records in `envelope` matching `q`,
    /// ascending, and the number of candidates the R-tree returned.
    fn by_location(
        &self,
        items: &RecordLog,
        q: &Resolved<'_>,
        envelope: AABB<[f32; 3]>,
        start: u32,
        keep: usize,
    ) -> (Vec<u32>, usize) {
        // A max-heap of the smallest positions seen so far.
        let mut heap: BinaryHeap<u32> = BinaryHeap::with_capacity(keep + 1);
        let mut candidates = 0;
        for located in self.located.locate_in_envelope_intersecting(&envelope) {
            candidates += 1;
            let p = located.data;
            if p < start || heap.len() == keep && heap.peek().is_some_and(|&max| p > max) {
                continue;
            }
            if q.matches(items.at(p as usize)) {
                heap.push(p);
                if heap.len() > keep {
                    heap.pop();
                }
            }
        }
        (heap.into_sorted_vec(), candidates)
    }
}

/// The ascending merge of ascending position lists, without repeats (a query may name one type
/// twice).
struct Merge<'a> {
    heads: BinaryHeap<Reverse<(u32, usize)>>,
    lists: Vec<&'a [u32]>,
    last: Option<u32>,
}

impl<'a> Merge<'a> {
    fn new(lists: Vec<&'a [u32]>) -> Merge<'a> {
        let heads = lists
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.first().map(|&p| Reverse((p, i))))
            .collect();
        Merge {
            heads,
            lists,
            last: None,
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let Reverse((p, i)) = self.heads.pop()?;
            self.lists[i] = &self.lists[i][1..];
            if let Some(&q) = self.lists[i].first() {
                self.heads.push(Reverse((q, i)));
            }
            if self.last != Some(p) {
                self.last = Some(p);
                return Some(p);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use truce_model::observation::EventPoint;

    use super::*;

    const TYPES: [EventType; 4] = [
        EventType::Explosion,
        EventType::Shot,
        EventType::Damage,
        EventType::Mine,
    ];
    const AFFILIATIONS: [&str; 3] = ["OSCE", "UA", "RU"];

    pub(crate) fn record(
        index: u64,
        lon: i32,
        lat: i32,
        from_h: i64,
        hours: i64,
        t: usize,
        a: usize,
    ) -> ObservationRecord {
        let event_type = TYPES[t % TYPES.len()];
        ObservationRecord {
            id: Arc::from(format!("o-{index}")),
            index,
            time_ms: 0,
            signer: Arc::from("m+00000000"),
            affiliation: Arc::from(AFFILIATIONS[a % AFFILIATIONS.len()]),
            claim: false,
            agreement: Arc::from(if index.is_multiple_of(5) {
                "other"
            } else {
                "ceasefire"
            }),
            agreement_version: 1,
            event_type,
            family: event_type.family(),
            count: 1,
            // A coarse grid, so that points fall on bbox edges often.
            point: EventPoint {
                lon: f64::from(lon) / 4.0,
                lat: f64::from(lat) / 4.0,
                radius_m: 0.0,
            },
            from_ms: from_h * 3_600_000,
            to_ms: (from_h + hours) * 3_600_000,
            alleged_party: index.is_multiple_of(3).then(|| Arc::from("RU")),
        }
    }

    fn records() -> impl Strategy<Value = Vec<ObservationRecord>> {
        prop::collection::vec(
            (
                0..12i32,
                0..12i32,
                0..48i64,
                0..6i64,
                0..4usize,
                0..3usize,
                1..3u64,
            ),
            0..120,
        )
        .prop_map(|rows| {
            // Log indexes increase with gaps (other kinds of entries lie between observations).
            let mut index = 0;
            rows.into_iter()
                .map(|(lon, lat, from, hours, t, a, gap)| {
                    index += gap;
                    record(index, lon, lat, from, hours, t, a)
                })
                .collect()
        })
    }

    fn queries() -> impl Strategy<Value = ObservationQuery> {
        (
            prop::option::of((0..48i64, 0..48i64)),
            prop::option::of((0..12i32, 0..12i32, 0..12i32, 0..12i32)),
            prop::collection::vec(0..4usize, 0..3),
            // 3: an affiliation no record holds.
            prop::collection::vec(0..4usize, 0..2),
            any::<(bool, bool, bool, bool)>(),
            1..9usize,
        )
            .prop_map(
                |(time, bbox, types, affs, (only_from, only_to, agr, party), limit)| {
                    let mut q = ObservationQuery::new(limit);
                    if let Some((a, b)) = time {
                        let (a, b) = (a.min(b) * 3_600_000, a.max(b) * 3_600_000);
                        q.from_ms = (!only_to).then_some(a);
                        q.to_ms = (!only_from).then_some(b);
                    }
                    q.bbox = bbox.map(|(a, b, c, d)| BBox {
                        min_lon: f64::from(a.min(c)) / 4.0,
                        min_lat: f64::from(b.min(d)) / 4.0,
                        max_lon: f64::from(a.max(c)) / 4.0,
                        max_lat: f64::from(b.max(d)) / 4.0,
                    });
                    q.types = types.into_iter().map(|t| TYPES[t]).collect();
                    q.affiliations = affs
                        .into_iter()
                        .map(|a| AFFILIATIONS.get(a).unwrap_or(&"nobody").to_string())
                        .collect();
                    q.agreement = agr.then(|| "ceasefire".to_string());
                    q.party = party.then(|| "RU".to_string());
                    q
                },
            )
    }

    /// The records of `items` and their index.
    fn index_of(items: &[ObservationRecord]) -> (ObservationIndex, RecordLog) {
        let mut log = RecordLog::default();
        let mut index = ObservationIndex::default();
        for (p, r) in items.iter().enumerate() {
            log.push(r);
            index.insert(p as u32, log.get(p).unwrap());
        }
        (index, log)
    }

    /// Every page, following `next` until the end.
    fn all_pages((index, items): &(ObservationIndex, RecordLog), q: &ObservationQuery) -> Vec<u64> {
        let mut q = q.clone();
        let mut out = Vec::new();
        for _ in 0..=items.len() + 1 {
            let page = index.query(items, &q);
            assert!(page.items.len() <= q.limit, "page larger than the limit");
            assert!(
                page.next.is_none() || page.items.len() == q.limit,
                "short page with a next cursor"
            );
            out.extend(page.items.iter().map(|r| r.index));
            match page.next {
                Some(n) => q.after = Some(n),
                None => return out,
            }
        }
        panic!("pagination did not end");
    }

    proptest! {
        /// Paging through any query yields exactly what a plain filter over the log yields, in
        /// log order, whichever plan (scan or R-tree) the planner picks for each page.
        #[test]
        fn pages_equal_a_plain_filter(items in records(), q in queries()) {
            let index = index_of(&items);
            let expected: Vec<u64> = items.iter().filter(|r| q.matches(r)).map(|r| r.index).collect();
            prop_assert_eq!(all_pages(&index, &q), expected);
        }
    }

    #[test]
    fn window_overlap_and_inclusive_bbox_edges() {
        // 2h..5h at (1.0, 2.0).
        let items = vec![record(0, 4, 8, 2, 3, 0, 0)];
        let (index, log) = index_of(&items);
        let hits = |q: ObservationQuery| index.query(&log, &q).items.len();
        let h = |n: i64| Some(n * 3_600_000);
        let mut q = ObservationQuery::new(10);
        q.from_ms = h(5);
        assert_eq!(
            hits(q.clone()),
            1,
            "a window ending exactly at `from` overlaps it"
        );
        q.from_ms = Some(5 * 3_600_000 + 1);
        assert_eq!(hits(q.clone()), 0);
        let mut q = ObservationQuery::new(10);
        q.to_ms = h(2);
        assert_eq!(
            hits(q.clone()),
            1,
            "a window starting exactly at `to` overlaps it"
        );
        q.to_ms = Some(2 * 3_600_000 - 1);
        assert_eq!(hits(q), 0);
        let mut q = ObservationQuery::new(10);
        q.bbox = Some(BBox {
            min_lon: 1.0,
            min_lat: 2.0,
            max_lon: 1.0,
            max_lat: 2.0,
        });
        assert_eq!(hits(q.clone()), 1, "bbox edges are inclusive");
        q.bbox = Some(BBox {
            min_lon: 1.0 + 1e-12,
            min_lat: 2.0,
            max_lon: 3.0,
            max_lat: 3.0,
        });
        assert_eq!(hits(q), 0);
    }

    #[test]
    fn a_selective_bbox_does_not_scan_the_log() {
        // 20,000 records far away, then one inside the box: the scan budget runs out and the
        // R-tree answers, having examined a handful of records, not 20,001.
        let mut items: Vec<ObservationRecord> =
            (0..20_000).map(|i| record(i, 0, 0, 0, 1, 0, 0)).collect();
        items.push(record(20_000, 11, 11, 0, 1, 0, 0));
        let (index, log) = index_of(&items);
        let mut q = ObservationQuery::new(10);
        q.bbox = Some(BBox {
            min_lon: 2.0,
            min_lat: 2.0,
            max_lon: 3.0,
            max_lat: 3.0,
        });
        let page = index.query(&log, &q);
        assert_eq!(
            page.items.iter().map(|r| r.index).collect::<Vec<_>>(),
            [20_000]
        );
        assert_eq!(page.next, None);
        assert_eq!(
            page.examined,
            SCAN_BUDGET + 1,
            "scan budget, then one R-tree candidate"
        );
        // Without a box, the same query over one type walks that type's list only.
        let mut q = ObservationQuery::new(10);
        q.types = vec![EventType::Shot];
        let page = index.query(&log, &q);
        assert!(page.items.is_empty());
        assert_eq!(
            page.examined, 0,
            "no record of type shot: nothing to examine"
        );
    }
}
