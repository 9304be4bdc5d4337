//! What the state keeps of one logged observation.
//!
//! A record holds the handful of values incidents, violations, attribution and queries need, not
//! the payload: the payload stays in the log, where a reader that needs the full text finds it by
//! `index`. Repeated strings (signer, affiliation, agreement, alleged party) are `Arc<str>`, so
//! that the collection holding millions of records can share them (see
//! [`crate::observations`]).
//!
//! Records are plain data with no behaviour: admission ([`crate::observations`]) builds them, the
//! indexes ([`crate::observation_query`]) read them, and neither depends on the other through
//! this type.

use std::sync::Arc;

use truce_model::observation::{EventPoint, Weapon};
use truce_model::taxonomy::{EventType, Family, Target};

/// What the state keeps of one logged observation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ObservationRecord {
    /// The payload's `id`.
    pub id: Arc<str>,
    /// Log index of the entry.
    pub index: u64,
    /// Log time of the entry, ms since the epoch.
    pub time_ms: i64,
    /// The signer, `name+keyid`.
    pub signer: Arc<str>,
    /// The signer's affiliation at admission (an organisation or a party id).
    pub affiliation: Arc<str>,
    /// Signed by a key with the `party` role: a claim, never counted as monitoring evidence.
    pub claim: bool,
    /// The agreement it was reported under.
    pub agreement: Arc<str>,
    /// The version of that agreement in force at the log time.
    pub agreement_version: u32,
    /// Event type.
    pub event_type: EventType,
    /// Its family (clustering links only observations of one family).
    pub family: Family,
    /// Number of events.
    pub count: u32,
    /// Derived location and uncertainty (DESIGN §6).
    pub point: EventPoint,
    /// Observed window start, ms since the epoch.
    pub from_ms: i64,
    /// Observed window end, ms since the epoch.
    pub to_ms: i64,
    /// Weapon class and calibre (mm), if reported.
    pub weapon: Option<Weapon>,
    /// Targets, if reported.
    pub targets: Box<[Target]>,
    /// Bearing, seen from the event, from which fire came, if reported.
    pub origin_bearing_deg: Option<f64>,
    /// The party the observation accuses, if any (a claim, never attribution).
    pub alleged_party: Option<Arc<str>>,
}
