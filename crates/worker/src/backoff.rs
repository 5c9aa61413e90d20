//! Exponential backoff with jitter.

use std::time::Duration;

/// `initial * 2^(n-1)`, capped at `max`, with ±20% jitter so replicas and
/// jobs spread out instead of polling in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The delay before try `n` (1-based), given a random `unit` in [0, 1).
    pub fn delay(&self, n: u32, unit: f64) -> Duration {
        let exp = n.saturating_sub(1).min(30);
        let base = self
            .initial
            .saturating_mul(1u32 << exp.min(20))
            .min(self.max);
        let factor = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
        base.mul_f64(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_bounded_jitter() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
        assert_eq!(b.delay(1, 0.5), Duration::from_secs(2));
        assert_eq!(b.delay(2, 0.5), Duration::from_secs(4));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(8));
        assert_eq!(b.delay(50, 0.5), Duration::from_secs(60));
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(1600));
        assert_eq!(b.delay(1, 0.999_999).as_millis(), 2399);
        assert!(b.delay(40, 1.0) <= Duration::from_secs(60));
        assert_eq!(b.delay(0, 0.5), Duration::from_secs(2));
    }
}
