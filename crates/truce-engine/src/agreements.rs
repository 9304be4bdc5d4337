//! Agreements, their versions and consents, and the consent rule.
//!
//! A version enters into force at `entry_into_force.at` or when the last required consent is
//! logged, whichever is later — and never without every party in its `consent` list. A newer
//! version supersedes the older ones once it has all of its own required consents (DESIGN §4).
//! Times are log times: status is evaluated at the log time of the latest entry, so the same log
//! always yields the same status.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use truce_model::agreement::Agreement;

/// A version as admitted, before it has a place in the log.
#[derive(Debug, Clone)]
pub struct ProposedVersion {
    pub version: u32,
    /// sha256 hex of the document text: what parties consent to.
    pub sha256: String,
    pub document: String,
    pub blobs: BTreeMap<String, String>,
    pub agreement: Arc<Agreement>,
}

/// A logged consent.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentRecord {
    pub entry: String,
    pub index: u64,
    pub time_ms: i64,
}

/// A logged version of an agreement.
#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub version: u32,
    pub sha256: String,
    pub document: String,
    pub blobs: BTreeMap<String, String>,
    pub agreement: Arc<Agreement>,
    pub entry: String,
    pub index: u64,
    pub time_ms: i64,
    /// First consent of each party, by party id.
    pub consents: BTreeMap<String, ConsentRecord>,
}

impl ProposedVersion {
    pub(crate) fn logged(self, entry: String, index: u64, time_ms: i64) -> VersionRecord {
        VersionRecord {
            version: self.version,
            sha256: self.sha256,
            document: self.document,
            blobs: self.blobs,
            agreement: self.agreement,
            entry,
            index,
            time_ms,
            consents: BTreeMap::new(),
        }
    }
}

impl VersionRecord {
    pub(crate) fn record_consent(&mut self, party: String, entry: String, index: u64, time: i64) {
        // A party consenting twice changes nothing: the first consent counts.
        self.consents.entry(party).or_insert(ConsentRecord {
            entry,
            index,
            time_ms: time,
        });
    }

    /// Required parties that have not consented, in the document's order.
    pub fn missing(&self) -> Vec<String> {
        self.agreement
            .required_consents()
            .iter()
            .filter(|p| !self.consents.contains_key(*p))
            .cloned()
            .collect()
    }

    /// Log time of the last required consent, once all are logged.
    pub fn consents_complete_ms(&self) -> Option<i64> {
        let mut last = i64::MIN;
        for p in self.agreement.required_consents() {
            last = last.max(self.consents.get(p)?.time_ms);
        }
        Some(last)
    }

    /// When the version enters into force: the later of `entry_into_force.at` and the last
    /// required consent; `None` while consents are missing.
    pub fn in_force_from_ms(&self) -> Option<i64> {
        let at = self.agreement.entry_into_force.at.as_millisecond();
        self.consents_complete_ms().map(|c| c.max(at))
    }
}

/// An agreement id and all its versions, oldest first.
#[derive(Debug, Clone)]
pub struct AgreementRecord {
    pub id: String,
    pub versions: Vec<VersionRecord>,
}

/// Status of an agreement version (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgreementStatus {
    Proposed,
    InForce,
    Superseded,
}

impl AgreementStatus {
    /// The contract's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementStatus::Proposed => "proposed",
            AgreementStatus::InForce => "in-force",
            AgreementStatus::Superseded => "superseded",
        }
    }
}

/// RFC 3339 text of a log time.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

impl AgreementRecord {
    pub(crate) fn new(id: String) -> Self {
        AgreementRecord {
            id,
            versions: Vec::new(),
        }
    }

    /// The highest version logged (0 if none).
    pub fn latest_version(&self) -> u32 {
        self.versions.last().map_or(0, |v| v.version)
    }

    /// Version `n`.
    pub fn version(&self, n: u32) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.version == n)
    }

    pub(crate) fn version_mut(&mut self, n: u32) -> Option<&mut VersionRecord> {
        self.versions.iter_mut().find(|v| v.version == n)
    }

    /// The status of version `v` at log time `now_ms`.
    pub fn status(&self, v: &VersionRecord, now_ms: i64) -> AgreementStatus {
        let superseded = self
            .versions
            .iter()
            .any(|w| w.version > v.version && w.consents_complete_ms().is_some());
        if superseded {
            AgreementStatus::Superseded
        } else if v.in_force_from_ms().is_some_and(|t| t <= now_ms) {
            AgreementStatus::InForce
        } else {
            AgreementStatus::Proposed
        }
    }

    /// The version that governs now: the newest in force, else the newest.
    pub fn current(&self, now_ms: i64) -> Option<&VersionRecord> {
        self.versions
            .iter()
            .rev()
            .find(|v| self.status(v, now_ms) == AgreementStatus::InForce)
            .or(self.versions.last())
    }
}
