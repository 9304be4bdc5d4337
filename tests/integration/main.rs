//! The one integration-test binary: runs the built `truce` program (ripgrep style) and talks to
//! it over HTTP like any client would.

mod agreement_check;
mod audit;
mod cli;
mod consent_story;
mod crash;
mod entries;
mod import;
mod incidents;
mod observations;
mod submit;
mod util;
mod witness;
