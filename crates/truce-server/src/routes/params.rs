//! Query parameters of the list endpoints: the strict parser of [`truce_model::query`], with
//! its problems answered as one 400.

pub use truce_model::query::{DEFAULT_LIMIT, MAX_LIMIT, Params, parse_bbox};

use crate::problem::Problem;

/// A 400 listing every problem [`Params`] found, if any.
pub fn finish(params: Params) -> Result<(), Problem> {
    params.finish().map_err(Problem::bad_query)
}
