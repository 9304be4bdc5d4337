#![forbid(unsafe_code)]
//! Derived state as a pure function of the log.
//!
//! The engine is the one place that decides what an entry means: whether it may be logged at all
//! ([`State::admit`]: signatures, accreditation, roles, references), and what it changes once it is
//! logged ([`State::apply`]). It does no I/O — files an agreement references arrive through a
//! [`truce_model::agreement::Resolver`], times arrive as each leaf's log time — so the live server
//! and `truce replay` run exactly the same code over the same entries and reach the same state.
//!
//! Invariants:
//! - `apply` is only ever called with what `admit` returned for the same state, in log order;
//! - state depends on entries and their log times only, never on the wall clock;
//! - an entry that was admitted once is admitted again on replay (replay refusing an entry means
//!   the store was tampered with or the code changed incompatibly; both are reported, not hidden).
//!
//! # Memory per observation
//! Observations are nearly all of a large log, so what the state keeps of each one bounds the log
//! a server can hold (DESIGN §11: 300 MB at 10M entries). Kept per observation, measured with
//! heaptrack on a restarted server (bench/RESULTS.md):
//!
//! | what | bytes | why it is resident |
//! |---|---|---|
//! | record (`observation_record`) and its id | ~110, 0.6 once cold | queries filter on it, views and the digest read it |
//! | id index (`ids`): position and 32 bits of the id's hash | ~9 | decisions, disputes and incident ids name observations by id |
//! | query lists, delta-coded, and block summaries (`observation_query`) | ~7 | selective queries without a scan |
//! | union-find parent ([`incidents::link`]) | 4 | incidents are the components of the link graph |
//! | grid cell entry and its share of the cell | ~76, 0 once its day is cold | every later report may link to any earlier one; the link search reads only its cells |
//! | share of incident aggregates (single-report incidents are built from the record) | ~12 | incident views and status |
//!
//! With a [`cold`] tier attached (the server attaches a file of its data directory), the records
//! of all but the newest observations and the link grid's old days leave memory; they are read
//! back, checked against their hash, when a reader or a late report needs them. The payload
//! itself (weapon, targets, direction, evidence, text) is never resident: readers take it from the
//! log by index. What still grows with the log is the id index, the lists, the parents and the
//! aggregates (docs/incidents.md, "Memory").

mod admit;
mod agreements;
pub mod cold;
mod digest;
mod ids;
pub mod incidents;
mod keys;
mod line_sort;
mod observation_query;
mod observation_record;
mod observations;
mod outward;
mod positions;
mod refusal;
mod rulings;
mod snapshot;

pub use admit::{Admitted, Effect, Keyring, Prepared};
pub use agreements::{AgreementRecord, AgreementStatus, ProposedVersion, VersionRecord, rfc3339};
pub use digest::StateDigest;
pub use incidents::{
    AffiliationTally, DecisionRecord, DisputeRecord, Incident, IncidentPage, IncidentQuery,
    IncidentStatus, IncidentView, MEMBERS_SHOWN,
};
pub use keys::KeyRecord;
pub use observation_query::{BBox, ObservationPage, ObservationQuery};
pub use observation_record::ObservationRecord;
pub use observations::OBSERVER_ROLES;
pub use refusal::Refusal;
pub use snapshot::{Capture, DERIVATION, Effects, Indexes, Saved, Snapshot, SnapshotError};

use std::collections::BTreeMap;

use truce_model::entry::Role;
use truce_model::keys::VerifierKey;

/// The derived state after some prefix of the log.
#[derive(Debug, Clone)]
pub struct State {
    keys: BTreeMap<String, KeyRecord>,
    agreements: BTreeMap<String, AgreementRecord>,
    observations: observations::Observations,
    /// Incidents over the observations (positions shared with `observations`).
    incidents: incidents::Incidents,
    /// Whether this state keeps what admission never consults (observations and their indexes);
    /// see [`State::for_admission`].
    derived: bool,
    size: u64,
    last_time_ms: i64,
}

impl State {
    /// The state of an empty log whose operator key is `operator` (set at `truce init`; it is
    /// accredited from the start, because someone has to accredit everybody else).
    pub fn new(operator: VerifierKey) -> State {
        let mut keys = BTreeMap::new();
        keys.insert(
            operator.signer_id(),
            KeyRecord::bootstrap(operator, vec![Role::Operator], "mission"),
        );
        State {
            keys,
            agreements: BTreeMap::new(),
            observations: observations::Observations::default(),
            incidents: incidents::Incidents::default(),
            derived: true,
            size: 0,
            last_time_ms: 0,
        }
    }

    /// A copy that admits exactly as this state does but keeps only what admission consults
    /// (keys and agreements), not the observations and their indexes. The server's sequencer
    /// admits each batch against such a copy before the batch is durable: the committed state
    /// that readers query is then the only one holding the observations, in memory once, and
    /// indexed once per entry.
    ///
    /// Invariant: `admit` on the copy returns what it returns on the full state. It holds as
    /// long as admission reads no observation; a rule that makes it read one must keep them here.
    pub fn for_admission(&self) -> State {
        State {
            keys: self.keys.clone(),
            agreements: self.agreements.clone(),
            observations: observations::Observations::default(),
            incidents: incidents::Incidents::default(),
            derived: false,
            size: self.size,
            last_time_ms: self.last_time_ms,
        }
    }

    /// Number of entries applied.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Log time of the last entry applied (ms since the epoch; 0 for an empty log).
    pub fn last_time_ms(&self) -> i64 {
        self.last_time_ms
    }

    /// The key accredited under `signer_id` (`name+keyid`), if any (revoked keys included).
    pub fn key(&self, signer_id: &str) -> Option<&KeyRecord> {
        self.keys.get(signer_id)
    }

    /// All keys ever accredited, by signer id.
    pub fn keys(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.values()
    }

    /// The agreement `id`.
    pub fn agreement(&self, id: &str) -> Option<&AgreementRecord> {
        self.agreements.get(id)
    }

    /// All agreements, by id.
    pub fn agreements(&self) -> impl Iterator<Item = &AgreementRecord> {
        self.agreements.values()
    }

    /// [`State::apply`] of a copy of `admitted`, copying nothing this state would drop (an
    /// admission-only state keeps no observations).
    pub fn apply_ref(&mut self, admitted: &Admitted, index: u64, time_ms: i64) {
        let derived_only = matches!(
            admitted.effect,
            Effect::Observe(_) | Effect::Decide(_) | Effect::Dispute(_)
        );
        if !self.derived && derived_only {
            self.advance(index, time_ms);
        } else {
            self.apply(admitted.clone(), index, time_ms);
        }
    }

    /// Moves past the entry at `index`, logged at `time_ms`.
    fn advance(&mut self, index: u64, time_ms: i64) {
        debug_assert_eq!(index, self.size, "entries are applied in log order");
        self.size = index + 1;
        self.last_time_ms = self.last_time_ms.max(time_ms);
    }

    /// Records an admitted entry logged at `index` with log time `time_ms`.
    pub fn apply(&mut self, admitted: Admitted, index: u64, time_ms: i64) {
        match admitted.effect {
            Effect::Accredit(record) => {
                let record = *record;
                let id = record.vkey.signer_id();
                match self.keys.get_mut(&id) {
                    Some(existing) => existing.reaccredit(record, index),
                    None => {
                        self.keys.insert(id, record.accredited_at(index));
                    }
                }
            }
            Effect::Revoke(signer_id) => {
                if let Some(k) = self.keys.get_mut(&signer_id) {
                    k.revoked_at = Some(index);
                }
            }
            Effect::Propose(version) => {
                let version = *version;
                let id = version.agreement.id.clone();
                self.agreements
                    .entry(id.clone())
                    .or_insert_with(|| AgreementRecord::new(id))
                    .versions
                    .push(version.logged(admitted.id.clone(), index, time_ms));
            }
            Effect::Consent {
                agreement,
                version,
                party,
            } => {
                if let Some(v) = self
                    .agreements
                    .get_mut(&agreement)
                    .and_then(|a| a.version_mut(version))
                {
                    v.record_consent(party, admitted.id.clone(), index, time_ms);
                }
            }
            Effect::Observe(record) => {
                if self.derived {
                    self.record_observation(*record, index, time_ms);
                }
            }
            Effect::Decide(d) => {
                if self.derived {
                    self.record_decision(*d, index, time_ms);
                }
            }
            Effect::Dispute(d) => {
                if self.derived {
                    self.record_dispute(*d, index, time_ms);
                }
            }
            Effect::Tick => {}
        }
        self.advance(index, time_ms);
    }
}

#[cfg(test)]
mod incident_tests;
#[cfg(test)]
mod observation_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
