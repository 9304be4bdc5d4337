//! After an observation ingest: the latency of `GET /v1/observations` over the log just filled,
//! for queries of different selectivity, so that the indexes' effect is visible at 200k and 1M
//! observations (a full scan of 1M records would show as tens of milliseconds per page).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// One kind of query and how it fared.
pub struct QueryTiming {
    pub name: &'static str,
    pub query: String,
    pub items: usize,
    pub p50: Duration,
    pub max: Duration,
}

/// The queries: a small box (a town), a large box (the whole area), a rare type, a time window
/// of an hour, an affiliation, combined filters, and the last page of an unfiltered listing.
fn queries(from: &str, to: &str) -> Vec<(&'static str, String)> {
    vec![
        ("first page, no filter", "limit=1000".into()),
        (
            "small box (~3x3 km)",
            "bbox=37.99,48.13,38.03,48.16&limit=1000".into(),
        ),
        (
            "whole area box",
            "bbox=37.0,47.0,40.0,49.0&limit=1000".into(),
        ),
        (
            "one rare type",
            "type=sensor-interference&limit=1000".into(),
        ),
        ("one hour", format!("from={from}&to={to}&limit=1000")),
        ("affiliation", "affiliation=OSCE%20SMM&limit=1000".into()),
        (
            "box + fire + hour",
            format!("bbox=37.5,47.8,38.5,48.4&type=fire&from={from}&to={to}&limit=1000"),
        ),
    ]
}

/// Runs each query `rounds` times and reports the median and the slowest latency.
pub async fn run(
    client: &reqwest::Client,
    url: &str,
    hour: (String, String),
    rounds: usize,
) -> Result<Vec<QueryTiming>> {
    let mut out = Vec::new();
    for (name, query) in queries(&hour.0, &hour.1) {
        let mut times = Vec::with_capacity(rounds);
        let mut items = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let resp = client
                .get(format!("{url}/v1/observations?{query}"))
                .send()
                .await
                .with_context(|| format!("GET /v1/observations?{query}"))?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await?;
            times.push(t.elapsed());
            if !status.is_success() {
                bail!("GET /v1/observations?{query}: {status} {body}");
            }
            items = body["items"].as_array().map_or(0, Vec::len);
        }
        times.sort_unstable();
        out.push(QueryTiming {
            name,
            query,
            items,
            p50: times[times.len() / 2],
            max: times[times.len() - 1],
        });
    }
    Ok(out)
}
