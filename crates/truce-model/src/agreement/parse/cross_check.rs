//! Phase 2 of the walk: cross-references, on the parts of the document that survived phase 1.
//!
//! Each step checks one part of the document against the others — parties, the consent list,
//! zones, rules, the escalation ladder, milestones, and last the consent rule — and reports in the
//! order a delegation reads the document. Only fields that phase 1 accepted are looked at, so one
//! mistake is reported once (a malformed party id is not also an unknown party everywhere it is
//! used).

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;

use super::super::document::{Due, PartyRole};
use super::super::geometry::{self, is_line, is_polygon};
use super::{At, Cx, NOTIFY_GROUPS, Raw, RawZone};

/// The ids of the parties, to resolve references against.
type Parties<'r> = BTreeSet<&'r str>;

impl Cx {
    pub(super) fn cross_check(&mut self, raw: &Raw) {
        let parties = self.parties(raw);
        self.consent_list(raw, &parties);
        let zones = self.zones(raw, &parties);
        self.rules(raw, &zones);
        let levels = self.escalation(raw, &parties);
        self.milestones(raw, &parties, &levels);
        self.consent_rule(raw, &parties);
    }

    /// At least two parties, unique ids that are not notify groups, one key per party; returns
    /// the ids.
    fn parties<'r>(&mut self, raw: &'r Raw) -> Parties<'r> {
        if let Some((line, n)) = raw.parties_at
            && n < 2
        {
            self.push(
                line,
                "parties",
                format!("an agreement needs at least two parties, found {n}"),
            );
        }
        self.unique(raw.parties.iter().filter_map(|p| p.id.as_ref()), "party");
        for id in raw.parties.iter().filter_map(|p| p.id.as_ref()) {
            if NOTIFY_GROUPS.contains(&id.v.as_str()) {
                self.push(
                    id.line,
                    &id.field,
                    format!(
                        "`{}` is reserved: escalation `notify` uses it for a group",
                        id.v
                    ),
                );
            }
        }
        let mut keys: BTreeMap<[u8; 32], &str> = BTreeMap::new();
        for p in &raw.parties {
            let (Some(key), Some(id)) = (&p.key, &p.id) else {
                continue;
            };
            if let Some(other) = keys.get(&key.v.public_key()) {
                self.push(
                    key.line,
                    &key.field,
                    format!("the same key is already used by party `{other}`"),
                );
            } else {
                keys.insert(key.v.public_key(), &id.v);
            }
        }
        raw.parties
            .iter()
            .filter_map(|p| Some(p.id.as_ref()?.v.as_str()))
            .collect()
    }

    /// A reference to a party that must exist.
    fn party_ref(&mut self, parties: &Parties<'_>, r: &At<String>) {
        if !parties.contains(r.v.as_str()) {
            self.push(
                r.line,
                &r.field,
                format!("unknown party `{}`", r.v.escape_debug()),
            );
        }
    }

    /// `entry_into_force.consent`: known parties, each once.
    fn consent_list(&mut self, raw: &Raw, parties: &Parties<'_>) {
        if let Some(consent) = raw.eif.as_ref().and_then(|e| e.consent.as_ref()) {
            for c in &consent.v {
                self.party_ref(parties, c);
            }
            self.no_duplicates(&consent.v);
        }
    }

    /// Unique ids, and each zone's shape, control and buffer; returns the zones by id.
    fn zones<'r>(&mut self, raw: &'r Raw, parties: &Parties<'_>) -> BTreeMap<&'r str, &'r RawZone> {
        self.unique(raw.zones.iter().filter_map(|z| z.id.as_ref()), "zone");
        let zones: BTreeMap<&str, &RawZone> = raw
            .zones
            .iter()
            .filter_map(|z| Some((z.id.as_ref()?.v.as_str(), z)))
            .collect();
        for z in &raw.zones {
            self.zone_shape(z);
            self.zone_control(z, parties);
            self.zone_buffer(z, &zones);
        }
        zones
    }

    /// A zone is drawn by exactly one of `geometry` and `buffer`.
    fn zone_shape(&mut self, z: &RawZone) {
        match (z.has_geometry, z.has_buffer) {
            (true, true) => self.push(
                z.line,
                &z.field,
                "a zone has either `geometry` or `buffer`, not both",
            ),
            (false, false) => self.push(
                z.line,
                &z.field,
                "a zone needs `geometry` (a GeoJSON file) or `buffer` (`{ of, km }`)",
            ),
            _ => {}
        }
    }

    /// `controlled_by`: a known party, controlling a polygon zone.
    fn zone_control(&mut self, z: &RawZone, parties: &Parties<'_>) {
        let Some(c) = &z.controlled_by else { return };
        self.party_ref(parties, c);
        match (&z.geometry, &z.buffer) {
            (Some((path, Some(g))), _) if !is_polygon(g) => self.push(
                path.line,
                &path.field,
                format!(
                    "{}: a zone with `controlled_by` must be a Polygon or MultiPolygon, found {}",
                    path.v,
                    geometry::type_name(g)
                ),
            ),
            (None, Some(_)) => self.push(
                c.line,
                &c.field,
                "only polygon zones can be controlled by a party, not buffer zones",
            ),
            _ => {}
        }
    }

    /// `buffer.of`: a known zone, which is a line.
    fn zone_buffer(&mut self, z: &RawZone, zones: &BTreeMap<&str, &RawZone>) {
        let Some(of) = z.buffer.as_ref().and_then(|b| b.of.as_ref()) else {
            return;
        };
        match zones.get(of.v.as_str()) {
            None => self.push(
                of.line,
                &of.field,
                format!("unknown zone `{}`", of.v.escape_debug()),
            ),
            Some(target) => match &target.geometry {
                Some((_, Some(g))) if !is_line(g) => self.push(
                    of.line,
                    &of.field,
                    format!(
                        "zone `{}` is a {}; a buffer is drawn around a LineString or \
                         MultiLineString zone",
                        of.v,
                        geometry::type_name(g)
                    ),
                ),
                None if target.buffer.is_some() => self.push(
                    of.line,
                    &of.field,
                    format!(
                        "zone `{}` is a buffer zone; a buffer is drawn around a line zone",
                        of.v
                    ),
                ),
                _ => {}
            },
        }
    }

    /// Unique ids; each rule's zone exists and has an area (or is `*`).
    fn rules(&mut self, raw: &Raw, zones: &BTreeMap<&str, &RawZone>) {
        self.unique(raw.rules.iter().filter_map(|r| r.id.as_ref()), "rule");
        for r in &raw.rules {
            let Some(zone) = &r.zone else { continue };
            if zone.v == "*" {
                continue;
            }
            match zones.get(zone.v.as_str()) {
                None => self.push(
                    zone.line,
                    &zone.field,
                    format!(
                        "unknown zone `{}` (use \"*\" for anywhere)",
                        zone.v.escape_debug()
                    ),
                ),
                Some(z) => {
                    if let Some((_, Some(g))) = &z.geometry
                        && is_line(g)
                    {
                        self.push(
                            zone.line,
                            &zone.field,
                            format!(
                                "zone `{}` is a line and has no area; use a buffer zone around it",
                                zone.v
                            ),
                        );
                    }
                }
            }
        }
    }

    /// The ladder: levels numbered 1 to n, each once; notices reach someone who exists. Returns
    /// the levels defined, with the line of each.
    fn escalation(&mut self, raw: &Raw, parties: &Parties<'_>) -> BTreeMap<u32, usize> {
        let n = raw.escalation.len();
        let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
        for l in raw.escalation.iter().filter_map(|l| l.level.as_ref()) {
            if let Some(first) = seen.get(&l.v) {
                self.push(
                    l.line,
                    &l.field,
                    format!(
                        "escalation level {} is defined twice (first on line {first})",
                        l.v
                    ),
                );
            } else {
                seen.insert(l.v, l.line);
                if u64::from(l.v) > n as u64 {
                    self.push(
                        l.line,
                        &l.field,
                        format!(
                            "levels are numbered 1 to {n} (the number of levels), without gaps; \
                             found {}",
                            l.v
                        ),
                    );
                }
            }
        }
        self.notify_lists(raw, parties);
        seen
    }

    /// Each level's `notify`: "parties", "guarantors" (if any party is one) or party ids, once.
    fn notify_lists(&mut self, raw: &Raw, parties: &Parties<'_>) {
        let has_guarantor = raw
            .parties
            .iter()
            .any(|p| p.role.as_ref().is_some_and(|r| r.v == PartyRole::Guarantor));
        for l in &raw.escalation {
            let Some(notify) = &l.notify else { continue };
            for r in &notify.v {
                match r.v.as_str() {
                    "parties" => {}
                    "guarantors" if has_guarantor => {}
                    "guarantors" => self.push(
                        r.line,
                        &r.field,
                        "no party has the role `guarantor`: this notice would reach nobody",
                    ),
                    id if parties.contains(id) => {}
                    other => self.push(
                        r.line,
                        &r.field,
                        format!(
                            "unknown recipient `{}`: use \"parties\", \"guarantors\" or a party id",
                            other.escape_debug()
                        ),
                    ),
                }
            }
            self.no_duplicates(&notify.v);
        }
    }

    /// Unique ids; responsible parties exist, each once; a missed milestone escalates to a level
    /// that exists; due dates are not before entry into force.
    fn milestones(&mut self, raw: &Raw, parties: &Parties<'_>, levels: &BTreeMap<u32, usize>) {
        self.unique(
            raw.milestones.iter().filter_map(|m| m.id.as_ref()),
            "milestone",
        );
        let at = raw.eif.as_ref().and_then(|e| e.at.as_ref());
        for m in &raw.milestones {
            if let Some(responsible) = &m.responsible {
                for r in &responsible.v {
                    self.party_ref(parties, r);
                }
                self.no_duplicates(&responsible.v);
            }
            if let Some(Some(escalate)) = &m.on_missed
                && !levels.contains_key(&escalate.v)
            {
                self.push(
                    escalate.line,
                    &escalate.field,
                    format!("no escalation level {} is defined", escalate.v),
                );
            }
            if let (Some(due), Some(at)) = (&m.due, at) {
                match due.v {
                    Due::At(t) if t < at.v => self.push(
                        due.line,
                        &due.field,
                        format!("due {t} is before entry into force ({})", at.v),
                    ),
                    Due::DaysAfterEntry(d)
                        if at
                            .v
                            .checked_add(SignedDuration::from_hours(i64::from(d) * 24))
                            .is_err() =>
                    {
                        self.push(due.line, &due.field, format!("D+{d} is out of range"));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every party the agreement binds must be in `entry_into_force.consent`.
    fn consent_rule(&mut self, raw: &Raw, parties: &Parties<'_>) {
        let Some(consent) = raw.eif.as_ref().and_then(|e| e.consent.as_ref()) else {
            return;
        };
        let given: BTreeSet<&str> = consent.v.iter().map(|c| c.v.as_str()).collect();
        let reasons = binding_reasons(raw);
        let order = raw.parties.iter().filter_map(|p| p.id.as_ref());
        let mut reported = BTreeSet::new();
        for id in order {
            let party = id.v.as_str();
            if given.contains(party) || !parties.contains(party) || !reported.insert(party) {
                continue;
            }
            if let Some(why) = reasons.get(party) {
                let why = match why.as_slice() {
                    [one] => one.clone(),
                    [init @ .., last] => format!("{} and {last}", init.join(", ")),
                    [] => continue,
                };
                self.push(
                    consent.line,
                    &consent.field,
                    format!(
                        "the agreement binds {party} but does not require {party}'s consent \
                         ({party} {why})"
                    ),
                );
            }
        }
    }

    /// Reports each id that was already defined earlier.
    fn unique<'a>(&mut self, ids: impl Iterator<Item = &'a At<String>>, what: &str) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for id in ids {
            if let Some(first) = seen.get(id.v.as_str()) {
                self.push(
                    id.line,
                    &id.field,
                    format!(
                        "duplicate {what} id `{}` (first defined on line {first})",
                        id.v
                    ),
                );
            } else {
                seen.insert(&id.v, id.line);
            }
        }
    }

    fn no_duplicates(&mut self, list: &[At<String>]) {
        for (i, item) in list.iter().enumerate() {
            if list[..i].iter().any(|o| o.v == item.v) {
                self.push(
                    item.line,
                    &item.field,
                    format!("`{}` is listed twice", item.v.escape_debug()),
                );
            }
        }
    }
}

/// Why the agreement binds each party: party id → reasons (a belligerent, controls a zone, is
/// responsible for a milestone), in document order.
fn binding_reasons(raw: &Raw) -> BTreeMap<&str, Vec<String>> {
    let mut reasons: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &raw.parties {
        if let (Some(id), Some(role)) = (&p.id, &p.role)
            && role.v == PartyRole::Belligerent
        {
            reasons
                .entry(id.v.as_str())
                .or_default()
                .push("is a belligerent".to_owned());
        }
    }
    for z in &raw.zones {
        if let (Some(c), Some(id)) = (&z.controlled_by, &z.id) {
            reasons
                .entry(c.v.as_str())
                .or_default()
                .push(format!("controls zone `{}`", id.v));
        }
    }
    for m in &raw.milestones {
        if let (Some(resp), Some(id)) = (&m.responsible, &m.id) {
            for r in &resp.v {
                reasons
                    .entry(r.v.as_str())
                    .or_default()
                    .push(format!("is responsible for milestone `{}`", id.v));
            }
        }
    }
    reasons
}
