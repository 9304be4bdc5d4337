use super::*;

const P: LinkParams = LinkParams {
    cluster_m: 3_000.0,
    gap_ms: 15 * 60_000,
};

fn pt(lat: f64, radius_m: f64) -> LinkPoint {
    LinkPoint {
        lat,
        lon: 38.0,
        radius_m,
        from_ms: 0,
        to_ms: 60_000,
        params: P,
    }
}

fn facts(affiliation: &str, count: u32) -> MemberFacts {
    MemberFacts {
        affiliation: Arc::from(affiliation),
        count,
        event_type: EventType::Explosion,
        version: 1,
    }
}

fn decision(index: u64, ruling: Ruling, named: &str) -> DecisionRecord {
    DecisionRecord {
        id: Arc::from(format!("d{index}")),
        index,
        time_ms: 0,
        signer: Arc::from("verifier+00000000"),
        incident: Arc::from(named),
        ruling,
        attribution: None,
        reason: Arc::from("test"),
    }
}

fn dispute(index: u64, named: &str) -> DisputeRecord {
    DisputeRecord {
        id: Arc::from(format!("x{index}")),
        index,
        time_ms: 0,
        signer: Arc::from("ua+00000000"),
        party: Arc::from("UA"),
        incident: Arc::from(named),
        reason: Arc::from("not us"),
    }
}

/// The members incidents read, listed (the state reads them from its observation records).
#[derive(Default)]
struct Listed(Vec<(Arc<str>, Family, MemberFacts, Place)>);

impl Members for Listed {
    fn member(&self, position: u32) -> (Arc<str>, Family, MemberFacts) {
        let (a, f, m, _) = &self.0[position as usize];
        (a.clone(), *f, m.clone())
    }

    fn place(&self, position: u32) -> Place {
        self.0[position as usize].3
    }
}

/// Incidents and the members they read.
#[derive(Default)]
struct Fixture {
    inc: Incidents,
    members: Listed,
}

impl Fixture {
    fn insert(&mut self, a: &Arc<str>, family: Family, p: LinkPoint, m: &MemberFacts) -> u32 {
        self.members
            .0
            .push((a.clone(), family, m.clone(), Place::of(&p)));
        self.inc.insert(p, &self.members)
    }

    fn get(&self, root: u32) -> Option<Cow<'_, Incident>> {
        self.inc.get(root, &self.members)
    }

    fn named(&self, position: u32) -> Option<(u32, Cow<'_, Incident>)> {
        self.inc.named(position, &self.members)
    }

    fn named_mut(&mut self, position: u32) -> Option<&mut Incident> {
        self.inc.named_mut(position, &self.members)
    }

    fn len(&self) -> usize {
        self.inc.len()
    }
}

fn belligerent(a: &str) -> bool {
    a == "UA" || a == "RU"
}

#[test]
fn count_is_the_largest_per_affiliation_sum() {
    let a: Arc<str> = Arc::from("agr");
    let mut inc = Fixture::default();
    // Two OSCE patrols hear 50 and 10; a UA report says 30: the count is 60, not 90.
    inc.insert(&a, Family::Fire, pt(48.0, 1_000.0), &facts("OSCE", 50));
    inc.insert(&a, Family::Fire, pt(48.001, 1_000.0), &facts("OSCE", 10));
    let root = inc.insert(&a, Family::Fire, pt(48.002, 500.0), &facts("UA", 30));
    let i = inc.get(root).unwrap();
    assert_eq!(i.count(), 60);
    assert_eq!(i.members, vec![0, 1, 2]);
    assert_eq!(i.locator, 2, "the smallest radius locates the incident");
    assert_eq!(i.status(2, belligerent), IncidentStatus::Corroborated);
    assert_eq!(i.status(3, belligerent), IncidentStatus::Reported);
}

#[test]
fn two_belligerents_do_not_corroborate() {
    let a: Arc<str> = Arc::from("agr");
    let mut inc = Fixture::default();
    inc.insert(&a, Family::Fire, pt(48.0, 1_000.0), &facts("UA", 1));
    let root = inc.insert(&a, Family::Fire, pt(48.0, 1_000.0), &facts("RU", 1));
    assert_eq!(
        inc.get(root).unwrap().status(2, belligerent),
        IncidentStatus::Reported
    );
}

#[test]
fn rulings_survive_a_merge_and_absorbed_ids_still_name_the_incident() {
    let a: Arc<str> = Arc::from("agr");
    let mut inc = Fixture::default();
    // Incident 0 (verified) and incident 1 (disputed), 10 km apart.
    inc.insert(&a, Family::Fire, pt(48.0, 1_000.0), &facts("OSCE", 5));
    inc.insert(&a, Family::Fire, pt(48.09, 1_000.0), &facts("OSCE", 7));
    inc.named_mut(0)
        .unwrap()
        .decisions
        .push(decision(10, Ruling::Verified, "o0"));
    inc.named_mut(1).unwrap().disputes.push(dispute(11, "o1"));
    assert_eq!(
        inc.get(1).unwrap().status(2, belligerent),
        IncidentStatus::Disputed
    );
    // A late report bridges them.
    let root = inc.insert(&a, Family::Fire, pt(48.045, 2_500.0), &facts("RU", 1));
    assert_eq!(root, 0);
    assert_eq!(inc.len(), 1);
    let merged = inc.get(0).unwrap();
    assert_eq!(merged.decisions.len(), 1, "the decision is kept");
    assert_eq!(merged.disputes.len(), 1, "the dispute is kept");
    assert_eq!(&*merged.disputes[0].incident, "o1", "with the id it named");
    assert_eq!(merged.absorbed, vec![1]);
    assert_eq!(merged.status(2, belligerent), IncidentStatus::Verified);
    // Both old ids name the merged incident; the bridging report never was an incident.
    assert_eq!(inc.named(0).unwrap().0, 0);
    assert_eq!(inc.named(1).unwrap().0, 0);
    assert!(inc.named(2).is_none());
    assert!(inc.named(3).is_none());
    // A later rejection is the latest decision.
    inc.named_mut(1)
        .unwrap()
        .decisions
        .push(decision(20, Ruling::Rejected, "o1"));
    assert_eq!(
        inc.get(0).unwrap().status(2, belligerent),
        IncidentStatus::Rejected
    );
}

#[test]
fn merge_order_of_decisions_is_by_log_index() {
    let a: Arc<str> = Arc::from("agr");
    let mut inc = Fixture::default();
    inc.insert(&a, Family::Fire, pt(48.0, 1_000.0), &facts("OSCE", 1));
    inc.insert(&a, Family::Fire, pt(48.09, 1_000.0), &facts("OSCE", 1));
    // The earlier incident was rejected later (index 30) than the other was verified (index 12).
    inc.named_mut(1)
        .unwrap()
        .decisions
        .push(decision(12, Ruling::Verified, "o1"));
    inc.named_mut(0)
        .unwrap()
        .decisions
        .push(decision(30, Ruling::Rejected, "o0"));
    inc.insert(&a, Family::Fire, pt(48.045, 2_500.0), &facts("OSCE", 1));
    let merged = inc.get(0).unwrap();
    let order: Vec<u64> = merged.decisions.iter().map(|d| d.index).collect();
    assert_eq!(order, vec![12, 30]);
    assert_eq!(merged.status(2, belligerent), IncidentStatus::Rejected);
}

proptest::proptest! {
    /// Merging two ascending lists gives what sorting their concatenation gave.
    #[test]
    fn merge_sorted_is_sorting_the_concatenation(
        mut a in proptest::collection::vec(0u32..100, 0..40),
        mut b in proptest::collection::vec(0u32..100, 0..40),
    ) {
        a.sort_unstable();
        b.sort_unstable();
        let mut expected = [a.clone(), b.clone()].concat();
        expected.sort_unstable();
        super::merge_sorted(&mut a, b);
        proptest::prop_assert_eq!(a, expected);
    }
}
