//! What the binary networks ([`classical`](crate::classical), [`dense`](crate::dense)) share:
//! how a recall is asked for and what it returns, the sign rule, and the order in which an
//! asynchronous sweep visits the neurons.
//!
//! States are ±1 vectors stored as `f32`. A *sweep* gives every neuron one chance to flip:
//! all at once ([`Update::Synchronous`]) or one after another in a random order
//! ([`Update::Asynchronous`]). A recall stops when a sweep changes nothing (a fixed point) or
//! after [`RecallOptions::max_sweeps`]. Neurons marked by [`RecallOptions::clamped`] keep
//! the query's value: no sweep ever flips them.

use chacha20::rand_core::{Rng, SeedableRng};
use chacha20::ChaCha8Rng;
use ndarray::{Array1, Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::query_mask;

/// How the neurons of a state are updated in one sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Every neuron from the same old state at once (a batched mat-vec per sweep). May end in
    /// a 2-cycle instead of a fixed point.
    Synchronous,
    /// One neuron at a time, each seeing the flips before it, in an order drawn afresh for
    /// every sweep from `seed` (see [`sweep_order`]); the energy never increases.
    Asynchronous {
        /// Seed of the visiting orders: the same seed gives the same orders on every backend.
        seed: u64,
    },
}

/// Options of a binary recall: the update, the sweep limit and the clamped neurons.
///
/// ```
/// use hopfield::binary::{RecallOptions, Update};
/// let opts = RecallOptions::asynchronous(7).max_sweeps(20);
/// assert_eq!(opts.update, Update::Asynchronous { seed: 7 });
/// assert_eq!(opts.max_sweeps, 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecallOptions {
    /// Synchronous or asynchronous sweeps.
    pub update: Update,
    /// Largest number of sweeps (≥ 1).
    pub max_sweeps: usize,
    /// Neurons that never flip, B×d (one row per query) or 1×d (one for the batch), `true` =
    /// clamped: every sweep skips them, so they keep the query's value, while their values
    /// still enter the other neurons' fields. `None`: every neuron may flip.
    pub clamped: Option<Array2<bool>>,
}

impl RecallOptions {
    /// Sweeps by `update`, at most 100.
    pub fn new(update: Update) -> Self {
        RecallOptions {
            update,
            max_sweeps: 100,
            clamped: None,
        }
    }

    /// Synchronous sweeps, at most 100.
    pub fn synchronous() -> Self {
        Self::new(Update::Synchronous)
    }

    /// Asynchronous sweeps in orders drawn from `seed`, at most 100.
    pub fn asynchronous(seed: u64) -> Self {
        Self::new(Update::Asynchronous { seed })
    }

    /// At most `sweeps` sweeps.
    pub fn max_sweeps(mut self, sweeps: usize) -> Self {
        self.max_sweeps = sweeps;
        self
    }

    /// Clamp the neurons `mask` marks (B×d, or 1×d for every query) to the query's values;
    /// see [`clamped`](Self::clamped).
    ///
    /// ```
    /// use hopfield::binary::RecallOptions;
    /// use hopfield::classical::{Classical, Rule};
    /// use hopfield::Device;
    /// use ndarray::array;
    ///
    /// let patterns = array![[1.0, 1.0, 1.0, -1.0, -1.0, -1.0]];
    /// let net = Classical::train(&Device::cpu(), patterns.view(), Rule::Hebbian)?;
    /// let query = array![[1.0, 1.0, -1.0, -1.0, -1.0, -1.0]];
    /// // Neuron 2 disagrees with the pattern, but clamped it never flips back.
    /// let mask = array![[false, false, true, false, false, false]];
    /// let opts = RecallOptions::synchronous().clamped(mask);
    /// let out = net.recall(query.view(), &opts)?;
    /// assert_eq!(out.states.row(0), query.row(0));
    /// # Ok::<(), hopfield::Error>(())
    /// ```
    pub fn clamped(mut self, mask: Array2<bool>) -> Self {
        self.clamped = Some(mask);
        self
    }

    /// Checks the options for a recall of `rows` queries of `dim` neurons, before anything
    /// runs.
    pub(crate) fn validate(&self, rows: usize, dim: usize) -> Result<()> {
        if self.max_sweeps == 0 {
            return Err(Error::InvalidSteps(0));
        }
        if let Some(mask) = &self.clamped {
            query_mask::check(mask, "clamp mask", rows, dim, "neurons")?;
        }
        Ok(())
    }

    /// The clamp flags of query `row` (d of them, `true` = never flips); all `false` without
    /// a mask. Only after [`validate`](Self::validate).
    pub(crate) fn clamp_row(&self, row: usize, dim: usize) -> Vec<bool> {
        match &self.clamped {
            Some(mask) => query_mask::row(mask, row).to_vec(),
            None => vec![false; dim],
        }
    }
}

/// The result of a binary recall.
#[derive(Clone, Debug, PartialEq)]
pub struct Recall {
    /// B×d final states, every entry ±1.
    pub states: Array2<f32>,
    /// Sweeps each query took: up to and including the first sweep that changed nothing, or
    /// the limit.
    pub sweeps: Vec<usize>,
    /// Whether each query reached a fixed point (a sweep that changed nothing) within the limit.
    pub converged: Vec<bool>,
    /// Energy of each final state, in f64.
    pub energy: Array1<f64>,
}

/// The sign rule of every binary update: +1 for a positive field, −1 for a negative one, and
/// on a field of exactly zero the neuron keeps its `current` state. Keeping the state (rather
/// than picking +1) is what makes a zero field never count as a change, so a fixed point is
/// still one under either update.
///
/// ```
/// use hopfield::binary::sign;
/// assert_eq!(sign(0.5, -1.0), 1.0);
/// assert_eq!(sign(0.0, -1.0), -1.0);
/// ```
pub fn sign(field: f64, current: f32) -> f32 {
    if field > 0.0 {
        1.0
    } else if field < 0.0 {
        -1.0
    } else {
        current
    }
}

/// The order in which asynchronous sweep number `sweep` (from 0) visits `dim` neurons: a
/// permutation of `0..dim` drawn from `seed` and `sweep`, the same for every query of a batch.
/// The GPU path uploads exactly these, so both backends flip the same neurons in the same order.
///
/// The order is fixed for good, whatever version of this crate or of `rand`: ChaCha8 keyed by
/// `seed` (little-endian, zero-padded to 32 bytes) on stream `sweep`, and a Fisher–Yates
/// shuffle from the last position down that picks each swap partner from one 64-bit output by
/// a widening multiply.
///
/// ```
/// let order = hopfield::binary::sweep_order(1, 0, 5);
/// let mut sorted = order.clone();
/// sorted.sort();
/// assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
/// ```
pub fn sweep_order(seed: u64, sweep: usize, dim: usize) -> Vec<u32> {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(sweep as u64);
    let mut order: Vec<u32> = (0..dim as u32).collect();
    for i in (1..dim).rev() {
        let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
    order
}

/// Checks that every entry is −1 or +1 ([`Error::NonFinite`] for NaN/±Inf, else
/// [`Error::NotBinary`]) and that there is at least one row and one column.
pub(crate) fn check_states(what: &'static str, data: ArrayView2<f32>) -> Result<()> {
    if data.ncols() == 0 {
        return Err(Error::ZeroDimension);
    }
    for ((row, col), &value) in data.indexed_iter() {
        if value != 1.0 && value != -1.0 {
            return Err(if value.is_finite() {
                Error::NotBinary {
                    what,
                    row,
                    col,
                    value,
                }
            } else {
                Error::NonFinite {
                    what,
                    row,
                    col,
                    value,
                }
            });
        }
    }
    Ok(())
}

/// Queries of a recall: binary, of the network's dimension.
pub(crate) fn check_queries(queries: ArrayView2<f32>, dim: usize) -> Result<()> {
    if queries.ncols() != dim {
        return Err(Error::DimensionMismatch {
            what: "queries",
            expected: dim,
            got: queries.ncols(),
        });
    }
    check_states("queries", queries)
}

/// Per-query sweep counts and convergence from the last sweep (1-based, 0 = never) in which
/// each query changed, after `ran` sweeps of a batch with a limit of `max`.
pub(crate) fn summarize(last_change: &[u32], ran: usize, max: usize) -> (Vec<usize>, Vec<bool>) {
    last_change
        .iter()
        .map(|&k| {
            let k = k as usize;
            if k < ran {
                // A sweep after the last change ran and found nothing to flip.
                (k + 1, true)
            } else {
                (max, false)
            }
        })
        .unzip()
}

/// Final states (B×d), sweeps and convergence per query: what a backend's recall produces.
pub(crate) type Swept = (Array2<f32>, Vec<usize>, Vec<bool>);

/// Runs `run` on the queries as one row-major slice, and shapes its flat states back to B×d.
pub(crate) fn on_device(
    queries: ArrayView2<f32>,
    run: impl FnOnce(&[f32]) -> Result<(Vec<f32>, Vec<usize>, Vec<bool>)>,
) -> Result<Swept> {
    let q = queries.as_standard_layout();
    let (states, sweeps, converged) = run(q.as_slice().expect("standard layout"))?;
    let states = Array2::from_shape_vec(queries.dim(), states).expect("B×d states");
    Ok((states, sweeps, converged))
}

/// The result of a recall, with `energy` of each final state.
pub(crate) fn with_energy(
    (states, sweeps, converged): Swept,
    energy: impl Fn(&[f32]) -> f64,
) -> Recall {
    let energy = states
        .rows()
        .into_iter()
        .map(|s| energy(s.as_slice().expect("standard layout")))
        .collect();
    Recall {
        states,
        sweeps,
        converged,
        energy,
    }
}

/// Runs a recall on the host: `sweep(state, clamped, sweep_index)` performs one sweep on one
/// query's state (d entries), leaving the neurons `clamped` marks alone, and says whether it
/// changed anything.
pub(crate) fn recall_on_host(
    queries: ArrayView2<f32>,
    opts: &RecallOptions,
    mut sweep: impl FnMut(&mut [f32], &[bool], usize) -> bool,
) -> Swept {
    let mut states = queries.as_standard_layout().into_owned();
    let dim = states.ncols();
    let mut last_change = Vec::with_capacity(states.nrows());
    let mut ran = 0;
    for (row, state) in states
        .as_slice_mut()
        .expect("standard layout")
        .chunks_exact_mut(dim.max(1))
        .enumerate()
    {
        let clamped = opts.clamp_row(row, dim);
        // A query stops at its fixed point: further sweeps could not change it.
        let mut last = 0;
        for s in 0..opts.max_sweeps {
            ran = ran.max(s + 1);
            if !sweep(state, &clamped, s) {
                break;
            }
            last = s as u32 + 1;
        }
        last_change.push(last);
    }
    let (sweeps, converged) = summarize(&last_change, ran, opts.max_sweeps);
    (states, sweeps, converged)
}

#[cfg(test)]
mod tests {
    use super::sweep_order;

    /// The visiting orders are part of the crate's promise: a seed gives the same recall on
    /// every version, so these values may never change.
    #[test]
    fn sweep_orders_are_pinned() {
        let got = [
            sweep_order(0, 0, 10),
            sweep_order(7, 0, 10),
            sweep_order(7, 1, 10),
            sweep_order(u64::MAX, 3, 1000)[..8].to_vec(),
            sweep_order(3, 0, 1),
        ];
        let want: [Vec<u32>; 5] = [
            vec![9, 2, 3, 4, 6, 7, 0, 1, 5, 8],
            vec![5, 3, 9, 8, 1, 6, 2, 0, 4, 7],
            vec![3, 1, 0, 6, 8, 4, 5, 7, 2, 9],
            vec![635, 116, 131, 503, 203, 899, 221, 973],
            vec![0],
        ];
        assert_eq!(got, want);
    }
}
