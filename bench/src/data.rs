//! The workloads' data, the same on every machine (a fixed seed per workload), and its error
//! against the f64 reference.

use hopfield::workloads::Workload;
use hopfield::{reference, Separation};
use ndarray::{s, Array2, Axis};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

pub const SEED: u64 = 0x4f9e_1d2c;

/// The reference is f64 and O(B·N·d) on one core, so at most this many queries are checked;
/// the kernels treat every row alike, and 16 rows already show any systematic error.
pub const REFERENCE_ROWS: usize = 16;

/// Normal entries of variance 1/d: rows of norm ≈ 1.
fn normal(rng: &mut StdRng, rows: usize, d: usize) -> Array2<f32> {
    let scale = 1.0 / (d as f32).sqrt();
    Array2::from_shape_simple_fn((rows, d), || rng.sample::<f32, _>(StandardNormal) * scale)
}

/// Patterns X (N×d) and queries Q (B×d) of workload `w`, the `index`-th of the table: each
/// query a stored pattern plus noise of half its norm, rescaled to unit norm, as retrieval is
/// used.
pub fn data(w: &Workload, index: usize) -> (Array2<f32>, Array2<f32>) {
    let mut rng = StdRng::seed_from_u64(SEED + index as u64);
    let x = normal(&mut rng, w.n, w.d);
    let mut q = normal(&mut rng, w.b, w.d);
    for mut row in q.axis_iter_mut(Axis(0)) {
        let target = x.row(rng.random_range(0..w.n));
        row.zip_mut_with(&target, |v, &t| *v = t + 0.5 * *v);
        let norm = row.dot(&row).sqrt().max(f32::MIN_POSITIVE);
        row /= norm;
    }
    (x, q)
}

/// ‖out − ref‖ / ‖ref‖ of one step at `beta` on the first rows, against the f64 reference,
/// and how many rows that was.
pub fn relative_error(
    x: &Array2<f32>,
    q: &Array2<f32>,
    out: &Array2<f32>,
    beta: f32,
    separation: Separation,
) -> (f64, usize) {
    let rows = q.nrows().min(REFERENCE_ROWS);
    let x64 = x.mapv(f64::from);
    let q64 = q.slice(s![..rows, ..]).mapv(f64::from);
    let (want, _) = reference::update_with(x64.view(), q64.view(), f64::from(beta), separation);
    let (mut diff, mut norm) = (0.0, 0.0);
    for (&o, &r) in out.slice(s![..rows, ..]).iter().zip(want.iter()) {
        diff += (f64::from(o) - r).powi(2);
        norm += r * r;
    }
    ((diff / norm.max(f64::MIN_POSITIVE)).sqrt(), rows)
}
