//! HTTP handlers, one module per resource.

pub mod agreements;
pub mod blobs;
pub mod entries;
pub mod geojson;
pub mod health;
pub mod incidents;
pub mod log;
pub mod observations;
pub mod state;
