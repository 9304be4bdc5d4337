//! Incidents: what happened, as the connected components of the observations' link graph
//! (DESIGN §6), with the verifiers' decisions and the parties' disputes.
//!
//! [`link`] keeps the components; this module keeps, for each component's root, the aggregate
//! an incident shows: its members, time window, location, per-affiliation counts, event types,
//! and the rulings on it. Aggregates merge when a late report bridges two incidents.
//!
//! # Ids
//! An incident's id is the payload id of its member with the lowest log index. Every observation
//! that joins no incident when it arrives starts one, so an incident id is always an observation
//! id; when two incidents merge, the one with the higher id index is *absorbed*: its id keeps
//! naming the merged incident (listed in `absorbed`), so a link to it never breaks.
//!
//! # Rulings across merges
//! Decisions and disputes name an incident id. When incidents merge, the rulings of both are
//! kept on the merged incident, each with the id it named; nothing is dropped or re-targeted. The
//! merged incident's status follows the same precedence over all of them: the latest decision
//! (by log index) of either side, else `disputed` if either side was disputed, else
//! corroboration over all members. A party therefore cannot clear a verified finding by filing an
//! observation that bridges it to another incident: the decision travels with the evidence.
//!
//! # Status (DESIGN §6), in precedence
//! `verified` / `rejected` (the latest verifier decision), `disputed` (a party disputed it),
//! `corroborated` (members from at least `independent_sources` distinct affiliations, at least
//! one of them not a belligerent of the agreement), `reported`. The agreement version consulted
//! for `independent_sources` and belligerents is the newest version any member was admitted
//! under.
//!
//! # Memory
//! Resident per observation: its grid cell entry (36 bytes and its share of the cell) or its
//! box in the R-tree (see [`link`]) and the union-find parent (4 bytes). Nothing else: where
//! and when it was observed, and what a single-report incident is made of (agreement,
//! affiliation, count, version, type), are read from the observation's record (`Members`),
//! which the state keeps anyway. Only incidents with more than one member or with a ruling
//! keep an [`Incident`] aggregate (168 bytes plus its member and tally lists); a single-report
//! incident — 98 % of 200k realistically spread reports — is built when a reader asks for it,
//! the same value the aggregate would hold. The state's whole budget per observation is in the
//! crate docs.

pub mod link;
pub(crate) mod query;
mod view;

pub use query::IncidentQuery;
pub use view::{IncidentPage, IncidentView, MEMBERS_SHOWN};

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use truce_model::entry::Ruling;
use truce_model::observation::EventPoint;
use truce_model::taxonomy::{EventType, Family};

pub use link::{LinkParams, LinkPoint};

/// An incident's status (DESIGN §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IncidentStatus {
    Reported,
    Corroborated,
    Disputed,
    Verified,
    Rejected,
}

impl IncidentStatus {
    /// Every status.
    pub const ALL: [IncidentStatus; 5] = [
        IncidentStatus::Reported,
        IncidentStatus::Corroborated,
        IncidentStatus::Disputed,
        IncidentStatus::Verified,
        IncidentStatus::Rejected,
    ];

    /// Its name in answers and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Reported => "reported",
            IncidentStatus::Corroborated => "corroborated",
            IncidentStatus::Disputed => "disputed",
            IncidentStatus::Verified => "verified",
            IncidentStatus::Rejected => "rejected",
        }
    }

    /// The status named `s`.
    pub fn from_name(s: &str) -> Option<IncidentStatus> {
        IncidentStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A logged `decision` on an incident.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecisionRecord {
    /// The entry's payload id.
    pub id: Arc<str>,
    /// Log index and time of the entry.
    pub index: u64,
    pub time_ms: i64,
    /// The verifier who signed it (`name+keyid`).
    pub signer: Arc<str>,
    /// The incident id it named (after a merge, possibly an absorbed id).
    pub incident: Arc<str>,
    pub ruling: Ruling,
    /// The party a confirmed attribution names, if any.
    pub attribution: Option<Arc<str>>,
    pub reason: Arc<str>,
}

/// A logged `dispute` of an incident.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DisputeRecord {
    /// The entry's payload id.
    pub id: Arc<str>,
    /// Log index and time of the entry.
    pub index: u64,
    pub time_ms: i64,
    /// The party key that signed it (`name+keyid`) and its affiliation (the party).
    pub signer: Arc<str>,
    pub party: Arc<str>,
    /// The incident id it named (after a merge, possibly an absorbed id).
    pub incident: Arc<str>,
    pub reason: Arc<str>,
}

/// What an incident needs of one member besides its link inputs.
#[derive(Debug, Clone)]
pub(crate) struct MemberFacts {
    pub(crate) affiliation: Arc<str>,
    pub(crate) count: u32,
    pub(crate) event_type: EventType,
    /// The agreement version it was admitted under.
    pub(crate) version: u32,
}

/// Per-affiliation tallies of an incident's members.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AffiliationTally {
    pub affiliation: Arc<str>,
    /// Members reported by keys of this affiliation.
    pub members: u32,
    /// Sum of their `count`.
    pub count: u64,
}

/// One incident: the aggregate of a component of the link graph.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Incident {
    /// Member positions (position = order among observations), in no particular order: a merge
    /// appends the smaller list to the larger. Kept sorted, a merge cost time linear in the
    /// larger incident (a late report's few members go anywhere among its positions), which a
    /// replay pays at every merge into a large incident; views sort them.
    pub(crate) members: Vec<u32>,
    /// Roots absorbed by merges, ascending (their ids still name this incident).
    pub(crate) absorbed: Vec<u32>,
    /// The agreement and family all members share.
    pub agreement: Arc<str>,
    pub family: Family,
    /// Window: earliest member's `from`, latest member's `to` (ms since the epoch).
    pub from_ms: i64,
    pub to_ms: i64,
    /// The member whose point and radius locate the incident (smallest radius, then lowest index).
    pub(crate) locator: u32,
    /// Event types of the members, as a bit set over [`EventType::ALL`].
    pub(crate) types: u32,
    /// Per-affiliation tallies, sorted by affiliation.
    pub affiliations: Vec<AffiliationTally>,
    /// Newest agreement version any member was admitted under.
    pub version: u32,
    /// Rulings, in log order.
    pub decisions: Vec<DecisionRecord>,
    pub disputes: Vec<DisputeRecord>,
}

fn type_bit(t: EventType) -> u32 {
    let i = EventType::ALL
        .iter()
        .position(|x| *x == t)
        .expect("every event type is in ALL");
    1 << i
}

impl Incident {
    fn single(
        position: u32,
        agreement: Arc<str>,
        family: Family,
        p: &Place,
        m: &MemberFacts,
    ) -> Incident {
        Incident {
            members: vec![position],
            absorbed: Vec::new(),
            agreement,
            family,
            from_ms: p.from_ms,
            to_ms: p.to_ms,
            locator: position,
            types: type_bit(m.event_type),
            affiliations: vec![AffiliationTally {
                affiliation: m.affiliation.clone(),
                members: 1,
                count: u64::from(m.count),
            }],
            version: m.version,
            decisions: Vec::new(),
            disputes: Vec::new(),
        }
    }

    /// Folds `other` (a component that just joined this one) into `self`.
    fn absorb(&mut self, other: Incident, other_root: u32, records: &impl Members) {
        let mut members = other.members;
        if members.len() > self.members.len() {
            std::mem::swap(&mut self.members, &mut members);
        }
        self.members.extend(members);
        // Absorbed roots stay sorted (there are few): merging them is linear.
        merge_sorted(&mut self.absorbed, other.absorbed);
        let at = self.absorbed.partition_point(|&a| a < other_root);
        self.absorbed.insert(at, other_root);
        self.from_ms = self.from_ms.min(other.from_ms);
        self.to_ms = self.to_ms.max(other.to_ms);
        let key = |pos: u32| (records.place(pos).point.radius_m, pos);
        if key(other.locator) < key(self.locator) {
            self.locator = other.locator;
        }
        self.types |= other.types;
        for t in other.affiliations {
            self.tally(t);
        }
        self.version = self.version.max(other.version);
        self.decisions.extend(other.decisions);
        self.decisions.sort_by_key(|d| d.index);
        self.disputes.extend(other.disputes);
        self.disputes.sort_by_key(|d| d.index);
    }

    /// Adds the observation at `position`, the highest so far, which joined this incident on
    /// arrival (so it was never an incident of its own and names none).
    fn add_member(&mut self, position: u32, p: &Place, m: &MemberFacts, members: &impl Members) {
        self.members.push(position);
        self.from_ms = self.from_ms.min(p.from_ms);
        self.to_ms = self.to_ms.max(p.to_ms);
        // Ties keep the lower position, which the locator already has.
        if p.point.radius_m < members.place(self.locator).point.radius_m {
            self.locator = position;
        }
        self.types |= type_bit(m.event_type);
        self.tally(AffiliationTally {
            affiliation: m.affiliation.clone(),
            members: 1,
            count: u64::from(m.count),
        });
        self.version = self.version.max(m.version);
    }

    /// Adds `t` to the tally of its affiliation.
    fn tally(&mut self, t: AffiliationTally) {
        match self
            .affiliations
            .binary_search_by(|x| x.affiliation.cmp(&t.affiliation))
        {
            Ok(i) => {
                self.affiliations[i].members += t.members;
                self.affiliations[i].count += t.count;
            }
            Err(i) => self.affiliations.insert(i, t),
        }
    }

    /// The incident's count: the largest per-affiliation sum of `count` (DESIGN §6).
    pub fn count(&self) -> u64 {
        self.affiliations.iter().map(|a| a.count).max().unwrap_or(0)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it has no member (never true for a stored incident).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether any member's event type is `t`.
    pub fn has_type(&self, t: EventType) -> bool {
        self.types & type_bit(t) != 0
    }

    /// The members' event types, in [`EventType::ALL`] order.
    pub fn event_types(&self) -> impl Iterator<Item = EventType> + '_ {
        EventType::ALL
            .iter()
            .copied()
            .filter(|t| self.types & type_bit(*t) != 0)
    }

    /// The status under `independent_sources` and the belligerent test of the agreement version
    /// [`Incident::version`] (DESIGN §6 precedence).
    pub fn status(
        &self,
        independent_sources: u32,
        belligerent: impl Fn(&str) -> bool,
    ) -> IncidentStatus {
        if let Some(d) = self.decisions.last() {
            return match d.ruling {
                Ruling::Verified => IncidentStatus::Verified,
                Ruling::Rejected => IncidentStatus::Rejected,
            };
        }
        if !self.disputes.is_empty() {
            return IncidentStatus::Disputed;
        }
        let distinct = self.affiliations.len();
        let neutral = self
            .affiliations
            .iter()
            .any(|a| !belligerent(&a.affiliation));
        if distinct >= independent_sources as usize && neutral {
            IncidentStatus::Corroborated
        } else {
            IncidentStatus::Reported
        }
    }
}

/// Merges the ascending list `other` into the ascending list `into` (keeping duplicates, as
/// sorting the concatenation would): the absorbed roots of two merging incidents.
///
/// Cheap in the common cases: the shorter list is empty or starts after the longer one ends
/// (appended), or is short (its few roots inserted into the longer one). Otherwise linear.
fn merge_sorted(into: &mut Vec<u32>, mut other: Vec<u32>) {
    if other.len() > into.len() {
        std::mem::swap(into, &mut other);
    }
    let Some(&first) = other.first() else {
        return;
    };
    if into.last().is_none_or(|&l| l <= first) {
        into.extend(other);
        return;
    }
    if other.len() <= 16 {
        for x in other {
            let at = into.partition_point(|&y| y <= x);
            into.insert(at, x);
        }
        return;
    }
    let mut merged = Vec::with_capacity(into.len() + other.len());
    let (mut a, mut b) = (into.iter().peekable(), other.iter().peekable());
    while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
        if x <= y {
            merged.push(x);
            a.next();
        } else {
            merged.push(y);
            b.next();
        }
    }
    merged.extend(a);
    merged.extend(b);
    *into = merged;
}

/// Where incidents read what a member is made of, by position: the state's observation records
/// (which hold it already: a single-report incident keeps nothing of its own), or a plain list
/// under test.
pub(crate) trait Members {
    /// The agreement, family and facts of the observation at `position`.
    fn member(&self, position: u32) -> (Arc<str>, Family, MemberFacts);

    /// The event point and observed window of the observation at `position`.
    fn place(&self, position: u32) -> Place;
}

/// Where and when one member was observed: what an incident's window and location are made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Place {
    pub(crate) point: EventPoint,
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
}

impl Place {
    /// The place of an observation with link inputs `p`.
    pub(crate) fn of(p: &LinkPoint) -> Place {
        Place {
            point: p.event_point(),
            from_ms: p.from_ms,
            to_ms: p.to_ms,
        }
    }
}

/// Every incident, by root position.
///
/// Invariant: every root of the link components is an incident; `by_root` holds the aggregate of
/// each incident with more than one member or with a ruling, and a root without one there is a
/// single-report incident whose aggregate [`Incidents::singleton`] builds from its record —
/// the same value `Incident::single` stored before, so that nothing a reader sees depends on
/// which form it is kept in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Incidents {
    components: link::Components,
    by_root: BTreeMap<u32, Incident>,
    /// Number of incidents (roots).
    roots: usize,
}

impl Incidents {
    /// Days of the link search in the cold tier.
    pub(crate) fn cold_days(&self) -> usize {
        self.components.cold_days()
    }

    /// Sends the link search's old days to `cold` from now on.
    pub(crate) fn attach_cold(&mut self, cold: std::sync::Arc<crate::cold::Cold>) {
        self.components.attach_cold(cold);
    }

    /// The aggregate of the single-report incident of `position` (an observation that joined no
    /// other).
    fn singleton(&self, position: u32, members: &impl Members) -> Incident {
        let (agreement, family, m) = members.member(position);
        Incident::single(position, agreement, family, &members.place(position), &m)
    }

    /// The aggregate of the incident rooted at `root`, taken out to be merged or changed.
    fn take(&mut self, root: u32, members: &impl Members) -> Incident {
        match self.by_root.remove(&root) {
            Some(i) => i,
            None => self.singleton(root, members),
        }
    }

    /// The aggregate of the incident rooted at `root`, to change: a single-report incident gets
    /// one of its own from now on.
    fn aggregate_mut(&mut self, root: u32, members: &impl Members) -> &mut Incident {
        if !self.by_root.contains_key(&root) {
            let single = self.singleton(root, members);
            self.by_root.insert(root, single);
        }
        self.by_root.get_mut(&root).expect("just inserted")
    }

    /// The aggregate of the incident rooted at `root`, borrowed or built.
    fn aggregate(&self, root: u32, members: &impl Members) -> Cow<'_, Incident> {
        match self.by_root.get(&root) {
            Some(i) => Cow::Borrowed(i),
            None => Cow::Owned(self.singleton(root, members)),
        }
    }

    /// Adds the observation at the next position (whose record `members` holds already) and
    /// returns the root of its incident.
    pub(crate) fn insert(&mut self, p: LinkPoint, members: &impl Members) -> u32 {
        let position = self.components.len() as u32;
        let (agreement, family, m) = members.member(position);
        let roots = self
            .components
            .insert(&agreement, family, p, |at| members.place(at).point);
        let Some((&keep, rest)) = roots.split_first() else {
            self.roots += 1;
            return position;
        };
        let mut merged = self.take(keep, members);
        for r in rest {
            let other = self.take(*r, members);
            merged.absorb(other, *r, members);
        }
        self.roots -= rest.len();
        merged.add_member(position, &Place::of(&p), &m, members);
        self.by_root.insert(keep, merged);
        keep
    }

    /// Adds the observation at the next position to the incident rooted at `root`, as a
    /// snapshot recorded it ([`crate::snapshot`]): `started` says whether it started an incident
    /// of its own on arrival (then, unless it is still the root, its id names the incident as an
    /// absorbed one). `None` if `root` is not an incident's root.
    pub(crate) fn restore(
        &mut self,
        p: LinkPoint,
        root: u32,
        started: bool,
        members: &impl Members,
    ) -> Option<()> {
        let position = self.components.len() as u32;
        // The observation's record is filed already: it says what the incident needs.
        let (agreement, family, m) = members.member(position);
        let (agreement, m) = (&agreement, &m);
        if root == position {
            if !started {
                return None;
            }
            self.components.restore(agreement, family, p, root)?;
            self.roots += 1;
            return Some(());
        }
        if !self.components.is_root(root) {
            return None;
        }
        // Members share their incident's agreement and family: its aggregate says which (a
        // single-report incident gets one to grow from now on).
        let incident = self.aggregate_mut(root, members);
        if incident.family != family || *incident.agreement != **agreement {
            return None;
        }
        self.components.restore(agreement, family, p, root)?;
        // Borrowed again, apart from `components`.
        let incident = self.by_root.get_mut(&root)?;
        incident.add_member(position, &Place::of(&p), m, members);
        if started {
            // Positions come in ascending order: the list stays sorted.
            incident.absorbed.push(position);
        }
        Some(())
    }

    /// Makes room for `additional` more observations.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.components.reserve(additional);
    }

    /// Loads the index entries that restoring deferred.
    pub(crate) fn flush(&mut self) {
        self.components.flush();
    }

    /// Whether the observation at `position` started an incident on arrival: it is a root, or
    /// its incident absorbed it.
    pub(crate) fn started(&self, position: u32) -> bool {
        self.root_if_started(position).is_some()
    }

    /// The root of the incident `position` started, if it started one ([`Incidents::started`]).
    fn root_if_started(&self, position: u32) -> Option<u32> {
        if position as usize >= self.components.len() {
            return None;
        }
        let root = self.components.root(position);
        (root == position
            || self
                .by_root
                .get(&root)
                .is_some_and(|i| i.absorbed.binary_search(&position).is_ok()))
        .then_some(root)
    }

    /// The root of the incident holding the observation at `position`.
    pub(crate) fn root_of(&self, position: u32) -> u32 {
        self.components.root(position)
    }

    /// The incident whose id is, or was before a merge, the observation at `position`; `None` if
    /// that observation never started an incident.
    pub(crate) fn named(
        &self,
        position: u32,
        members: &impl Members,
    ) -> Option<(u32, Cow<'_, Incident>)> {
        let root = self.root_if_started(position)?;
        Some((root, self.aggregate(root, members)))
    }

    /// [`Incidents::named`], to change (a single-report incident gets an aggregate of its own).
    pub(crate) fn named_mut(
        &mut self,
        position: u32,
        members: &impl Members,
    ) -> Option<&mut Incident> {
        let root = self.root_if_started(position)?;
        Some(self.aggregate_mut(root, members))
    }

    /// The incident rooted at `root`.
    #[cfg(test)]
    pub(crate) fn get(&self, root: u32, members: &impl Members) -> Option<Cow<'_, Incident>> {
        self.components
            .is_root(root)
            .then(|| self.aggregate(root, members))
    }

    /// Incidents rooted at or after `from_root`, in root order.
    pub(crate) fn range<'s>(
        &'s self,
        from_root: u32,
        members: &'s impl Members,
    ) -> impl Iterator<Item = (u32, Cow<'s, Incident>)> {
        let end = self.components.len() as u32;
        (from_root.min(end)..end)
            .filter(|&p| self.components.is_root(p))
            .map(move |p| (p, self.aggregate(p, members)))
    }

    /// The incidents that have an aggregate of their own (more than one member, or a ruling), in
    /// root order; every other root is a single-report incident.
    pub(crate) fn aggregated(&self) -> impl Iterator<Item = (u32, &Incident)> {
        self.by_root.iter().map(|(r, i)| (*r, i))
    }

    /// Number of observations filed.
    pub(crate) fn positions(&self) -> usize {
        self.components.len()
    }

    /// Number of incidents.
    pub(crate) fn len(&self) -> usize {
        self.roots
    }
}

#[cfg(test)]
mod tests;
