//! A series of times: median, spread and count, for the table and the JSON.

use serde_json::{json, Value};
use web_time::Duration;

/// Median, spread and count of a series of times, in milliseconds.
pub struct Stats {
    sorted_ms: Vec<f64>,
}

impl Stats {
    /// `None` for an empty series.
    pub fn new(times: &[Duration]) -> Option<Stats> {
        if times.is_empty() {
            return None;
        }
        let mut sorted_ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        sorted_ms.sort_by(f64::total_cmp);
        Some(Stats { sorted_ms })
    }

    /// Nearest-rank quantile.
    pub fn quantile(&self, q: f64) -> f64 {
        let last = self.sorted_ms.len() - 1;
        self.sorted_ms[(q * last as f64).round() as usize]
    }

    pub fn count(&self) -> usize {
        self.sorted_ms.len()
    }

    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    pub fn min(&self) -> f64 {
        self.sorted_ms[0]
    }

    pub fn max(&self) -> f64 {
        self.sorted_ms[self.sorted_ms.len() - 1]
    }

    pub fn json(&self) -> Value {
        json!({
            "median": self.median(),
            "min": self.min(),
            "p10": self.quantile(0.1),
            "p90": self.quantile(0.9),
            "max": self.max(),
            "count": self.sorted_ms.len(),
        })
    }

    /// `median [min-max]`, three significant digits each.
    pub fn cell(&self) -> String {
        format!(
            "{} [{}-{}]",
            sig3(self.median()),
            sig3(self.min()),
            sig3(self.max())
        )
    }
}

/// Three significant digits, whether a software adapter's 0.00012 TFLOP/s or an H100's 2400 GB/s.
pub fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if magnitude < -4.0 {
        format!("{v:.2e}")
    } else {
        format!("{v:.*}", (2.0 - magnitude).max(0.0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_series() {
        let times: Vec<Duration> = [5, 1, 3, 2, 4]
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect();
        let s = Stats::new(&times).unwrap();
        assert_eq!(
            (s.min(), s.median(), s.max(), s.count()),
            (1.0, 3.0, 5.0, 5)
        );
        assert_eq!(s.cell(), "3.00 [1.00-5.00]");
        assert!(Stats::new(&[]).is_none());
    }

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(2412.7), "2413");
        assert_eq!(sig3(0.012345), "0.0123");
        assert_eq!(sig3(0.00001234), "1.23e-5");
    }
}
