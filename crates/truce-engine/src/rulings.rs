//! Decisions and disputes: who may rule on an incident, and what a ruling must name.
//!
//! - A `decision` is signed by a `verifier` key (403 otherwise). Its `incident` must be an
//!   incident id at log time: the id of a current incident, or an id that a merge absorbed
//!   (it still names the merged incident). Naming an observation that joined an incident is a 422
//!   that says which incident to name instead. A confirmed `attribution` must name a party of the
//!   incident's agreement (422 at `/attribution/party`).
//! - A `dispute` is signed by a `party` key whose accredited affiliation is a party of the
//!   incident's agreement (403 otherwise): a party replies to findings about its own ceasefire.
//!
//! Incident names only ever grow (an incident id stays a name after a merge), so an entry that is
//! admitted against some state is admitted again against any later state: this is what lets the
//! server's sequencer check names against the last committed state while it admits a batch
//! against an admission-only copy (see [`crate::State::admit_prepared_with`]), and replay still
//! admit every logged ruling.

use std::sync::Arc;

use truce_model::entry::{DecisionPayload, DisputePayload, FieldError, Role};

use crate::State;
use crate::admit::Effect;
use crate::incidents::{DecisionRecord, DisputeRecord, Incident};
use crate::keys::KeyRecord;
use std::borrow::Cow;

use crate::refusal::Refusal;

fn invalid(pointer: &str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid(vec![FieldError::new(pointer, message)])
}

impl State {
    /// The incident `name` refers to at this state's log time, or a 422 at `/incident` saying why
    /// it refers to none.
    fn named_incident(&self, name: &str) -> Result<Cow<'_, Incident>, Refusal> {
        let Some(position) = self.observations.position(name) else {
            return Err(invalid(
                "/incident",
                format!("no incident has the id {name:?} in this log"),
            ));
        };
        match self.incidents.named(position, &self.observations) {
            Some((_, incident)) => Ok(incident),
            None => {
                let root = self.incidents.root_of(position);
                let id = self.observations.id(root).unwrap_or(Cow::Borrowed("?"));
                Err(invalid(
                    "/incident",
                    format!(
                        "{name:?} is an observation in incident {id:?}, not an incident id; \
                         name the incident"
                    ),
                ))
            }
        }
    }

    /// The state-dependent checks of a decision; incident names are looked up in `names`.
    pub(crate) fn admit_decision(
        &self,
        id: &str,
        p: DecisionPayload,
        signer: &KeyRecord,
        names: &State,
    ) -> Result<Effect, Refusal> {
        if !signer.has_role(Role::Verifier) {
            return Err(Refusal::Forbidden(format!(
                "entries of kind decision must be signed by a verifier key; {} is not one",
                signer.vkey.signer_id()
            )));
        }
        let incident = names.named_incident(&p.incident)?;
        if let Some(party) = &p.attribution {
            let known = self
                .governing_agreement(&incident)
                .is_some_and(|a| a.party(party).is_some());
            if !known {
                return Err(invalid(
                    "/attribution/party",
                    format!(
                        "{party:?} is not a party to agreement {} version {}",
                        incident.agreement, incident.version
                    ),
                ));
            }
        }
        Ok(Effect::Decide(Box::new(DecisionRecord {
            id: Arc::from(id),
            index: self.size(),
            time_ms: 0,
            signer: Arc::from(signer.vkey.signer_id()),
            incident: Arc::from(p.incident),
            ruling: p.status,
            attribution: p.attribution.map(Arc::from),
            reason: Arc::from(p.reason),
        })))
    }

    /// The state-dependent checks of a dispute; incident names are looked up in `names`.
    pub(crate) fn admit_dispute(
        &self,
        id: &str,
        p: DisputePayload,
        signer: &KeyRecord,
        names: &State,
    ) -> Result<Effect, Refusal> {
        if !signer.has_role(Role::Party) {
            return Err(Refusal::Forbidden(format!(
                "entries of kind dispute must be signed by a party key; {} is not one",
                signer.vkey.signer_id()
            )));
        }
        let incident = names.named_incident(&p.incident)?;
        let is_party = self
            .governing_agreement(&incident)
            .is_some_and(|a| a.party(&signer.affiliation).is_some());
        if !is_party {
            return Err(Refusal::Forbidden(format!(
                "key {} is accredited for {:?}, which is not a party to agreement {}: only its \
                 parties may dispute its incidents",
                signer.vkey.signer_id(),
                signer.affiliation,
                incident.agreement
            )));
        }
        Ok(Effect::Dispute(Box::new(DisputeRecord {
            id: Arc::from(id),
            index: self.size(),
            time_ms: 0,
            signer: Arc::from(signer.vkey.signer_id()),
            party: Arc::from(signer.affiliation.as_str()),
            incident: Arc::from(p.incident),
            reason: Arc::from(p.reason),
        })))
    }

    /// The incident `name` refers to, for filing a ruling (by then it may have merged).
    pub(crate) fn incident_named_mut(&mut self, name: &str) -> Option<&mut Incident> {
        let position = self.observations.position(name)?;
        self.incidents.named_mut(position, &self.observations)
    }

    /// Files an admitted decision with the incident it names.
    pub(crate) fn record_decision(&mut self, mut d: DecisionRecord, index: u64, time_ms: i64) {
        (d.index, d.time_ms) = (index, time_ms);
        if let Some(incident) = self.incident_named_mut(&d.incident) {
            incident.decisions.push(d);
        }
    }

    /// Files an admitted dispute with the incident it names.
    pub(crate) fn record_dispute(&mut self, mut d: DisputeRecord, index: u64, time_ms: i64) {
        (d.index, d.time_ms) = (index, time_ms);
        if let Some(incident) = self.incident_named_mut(&d.incident) {
            incident.disputes.push(d);
        }
    }
}
