//! Admission: may this envelope be logged, and what will it change?
//!
//! Checks run in the order of the HTTP contract's status codes, so that a client learns the most
//! basic problem first: the envelope's shape (400), who signed it (401), whether that signer may
//! submit this kind (403), and then every problem with the payload at once (422). Nothing here
//! mutates the state; [`crate::State::apply`] does, once the entry is durably logged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use truce_model::agreement::{self, Resolver, ZoneKind};
use truce_model::dsse::Envelope;
use truce_model::entry::{
    AgreementPayload, ConsentPayload, FieldError, KeyPayload, Kind, Payload, Role,
};
use truce_model::keys::{self, VerifierKey};

use crate::State;
use crate::agreements::ProposedVersion;
use crate::incidents::{DecisionRecord, DisputeRecord};
use crate::keys::KeyRecord;
use crate::observation_record::ObservationRecord;
use crate::observations;
use crate::refusal::{Refusal, invalid};

/// An entry that passed admission, with what it will change.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The payload's `id`.
    pub id: String,
    pub kind: Kind,
    /// The first signature's key, `name+keyid`: the entry's author.
    pub signer: String,
    pub effect: Effect,
}

/// What an admitted entry changes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Effect {
    Accredit(Box<KeyRecord>),
    Revoke(String),
    Propose(Box<ProposedVersion>),
    Consent {
        agreement: String,
        version: u32,
        party: String,
    },
    /// Record an observation (index and log time are set when it is applied).
    Observe(Box<ObservationRecord>),
    /// File a verifier's decision with the incident it names.
    Decide(Box<DecisionRecord>),
    /// File a party's dispute with the incident it names.
    Dispute(Box<DisputeRecord>),
    Tick,
}

/// An envelope with everything that does not depend on the log's state already checked and
/// decoded: its kind, its payload object and `id`, the typed payload (or why it is invalid), and
/// optionally which signatures have been verified.
///
/// Preparing is the expensive, parallel part of admission (JSON, base64, signatures); the
/// sequencer then only runs the cheap, state-dependent checks in [`State::admit_prepared`].
#[derive(Debug, Clone)]
pub struct Prepared {
    envelope: Envelope,
    id: String,
    kind: Kind,
    payload: Result<Payload, Vec<FieldError>>,
    /// Signatures already verified: (keyid, the key they verified under).
    verified: Vec<(String, VerifierKey)>,
}

impl Prepared {
    /// Decodes `envelope`: 400 for an unknown kind, 422 for a payload without a valid `id`.
    pub fn new(envelope: Envelope) -> Result<Prepared, Refusal> {
        let kind_name = envelope.kind()?;
        let Some(kind) = Kind::from_name(kind_name) else {
            return Err(Refusal::Malformed {
                pointer: "/payloadType".into(),
                message: format!("unknown entry kind {kind_name:?}"),
            });
        };
        let (id, obj) = envelope.payload_object()?;
        let payload = Payload::parse(kind, &obj);
        Ok(Prepared {
            envelope,
            id,
            kind,
            payload,
            verified: Vec::new(),
        })
    }

    /// The payload's `id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The entry kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The incident a `decision` or `dispute` names (if its payload is valid).
    pub fn incident_named(&self) -> Option<&str> {
        match &self.payload {
            Ok(Payload::Decision(d)) => Some(&d.incident),
            Ok(Payload::Dispute(d)) => Some(&d.incident),
            _ => None,
        }
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The keyids whose signatures [`Prepared::preverify`] verified.
    pub fn verified_keyids(&self) -> impl Iterator<Item = &str> {
        self.verified.iter().map(|(id, _)| id.as_str())
    }

    /// Verifies the signatures made by `keys` (from [`State::signature_keys`]), so that
    /// admission need not: a later admission skips a signature only if its keyid still names
    /// the very same key. Signatures that do not verify are left for admission to refuse.
    pub fn preverify(&mut self, keys: &[(String, VerifierKey)]) {
        let msg = self.envelope.pae();
        for sig in self.envelope.signatures() {
            if let Some((id, vkey)) = keys.iter().find(|(id, _)| *id == sig.keyid)
                && vkey.verify(&msg, &sig.sig).is_ok()
            {
                self.verified.push((id.clone(), vkey.clone()));
            }
        }
    }
}

/// The keys a state knew at some point, by keyid ([`State::keyring`]): a snapshot to verify
/// signatures with, away from the state. Verifying with an old snapshot is always safe: a
/// signature it verified is skipped by admission only if its keyid still names the very same key
/// ([`State::admit_prepared`]), and any other is verified there.
#[derive(Debug, Clone, Default)]
pub struct Keyring(BTreeMap<String, VerifierKey>);

impl Keyring {
    /// [`Prepared::preverify`] for many envelopes at once, with one batch verification
    /// ([`truce_model::keys::verify_batch`]) of all their signatures by keys of this keyring:
    /// what replay runs on each thread's share of a chunk. As with `preverify`, a signature that
    /// fails is only left unverified, for admission to verify strictly and refuse.
    pub fn preverify_batch<'p>(&self, batch: impl IntoIterator<Item = &'p mut Prepared>) {
        let mut batch: Vec<&mut Prepared> = batch.into_iter().collect();
        let messages: Vec<Vec<u8>> = batch.iter().map(|p| p.envelope.pae()).collect();
        // (envelope, signature) pairs whose keyid this keyring knows, with that key.
        let mut known: Vec<(usize, usize, &VerifierKey)> = Vec::new();
        for (i, p) in batch.iter().enumerate() {
            for (j, sig) in p.envelope.signatures().iter().enumerate() {
                if let Some(vkey) = self.0.get(&sig.keyid) {
                    known.push((i, j, vkey));
                }
            }
        }
        let items: Vec<(&[u8], &[u8], &VerifierKey)> = known
            .iter()
            .map(|&(i, j, vkey)| {
                let sig = &batch[i].envelope.signatures()[j].sig;
                (messages[i].as_slice(), sig.as_slice(), vkey)
            })
            .collect();
        let verdicts = keys::verify_batch(&items);
        drop(items);
        for ((i, j, vkey), ok) in known.into_iter().zip(verdicts) {
            if ok {
                let keyid = batch[i].envelope.signatures()[j].keyid.clone();
                batch[i].verified.push((keyid, vkey.clone()));
            }
        }
    }
}

impl State {
    /// Decides whether `env`, to be logged at log time `time_ms`, may be logged. `resolver`
    /// supplies the files an agreement document references (the server reads them from its blob
    /// store; replay does the same).
    pub fn admit(
        &self,
        env: &Envelope,
        time_ms: i64,
        resolver: &dyn Resolver,
    ) -> Result<Admitted, Refusal> {
        self.admit_prepared(&Prepared::new(env.clone())?, time_ms, resolver)
    }

    /// The keys this state knows for the signatures of `env`, to verify them outside the
    /// sequencer with [`Prepared::preverify`].
    pub fn signature_keys(&self, env: &Envelope) -> Vec<(String, VerifierKey)> {
        env.signatures()
            .iter()
            .filter_map(|sig| {
                self.keys
                    .get(&sig.keyid)
                    .map(|k| (sig.keyid.clone(), k.vkey.clone()))
            })
            .collect()
    }

    /// The keys this state knows, to verify signatures away from it ([`Keyring::preverify_batch`]),
    /// e.g. on other threads while the state moves on.
    pub fn keyring(&self) -> Keyring {
        Keyring(
            self.keys
                .iter()
                .map(|(id, k)| (id.clone(), k.vkey.clone()))
                .collect(),
        )
    }

    /// [`State::admit`] for a prepared envelope.
    pub fn admit_prepared(
        &self,
        p: &Prepared,
        time_ms: i64,
        resolver: &dyn Resolver,
    ) -> Result<Admitted, Refusal> {
        self.admit_prepared_with(p, time_ms, resolver, self)
    }

    /// [`State::admit_prepared`], looking up the incidents that decisions and disputes name in
    /// `names` instead of `self`. The server's sequencer admits against an admission-only copy
    /// (see [`State::for_admission`]), which keeps no incidents, and passes the last committed
    /// state here. Incident names only grow, so whatever this admits, replay (with `names` the
    /// state itself, which is never behind) admits too.
    pub fn admit_prepared_with(
        &self,
        p: &Prepared,
        time_ms: i64,
        resolver: &dyn Resolver,
        names: &State,
    ) -> Result<Admitted, Refusal> {
        let kind = p.kind;
        let signer = self.authenticate(&p.envelope, time_ms, &p.verified)?;

        if matches!(kind, Kind::Key | Kind::Agreement | Kind::Tick)
            && !signer.has_role(Role::Operator)
        {
            return Err(Refusal::Forbidden(format!(
                "entries of kind {kind} must be signed by an operator key; {} has roles [{}]",
                signer.vkey.signer_id(),
                roles_list(&signer.roles)
            )));
        }
        if kind == Kind::Observation {
            observations::authorize(signer)?;
        }
        // Borrowed, not cloned: an observation's payload (the bulk of a log) is only read here.
        let payload = p
            .payload
            .as_ref()
            .map_err(|e| Refusal::Invalid(e.clone()))?;
        let effect = match payload {
            Payload::Key(k) => self.admit_key(k.clone(), time_ms)?,
            Payload::Agreement(a) => self.admit_agreement(a.clone(), resolver)?,
            Payload::Consent(c) => self.admit_consent(c.clone(), signer)?,
            Payload::Observation(o) => {
                Effect::Observe(Box::new(self.admit_observation(&p.id, o, signer, time_ms)?))
            }
            Payload::Decision(d) => self.admit_decision(&p.id, d.clone(), signer, names)?,
            Payload::Dispute(d) => self.admit_dispute(&p.id, d.clone(), signer, names)?,
            // Time passes in the log with the tick's log time; the tick itself changes nothing.
            Payload::Tick(_) => Effect::Tick,
            _ => {
                return Err(invalid(
                    "",
                    format!("entries of kind {kind} are not accepted"),
                ));
            }
        };
        Ok(Admitted {
            id: p.id.clone(),
            kind,
            signer: signer.vkey.signer_id(),
            effect,
        })
    }

    /// Every signature must be by a key accredited and usable at `time_ms`, and must verify
    /// strictly (unless `verified` says it did, under the very same key). Returns the first
    /// signer, the entry's author.
    fn authenticate(
        &self,
        env: &Envelope,
        time_ms: i64,
        verified: &[(String, VerifierKey)],
    ) -> Result<&KeyRecord, Refusal> {
        let mut msg = None;
        let mut seen = BTreeSet::new();
        let mut first = None;
        for (i, sig) in env.signatures().iter().enumerate() {
            if !seen.insert(sig.keyid.as_str()) {
                return Err(Refusal::Malformed {
                    pointer: format!("/signatures/{i}/keyid"),
                    message: format!("{} signs twice", sig.keyid),
                });
            }
            let Some(key) = self.keys.get(&sig.keyid) else {
                return Err(Refusal::Unauthenticated(format!(
                    "signature {i}: key {:?} is not accredited in this log",
                    sig.keyid
                )));
            };
            if let Some(why) = key.unusable_at(time_ms) {
                return Err(Refusal::Unauthenticated(format!("signature {i}: {why}")));
            }
            let already = verified
                .iter()
                .any(|(id, vkey)| *id == sig.keyid && *vkey == key.vkey);
            if !already {
                let msg = msg.get_or_insert_with(|| env.pae());
                if key.vkey.verify(msg, &sig.sig).is_err() {
                    return Err(Refusal::Unauthenticated(format!(
                        "signature {i} by {} does not verify over the envelope's payload",
                        sig.keyid
                    )));
                }
            }
            first.get_or_insert(key);
        }
        first.ok_or_else(|| Refusal::Malformed {
            pointer: "/signatures".into(),
            message: "at least one signature is required".into(),
        })
    }

    fn admit_key(&self, p: KeyPayload, time_ms: i64) -> Result<Effect, Refusal> {
        let vkey = match &p {
            KeyPayload::Accredit { vkey, .. } | KeyPayload::Revoke { vkey } => vkey,
        };
        let signer_id = vkey.signer_id();
        let existing = self.keys.get(&signer_id);
        if let Some(e) = existing {
            if e.vkey != *vkey {
                return Err(invalid(
                    "/vkey",
                    format!("a different key named {signer_id} is already accredited"),
                ));
            }
            if e.accredited_at.is_none() {
                return Err(invalid(
                    "/vkey",
                    "the log's own operator key is set by `truce init` and cannot be changed by entries",
                ));
            }
            if let Some(i) = e.revoked_at {
                return Err(invalid(
                    "/vkey",
                    format!(
                        "{signer_id} was revoked at log index {i}; revocation is permanent, generate a new key"
                    ),
                ));
            }
        }
        match p {
            KeyPayload::Revoke { .. } => match existing {
                None => Err(invalid(
                    "/vkey",
                    format!("{signer_id} is not accredited in this log"),
                )),
                Some(_) => Ok(Effect::Revoke(signer_id)),
            },
            KeyPayload::Accredit {
                vkey,
                roles,
                affiliation,
                reliability,
                valid_until,
            } => {
                if let Some(t) = valid_until
                    && t.as_millisecond() <= time_ms
                {
                    return Err(invalid("/valid_until", format!("{t} has already passed")));
                }
                Ok(Effect::Accredit(Box::new(KeyRecord {
                    vkey,
                    roles,
                    affiliation,
                    reliability,
                    valid_until,
                    accredited_at: None,
                    revoked_at: None,
                })))
            }
        }
    }

    fn admit_agreement(
        &self,
        p: AgreementPayload,
        resolver: &dyn Resolver,
    ) -> Result<Effect, Refusal> {
        let mut errors = Vec::new();
        let expected = self
            .agreements
            .get(&p.agreement)
            .map_or(1, |a| a.latest_version() + 1);
        if p.version != expected {
            errors.push(FieldError::new(
                "/version",
                format!(
                    "agreement {} is at version {}; the next version must be {expected}",
                    p.agreement,
                    expected - 1
                ),
            ));
        }
        let file = format!("{}.v{}.toml", p.agreement, p.version);
        match agreement::check(&file, &p.document, resolver) {
            Err(problems) => errors.extend(
                problems
                    .into_iter()
                    .map(|pr| FieldError::new("/document", pr.to_string())),
            ),
            Ok(doc) => {
                if doc.id != p.agreement {
                    errors.push(FieldError::new(
                        "/agreement",
                        format!(
                            "{:?} differs from the document's id {:?}",
                            p.agreement, doc.id
                        ),
                    ));
                }
                let referenced: BTreeSet<&str> = doc
                    .zones
                    .iter()
                    .filter_map(|z| match &z.kind {
                        ZoneKind::Geometry { path, .. } => Some(path.as_str()),
                        _ => None,
                    })
                    .collect();
                for path in p.blobs.keys() {
                    if !referenced.contains(path.as_str()) {
                        errors.push(FieldError::new(
                            format!("/blobs/{}", truce_model::json::escape_pointer(path)),
                            "the document does not reference this file",
                        ));
                    }
                }
                if errors.is_empty() {
                    let sha256 = hex::encode(Sha256::digest(p.document.as_bytes()));
                    return Ok(Effect::Propose(Box::new(ProposedVersion {
                        version: p.version,
                        sha256,
                        document: p.document,
                        blobs: p.blobs,
                        agreement: Arc::new(doc),
                    })));
                }
            }
        }
        Err(Refusal::Invalid(errors))
    }

    fn admit_consent(&self, p: ConsentPayload, signer: &KeyRecord) -> Result<Effect, Refusal> {
        let Some(a) = self.agreements.get(&p.agreement) else {
            return Err(invalid(
                "/agreement",
                format!(
                    "no agreement {:?} has been proposed in this log",
                    p.agreement
                ),
            ));
        };
        let Some(v) = a.version(p.version) else {
            return Err(invalid(
                "/version",
                format!(
                    "agreement {} has no version {} (latest is {})",
                    p.agreement,
                    p.version,
                    a.latest_version()
                ),
            ));
        };
        let Some(party) = v
            .agreement
            .parties
            .iter()
            .find(|party| party.key == signer.vkey)
        else {
            return Err(Refusal::Forbidden(format!(
                "key {} is not the key of any party to agreement {} version {}",
                signer.vkey.signer_id(),
                p.agreement,
                p.version
            )));
        };
        if p.sha256 != v.sha256 {
            return Err(invalid(
                "/sha256",
                format!(
                    "does not match the text of agreement {} version {} (sha256 {})",
                    p.agreement, p.version, v.sha256
                ),
            ));
        }
        Ok(Effect::Consent {
            agreement: p.agreement,
            version: p.version,
            party: party.id.clone(),
        })
    }
}

fn roles_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
