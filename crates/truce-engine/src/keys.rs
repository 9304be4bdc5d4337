//! The key registry: who is accredited, with which roles, from which log index on.
//!
//! An accreditation takes effect at its own log index; a revocation is permanent (a compromised
//! key must not come back by being accredited again — its holder generates a new one); an
//! accreditation with `valid_until` stops covering entries logged after that time.

use serde::Serialize;
use truce_model::entry::{Reliability, Role};
use truce_model::keys::VerifierKey;

/// An accredited key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRecord {
    pub vkey: VerifierKey,
    pub roles: Vec<Role>,
    pub affiliation: String,
    pub reliability: Reliability,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<jiff::Timestamp>,
    /// Log index of the accreditation now in force (`None` for the bootstrap operator key).
    pub accredited_at: Option<u64>,
    /// Log index of the revocation, if revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

impl KeyRecord {
    pub(crate) fn bootstrap(vkey: VerifierKey, roles: Vec<Role>, affiliation: &str) -> Self {
        KeyRecord {
            vkey,
            roles,
            affiliation: affiliation.to_string(),
            reliability: Reliability::A,
            valid_until: None,
            accredited_at: None,
            revoked_at: None,
        }
    }

    pub(crate) fn accredited_at(mut self, index: u64) -> Self {
        self.accredited_at = Some(index);
        self
    }

    pub(crate) fn reaccredit(&mut self, new: KeyRecord, index: u64) {
        self.roles = new.roles;
        self.affiliation = new.affiliation;
        self.reliability = new.reliability;
        self.valid_until = new.valid_until;
        self.accredited_at = Some(index);
    }

    /// Whether the key holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Why the key may not sign an entry logged at `time_ms`, if it may not.
    pub fn unusable_at(&self, time_ms: i64) -> Option<String> {
        if let Some(i) = self.revoked_at {
            return Some(format!(
                "key {} was revoked at log index {i}",
                self.vkey.signer_id()
            ));
        }
        if let Some(until) = self.valid_until
            && until.as_millisecond() < time_ms
        {
            return Some(format!(
                "the accreditation of key {} expired at {until}",
                self.vkey.signer_id()
            ));
        }
        None
    }
}
