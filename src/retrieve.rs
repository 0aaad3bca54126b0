//! What a retrieval is asked for ([`RetrieveOptions`]) and what it returns ([`Retrieval`]).
//!
//! One step maps a batch of states Q (B×d) to `sep(β Q Xᵀ) X`, `sep` the request's
//! [`Separation`] (softmax unless asked otherwise). The backends run the steps;
//! this module validates the request and turns their raw per-batch output into the result
//! (top-k, energies), so the CPU and GPU paths report the same things the same way.

use std::time::Duration;

use ndarray::{Array1, Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::query_mask;
use crate::separation::Separation;

/// When to stop updating the states.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// Exactly this many update steps (≥ 1).
    Steps(usize),
    /// Until the largest change of any component of a batch's states in one step is ≤ `eps`,
    /// or `max_steps` steps (≥ 1) have been taken.
    Converged {
        /// Tolerance on max |ξ_new − ξ| (absolute, per component).
        eps: f32,
        /// Step limit.
        max_steps: usize,
    },
}

/// Which kernels a GPU retrieval runs.
///
/// The fused path never forms the B×N weights: it keeps a running max, sum and weighted sum per
/// query (online softmax) over slices of the patterns, then merges the slices by log-sum-exp.
/// The unfused path writes scores, normalises them and multiplies them with the patterns; it is
/// the one that can return the weights. The CPU path has its own choice and ignores this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fusion {
    /// Fused unless the weights (or top-k) are asked for, or the memory is in more chunks
    /// than one fused merge takes (1024).
    #[default]
    Auto,
    /// Always fused; asking for weights or top-k too is an [`Error::InvalidOptions`].
    Fused,
    /// Always unfused (scores → softmax → weighted sum).
    Unfused,
}

/// Options of [`Memory::retrieve`](crate::Memory::retrieve), built from [`RetrieveOptions::new`].
///
/// ```
/// use hopfield::RetrieveOptions;
/// let opts = RetrieveOptions::new(8.0).until_converged(1e-6, 50).with_top_k(3).with_energy();
/// assert_eq!(opts.beta, 8.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetrieveOptions {
    /// Inverse temperature β > 0.
    pub beta: f32,
    /// How scores become weights (softmax by default).
    pub separation: Separation,
    /// A partial cue: which features of each query are known, B×d (one row per query) or 1×d
    /// (one for the batch), `true` = known. The first step's scores then use the known
    /// features only, βΣ_{j known} ξ_j x_μj (the unknown ones are read as 0), and every new
    /// state is whole stored patterns, Xᵀp, which fills in the unknown features. What the
    /// queries hold at unknown features is ignored (NaN is fine there); the energy before is
    /// that of the queries with those features at 0.
    pub known: Option<Array2<bool>>,
    /// With [`known`](Self::known): put the known features back to their given values after
    /// every step, so only the unknown ones move (off by default).
    pub clamp_known: bool,
    /// Fixed steps or until converged.
    pub stop: Stop,
    /// Return the B×N attention weights.
    pub weights: bool,
    /// Return the k largest weights per query and the patterns they belong to.
    pub top_k: Option<usize>,
    /// Return the energy of each query before and of each state after retrieval.
    pub energy: bool,
    /// Which GPU kernels to run.
    pub fusion: Fusion,
    /// Measure the device time of the GPU work (needs timestamp queries; see
    /// [`Retrieval::device_time`]).
    pub timing: bool,
    /// Return the last step's log-sum-exps ([`BlockOut::lse_last`]): a partial needs them.
    pub(crate) keep_lse: bool,
}

impl RetrieveOptions {
    /// One update step at inverse temperature `beta`, returning the states only.
    pub fn new(beta: f32) -> Self {
        RetrieveOptions {
            beta,
            separation: Separation::Softmax,
            known: None,
            clamp_known: false,
            stop: Stop::Steps(1),
            weights: false,
            top_k: None,
            energy: false,
            fusion: Fusion::Auto,
            timing: false,
            keep_lse: false,
        }
    }

    /// Weights by `separation` instead of softmax (see [`Separation`]).
    pub fn separation(mut self, separation: Separation) -> Self {
        self.separation = separation;
        self
    }

    /// Exactly `steps` update steps.
    pub fn steps(mut self, steps: usize) -> Self {
        self.stop = Stop::Steps(steps);
        self
    }

    /// Update until the largest change of a state component is ≤ `eps`, at most `max_steps` times.
    pub fn until_converged(mut self, eps: f32, max_steps: usize) -> Self {
        self.stop = Stop::Converged { eps, max_steps };
        self
    }

    /// Also return the attention weights.
    pub fn with_weights(mut self) -> Self {
        self.weights = true;
        self
    }

    /// Retrieve from a partial cue: `mask` says which features of each query are known (B×d,
    /// or 1×d for every query); see [`known`](Self::known).
    ///
    /// ```
    /// use hopfield::{Device, Memory, RetrieveOptions};
    /// use ndarray::array;
    ///
    /// let memory = Memory::from_array(&Device::cpu(), array![[1.0, 1.0, -1.0], [1.0, -1.0, 1.0]].view())?;
    /// // Only the second feature is known: it picks the first pattern and fills in the rest.
    /// let opts = RetrieveOptions::new(8.0).known(array![[false, true, false]]);
    /// let out = memory.retrieve(array![[0.0, 1.0, 0.0]].view(), &opts)?;
    /// assert!((out.states[[0, 2]] + 1.0).abs() < 1e-3);
    /// # Ok::<(), hopfield::Error>(())
    /// ```
    pub fn known(mut self, mask: Array2<bool>) -> Self {
        self.known = Some(mask);
        self
    }

    /// Keep the known features of a partial cue at their given values between steps.
    pub fn clamp_known(mut self) -> Self {
        self.clamp_known = true;
        self
    }

    /// Also return the `k` strongest patterns per query.
    pub fn with_top_k(mut self, k: usize) -> Self {
        self.top_k = Some(k);
        self
    }

    /// Also return energies before and after.
    pub fn with_energy(mut self) -> Self {
        self.energy = true;
        self
    }

    /// Run these kernels on a GPU.
    pub fn fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    /// Also measure the device time of the GPU work.
    pub fn with_timing(mut self) -> Self {
        self.timing = true;
        self
    }

    /// Whether a GPU runs the fused kernels for this request.
    pub(crate) fn fused(&self) -> bool {
        match self.fusion {
            Fusion::Auto => !self.needs_weights() && self.separation.fuses(),
            Fusion::Fused => true,
            Fusion::Unfused => false,
        }
    }

    /// The largest number of steps this request can take.
    pub fn max_steps(&self) -> usize {
        match self.stop {
            Stop::Steps(s) => s,
            Stop::Converged { max_steps, .. } => max_steps,
        }
    }

    /// The convergence tolerance, if the request stops on convergence.
    pub fn eps(&self) -> Option<f32> {
        match self.stop {
            Stop::Steps(_) => None,
            Stop::Converged { eps, .. } => Some(eps),
        }
    }

    /// Whether the backends must produce the final weights.
    pub(crate) fn needs_weights(&self) -> bool {
        self.weights || self.top_k.is_some()
    }

    /// Checks the options against a memory of `n` patterns.
    pub(crate) fn validate(&self, n: usize) -> Result<()> {
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::InvalidBeta(self.beta));
        }
        if self.max_steps() == 0 {
            return Err(Error::InvalidSteps(0));
        }
        if let Some(eps) = self.eps() {
            if !(eps.is_finite() && eps >= 0.0) {
                return Err(Error::InvalidEps(eps));
            }
        }
        if self.fusion == Fusion::Fused && self.needs_weights() {
            return Err(Error::InvalidOptions(
                "the fused kernels never form the attention weights: ask for Fusion::Auto or \
                 Fusion::Unfused to get weights or top-k"
                    .into(),
            ));
        }
        if self.clamp_known && self.known.is_none() {
            return Err(Error::InvalidOptions(
                "clamp_known keeps the known features of a partial cue: give the mask with \
                 RetrieveOptions::known"
                    .into(),
            ));
        }
        if self.fusion == Fusion::Fused && !self.separation.fuses() {
            return Err(Error::InvalidOptions(format!(
                "the fused kernels compute softmax and softmax1 only, not {}: ask for \
                 Fusion::Auto or Fusion::Unfused",
                self.separation
            )));
        }
        if n == 0 {
            return Err(Error::EmptyMemory);
        }
        self.separation.validate(n)?;
        if let Some(k) = self.top_k {
            if k == 0 || k > n {
                return Err(Error::InvalidTopK { k, n });
            }
        }
        Ok(())
    }
}

impl RetrieveOptions {
    /// The partial cue of `queries` (B×d, row-major): the queries with their unknown features
    /// zeroed, and, where the known features are clamped, the mask expanded to B×d; `None`
    /// without a mask. A mask of another shape than B×d or 1×d is an error.
    pub(crate) fn cue(&self, queries: &[f32], dim: usize) -> Result<Option<Cue>> {
        let Some(mask) = &self.known else {
            return Ok(None);
        };
        let b = queries.len() / dim.max(1);
        query_mask::check(mask, "known-feature mask", b, dim, "features")?;
        let rows = || (0..b).flat_map(|r| query_mask::row(mask, r));
        let queries = queries
            .iter()
            .zip(rows())
            .map(|(&v, &k)| if k { v } else { 0.0 })
            .collect();
        let clamp = self.clamp_known.then(|| rows().copied().collect());
        Ok(Some(Cue { queries, clamp }))
    }
}

/// A partial cue as the backends take it ([`RetrieveOptions::cue`]).
pub(crate) struct Cue {
    /// The queries with their unknown features at 0.
    pub queries: Vec<f32>,
    /// B×d known-feature flags, where they are clamped between steps.
    pub clamp: Option<Vec<bool>>,
}

/// The k strongest patterns of each query, strongest first (ties: lower index first).
#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    /// B×k row indices into the memory.
    pub indices: Array2<usize>,
    /// B×k ids of the same patterns (see [`Memory::ids`](crate::Memory::ids)).
    pub ids: Array2<u64>,
    /// B×k attention weights of those patterns.
    pub weights: Array2<f32>,
}

/// Energies E(ξ) = −lse(β, Xξ) + ½ξᵀξ + β⁻¹ln N + ½M² (Ramsauer et al. 2020, eq. 2 with the
/// constants that make 0 ≤ E ≤ 2M²) for softmax; for another [`Separation`],
/// E(ξ) = −Ψ*(βXξ)/β + ½ξᵀξ + H_max/β + ½M² with Ψ* the conjugate of its negative entropy and
/// H_max = [`Separation::max_entropy`] (docs/separations.md), so E ≥ 0 for every rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Energies {
    /// Energy of each query.
    pub before: Array1<f64>,
    /// Energy of each returned state.
    pub after: Array1<f64>,
}

/// The result of [`Memory::retrieve`](crate::Memory::retrieve).
#[derive(Clone, Debug, PartialEq)]
pub struct Retrieval {
    /// B×d retrieved states.
    pub states: Array2<f32>,
    /// B×N weights of the last step: `states = weights · X` (when asked for).
    pub weights: Option<Array2<f32>>,
    /// The strongest patterns of the last step's weights (when asked for).
    pub top_k: Option<TopK>,
    /// Energies before and after (when asked for).
    pub energy: Option<Energies>,
    /// Steps taken for each query. Queries are updated in blocks that stop together, so every
    /// query of a block reports its block's count.
    pub steps: Vec<usize>,
    /// Largest |change| of any component of each state in its last step.
    pub max_change: Array1<f32>,
    /// With [`Stop::Converged`]: whether each query's last change was ≤ eps. `None` for
    /// [`Stop::Steps`], where nothing was asked about convergence.
    pub converged: Option<Vec<bool>>,
    /// With [`RetrieveOptions::with_timing`] on a GPU whose adapter has timestamp queries: the
    /// time the device spent on this retrieval's passes, summed over its submissions (uploads
    /// and readbacks excluded). `None` otherwise.
    pub device_time: Option<Duration>,
}

impl Retrieval {
    /// The id of the pattern each query reached: the strongest of the last step's weights.
    /// `None` unless top-k was asked for ([`RetrieveOptions::with_top_k`]).
    ///
    /// ```
    /// use hopfield::{Device, Memory, RetrieveOptions};
    /// use ndarray::array;
    ///
    /// let mut memory = Memory::new(&Device::cpu(), 2)?;
    /// memory.append_with_ids(array![[1.0, 0.0], [0.0, 1.0]].view(), &[100, 200])?;
    /// let out = memory.retrieve(array![[0.1, 0.9]].view(), &RetrieveOptions::new(8.0).with_top_k(1))?;
    /// assert_eq!(out.reached_ids(), Some(vec![200]));
    /// # Ok::<(), hopfield::Error>(())
    /// ```
    pub fn reached_ids(&self) -> Option<Vec<u64>> {
        let top = self.top_k.as_ref()?;
        Some(top.ids.column(0).to_vec())
    }
}

/// What a backend returns for one block of queries.
pub(crate) struct BlockOut {
    pub states: Vec<f32>,
    pub weights: Option<Vec<f32>>,
    /// Per row, the separation's conjugate Ψ*(βXξ) of the queries: max + ln Σ exp of the
    /// scaled scores (β·lse(β, Xξ)) for softmax.
    pub lse_before: Option<Vec<f32>>,
    /// The same for the returned states.
    pub lse_after: Option<Vec<f32>>,
    /// With [`RetrieveOptions::keep_lse`] (and no energies): the same for the states the
    /// last step started from.
    pub lse_last: Option<Vec<f32>>,
    pub max_change: Vec<f32>,
    /// The k strongest patterns of each row, strongest first, where the backend selected them
    /// (the GPU path); else they are picked from `weights` here.
    pub top_k: Option<(Vec<usize>, Vec<f32>)>,
    pub steps: usize,
    /// Device time of the block's GPU passes, when measured.
    pub device_time: Option<Duration>,
}

/// Largest |score| an f32 similarity may reach before we refuse: scores are summed and
/// exponentiated in f32, whose range ends at 3.4e38.
pub(crate) const SCORE_LIMIT: f64 = 1e37;

/// Refuses inputs whose scores could overflow f32. Every state after the first step is a convex
/// combination of patterns, so its norm is at most M: the bound covers every step.
pub(crate) fn check_score_range(beta: f32, query_norm: f64, pattern_norm: f64) -> Result<()> {
    let reach = query_norm.max(pattern_norm) * pattern_norm * f64::from(beta).max(1.0);
    if reach > SCORE_LIMIT {
        return Err(Error::ScoreOverflow {
            beta,
            query_norm,
            pattern_norm,
            limit: SCORE_LIMIT,
        });
    }
    Ok(())
}

/// Puts the known features of a clamped cue back after a step: `next[i] = cue[i]` wherever
/// `known[i]` (all three B×d, row-major). The host side of a clamped retrieval: the CPU path
/// and a sharded memory's merged steps.
pub(crate) fn clamp_known(next: &mut [f32], cue: &[f32], known: &[bool]) {
    for ((v, &q), _) in next.iter_mut().zip(cue).zip(known).filter(|p| *p.1) {
        *v = q;
    }
}

/// Each row's largest |change| between the B×d states `before` and `after` (`d` per row),
/// into `out` (B): what until-converged compares with ε.
pub(crate) fn max_changes(before: &[f32], after: &[f32], d: usize, out: &mut [f32]) {
    for ((c, a), z) in out
        .iter_mut()
        .zip(before.chunks_exact(d))
        .zip(after.chunks_exact(d))
    {
        *c = a
            .iter()
            .zip(z)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
    }
}

/// Squared Euclidean norm of each row, in f64.
pub(crate) fn row_sq_norms(data: &[f32], dim: usize) -> Vec<f64> {
    data.chunks_exact(dim)
        .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect()
}

/// Assembles the result from the blocks (in query order), for a memory whose patterns have
/// these `ids`.
pub(crate) fn assemble(
    opts: &RetrieveOptions,
    queries: ArrayView2<f32>,
    blocks: Vec<(usize, BlockOut)>,
    ids: &[u64],
    max_sq_norm: f64,
) -> Retrieval {
    let n = ids.len();
    let (b, d) = queries.dim();
    let mut states = Vec::with_capacity(b * d);
    let mut weights: Option<Vec<f32>> = None;
    let mut lse_before = Vec::new();
    let mut lse_after = Vec::new();
    let mut max_change = Vec::with_capacity(b);
    let mut selected: Option<(Vec<usize>, Vec<f32>)> = None;
    let mut steps = Vec::with_capacity(b);
    let mut device_time: Option<Duration> = None;
    for (rows, block) in blocks {
        if let Some(t) = block.device_time {
            *device_time.get_or_insert(Duration::ZERO) += t;
        }
        states.extend_from_slice(&block.states);
        if let Some(bw) = block.weights {
            weights
                .get_or_insert_with(|| Vec::with_capacity(b * n))
                .extend_from_slice(&bw);
        }
        lse_before.extend(block.lse_before.unwrap_or_default());
        lse_after.extend(block.lse_after.unwrap_or_default());
        max_change.extend_from_slice(&block.max_change);
        if let Some((i, w)) = block.top_k {
            let all = selected.get_or_insert_with(Default::default);
            all.0.extend(i);
            all.1.extend(w);
        }
        steps.extend(std::iter::repeat_n(block.steps, rows));
    }
    let states = Array2::from_shape_vec((b, d), states).expect("blocks cover every query");
    // No query, no block: the weights and top-k asked for are empty, not absent.
    let weights = weights.or_else(|| (b == 0 && opts.needs_weights()).then(Vec::new));
    let weights = weights.map(|w| Array2::from_shape_vec((b, n), w).expect("B×N weights"));
    let top_k = opts.top_k.and_then(|k| match selected {
        Some((indices, values)) => {
            let indices = Array2::from_shape_vec((b, k), indices).expect("B×k indices");
            Some(TopK {
                ids: indices.mapv(|i| ids[i]),
                indices,
                weights: Array2::from_shape_vec((b, k), values).expect("B×k weights"),
            })
        }
        None => weights.as_ref().map(|w| top_k(w.view(), k, ids)),
    });
    let energy = opts.energy.then(|| {
        let e = |lse: &[f32], s: ArrayView2<f32>| {
            energies(
                lse,
                &row_sq_norms(
                    s.as_standard_layout().as_slice().expect("standard layout"),
                    d,
                ),
                opts.beta,
                opts.separation.max_entropy(n),
                max_sq_norm,
            )
        };
        Energies {
            before: e(&lse_before, queries),
            after: e(&lse_after, states.view()),
        }
    });
    let converged = opts
        .eps()
        .map(|eps| max_change.iter().map(|&c| c <= eps).collect());
    Retrieval {
        states,
        weights: if opts.weights { weights } else { None },
        top_k,
        energy,
        steps,
        max_change: Array1::from(max_change),
        converged,
        device_time,
    }
}

/// E = −Ψ*/β + ½‖ξ‖² + H_max/β + ½M², from the conjugate Ψ*(βXξ) the backends return (the
/// scaled log-sum-exp for softmax, where H_max = ln N).
pub(crate) fn energies(
    conjugate: &[f32],
    sq_norms: &[f64],
    beta: f32,
    max_entropy: f64,
    max_sq_norm: f64,
) -> Array1<f64> {
    let beta = f64::from(beta);
    conjugate
        .iter()
        .zip(sq_norms)
        .map(|(&c, &q)| -f64::from(c) / beta + 0.5 * q + max_entropy / beta + 0.5 * max_sq_norm)
        .collect()
}

/// The k largest entries of each row, largest first, ties broken by the lower index; `ids` are
/// the patterns' ids.
pub(crate) fn top_k(weights: ArrayView2<f32>, k: usize, ids: &[u64]) -> TopK {
    let b = weights.nrows();
    let mut indices = Array2::zeros((b, k));
    let mut values = Array2::zeros((b, k));
    let mut order: Vec<usize> = Vec::new();
    for (r, row) in weights.rows().into_iter().enumerate() {
        order.clear();
        order.extend(0..row.len());
        let cmp = |&i: &usize, &j: &usize| row[j].total_cmp(&row[i]).then(i.cmp(&j));
        if k < order.len() {
            order.select_nth_unstable_by(k - 1, cmp);
            order.truncate(k);
        }
        order.sort_unstable_by(cmp);
        for (c, &i) in order.iter().enumerate() {
            indices[[r, c]] = i;
            values[[r, c]] = row[i];
        }
    }
    TopK {
        ids: indices.mapv(|i| ids[i]),
        indices,
        weights: values,
    }
}
