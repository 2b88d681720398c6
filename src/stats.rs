//! Latency samples summarised as percentiles.

use serde::Serialize;

/// Milliseconds at the 50th and 95th percentile (and the extremes), of a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub count: usize,
}

/// Collects samples in microseconds; reports milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<u64>);

impl Samples {
    /// Adds one sample, µs.
    pub fn push(&mut self, us: u64) {
        self.0.push(us);
    }

    /// Adds the time since `start`.
    pub fn push_since(&mut self, start: std::time::Instant) {
        self.push(start.elapsed().as_micros() as u64);
    }

    /// Nearest-rank percentiles in ms; all zero if there are no samples.
    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
        };
        Percentiles {
            p50: rank(50.0),
            p95: rank(95.0),
            min: sorted[0] as f64 / 1000.0,
            max: sorted[sorted.len() - 1] as f64 / 1000.0,
            count: sorted.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        assert_eq!(s.percentiles(), Percentiles::default());
        for v in (1..=100).rev() {
            s.push(v * 1000);
        }
        let p = s.percentiles();
        assert_eq!(
            (p.p50, p.p95, p.min, p.max, p.count),
            (50.0, 95.0, 1.0, 100.0, 100)
        );
    }
}
