//! Numerics of the phi-accrual models: evaluated in log space so that phi is finite
//! and increasing for any silence, and inverted at a level so that deadlines are exact.
//!
//! Both normal-model variants have the shape `phi = f((elapsed - mu) / sigma)` for an
//! increasing `f`, so the silence at which phi reaches a level `L` is
//! `mu + f^-1(L) * sigma`: `f^-1` is evaluated once per level, at construction.

use std::f64::consts::{LN_10, LOG10_E};

/// Coefficients of the logistic approximation of the standard normal CDF that Akka and
/// Pekko use (`PhiAccrualFailureDetector.phi`, citing the "Beta Mathematics Handbook";
/// error 0.00014 at +-3.16): `CDF(y) ~ 1 / (1 + exp(-y * (A + B * y^2)))`.
pub(crate) const LOGISTIC_A: f64 = 1.5976;
/// See [`LOGISTIC_A`].
pub(crate) const LOGISTIC_B: f64 = 0.070566;

/// Suspicion below this is reported as exactly 0: the detectors precompute the silence
/// under which phi is smaller and skip the transcendental math there (which is also
/// where `exp` would take its slow subnormal path).
pub(crate) const PHI_FLOOR: f64 = 1e-300;

/// The smallest phi threshold [`PhiAccrual`](crate::PhiAccrual) and
/// [`ExponentialPhi`](crate::ExponentialPhi) accept: ten orders of magnitude above
/// [`PHI_FLOOR`], so that phi near the threshold is always computed (never reported
/// as 0) and a normal double with its full relative precision.
pub(crate) const MIN_PHI_THRESHOLD: f64 = 1e-290;

/// A phi threshold: finite and at least [`MIN_PHI_THRESHOLD`].
pub(crate) fn check_phi_threshold(value: f64) -> Result<f64, crate::ConfigError> {
    let value = crate::error::check::positive("threshold", value)?;
    if value < MIN_PHI_THRESHOLD {
        Err(crate::ConfigError::OutOfRange {
            field: "threshold",
            allowed: "at least 1e-290 (phi below 1e-300 is reported as 0)",
        })
    } else {
        Ok(value)
    }
}

/// `ln(1 + e^x)`, accurate to a few ulp for every finite `x`, never overflowing.
#[inline]
pub(crate) fn softplus(x: f64) -> f64 {
    // Beyond |x| = 37, e^-|x| < 2^-53 relative to the result, so the correction
    // term vanishes in double precision: no exp or log needed (and no exp overflow).
    if x > 37.0 {
        x
    } else if x >= 0.0 {
        // x + ln(1 + t) with t = e^-x in (0, 1]: the rounding of 1 + t costs an
        // absolute 1.1e-16, under 2 ulp of a result >= ln 2; `ln` is much faster than
        // `ln_1p` in glibc.
        x + (1.0 + (-x).exp()).ln()
    } else if x >= -37.0 {
        // Here the result is small and 1 + t would lose its digits: ln_1p.
        x.exp().ln_1p()
    } else {
        // ln(1 + t) = t (1 - t/2 + ...), relative error < t/2 < 1e-16.
        x.exp()
    }
}

/// Inverse of [`softplus`] for `s > 0`: `ln(e^s - 1)`.
pub(crate) fn softplus_inverse(s: f64) -> f64 {
    if s > 37.0 {
        s + (-(-s).exp()).ln_1p()
    } else {
        s.exp_m1().ln()
    }
}

/// The exponent `g(y) = y (A + B y^2)` of Akka's logistic CDF approximation.
#[inline]
pub(crate) fn logistic_exponent(y: f64) -> f64 {
    y * (LOGISTIC_B * (y * y) + LOGISTIC_A)
}

/// Akka's phi as a function of the standardised silence `y`:
/// `-log10(1 - 1/(1 + e^-g)) = log10(1 + e^g)` with `g` = [`logistic_exponent`].
///
/// Akka evaluates `-log10(e / (1 + e))` with `e = exp(-g)`, which is the same number
/// while `e` is representable and becomes infinite once `exp(-g)` underflows
/// (g > ~745). Here it is `softplus(g) / ln 10`: finite and increasing for all `y`.
#[inline]
pub(crate) fn logistic_phi(y: f64) -> f64 {
    softplus(logistic_exponent(y)) * LOG10_E
}

/// The `y` at which [`logistic_exponent`] equals `g`: the real root of the cubic
/// `B y^3 + A y - g = 0` (it has exactly one, the cubic being increasing).
pub(crate) fn logistic_exponent_inverse(g: f64) -> f64 {
    if g == 0.0 || !g.is_finite() {
        return if g.is_nan() { 0.0 } else { g };
    }
    // The function is odd: solve for |g| and restore the sign.
    let target = g.abs();
    let f = |y: f64| logistic_exponent(y) - target;
    // Both starting points lie right of the root (each drops one positive term); on
    // this convex increasing branch Newton's method then descends monotonically.
    let mut y = (target / LOGISTIC_A).min((target / LOGISTIC_B).cbrt());
    for _ in 0..100 {
        let step = f(y) / (3.0 * LOGISTIC_B * (y * y) + LOGISTIC_A);
        let next = y - step;
        if next.is_nan() || next >= y {
            break;
        }
        y = next;
    }
    y.copysign(g)
}

/// Standardised silence at which [`logistic_phi`] reaches `level` (> 0).
pub(crate) fn logistic_phi_inverse(level: f64) -> f64 {
    logistic_exponent_inverse(softplus_inverse(level * LN_10))
}

/// The rational pieces of `statrs` 0.19's `erfc` on `[0.5, 110)` (a port of Boost's
/// `erf_imp`, 53-bit version): each piece's upper bound and the constant `Y` it
/// adds to its rational remainder, spelled as in `statrs`'s source. Boost declares
/// each `Y` as a `float` literal and fitted its remainders to that `float` value;
/// `statrs` uses the decimal `f64` instead, which differs by up to 1e-10 relative.
/// Its `erfc` is therefore off by up to 1.2e-10 relative on `[0.5, 110)` and jumps
/// at every piece boundary, in either direction: phi under the normal model would
/// not be monotone there.
const ERFC_PIECES: [(f64, f64); 13] = [
    (0.75, 0.3440242112),
    (1.25, 0.419990927),
    (2.25, 0.4898625016),
    (3.5, 0.5317370892),
    (5.25, 0.5489973426),
    (8.0, 0.5571740866),
    (11.5, 0.5609807968),
    (17.0, 0.5626493692),
    (24.0, 0.5634598136),
    (38.0, 0.5638477802),
    (60.0, 0.5640528202),
    (85.0, 0.5641309023),
    (110.0, 0.5641584396),
];

/// `erfc(z)` for `z >= 0`: `statrs`'s, with each piece's constant put back to the
/// `float` value its remainder was fitted to: on `[0.5, 110)` `statrs` returns
/// `exp(-z^2) / z * (Y + r(z))`, so adding `exp(-z^2) / z * (float(Y) - Y)` gives
/// Boost's result (relative error about 1e-16, checked against glibc's `erfc` in
/// the tests, continuous at the boundaries). Costs one more `exp` there.
fn erfc(z: f64) -> f64 {
    let value = statrs::function::erf::erfc(z);
    if !(0.5..110.0).contains(&z) {
        return value;
    }
    let mut piece = 0;
    while z >= ERFC_PIECES[piece].0 {
        piece += 1;
    }
    let y = ERFC_PIECES[piece].1;
    let correction = f64::from(y as f32) - y;
    value + correction * (-z * z).exp() / z
}

/// Natural log of the standard normal upper tail `Q(y) = P(Z > y)`, for every finite
/// `y`, with a relative error of about 1e-14 or better:
/// * `y < 0`: `ln(1 - Q(-y))` through `ln_1p`;
/// * `0 <= y <= 30`: `ln(erfc(y / sqrt 2) / 2)` with `statrs`'s `erfc` corrected as
///   [`erfc`] says;
/// * `y > 30`: the asymptotic expansion `Q(y) = pdf(y)/y * (1 - 1/y^2 + 3/y^4 - ...)`
///   (Abramowitz and Stegun 26.2.12), whose eighth term is below 5e-18 there.
pub(crate) fn ln_normal_tail(y: f64) -> f64 {
    const SWITCH: f64 = 30.0;
    if y < 0.0 {
        (-0.5 * erfc(-y * std::f64::consts::FRAC_1_SQRT_2)).ln_1p()
    } else if y <= SWITCH {
        (0.5 * erfc(y * std::f64::consts::FRAC_1_SQRT_2)).ln()
    } else {
        let inv_y2 = 1.0 / (y * y);
        // 1 - 1/y^2 + 3/y^4 - 15/y^6 + ... ; term k = -(2k - 1) / y^2 * term (k-1)
        let mut term = 1.0;
        let mut series = 1.0;
        for k in 1..8 {
            term *= -((2 * k - 1) as f64) * inv_y2;
            series += term;
        }
        // ln(pdf(y)/y) = -y^2/2 - ln(y) - ln(2 pi)/2
        const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
        -0.5 * y * y - y.ln() - HALF_LN_2PI + series.ln()
    }
}

/// Phi of the exact normal model: `-log10 Q(y)`. Finite for every finite `y`.
pub(crate) fn normal_phi(y: f64) -> f64 {
    // -0.0 for very negative y would print oddly; phi is never negative.
    (-ln_normal_tail(y) * LOG10_E).max(0.0)
}

/// Standardised silence at which [`normal_phi`] reaches `level` (> 0): bisection to
/// the last bit on the increasing function, bracketed by doubling.
pub(crate) fn normal_phi_inverse(level: f64) -> f64 {
    invert_increasing(normal_phi, level)
}

/// The `y` with `f(y) = target` for an increasing `f`, to adjacent doubles: the
/// smallest double found with `f(y) >= target`.
fn invert_increasing(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (-1.0_f64, 1.0_f64);
    while f(lo) >= target && lo > -1e300 {
        lo *= 2.0;
    }
    while f(hi) < target && hi < 1e300 {
        hi *= 2.0;
    }
    for _ in 0..2200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, Normal};

    /// Akka's own expression, in plain doubles: the oracle where it is finite.
    fn akka_phi(y: f64) -> f64 {
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        if y > 0.0 {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        }
    }

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
        }
    }

    #[test]
    fn logistic_phi_matches_akka_where_akka_is_finite_and_accurate() {
        // Akka's expression loses relative accuracy when phi is tiny (1 - 1/(1+e)
        // cancels: 1e-6 relative at y = -6), so compare from y = -3 (phi ~ 1e-4);
        // past y ~ 21.2 its exp(-g) is subnormal and loses digits, and beyond y ~ 21.9
        // it returns infinity.
        let mut y = -3.0;
        while y < 21.0 {
            let ours = logistic_phi(y);
            let theirs = akka_phi(y);
            assert!(rel(ours, theirs) < 1e-9, "y={y}: {ours} vs {theirs}");
            y += 0.01;
        }
        assert!(akka_phi(22.0).is_infinite());
        assert!(logistic_phi(22.0).is_finite());
    }

    #[test]
    fn logistic_phi_is_finite_and_strictly_increasing_far_out() {
        let mut prev = logistic_phi(0.0);
        let mut y = 0.5;
        while y < 1e19 {
            let p = logistic_phi(y);
            assert!(p.is_finite() && p > prev, "y={y}: {p} <= {prev}");
            prev = p;
            y *= 1.1;
        }
    }

    #[test]
    fn logistic_small_tail_matches_series() {
        // For very negative y phi = e^g / ln 10 to double precision.
        for y in [-10.0, -20.0, -21.5, -30.0] {
            let g = logistic_exponent(y);
            assert!(rel(logistic_phi(y), g.exp() * LOG10_E) < 1e-12, "y={y}");
        }
    }

    #[test]
    fn softplus_and_inverse_round_trip() {
        for s in [
            1e-300, 1e-20, 1e-5, 0.1, 0.69, 1.0, 5.0, 18.42, 36.9, 37.1, 80.0, 1e10,
        ] {
            let x = softplus_inverse(s);
            assert!(
                rel(softplus(x), s) < 1e-13,
                "s={s}: x={x} -> {}",
                softplus(x)
            );
        }
        // Independent check against ln(1 + e^x) where that is accurate, and against
        // the series e^x - e^2x / 2 where 1 + e^x would round.
        for x in [-3.0, -0.5, 0.0, 0.5, 3.0, 30.0] {
            let naive = (1.0 + f64::exp(x)).ln();
            assert!(rel(softplus(x), naive) < 1e-12, "x={x}");
        }
        for x in [-30.0, -50.0, -700.0] {
            let t = f64::exp(x);
            assert!(rel(softplus(x), t - t * t / 2.0) < 1e-15, "x={x}");
        }
    }

    #[test]
    fn logistic_inverse_hits_the_level() {
        for level in [
            1e-6,
            0.1,
            std::f64::consts::LOG10_2,
            0.5,
            1.0,
            3.0,
            8.0,
            12.0,
            16.0,
            40.0,
            300.0,
            1e6,
        ] {
            let y = logistic_phi_inverse(level);
            assert!(rel(logistic_phi(y), level) < 1e-12, "level={level} y={y}");
        }
        for g in [-700.0, -1.0, -1e-9, 1e-9, 2.5, 18.42, 1e5] {
            let y = logistic_exponent_inverse(g);
            assert!(rel(logistic_exponent(y), g) < 1e-14, "g={g}");
        }
        // The threshold most people use: phi = 8 where the cubic
        // 0.070566 y^3 + 1.5976 y = ln(1e8 - 1) = 18.4207 has its root: by hand,
        // y = 5.226 gives 10.0715 + 8.3491 = 18.4206 (the exact normal tail: 5.612).
        let y8 = logistic_phi_inverse(8.0);
        assert!((y8 - 5.226).abs() < 1e-3, "{y8}");
    }

    #[test]
    fn ln_normal_tail_matches_statrs() {
        let n = Normal::new(0.0, 1.0).unwrap();
        let mut y = -8.0;
        while y < 8.0 {
            // ln Q(y) = ln(1 - CDF(y)); for y < 0 through ln_1p of the small CDF.
            let expect = if y < 0.0 {
                (-n.cdf(y)).ln_1p()
            } else {
                n.sf(y).ln()
            };
            // statrs's distribution uses its own erfc, off by up to 1.2e-10 (see
            // `erfc_matches_glibc` for the accurate oracle).
            assert!(rel(ln_normal_tail(y), expect) < 2e-10, "y={y}");
            y += 0.05;
        }
    }

    #[test]
    fn ln_normal_tail_is_continuous_at_the_switch() {
        let below = ln_normal_tail(30.0);
        let above = ln_normal_tail(30.0 + 1e-12);
        assert!(rel(below, above) < 1e-12, "{below} vs {above}");
        // and against the erfc form just above the switch (erfc is still accurate
        // there: 5e-198 is a normal double).
        let y = 30.5;
        let direct = (0.5 * erfc(y / 2f64.sqrt())).ln();
        assert!(rel(ln_normal_tail(y), direct) < 1e-12);
    }

    #[test]
    fn normal_phi_is_finite_and_increasing_far_out() {
        let mut prev = normal_phi(-40.0);
        assert!(prev >= 0.0);
        let mut y = -39.0;
        while y < 1e19 {
            let p = normal_phi(y);
            assert!(p.is_finite() && p >= prev, "y={y}");
            if y > 0.0 {
                assert!(p > prev, "strict at y={y}");
            }
            prev = p;
            y = if y < 1.0 { y + 0.5 } else { y * 1.1 };
        }
    }

    #[test]
    fn normal_inverse_hits_the_level() {
        for level in [1e-300, 1e-6, 0.1, 1.0, 8.0, 50.0, 400.0, 1e6] {
            let y = normal_phi_inverse(level);
            assert!(rel(normal_phi(y), level) < 1e-9, "level={level} y={y}");
        }
        let n = Normal::new(0.0, 1.0).unwrap();
        let y8 = normal_phi_inverse(8.0);
        assert!(rel(n.sf(y8), 1e-8) < 1e-9);
    }

    /// `erfc` against glibc's (Python's `math.erfc`, under 1 ulp), on both sides of
    /// every piece boundary: statrs's own is off by up to 1.2e-10 relative there.
    #[test]
    fn erfc_matches_glibc() {
        const GLIBC: [(f64, f64); 33] = [
            (0.1, 0.8875370839817152),
            (0.3, 0.6713732405408726),
            (0.49, 0.4883317388114769),
            (0.5, 0.4795001221869535),
            (0.6, 0.3961439091520741),
            (0.74, 0.2953219221452542),
            (0.75, 0.28884436634648486),
            (1.0, 0.15729920705028513),
            (1.24, 0.07949481570097033),
            (1.25, 0.07709987174354177),
            (1.7, 0.016209541409225436),
            (2.24, 0.0015357687151374777),
            (2.25, 0.0014627165866811518),
            (3.0, 2.2090496998585438e-05),
            (3.49, 7.990254204651663e-07),
            (3.5, 7.430983723414128e-07),
            (4.4, 4.891710270605872e-10),
            (5.24, 1.258439852382195e-13),
            (5.25, 1.1310313266887154e-13),
            (6.5, 3.8421483271206475e-20),
            (7.99, 1.3186752894076767e-29),
            (8.0, 1.1224297172982928e-29),
            (10.0, 2.088487583762545e-45),
            (11.49, 2.2587834151784076e-59),
            (11.5, 1.7933096435767818e-59),
            (14.0, 3.037229847750312e-87),
            (16.99, 1.435469865588027e-127),
            (17.0, 1.0212280150942608e-127),
            (20.0, 5.3958656116079005e-176),
            (21.2, 1.719077443625846e-197),
            (23.99, 2.6657208643810704e-252),
            (24.0, 1.6489825831519335e-252),
            (26.0, 5.663192408856143e-296),
        ];
        let mut statrs_worst: f64 = 0.0;
        for (z, expect) in GLIBC {
            // exp(-z^2) turns the rounding of z^2 into a relative z^2 * 2^-53.
            let tolerance = 2e-15 + z * z * 1.2e-16;
            assert!(
                rel(erfc(z), expect) < tolerance,
                "z={z}: {} vs {expect}",
                erfc(z)
            );
            statrs_worst = statrs_worst.max(rel(statrs::function::erf::erfc(z), expect));
        }
        // If statrs fixes its constants, this correction must go.
        assert!(
            statrs_worst > 1e-11,
            "statrs's erfc is exact now: {statrs_worst}"
        );
    }

    /// Across every piece boundary the normal model's phi increases, in steps of 8
    /// ulp of the standardised silence (statrs's `erfc`, like any evaluation in
    /// doubles, wobbles by an ulp or so from one double to the next; its 1e-10 jumps
    /// at the boundaries were what broke monotonicity).
    #[test]
    fn normal_phi_is_monotone_across_erfc_pieces() {
        for (bound, _) in ERFC_PIECES {
            if bound > 27.0 {
                break; // erfc is below 1e-300 there; the asymptotic series takes over
            }
            for sign in [1.0, -1.0] {
                let centre = sign * bound * std::f64::consts::SQRT_2;
                let mut y = f64::from_bits(centre.to_bits() - 512);
                let mut prev = normal_phi(y);
                for _ in 0..128 {
                    y = f64::from_bits(y.to_bits() + 8);
                    // Positive y: increasing bits, increasing y; negative: the reverse.
                    let phi = normal_phi(y);
                    if sign > 0.0 {
                        assert!(phi >= prev, "phi fell at y = {y}");
                    } else {
                        assert!(phi <= prev, "phi rose at y = {y}");
                    }
                    prev = phi;
                }
            }
            // statrs's own jump there: 1e-10 relative, in either direction.
            let (below, at) = (bound * (1.0 - 1e-12), bound);
            assert!(erfc(at) < erfc(below), "at {bound}");
        }
    }
}
