use truce_model::agreement::*;
#[test]
fn scratch() {
    let key1 = "ukraine+360275fb+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";
    let key2 = "russia+3eb068b3+AYE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU";
    for n in [1000usize, 4000] {
        let pts: Vec<String> = (0..=n).map(|i| { let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU; format!("[{},{}]", 38.0 + a.cos(), 48.0 + a.sin()) }).collect();
        let json = format!(r#"{{"type":"Polygon","coordinates":[[{}]]}}"#, pts.join(","));
        let text = format!("id=\"a\"\ntitle=\"t\"\nparties=[{{id=\"A\",name=\"a\",role=\"observer\",key=\"{key1}\"}},{{id=\"B\",name=\"b\",role=\"observer\",key=\"{key2}\"}}]\nentry_into_force={{at=\"2026-01-01T00:00:00Z\",consent=[\"A\"]}}\n[[zones]]\nid=\"z\"\ngeometry=\"p.geojson\"\n");
        let r = MapResolver([("p.geojson".to_string(), json.into_bytes())].into_iter().collect());
        let t = std::time::Instant::now();
        let res = check("a.toml", &text, &r);
        println!("n={n} ok={} {:?}", res.is_ok(), t.elapsed());
    }
}
