//! What readers see of an incident: the aggregate joined with its members' records and the
//! agreement version that decides its status.

use std::borrow::Cow;

use truce_model::agreement::{Agreement, PartyRole};
use truce_model::observation::EventPoint;
use truce_model::taxonomy::EventType;

use super::query::IncidentQuery;
use super::{Incident, IncidentStatus, Members};
use crate::State;
use crate::observation_record::ObservationRecord;

/// An incident as readers see it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IncidentView<'a> {
    /// The incident's id: its earliest member's payload id.
    pub id: Cow<'a, str>,
    /// Log index of that member (the order of incident pages and their cursor).
    pub index: u64,
    pub status: IncidentStatus,
    /// The aggregate (window, agreement, family, affiliations, rulings): borrowed from the state,
    /// or built for a single-report incident, which keeps none.
    pub incident: Cow<'a, Incident>,
    /// Location and radius (DESIGN §6: the member with the smallest radius).
    pub location: EventPoint,
    /// Its first members in log order, at most [`MEMBERS_SHOWN`]; the rest are read in pages
    /// ([`State::incident_members`]).
    pub members: Vec<ObservationRecord>,
    /// Number of members.
    pub member_count: usize,
    /// The log index of the last member in `members` when more follow: the cursor of the next
    /// page of members.
    pub members_next: Option<u64>,
    /// Distinct signers among all members, sorted.
    pub sources: Vec<&'a str>,
    /// The first ids that merges absorbed into this incident (they still name it), in log order,
    /// at most [`MEMBERS_SHOWN`].
    pub absorbed: Vec<Cow<'a, str>>,
    /// Number of absorbed ids.
    pub absorbed_count: usize,
}

/// Members (and absorbed ids) an incident view holds at most. A view is built under the state's
/// read lock and answered whole, and an incident can hold a large share of a log (a line of
/// reports that percolates): a view of every member made answers of hundreds of megabytes and
/// held the lock for seconds. The rest is read in pages.
pub const MEMBERS_SHOWN: usize = 1_000;

impl IncidentView<'_> {
    /// The members' event types.
    pub fn event_types(&self) -> Vec<EventType> {
        self.incident.event_types().collect()
    }
}

/// The lowest `n` of `positions`, ascending, and whether any was left out.
fn lowest(positions: impl Iterator<Item = u32>, n: usize) -> (Vec<u32>, bool) {
    let mut p: Vec<u32> = positions.collect();
    let more = p.len() > n;
    if more {
        p.select_nth_unstable(n);
        p.truncate(n);
    }
    p.sort_unstable();
    (p, more)
}

/// Why a member position always has a record.
const KNOWN: &str = "incident positions are observation positions";

/// One page of incidents.
#[derive(Debug)]
#[non_exhaustive]
pub struct IncidentPage<'a> {
    pub items: Vec<IncidentView<'a>>,
    /// The cursor for the next page (log index of the last item), if more may follow.
    pub next: Option<u64>,
}

impl State {
    /// The agreement document that governs `i`: the newest version any member was admitted
    /// under ([`Incident::version`]).
    pub fn governing_agreement(&self, i: &Incident) -> Option<&Agreement> {
        self.agreement(&i.agreement)
            .and_then(|a| a.version(i.version))
            .map(|v| v.agreement.as_ref())
    }

    /// The status of `i` under the agreement version that governs it (module docs of
    /// [`crate::incidents`]).
    pub fn incident_status(&self, i: &Incident) -> IncidentStatus {
        let Some(doc) = self.governing_agreement(i) else {
            // Every member was admitted under a logged version; keep a total function anyway.
            return i.status(u32::MAX, |_| true);
        };
        i.status(doc.verification.independent_sources, |affiliation| {
            doc.party(affiliation)
                .is_some_and(|p| p.role == PartyRole::Belligerent)
        })
    }

    fn incident_view<'a>(&'a self, root: u32, incident: Cow<'a, Incident>) -> IncidentView<'a> {
        let id = |p: u32| self.observations.id(p).expect(KNOWN);
        let (members, members_next) = self.member_page(&incident, 0, MEMBERS_SHOWN);
        IncidentView {
            id: id(root),
            index: self.observations.at(root).expect(KNOWN).index,
            status: self.incident_status(&incident),
            location: self.incident_location(&incident),
            members,
            members_next,
            member_count: incident.members.len(),
            sources: self.sources(&incident),
            absorbed: incident
                .absorbed
                .iter()
                .take(MEMBERS_SHOWN)
                .map(|&p| id(p))
                .collect(),
            absorbed_count: incident.absorbed.len(),
            incident,
        }
    }

    /// Where `i` is (DESIGN §6: the point and radius of its member with the smallest radius).
    pub(crate) fn incident_location(&self, i: &Incident) -> EventPoint {
        self.observations.place(i.locator).point
    }

    /// Distinct signers among all members of `i`, sorted.
    fn sources(&self, i: &Incident) -> Vec<&str> {
        let mut signers: Vec<u32> = i
            .members
            .iter()
            .map(|&p| self.observations.at(p).expect(KNOWN).signer)
            .collect();
        signers.sort_unstable();
        signers.dedup();
        let mut sources: Vec<&str> = signers
            .into_iter()
            .map(|n| &**self.observations.name(n))
            .collect();
        sources.sort_unstable();
        sources
    }

    /// The members of `i` at positions from `from` on: the first `limit` of them (at least one)
    /// in log order, and the cursor of the next page (the last one's log index) if more follow.
    fn member_page(
        &self,
        i: &Incident,
        from: u32,
        limit: usize,
    ) -> (Vec<ObservationRecord>, Option<u64>) {
        let rest = i.members.iter().copied().filter(|&p| p >= from);
        let (page, more) = lowest(rest, limit.max(1));
        let view = |p: u32| self.observations.view(p).expect(KNOWN);
        let page: Vec<ObservationRecord> = page.into_iter().map(view).collect();
        let next = if more {
            page.last().map(|m| m.index)
        } else {
            None
        };
        (page, next)
    }

    /// One page of the members of the incident named `id`: at most `limit` of them (at least
    /// one), those logged after log index `after`, in log order, and the cursor of the next page
    /// if more follow. `None` if no incident has this id. Each page costs a pass over the
    /// incident's member positions (they are kept unsorted: see [`Incident`]).
    pub fn incident_members(
        &self,
        id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Option<(Vec<ObservationRecord>, Option<u64>)> {
        let position = self.observations.position(id)?;
        let (_, incident) = self.incidents.named(position, &self.observations)?;
        let from = after.map_or(0, |a| self.observations.first_position_after(a));
        Some(self.member_page(&incident, from, limit))
    }

    /// The incident named `id` (its id, or an id a merge absorbed into it).
    pub fn incident(&self, id: &str) -> Option<IncidentView<'_>> {
        let position = self.observations.position(id)?;
        let (root, incident) = self.incidents.named(position, &self.observations)?;
        Some(self.incident_view(root, incident))
    }

    /// Number of incidents.
    pub fn incident_count(&self) -> usize {
        self.incidents.len()
    }

    /// Every incident, in the order of their ids' log indexes.
    pub fn incidents(&self) -> impl Iterator<Item = IncidentView<'_>> {
        self.incidents
            .range(0, &self.observations)
            .map(|(root, i)| self.incident_view(root, i))
    }

    /// One page of the incidents matching `q` (see [`IncidentQuery`]).
    pub fn query_incidents(&self, q: &IncidentQuery) -> IncidentPage<'_> {
        let first = match q.after {
            None => 0,
            Some(after) => self.observations.first_position_after(after),
        };
        let page = self
            .incidents
            .query(q, first, |i| self.incident_status(i), &self.observations);
        let items: Vec<IncidentView<'_>> = page
            .items
            .into_iter()
            .map(|(root, i)| self.incident_view(root, i))
            .collect();
        let next = if page.more {
            items.last().map(|v| v.index)
        } else {
            None
        };
        IncidentPage { items, next }
    }
}
