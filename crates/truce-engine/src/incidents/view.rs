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
    pub id: &'a str,
    /// Log index of that member (the order of incident pages and their cursor).
    pub index: u64,
    pub status: IncidentStatus,
    /// The aggregate (window, agreement, family, affiliations, rulings): borrowed from the state,
    /// or built for a single-report incident, which keeps none.
    pub incident: Cow<'a, Incident>,
    /// Location and radius (DESIGN §6: the member with the smallest radius).
    pub location: EventPoint,
    /// Its members, in log order.
    pub members: Vec<ObservationRecord>,
    /// Ids that merges absorbed into this incident (they still name it).
    pub absorbed: Vec<&'a str>,
}

impl IncidentView<'_> {
    /// The members' event types.
    pub fn event_types(&self) -> Vec<EventType> {
        self.incident.event_types().collect()
    }

    /// Distinct signers among the members, sorted.
    pub fn sources(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self.members.iter().map(|m| &*m.signer).collect();
        s.sort_unstable();
        s.dedup();
        s
    }
}

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
        let known = "incident positions are observation positions";
        let id = |p: u32| self.observations.id(p).expect(known);
        let first = self.observations.at(root).expect(known);
        let locator = self.observations.place(incident.locator).point;
        IncidentView {
            id: id(root),
            index: first.index,
            status: self.incident_status(&incident),
            location: locator,
            members: {
                let mut positions = incident.members.clone();
                positions.sort_unstable();
                let view = |p: u32| self.observations.view(p).expect(known);
                positions.into_iter().map(view).collect()
            },
            absorbed: incident.absorbed.iter().map(|&p| id(p)).collect(),
            incident,
        }
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
