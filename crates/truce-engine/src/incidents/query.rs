//! Incident queries: filters and cursor pages.
//!
//! Pages are in the order of the incidents' ids' log indexes (an incident's id is its earliest
//! member's, so this is the order in which incidents began to be reported). The cursor is the log
//! index of the last id on the previous page. A merge can move an incident's id to an earlier
//! index; an incident absorbed after its page was served is then found under the id of the
//! incident that absorbed it, never lost.
//!
//! The scan walks incidents from the cursor and stops after `limit + 1` matches; every filter is
//! a constant-time test on the incident's aggregate (window, location, status, type bit set).

use std::borrow::Cow;

use truce_model::taxonomy::EventType;

use super::{Incident, IncidentStatus, Incidents};
use crate::BBox;

/// What to look for. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct IncidentQuery {
    /// Only incidents whose window ends at or after this time (ms since the epoch).
    pub from_ms: Option<i64>,
    /// Only incidents whose window starts at or before this time (ms since the epoch).
    pub to_ms: Option<i64>,
    /// Only incidents located in this box (edges included).
    pub bbox: Option<BBox>,
    /// Only incidents with one of these statuses (empty: any).
    pub statuses: Vec<IncidentStatus>,
    /// Only incidents with a member of one of these event types (empty: any).
    pub types: Vec<EventType>,
    /// Only incidents under this agreement.
    pub agreement: Option<String>,
    /// Only incidents whose id's log index is after this one (the previous page's cursor).
    pub after: Option<u64>,
    /// Page size (at least 1).
    pub limit: usize,
}

impl IncidentQuery {
    /// A query for the first `limit` incidents, unfiltered.
    pub fn new(limit: usize) -> IncidentQuery {
        IncidentQuery {
            limit,
            ..IncidentQuery::default()
        }
    }
}

/// One page: `(root position, incident)` pairs and whether more follow.
#[derive(Debug)]
pub(crate) struct RawPage<'a> {
    pub(crate) items: Vec<(u32, Cow<'a, Incident>)>,
    pub(crate) more: bool,
}

impl Incidents {
    /// One page of the incidents matching `q`. `first_position` is the position of the first
    /// observation after the cursor; `status` gives an incident's status.
    pub(crate) fn query<'a>(
        &'a self,
        q: &IncidentQuery,
        first_position: u32,
        status: impl Fn(&Incident) -> IncidentStatus,
        members: &'a impl super::Members,
    ) -> RawPage<'a> {
        let limit = q.limit.max(1);
        let mut items = Vec::new();
        let mut more = false;
        for (root, incident) in self.range(first_position, members) {
            if !Self::matches(q, &incident, &status, members) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push((root, incident));
        }
        RawPage { items, more }
    }

    fn matches(
        q: &IncidentQuery,
        i: &Incident,
        status: &impl Fn(&Incident) -> IncidentStatus,
        members: &impl super::Members,
    ) -> bool {
        if q.from_ms.is_some_and(|f| i.to_ms < f) || q.to_ms.is_some_and(|t| i.from_ms > t) {
            return false;
        }
        if q.agreement.as_deref().is_some_and(|a| a != &*i.agreement) {
            return false;
        }
        if !q.types.is_empty() && !q.types.iter().any(|t| i.has_type(*t)) {
            return false;
        }
        if let Some(b) = &q.bbox {
            let p = members.place(i.locator).point;
            if !b.contains(p.lon, p.lat) {
                return false;
            }
        }
        q.statuses.is_empty() || q.statuses.contains(&status(i))
    }
}
