//! The C2SP tlog-tiles read API under `/log/`: the checkpoint, hash tiles and entry bundles.
//!
//! Tiles are computed from stored hashes on request. A tile of a given width never changes (a
//! partial tile of width W is the first W hashes of the full tile, which are final once they
//! exist), so every tile and bundle is served as immutable and cached in memory
//! ([`crate::tiles`]); only the checkpoint is mutable.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use truce_log::tile::{self, TileLevel, TileRef};

use crate::app::AppState;
use crate::problem::Problem;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn octets(body: Bytes) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    resp
}

/// The latest checkpoint, with witness cosignatures when they cover the latest size.
#[utoipa::path(
    get,
    path = "/log/checkpoint",
    tag = "log",
    responses((status = 200, description = "C2SP tlog-checkpoint signed note", content_type = "text/plain; charset=utf-8"))
)]
pub async fn checkpoint(State(app): State<AppState>) -> Result<Response, Problem> {
    let published = app.published.borrow().clone();
    let note = match app.store.cosigned_checkpoint().await {
        Ok(Some((size, note))) if size == published.size => note,
        _ => published.note.clone(),
    };
    let mut resp = note.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=0"),
    );
    Ok(resp)
}

/// A hash tile or an entry bundle.
#[utoipa::path(
    get,
    path = "/log/tile/{path}",
    tag = "log",
    params(("path" = String, Path, description = "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in 3-digit groups (C2SP tlog-tiles)")),
    responses(
        (status = 200, description = "Tile or entry bundle", content_type = "application/octet-stream"),
        (status = 400, description = "Not a canonical tile path", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Beyond the current tree", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn tile(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> Result<Response, Problem> {
    let full = format!("tile/{path}");
    let t = TileRef::parse(&full).map_err(|e| Problem::bad_request(format!("{full:?}: {e}")))?;
    if let Some(body) = app.tiles.get(&full) {
        return Ok(octets(body));
    }
    let size = app.published.borrow().size;
    // Any width up to the current one is served: a narrower partial tile is what a client
    // holding an older checkpoint asks for, and it is a prefix of today's.
    let exists =
        tile::tile_for(t.level(), t.index(), size).is_some_and(|now| t.width() <= now.width());
    if !exists {
        return Err(Problem::not_found(format!(
            "{full} is beyond the current tree of {size} entries"
        )));
    }
    let body: Bytes = match t.level() {
        TileLevel::Entries => {
            let (start, _) = t.leaf_range();
            let entries = app
                .store
                .entries(start, u32::from(t.width()))
                .await
                .map_err(|e| Problem::unavailable(format!("reading entries: {e}")))?;
            if entries.len() != usize::from(t.width()) {
                return Err(Problem::internal(format!(
                    "{full}: {} of {} entries found",
                    entries.len(),
                    t.width()
                )));
            }
            let leaves: Vec<&[u8]> = entries.iter().map(|e| e.leaf.as_slice()).collect();
            tile::encode_bundle(&leaves)
                .map_err(Problem::internal)?
                .into()
        }
        TileLevel::Hash(_) => {
            let indexes = tile::hash_tile_indexes(&t).map_err(Problem::internal)?;
            let hashes = app
                .store
                .read_hashes(&indexes)
                .await
                .map_err(|e| Problem::unavailable(format!("reading tree hashes: {e}")))?;
            hashes.concat().into()
        }
    };
    app.tiles.put(full, body.clone());
    Ok(octets(body))
}
