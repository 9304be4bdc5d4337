//! How fast a whole log reads back: `cargo run --release -p truce-store-sqlite --example read_speed -- DATA/truce.sqlite`.
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::time::Instant;
use truce_store::Store;

#[tokio::main]
async fn main() {
    let path = std::env::args().nth(1).expect("path to truce.sqlite");
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(SqliteConnectOptions::new().filename(&path).read_only(true))
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (name, sql) in [
        (
            "leaf rows",
            "SELECT leaf FROM entries WHERE idx >= ?1 AND idx < ?1 + ?2 ORDER BY idx",
        ),
        (
            "leaf concat ordered",
            "SELECT CAST(group_concat(leaf, x'' ORDER BY idx) AS BLOB), group_concat(length(leaf), ',' ORDER BY idx) FROM entries WHERE idx >= ?1 AND idx < ?1 + ?2",
        ),
        (
            "leaf concat",
            "SELECT CAST(group_concat(leaf, x'') AS BLOB), group_concat(length(leaf), ',') FROM entries WHERE idx >= ?1 AND idx < ?1 + ?2",
        ),
    ] {
        let t = Instant::now();
        let mut n = 0i64;
        let mut bytes = 0usize;
        while n < total {
            let rows = sqlx::query(sql)
                .bind(n)
                .bind(8192i64)
                .fetch_all(&pool)
                .await
                .unwrap();
            for r in &rows {
                let l: &[u8] = r.try_get(0).unwrap();
                bytes += l.len();
            }
            n += 8192;
        }
        println!("{name}: ({bytes} leaf bytes) in {:?}", t.elapsed());
    }
    let store = truce_store_sqlite::SqliteStore::open(path.as_ref())
        .await
        .unwrap();
    let t = Instant::now();
    let mut n = 0u64;
    while n < total as u64 {
        n += store.leaves(n, 8192).await.unwrap().len() as u64;
    }
    println!("store.leaves: {n} in {:?}", t.elapsed());
}
