//! Observation queries: filters, cursor pages, and the indexes that keep them cheap.
//!
//! A query ([`ObservationQuery`]) combines filters on the event window (`from`, `to`, overlap
//! semantics), a bounding box on the derived event point, event types, the signer's affiliation,
//! the agreement and the alleged party. Pages are in log order; the cursor is the log index of
//! the last item of the previous page, so pages stay stable while the log grows (new entries only
//! ever come after the cursor).
//!
//! Indexes, all maintained as observations are applied (no I/O, replay builds the same ones),
//! all addressed by position in log order:
//! - position lists (ascending, delta-coded: [`crate::positions`]) per event type, per
//!   affiliation, per cell of [`CELL_DEG`] degrees of the event point, and per hour (windows of
//!   at most an hour) or day (at most a day) of the window's start (longer windows in a list of
//!   their own);
//! - a summary per block of [`BLOCK`] consecutive records: the box of their event points (in
//!   `f32`, each bound rounded outward), the earliest window start and latest window end, and
//!   bit masks of their event types and affiliations.
//!
//! The planner counts, from the cursor on, the positions in the lists a query's filters select
//! (its types, its affiliations, the occupied cells its box meets, the days its window may
//! reach) and merges the smallest such set in log order; when no filter narrows the candidates
//! below the rest of the log, it walks the blocks instead, skipping every block whose summary
//! rules the query out (observations arrive roughly in time order, so a window skips most of the
//! log). Either way it checks candidates exactly and stops at one more match than the page
//! holds, so no query holds more than a page and a selective one examines few records.
//!
//! Why not an R-tree, as before: over (longitude, latitude, window) it answered a selective box
//! in fewer steps, but it cost 60–70 bytes per observation (rstar keeps every leaf in a node
//! enum as wide as an inner node); the lists cost about 6 bytes (16 as plain `u32`s, 21 with
//! the spare capacity of growing vectors) and the summaries under one, and the state's memory
//! per observation is what bounds the log a server can hold (DESIGN §11).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use truce_model::taxonomy::EventType;

use crate::observation_record::{Names, ObservationRecord, RecordLog, Records, Stored};
use crate::outward::{down, up};
use crate::positions::{PositionList, Tail};

/// Records per block summary (small under test, so that the property tests cross many blocks).
#[cfg(not(test))]
const BLOCK: usize = 64;
#[cfg(test)]
const BLOCK: usize = 4;

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
    /// The type bits of the query's types (0: any).
    types: u32,
    /// The affiliation bits of its affiliations (0: any).
    affiliations_mask: u64,
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
            types: q.types.iter().fold(0, |m, &t| m | type_bit(t)),
            affiliations_mask: affiliations.iter().fold(0, |m, &a| m | affiliation_bit(a)),
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

/// The bit of an event type in a summary's type mask.
fn type_bit(t: EventType) -> u32 {
    1 << (t as u32 % 32)
}

/// The bit of an affiliation number in a summary's affiliation mask (numbers share bits beyond
/// 64 affiliations: a mask can only say "none of these", never "this one").
fn affiliation_bit(n: u32) -> u64 {
    1 << (n % 64)
}

/// What the records of one block hold, bounded from outside (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Summary {
    min_lon: f32,
    min_lat: f32,
    max_lon: f32,
    max_lat: f32,
    /// Earliest window start.
    from_ms: i64,
    /// Latest window end.
    to_ms: i64,
    types: u32,
    affiliations: u64,
}

impl Summary {
    const EMPTY: Summary = Summary {
        min_lon: f32::INFINITY,
        min_lat: f32::INFINITY,
        max_lon: f32::NEG_INFINITY,
        max_lat: f32::NEG_INFINITY,
        from_ms: i64::MAX,
        to_ms: i64::MIN,
        types: 0,
        affiliations: 0,
    };

    fn add(&mut self, r: &Stored) {
        // A coordinate that is not finite never lies in a box; `min` and `max` skip NaN.
        self.min_lon = self.min_lon.min(down(r.lon));
        self.min_lat = self.min_lat.min(down(r.lat));
        self.max_lon = self.max_lon.max(up(r.lon));
        self.max_lat = self.max_lat.max(up(r.lat));
        self.from_ms = self.from_ms.min(r.from_ms);
        self.to_ms = self.to_ms.max(r.to_ms);
        self.types |= type_bit(r.event_type);
        self.affiliations |= affiliation_bit(r.affiliation);
    }

    /// Whether some record of the block may match `q` (false: none does).
    fn may_match(&self, q: &Resolved<'_>) -> bool {
        let b = q.q.bbox;
        q.q.from_ms.is_none_or(|f| self.to_ms >= f)
            && q.q.to_ms.is_none_or(|t| self.from_ms <= t)
            && b.is_none_or(|b| {
                // The summary's bounds are rounded outward, so a point in the query's box has
                // its rounded coordinates within them: comparing in f64 loses nothing.
                f64::from(self.max_lon) >= b.min_lon
                    && f64::from(self.min_lon) <= b.max_lon
                    && f64::from(self.max_lat) >= b.min_lat
                    && f64::from(self.min_lat) <= b.max_lat
            })
            && (q.types == 0 || self.types & q.types != 0)
            && (q.affiliations_mask == 0 || self.affiliations & q.affiliations_mask != 0)
    }
}

/// Degrees of longitude and latitude per cell of the spatial lists (about 5.5 km of latitude).
const CELL_DEG: f64 = 0.05;

/// Most position lists one query merges (a box over more occupied cells, or a window over
/// more days, is left to the other plans).
const MAX_LISTS: usize = 1_024;

/// Milliseconds per day bucket of the time lists.
const DAY_MS: i64 = 86_400_000;

/// Milliseconds per hour bucket of the time lists.
const HOUR_MS: i64 = 3_600_000;

/// The cell of a point (`None` for a coordinate that is not finite: it lies in no box).
fn cell(lon: f64, lat: f64) -> Option<(i32, i32)> {
    let (x, y) = ((lon / CELL_DEG).floor(), (lat / CELL_DEG).floor());
    // Coordinates are bounded (±180, ±90) by the model; the casts saturate anyway.
    (x.is_finite() && y.is_finite()).then_some((x as i32, y as i32))
}

/// The indexes over the state's observation records, which are addressed by their position in
/// log order. Every list holds positions in ascending order (records are indexed as they are
/// appended), so a list's part after the cursor is found by binary search and lists merge in
/// log order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObservationIndex {
    /// One summary per [`BLOCK`] positions.
    blocks: Vec<Summary>,
    by_type: BTreeMap<EventType, PositionList>,
    /// By the affiliation's number in [`Names`].
    by_affiliation: BTreeMap<u32, PositionList>,
    /// By the [`CELL_DEG`] cell of the event point.
    by_cell: HashMap<(i32, i32), PositionList>,
    /// By the day of the window's start, for windows of at most a day.
    by_day: BTreeMap<i64, PositionList>,
    /// By the hour of the window's start, for windows of at most an hour (most reports: a time
    /// query then reads the hours it reaches, not whole days; candidates are checked against
    /// their records, which may be cold).
    by_hour: BTreeMap<i64, PositionList>,
    /// Windows longer than a day (every time query looks at them).
    long: PositionList,
}

impl ObservationIndex {
    /// Indexes `r`, stored at `position` (the next position: records are indexed in order).
    pub(crate) fn insert(&mut self, position: u32, r: &Stored) {
        let block = position as usize / BLOCK;
        debug_assert!(block <= self.blocks.len(), "records are indexed in order");
        if block == self.blocks.len() {
            self.blocks.push(Summary::EMPTY);
        }
        self.blocks[block].add(r);
        self.by_type.entry(r.event_type).or_default().push(position);
        self.by_affiliation
            .entry(r.affiliation)
            .or_default()
            .push(position);
        if let Some(c) = cell(r.lon, r.lat) {
            self.by_cell.entry(c).or_default().push(position);
        }
        let len = r.to_ms.saturating_sub(r.from_ms);
        if len <= HOUR_MS {
            let hour = r.from_ms.div_euclid(HOUR_MS);
            self.by_hour.entry(hour).or_default().push(position);
        } else if len <= DAY_MS {
            let day = r.from_ms.div_euclid(DAY_MS);
            self.by_day.entry(day).or_default().push(position);
        } else {
            self.long.push(position);
        }
    }

    /// Makes room for `additional` more records.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.blocks.reserve_exact(additional.div_ceil(BLOCK));
    }

    /// One page of the records matching `q`; `items` are the records, in log order.
    pub(crate) fn query(&self, items: &RecordLog, q: &ObservationQuery) -> ObservationPage {
        let limit = q.limit.max(1);
        let resolved = Resolved::new(q, &items.names);
        let mut found: Vec<u32> = Vec::with_capacity(limit + 1);
        let mut examined = 0usize;
        let start = match q.after {
            Some(after) => items.partition_point(|r| r.index <= after),
            None => 0,
        };
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let mut check = |p: u32| {
            examined += 1;
            if resolved.matches(&items.at(p as usize)) {
                found.push(p);
            }
            found.len() > limit
        };
        if !resolved.empty {
            match self.plan(items.count(), &resolved, start) {
                Some(lists) => {
                    for p in Merge::new(lists) {
                        if check(p) {
                            break;
                        }
                    }
                }
                None => self.scan(items.count(), &resolved, start, check),
            }
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

    /// Calls `check` on every position from `start` on whose block may match `q`, until it
    /// returns true.
    fn scan(&self, len: usize, q: &Resolved<'_>, start: u32, mut check: impl FnMut(u32) -> bool) {
        let end = len.min(self.blocks.len() * BLOCK);
        let mut p = start as usize;
        while p < end {
            let block = p / BLOCK;
            let block_end = ((block + 1) * BLOCK).min(end);
            if self.blocks[block].may_match(q) {
                for position in p..block_end {
                    if check(position as u32) {
                        return;
                    }
                }
            }
            p = block_end;
        }
    }

    /// The position lists (from `start` on) that hold every match of `q`, if some filter
    /// narrows the candidates below a scan of the rest of the log: the type lists, the
    /// affiliation lists, the cells of the box or the days of the window, whichever hold the
    /// fewest positions. `None`: scan the blocks.
    fn plan<'s>(&'s self, len: usize, q: &Resolved<'_>, start: u32) -> Option<Vec<Tail<'s>>> {
        let tail = |list: &'s PositionList| list.from(start);
        let mut best: (usize, Option<Vec<Tail<'s>>>) = (len.saturating_sub(start as usize), None);
        let mut consider = |lists: Option<Vec<Tail<'s>>>| {
            if let Some(lists) = lists {
                let n: usize = lists.iter().map(Tail::remaining).sum();
                if n < best.0 {
                    best = (n, Some(lists));
                }
            }
        };
        if !q.q.types.is_empty() {
            let lists = q.q.types.iter().filter_map(|t| self.by_type.get(t));
            consider(Some(lists.map(tail).collect()));
        }
        if !q.q.affiliations.is_empty() {
            let lists = q
                .affiliations
                .iter()
                .filter_map(|a| self.by_affiliation.get(a));
            consider(Some(lists.map(tail).collect()));
        }
        if let Some(b) = q.q.bbox {
            consider(self.cells(b).map(|c| c.into_iter().map(tail).collect()));
        }
        if q.q.from_ms.is_some() || q.q.to_ms.is_some() {
            consider(
                self.days(q.q.from_ms, q.q.to_ms)
                    .map(|d| d.into_iter().map(tail).collect()),
            );
        }
        best.1
    }

    /// The lists of the occupied cells that meet box `b`, unless there are more than
    /// [`MAX_LISTS`].
    fn cells(&self, b: BBox) -> Option<Vec<&PositionList>> {
        let (x0, y0) = cell(b.min_lon, b.min_lat)?;
        let (x1, y1) = cell(b.max_lon, b.max_lat)?;
        // Division and floor are monotone: a point in the box has its cell in this range.
        let span = (i64::from(x1) - i64::from(x0) + 1) * (i64::from(y1) - i64::from(y0) + 1);
        let mut lists = Vec::new();
        if span <= self.by_cell.len() as i64 {
            for x in x0..=x1 {
                for y in y0..=y1 {
                    lists.extend(self.by_cell.get(&(x, y)));
                    if lists.len() > MAX_LISTS {
                        return None;
                    }
                }
            }
        } else {
            for (&(x, y), list) in &self.by_cell {
                if (x0..=x1).contains(&x) && (y0..=y1).contains(&y) {
                    lists.push(list);
                    if lists.len() > MAX_LISTS {
                        return None;
                    }
                }
            }
        }
        Some(lists)
    }

    /// The lists of the hours and days whose windows may meet `[from, to]` and the long
    /// windows, unless there are more than [`MAX_LISTS`].
    fn days(&self, from: Option<i64>, to: Option<i64>) -> Option<Vec<&PositionList>> {
        let mut lists = vec![&self.long];
        for (lists_by, span) in [(&self.by_day, DAY_MS), (&self.by_hour, HOUR_MS)] {
            // A window of at most `span` that ends at or after `from` starts at or after
            // `from - span`; one that starts at or before `to` starts in `to`'s bucket or earlier.
            let first = from.map_or(i64::MIN, |f| f.saturating_sub(span).div_euclid(span));
            let last = to.map_or(i64::MAX, |t| t.div_euclid(span));
            if first > last {
                continue;
            }
            for (_, list) in lists_by.range(first..=last) {
                lists.push(list);
                if lists.len() > MAX_LISTS {
                    return None;
                }
            }
        }
        Some(lists)
    }
}

/// The ascending merge of ascending position lists, without repeats (a query may name one type
/// twice).
struct Merge<'a> {
    heads: BinaryHeap<Reverse<(u32, usize)>>,
    lists: Vec<Tail<'a>>,
    last: Option<u32>,
}

impl<'a> Merge<'a> {
    fn new(lists: Vec<Tail<'a>>) -> Merge<'a> {
        let heads = lists
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.peek().map(|p| Reverse((p, i))))
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
            self.lists[i].next();
            if let Some(q) = self.lists[i].peek() {
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
                0..96i64,
                prop_oneof![0..6i64, 20..60i64],
                0..4usize,
                0..3usize,
                1..3u64,
                // Minutes off the hour for the start, and a window of minutes instead (the
                // lists by hour hold windows of at most an hour).
                (0..60i64, prop::option::of(0..70i64)),
            ),
            0..120,
        )
        .prop_map(|rows| {
            // Log indexes increase with gaps (other kinds of entries lie between observations).
            let mut index = 0;
            rows.into_iter()
                .map(|(lon, lat, from, hours, t, a, gap, (off, minutes))| {
                    index += gap;
                    let mut r = record(index, lon, lat, from, hours, t, a);
                    r.from_ms += off * 60_000;
                    r.to_ms = match minutes {
                        Some(m) => r.from_ms + m * 60_000,
                        None => r.to_ms + off * 60_000,
                    };
                    r
                })
                .collect()
        })
    }

    fn queries() -> impl Strategy<Value = ObservationQuery> {
        (
            prop::option::of((0..100i64, 0..100i64)),
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
            index.insert(p as u32, &log.get(p).unwrap());
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
        /// log order, whichever blocks the summaries let each page skip.
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
    fn selective_queries_do_not_scan_the_log() {
        // 20,000 records far away, then one inside the box: the box's cells hold that one.
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
        assert_eq!(page.examined, 1, "the one record in the box's cells");
        // Without a box, the same query over one type no record has examines nothing; a time
        // window after every record's skips every block (the day lists hold all of them); an
        // affiliation no record has is not looked for.
        let mut q = ObservationQuery::new(10);
        q.types = vec![EventType::Shot];
        assert_eq!(index.query(&log, &q).examined, 0, "no record of type shot");
        let mut q = ObservationQuery::new(10);
        q.from_ms = Some(2 * 3_600_000);
        assert_eq!(
            index.query(&log, &q).examined,
            0,
            "every window ends at 1 h"
        );
        let mut q = ObservationQuery::new(10);
        q.affiliations = vec!["nobody".into()];
        assert_eq!(index.query(&log, &q).examined, 0, "an unknown affiliation");
        // A page of one record from the middle examines that record's block up to it, no more.
        let mut q = ObservationQuery::new(1);
        q.after = Some(9_999);
        let page = index.query(&log, &q);
        assert_eq!(page.items[0].index, 10_000);
        assert_eq!(page.next, Some(10_000));
        assert_eq!(
            page.examined, 2,
            "the page's record and the one that shows more follow"
        );
    }
}
