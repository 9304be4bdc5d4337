//! Observation intake: who may report, under which agreement, and what the state keeps.
//!
//! The model ([`truce_model::observation`]) checks an observation on its own; admission here
//! checks it against the log at the entry's log time:
//! - the signer is accredited as `monitor`, `sensor` or `party` (403 otherwise);
//! - its `agreement` exists and is `in-force` at the log time (422 at `/agreement`, saying
//!   whether the agreement is unknown, only proposed, or superseded without a successor in force):
//!   observations feed findings under an agreement's rules, and there are no rules to judge
//!   against before the parties have bound themselves;
//! - `alleged_party` is a party of the version in force (422 at `/alleged_party`);
//! - the observed window does not end after the log time plus a small clock skew (422 at
//!   `/observed/to`). Using the log time, not the wall clock, keeps replay's verdict identical.
//!
//! Every 422 problem is reported at once. A party's observation is admitted as a *claim*
//! (DESIGN §5): recorded and shown, never counted as monitoring evidence or attribution.
//!
//! What the state keeps of an observation is a fixed-size record (see
//! [`crate::observation_record`] for its layout and size): the handful of values incidents,
//! queries and the digest need (derived point and radius, window, type, count, who reported it,
//! under which agreement version, whom it accuses), not the payload. The payload stays in the
//! log, where readers that need the full text (weapon, targets, direction, evidence) read it by
//! `index`.

use std::borrow::Cow;
use std::sync::Arc;

use truce_model::entry::{FieldError, Role};
use truce_model::observation::Observation;
use truce_model::taxonomy::Family;

use crate::State;
use crate::agreements::{AgreementStatus, rfc3339};
use crate::cold::{Cold, ColdStore, Tiering};
use crate::ids::Ids;
use crate::incidents::{LinkParams, LinkPoint, MemberFacts, Members, Place};
use crate::keys::KeyRecord;
use crate::observation_query::{ObservationIndex, ObservationPage, ObservationQuery};
use crate::observation_record::{ObservationRecord, RecordLog, Records as _, Stored};
use crate::refusal::Refusal;

/// Roles that may sign an `observation` entry (DESIGN §3).
pub const OBSERVER_ROLES: [Role; 3] = [Role::Monitor, Role::Sensor, Role::Party];

/// The observations of the log, in log order, with an index by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observations {
    items: RecordLog,
    by_id: Ids,
    index: ObservationIndex,
}

impl Observations {
    /// Stores `r`, logged at `index` and `time_ms`, and returns its record as stored.
    pub(crate) fn record(&mut self, mut r: ObservationRecord, index: u64, time_ms: i64) -> Stored {
        r.index = index;
        r.time_ms = time_ms;
        let position = self.items.len();
        // Positions are u32: four billion observations is beyond what one state holds in memory.
        let position = u32::try_from(position).expect("fewer than 2^32 observations");
        let stored = self.items.push(&r);
        // Ids are unique across the log (the server refuses an id reused with other content);
        // should one repeat anyway, the first observation keeps the id.
        let items = &self.items;
        self.by_id
            .insert(&r.id, position, |p| items.has_id(p as usize, &r.id));
        self.index.insert(position, &stored);
        stored
    }

    /// The position (order among observations) of the observation with payload id `id`.
    pub(crate) fn position(&self, id: &str) -> Option<u32> {
        self.by_id.get(id, |p| self.items.has_id(p as usize, id))
    }

    /// The observation at `position`.
    pub(crate) fn at(&self, position: u32) -> Option<Stored> {
        self.items.get(position as usize)
    }

    /// The payload id of the observation at `position`.
    pub(crate) fn id(&self, position: u32) -> Option<Cow<'_, str>> {
        self.items.id(position as usize)
    }

    /// The observation at `position` and its payload id, read together.
    pub(crate) fn at_with_id(&self, position: u32) -> Option<(Stored, Cow<'_, str>)> {
        self.items.get_with_id(position as usize)
    }

    /// The name numbered `n` in the records.
    pub(crate) fn name(&self, n: u32) -> &Arc<str> {
        self.items.names.name(n)
    }

    /// The reader's view of the observation at `position`.
    pub(crate) fn view(&self, position: u32) -> Option<ObservationRecord> {
        self.items.view(position as usize)
    }

    /// A copy of the records that shares every frozen chunk ([`RecordLog`]).
    pub(crate) fn records(&self) -> RecordLog {
        self.items.clone()
    }

    /// The position of the first observation logged after log index `index`.
    pub(crate) fn first_position_after(&self, index: u64) -> u32 {
        self.items.partition_point(|r| r.index <= index) as u32
    }

    /// Makes room for `additional` more observations at once (restoring a snapshot knows how
    /// many: growing by doubling would copy the id table several times over; the records grow
    /// by chunks of their own).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.by_id.reserve(additional);
        self.index.reserve(additional);
    }

    /// The cold tier, if one is attached.
    pub(crate) fn cold(&self) -> Option<&Arc<Cold>> {
        self.items.cold()
    }

    /// See [`State::attach_cold`].
    pub(crate) fn attach_cold(&mut self, cold: Arc<Cold>) {
        self.items.attach_cold(cold);
    }

    /// Number of observations.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn views(&self) -> impl ExactSizeIterator<Item = ObservationRecord> + '_ {
        self.items.views()
    }

    pub(crate) fn get(&self, id: &str) -> Option<ObservationRecord> {
        self.position(id).and_then(|p| self.view(p))
    }

    pub(crate) fn query(&self, q: &ObservationQuery) -> ObservationPage {
        self.index.query(&self.items, q)
    }
}

impl Members for Observations {
    fn member(&self, position: u32) -> (Arc<str>, Family, MemberFacts) {
        let r = self
            .at(position)
            .expect("incident positions are observation positions");
        let facts = MemberFacts {
            affiliation: self.name(r.affiliation).clone(),
            count: r.count,
            event_type: r.event_type,
            version: r.version,
        };
        (self.name(r.agreement).clone(), r.event_type.family(), facts)
    }

    fn place(&self, position: u32) -> Place {
        let r = self
            .at(position)
            .expect("incident positions are observation positions");
        Place {
            point: r.point(),
            from_ms: r.from_ms,
            to_ms: r.to_ms,
        }
    }
}

/// 403 unless `signer` may submit observations.
pub(crate) fn authorize(signer: &KeyRecord) -> Result<(), Refusal> {
    if OBSERVER_ROLES.iter().any(|r| signer.has_role(*r)) {
        return Ok(());
    }
    let roles: Vec<&str> = signer.roles.iter().map(|r| r.as_str()).collect();
    Err(Refusal::Forbidden(format!(
        "entries of kind observation must be signed by a monitor, sensor or party key; {} has \
         roles [{}]",
        signer.vkey.signer_id(),
        roles.join(", ")
    )))
}

impl State {
    /// Records an applied observation and files it into its incident.
    pub(crate) fn record_observation(&mut self, r: ObservationRecord, index: u64, time_ms: i64) {
        let link = self.file_record(r, index, time_ms);
        self.incidents.insert(link, &self.observations);
    }

    /// Keeps the records of all but the newest observations in `store` from now on, reading
    /// them back through a bounded cache ([`crate::cold`]): what a server holding a large log
    /// does to stay within its memory. Readers see the same records either way.
    pub fn attach_cold(&mut self, store: Arc<dyn ColdStore>, tiering: Tiering) {
        let cold = Arc::new(Cold::new(store, tiering));
        self.observations.attach_cold(cold.clone());
        self.incidents.attach_cold(cold);
    }

    /// Whether the cold tier failed to give back what was written to it (the data directory was
    /// changed under the server, or its disk failed): the state must not be served or built on
    /// any more ([`crate::cold`]).
    pub fn cold_failed(&self) -> bool {
        self.observations.cold().is_some_and(|c| c.failed())
    }

    /// Full chunks of observation records in the cold tier (none without [`State::attach_cold`]).
    pub fn cold_chunks(&self) -> usize {
        self.observations.items.cold_chunks()
    }

    /// Days of the link search's grids in the cold tier, summed over agreements and families.
    pub fn cold_days(&self) -> usize {
        self.incidents.cold_days()
    }

    /// Makes room for `additional` more observations (a snapshot's: [`crate::Snapshot::observations`]).
    pub fn reserve_observations(&mut self, additional: usize) {
        self.observations.reserve(additional);
        self.incidents.reserve(additional);
    }

    /// [`State::record_observation`] for a snapshot's observation, whose incident root (the
    /// position of its lowest member at the time of the snapshot) and whether it started an
    /// incident on arrival the snapshot recorded: it joins that incident without a search for
    /// partners. `None` if the root is not one.
    pub(crate) fn restore_observation(
        &mut self,
        r: ObservationRecord,
        root: u32,
        started: bool,
    ) -> Option<()> {
        let (index, time_ms) = (r.index, r.time_ms);
        let link = self.file_record(r, index, time_ms);
        self.incidents
            .restore(link, root, started, &self.observations)
    }

    /// Stores `r` (logged at `index`, `time_ms`) and returns its link inputs (the rest of what
    /// its incident needs, the incident reads from the record: [`Members`]).
    fn file_record(&mut self, r: ObservationRecord, index: u64, time_ms: i64) -> LinkPoint {
        // Admission found the version in force; it cannot have disappeared since.
        let params = self
            .agreement(&r.agreement)
            .and_then(|a| a.version(r.agreement_version))
            .map_or(LinkParams::NONE, |v| {
                LinkParams::of(&v.agreement.verification)
            });
        let r = self.observations.record(r, index, time_ms);
        debug_assert_eq!(
            self.incidents.positions(),
            self.observations.len() - 1,
            "positions are shared"
        );
        LinkPoint {
            lat: r.lat,
            lon: r.lon,
            radius_m: r.radius_m,
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            params,
        }
    }

    /// The state-dependent checks of an observation logged at `time_ms` (see the module docs),
    /// and the record the state will keep of it.
    pub(crate) fn admit_observation(
        &self,
        id: &str,
        o: &Observation,
        signer: &KeyRecord,
        time_ms: i64,
    ) -> Result<ObservationRecord, Refusal> {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut version = None;
        match self.agreement(&o.agreement) {
            None => errors.push(FieldError::new(
                "/agreement",
                format!(
                    "unknown agreement {:?}: no agreement with this id has been proposed in this log",
                    o.agreement
                ),
            )),
            Some(a) => {
                let in_force = a
                    .versions
                    .iter()
                    .rev()
                    .find(|v| a.status(v, time_ms) == AgreementStatus::InForce);
                match in_force {
                    Some(v) => version = Some(v),
                    None => errors.push(FieldError::new(
                        "/agreement",
                        not_in_force(a, time_ms),
                    )),
                }
            }
        }
        if let (Some(v), Some(p)) = (version, &o.alleged_party)
            && v.agreement.party(p).is_none()
        {
            let parties: Vec<&str> = v.agreement.parties.iter().map(|p| p.id.as_str()).collect();
            errors.push(FieldError::new(
                "/alleged_party",
                format!(
                    "{p:?} is not a party to agreement {} version {} (parties: {})",
                    o.agreement,
                    v.version,
                    parties.join(", ")
                ),
            ));
        }
        errors.extend(o.check_at(time_ms));
        let Some(v) = version.filter(|_| errors.is_empty()) else {
            return Err(Refusal::Invalid(errors));
        };
        let e = &o.event;
        Ok(ObservationRecord {
            id: Arc::from(id),
            index: self.size(),
            time_ms,
            signer: Arc::from(signer.vkey.signer_id()),
            affiliation: Arc::from(signer.affiliation.as_str()),
            claim: signer.has_role(Role::Party),
            agreement: Arc::from(o.agreement.as_str()),
            agreement_version: v.version,
            event_type: e.event_type,
            family: e.event_type.family(),
            count: e.count,
            point: o.event_point(),
            from_ms: o.observed.from.as_millisecond(),
            to_ms: o.observed.to.as_millisecond(),
            alleged_party: o.alleged_party.as_deref().map(Arc::from),
        })
    }

    /// Every observation logged, in log order.
    pub fn observations(&self) -> impl ExactSizeIterator<Item = ObservationRecord> + '_ {
        self.observations.views()
    }

    /// The observation with payload id `id`.
    pub fn observation(&self, id: &str) -> Option<ObservationRecord> {
        self.observations.get(id)
    }

    /// One page of the observations matching `q`, in log order (see [`ObservationQuery`]).
    pub fn query_observations(&self, q: &ObservationQuery) -> ObservationPage {
        self.observations.query(q)
    }
}

/// Why agreement `a` has no version in force at `now_ms`, in words.
fn not_in_force(a: &crate::AgreementRecord, now_ms: i64) -> String {
    let id = &a.id;
    let Some(latest) = a.versions.last() else {
        return format!("unknown agreement {id:?}: it has no version");
    };
    let superseded = a
        .versions
        .iter()
        .rev()
        .find(|v| a.status(v, now_ms) == AgreementStatus::Superseded);
    let when = |v: &crate::VersionRecord| match v.in_force_from_ms() {
        Some(t) => format!("it enters into force at {}", rfc3339(t)),
        None => format!("consents missing from {}", v.missing().join(", ")),
    };
    match superseded {
        Some(old) => {
            // A version with all consents exists but is not in force yet.
            let successor = a
                .versions
                .iter()
                .rev()
                .find(|v| v.version > old.version && v.consents_complete_ms().is_some())
                .unwrap_or(latest);
            format!(
                "agreement {id} is not in force: version {} is superseded by version {}, which \
                 is not in force yet ({})",
                old.version,
                successor.version,
                when(successor)
            )
        }
        None => format!(
            "agreement {id} is only proposed (version {}: {}); observations are accepted once \
             it is in force",
            latest.version,
            when(latest)
        ),
    }
}
