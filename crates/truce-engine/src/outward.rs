//! `f64` bounds rounded outward to `f32`, for the spatial indexes that store `f32` boxes (half
//! the memory of `f64`) as filters: a box rounded outward still meets every query box it met
//! before (rounded outward too), so rounding can add candidates for the exact check that
//! follows, never lose one.

/// The largest `f32` not above `x`.
pub(crate) fn down(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x { f.next_down() } else { f }
}

/// The smallest `f32` not below `x`.
pub(crate) fn up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x { f.next_up() } else { f }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The bounds enclose the value, as tightly as `f32` allows.
        #[test]
        fn bounds_round_outward(x in prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL) {
            let (lo, hi) = (down(x), up(x));
            prop_assert!(f64::from(lo) <= x && x <= f64::from(hi));
            prop_assert!(lo == hi || lo.next_up() == hi || !lo.is_finite() || !hi.is_finite());
        }
    }
}
