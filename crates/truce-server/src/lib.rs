#![forbid(unsafe_code)]
//! The truce HTTP server (DESIGN §8).
//!
//! Requests flow one way: a handler reads the request, [intake] checks what it can alone
//! (envelope shape, signatures, rate) and hands the entry to the [sequencer], which admits it
//! against the state, stores it durably and only then makes it visible; reads are served from
//! the committed state. Every error is an RFC 9457
//! problem document ([`problem::Problem`]). The OpenAPI document at `/openapi.json` is generated
//! from the handlers' annotations, so it cannot drift from the code.

pub mod app;
pub mod blobs;
pub mod cold;
pub mod cosignatures;
pub mod datadir;
pub mod intake;
pub mod ledger;
pub mod limits;
pub mod problem;
pub mod query;
pub mod replay;
pub mod routes;
pub mod seen;
pub mod sequencer;
pub mod shared;
pub mod snapshots;
pub mod ticker;
pub mod tiles;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use app::AppState;
use problem::Problem;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(routes::log::tile),
    info(
        title = "truce",
        description = "Ceasefire monitoring, verification and enforcement: a transparency log of signed observations, rulings and consents, and the state derived from it.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "entries", description = "Signed entries (DSSE envelopes) into the log"),
        (name = "blobs", description = "Content-addressed files referenced by entries"),
        (name = "agreements", description = "Agreements, their versions and consents"),
        (name = "observations", description = "Signed observations, filtered and paged"),
        (name = "incidents", description = "What the observations add up to: incidents, their status and rulings"),
        (name = "state", description = "The digest of the derived state, to compare with `truce replay`"),
        (name = "log", description = "The transparency log"),
        (name = "meta", description = "Health and API description"),
    )
)]
struct ApiDoc;

/// The router with every route, and the OpenAPI document generated from it.
pub fn router(app: AppState) -> axum::Router {
    let concurrency = app.limits.concurrent_requests.max(1);
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::vkeys))
        .routes(routes!(routes::log::checkpoint))
        // A wildcard path: registered directly, documented through `ApiDoc`.
        .route("/log/tile/{*path}", axum::routing::get(routes::log::tile))
        .routes(routes!(routes::entries::post_entry))
        .routes(routes!(routes::entries::get_entry))
        .routes(routes!(routes::blobs::put_blob, routes::blobs::get_blob))
        .routes(routes!(routes::agreements::list_agreements))
        .routes(routes!(routes::agreements::get_agreement))
        .routes(routes!(routes::observations::list_observations))
        .routes(routes!(routes::incidents::list_incidents))
        .routes(routes!(routes::incidents::get_incident))
        .routes(routes!(routes::incidents::list_members))
        .routes(routes!(routes::state::get_state))
        .split_for_parts();
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    let api = Arc::new(api);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .fallback(|| async {
            Problem::not_found("no such resource; see /openapi.json for the API").into_response()
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this resource does not support that method; see /openapi.json",
            )
            .into_response()
        })
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(concurrency))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests (every
/// entry acknowledged before shutdown is already durable) and snapshots the derived state
/// ([`AppState::stop`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = app.clone();
    let router = router(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    stopping.stop().await;
    Ok(())
}
