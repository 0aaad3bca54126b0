//! Retrieval split over shards of patterns, merged exactly.
//!
//! One step's softmax over N patterns is a sum over them, so it splits: for a shard of the
//! patterns and a query with scaled scores s = βXξ, the triple (m, l = Σ e^(s−m),
//! acc = Σ e^(s−m)·x) holds everything the step needs from that shard. Two triples merge by
//! rescaling both to the larger m (log-sum-exp), in any order and grouping, and the state is
//! acc / l at the end. The fused kernels split N this way inside one device; a [`Partial`] is
//! the same triple handed to the caller, so shards may live on other devices
//! ([`ShardedMemory`](crate::ShardedMemory)) or other machines (a distributed engine's
//! aggregate), and [`merge`] gives what [`Memory::retrieve`](crate::Memory::retrieve) over
//! all of them would have.
//!
//! m need not be the largest score: any reference at least as large keeps every term ≤ 1.
//! The CPU path's blocks keep their largest score; a shard's partial keeps its log-sum-exp
//! (so l = 1 and acc is the shard's own state), which is what its device returns anyway.
//!
//! ```
//! use hopfield::{merge, Device, Memory, RetrieveOptions};
//! use ndarray::array;
//!
//! let x = array![[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]];
//! let q = array![[0.9, 0.3]];
//! let options = RetrieveOptions::new(4.0).with_top_k(2);
//! let whole = Memory::from_array(&Device::cpu(), x.view())?.retrieve(q.view(), &options)?;
//!
//! let mut a = Memory::new(&Device::cpu(), 2)?;
//! a.append_with_ids(x.slice(ndarray::s![..1, ..]), &[0])?;
//! let mut b = Memory::new(&Device::cpu(), 2)?;
//! b.append_with_ids(x.slice(ndarray::s![1.., ..]), &[1, 2])?;
//! let parts = [b.retrieve_partial(q.view(), &options)?, a.retrieve_partial(q.view(), &options)?];
//! let merged = merge(&parts)?;
//! assert!((&merged.states - &whole.states).iter().all(|e| e.abs() < 1e-6));
//! assert_eq!(merged.top_k.unwrap().ids, whole.top_k.unwrap().ids);
//! # Ok::<(), hopfield::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView2};

use crate::retrieve::{energies, row_sq_norms};
use crate::{Error, Result, RetrieveOptions, Separation, Stop, TopK};

/// One shard's softmax of B queries over its patterns, not yet normalised: per query a
/// reference m, l = Σ e^(s−m) and acc = Σ e^(s−m)·x over the shard's scaled scores
/// s = βXξ. Made by [`Memory::retrieve_partial`](crate::Memory::retrieve_partial) or
/// [`Partial::empty`], combined by [`absorb`](Self::absorb), turned into states by
/// [`finish`](Self::finish). The fields are public so a partial can travel (a distributed
/// engine's aggregate state); [`absorb`](Self::absorb) checks that two partials fit together.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    /// The inverse temperature of the scores.
    pub beta: f32,
    /// [`Separation::Softmax`] or [`Separation::Softmax1`] (whose extra zero logit is added
    /// once, by [`finish`](Self::finish)).
    pub separation: Separation,
    /// How many patterns the partial covers.
    pub patterns: usize,
    /// The largest ‖x‖² among them (0 when none), for the energies' constant M².
    pub max_sq_norm: f64,
    /// Per query, the reference m: at least every score (−∞ when there is no pattern).
    pub max: Array1<f32>,
    /// Per query, Σ e^(s−m).
    pub sum: Array1<f32>,
    /// B×d: per query, Σ e^(s−m)·x.
    pub acc: Array2<f32>,
    /// The strongest patterns per query, when top-k was asked for.
    pub top_k: Option<Candidates>,
}

/// A partial's strongest patterns per query: B × min(k, patterns), strongest first, ties to
/// the lower row.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidates {
    /// The k asked for.
    pub k: usize,
    /// Rows of the patterns: within the partial's memory, and after merging, within the
    /// memories concatenated in the order they were absorbed.
    pub indices: Array2<usize>,
    /// Their ids.
    pub ids: Array2<u64>,
    /// Each candidate's e^(s−m): its term of [`Partial::sum`].
    pub terms: Array2<f32>,
}

/// What [`merge`] (or [`Partial::finish`]) gives: one step's retrieval over every pattern of
/// the partials.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// B×d new states.
    pub states: Array2<f32>,
    /// The k strongest patterns per query, when asked for; `indices` count rows of the
    /// partials' memories concatenated in the order they were merged.
    pub top_k: Option<TopK>,
    /// Per query, the separation's conjugate of the scaled scores: β·lse(β, Xξ) for softmax,
    /// ln(1 + Σ e^s) for softmax₁ (what the energies are made of).
    pub lse: Array1<f32>,
    /// How many patterns were merged.
    pub patterns: usize,
    beta: f32,
    separation: Separation,
    max_sq_norm: f64,
}

/// Merges any number of partials (of the same queries and options) into the step
/// [`Memory::retrieve`](crate::Memory::retrieve) would have taken over all their patterns.
/// [`Error::IncompatiblePartials`] when they do not fit together (or there are none),
/// [`Error::EmptyMemory`] when they cover no pattern.
pub fn merge(parts: &[Partial]) -> Result<Merged> {
    let (first, rest) = parts
        .split_first()
        .ok_or_else(|| Error::IncompatiblePartials("merge was given no partial at all".into()))?;
    let mut all = first.clone();
    for p in rest {
        all.absorb(p)?;
    }
    all.finish()
}

/// Checks that `options` describe a step that splits over shards.
pub(crate) fn check_options(options: &RetrieveOptions) -> Result<()> {
    if !(options.beta.is_finite() && options.beta > 0.0) {
        return Err(Error::InvalidBeta(options.beta));
    }
    let refuse = |why: String| Err(Error::InvalidOptions(why));
    if options.stop != Stop::Steps(1) {
        return refuse(
            "a partial is one update step: for more, merge each step's partials and retrieve \
             again from the merged states (ShardedMemory does)"
                .into(),
        );
    }
    if !matches!(
        options.separation,
        Separation::Softmax | Separation::Softmax1
    ) {
        return refuse(format!(
            "{} needs a threshold over every pattern's score, which no shard has alone: \
             partials merge softmax and softmax1 only",
            options.separation
        ));
    }
    if options.weights {
        return refuse("a partial carries no B×N weights: ask for top-k instead".into());
    }
    if options.clamp_known {
        return refuse("clamp_known acts between steps, and a partial is one step".into());
    }
    if options.top_k == Some(0) {
        return Err(Error::InvalidTopK { k: 0, n: 0 });
    }
    Ok(())
}

impl Partial {
    /// The partial of no pattern, for `queries` queries of dimension `dim`: what a shard with
    /// nothing in it contributes, and where an accumulator starts.
    pub fn empty(queries: usize, dim: usize, options: &RetrieveOptions) -> Result<Partial> {
        check_options(options)?;
        if dim == 0 {
            return Err(Error::ZeroDimension);
        }
        Ok(Partial {
            beta: options.beta,
            separation: options.separation,
            patterns: 0,
            max_sq_norm: 0.0,
            max: Array1::from_elem(queries, f32::NEG_INFINITY),
            sum: Array1::zeros(queries),
            acc: Array2::zeros((queries, dim)),
            top_k: options.top_k.map(|k| Candidates {
                k,
                indices: Array2::zeros((queries, 0)),
                ids: Array2::zeros((queries, 0)),
                terms: Array2::zeros((queries, 0)),
            }),
        })
    }

    /// One step of a shard whose states, log-sum-exps and top-k came back from a retrieval:
    /// with m = lse, l = 1 and acc is the state itself.
    pub(crate) fn of_shard(
        options: &RetrieveOptions,
        patterns: usize,
        max_sq_norm: f64,
        states: Array2<f32>,
        lse: Vec<f32>,
        top_k: Option<TopK>,
    ) -> Partial {
        let b = states.nrows();
        Partial {
            beta: options.beta,
            separation: options.separation,
            patterns,
            max_sq_norm,
            max: Array1::from(lse),
            sum: Array1::ones(b),
            acc: states,
            top_k: options.top_k.zip(top_k).map(|(k, t)| Candidates {
                k,
                indices: t.indices,
                ids: t.ids,
                terms: t.weights,
            }),
        }
    }

    /// The number of queries.
    pub fn queries(&self) -> usize {
        self.max.len()
    }

    /// The dimension of the queries and patterns.
    pub fn dim(&self) -> usize {
        self.acc.ncols()
    }

    /// Takes `other`'s patterns into this partial, as if both shards were one memory with
    /// `other`'s rows after this one's. Exact in any order up to f32 rounding; leaves `self`
    /// unchanged and returns [`Error::IncompatiblePartials`] when the two do not fit together.
    pub fn absorb(&mut self, other: &Partial) -> Result<()> {
        self.check_shape()?;
        other.check_shape()?;
        self.check_fits(other)?;
        if !self.acc.is_standard_layout() {
            self.acc = self.acc.as_standard_layout().into_owned();
        }
        let o_acc = other.acc.as_standard_layout();
        let mut factors = Vec::with_capacity(self.queries());
        for (r, (acc, o)) in self
            .acc
            .rows_mut()
            .into_iter()
            .zip(o_acc.rows())
            .enumerate()
        {
            factors.push(combine(
                (
                    &mut self.max[r],
                    &mut self.sum[r],
                    acc.into_slice().expect("standard"),
                ),
                (other.max[r], other.sum[r], o.to_slice().expect("standard")),
            ));
        }
        if let (Some(mine), Some(theirs)) = (&mut self.top_k, &other.top_k) {
            *mine = mine.merged(theirs, self.patterns, &factors);
        }
        self.patterns += other.patterns;
        self.max_sq_norm = self.max_sq_norm.max(other.max_sq_norm);
        Ok(())
    }

    /// The states, top-k and log-sum-exps of the patterns taken in so far.
    pub fn finish(&self) -> Result<Merged> {
        self.check_shape()?;
        if self.patterns == 0 {
            return Err(Error::EmptyMemory);
        }
        let d = self.dim();
        let mut states = self.acc.as_standard_layout().into_owned();
        let mut lse = Vec::with_capacity(self.queries());
        for (r, row) in states.rows_mut().into_iter().enumerate() {
            lse.push(finish_row(
                self.max[r],
                self.sum[r],
                row.into_slice().expect("standard layout"),
            ));
        }
        // Softmax₁'s extra zero logit scales each row's states and weights by σ(lse).
        let zero_logit = (self.separation == Separation::Softmax1).then(|| {
            let out = states.as_slice_mut().expect("standard layout");
            crate::cpu::separate::softmax1_of(Some(out), &mut lse, d)
        });
        let top_k = self.top_k.as_ref().map(|c| {
            let mut weights = c.terms.clone();
            for (r, mut row) in weights.rows_mut().into_iter().enumerate() {
                // The candidate's weight e^(s−lse): its term over l (times σ(lse)).
                let scale = zero_logit.as_ref().map_or(1.0, |s| s[r]) / f64::from(self.sum[r]);
                row.mapv_inplace(|t| (f64::from(t) * scale) as f32);
            }
            TopK {
                indices: c.indices.clone(),
                ids: c.ids.clone(),
                weights,
            }
        });
        Ok(Merged {
            states,
            top_k,
            lse: Array1::from(lse),
            patterns: self.patterns,
            beta: self.beta,
            separation: self.separation,
            max_sq_norm: self.max_sq_norm,
        })
    }

    /// Checks that the public fields agree with one another.
    fn check_shape(&self) -> Result<()> {
        let b = self.queries();
        let mismatch = |what: String| Err(Error::IncompatiblePartials(what));
        if self.sum.len() != b || self.acc.nrows() != b {
            return mismatch(format!(
                "a partial holds {b} maxima, {} sums and {} accumulator rows",
                self.sum.len(),
                self.acc.nrows()
            ));
        }
        if let Some(c) = &self.top_k {
            let want = (b, c.k.min(self.patterns));
            if c.indices.dim() != want || c.ids.dim() != want || c.terms.dim() != want {
                return mismatch(format!(
                    "a partial of {} patterns with top-{} holds candidates of shapes {:?}, {:?} \
                     and {:?}, not {want:?}",
                    self.patterns,
                    c.k,
                    c.indices.dim(),
                    c.ids.dim(),
                    c.terms.dim()
                ));
            }
        }
        Ok(())
    }

    /// Checks that `other` is a partial of the same queries under the same options.
    fn check_fits(&self, other: &Partial) -> Result<()> {
        let mismatch = |what: &str, a: String, b: String| {
            Err(Error::IncompatiblePartials(format!(
                "the partials differ in {what}: {a} and {b}"
            )))
        };
        if self.beta.to_bits() != other.beta.to_bits() {
            return mismatch("beta", self.beta.to_string(), other.beta.to_string());
        }
        if self.separation != other.separation {
            return mismatch(
                "separation",
                self.separation.to_string(),
                other.separation.to_string(),
            );
        }
        if self.acc.dim() != other.acc.dim() {
            return mismatch(
                "queries × dimension",
                format!("{:?}", self.acc.dim()),
                format!("{:?}", other.acc.dim()),
            );
        }
        let k = |p: &Partial| p.top_k.as_ref().map(|c| c.k);
        if k(self) != k(other) {
            return mismatch("top-k", format!("{:?}", k(self)), format!("{:?}", k(other)));
        }
        Ok(())
    }
}

impl Candidates {
    /// The k strongest of both lists per query, `other`'s rows after the `offset` rows of this
    /// one's memory; `factors` rescale each side's terms to the merged reference.
    fn merged(&self, other: &Candidates, offset: usize, factors: &[(f32, f32)]) -> Candidates {
        let (b, mine, theirs) = (self.terms.nrows(), self.terms.ncols(), other.terms.ncols());
        let keep = self.k.min(mine + theirs);
        let mut out = Candidates {
            k: self.k,
            indices: Array2::zeros((b, keep)),
            ids: Array2::zeros((b, keep)),
            terms: Array2::zeros((b, keep)),
        };
        for (r, &(ka, kb)) in factors.iter().enumerate() {
            // Both lists are strongest first: a two-way merge, this one's first on ties (its
            // rows come first).
            let (mut i, mut j) = (0, 0);
            for c in 0..keep {
                let a = (i < mine).then(|| ka * self.terms[[r, i]]);
                let z = (j < theirs).then(|| kb * other.terms[[r, j]]);
                let take_mine = match (a, z) {
                    (Some(a), Some(z)) => a >= z,
                    (a, _) => a.is_some(),
                };
                let (term, index, id) = if take_mine {
                    i += 1;
                    (
                        a.unwrap_or(0.0),
                        self.indices[[r, i - 1]],
                        self.ids[[r, i - 1]],
                    )
                } else {
                    j += 1;
                    let index = other.indices[[r, j - 1]] + offset;
                    (z.unwrap_or(0.0), index, other.ids[[r, j - 1]])
                };
                out.terms[[r, c]] = term;
                out.indices[[r, c]] = index;
                out.ids[[r, c]] = id;
            }
        }
        out
    }
}

impl Merged {
    /// The energy of each query: E = −Ψ*/β + ½‖ξ‖² + H_max/β + ½M², as
    /// [`Retrieval::energy`](crate::Retrieval::energy)'s `before` (for a partial cue, give the
    /// queries with their unknown features at 0, as retrieval saw them).
    pub fn energies(&self, queries: ArrayView2<f32>) -> Result<Array1<f64>> {
        if queries.dim() != self.states.dim() {
            return Err(Error::IncompatiblePartials(format!(
                "energies of {:?} queries asked of a merge of {:?}",
                queries.dim(),
                self.states.dim()
            )));
        }
        let q = queries.as_standard_layout();
        let norms = row_sq_norms(q.as_slice().expect("standard layout"), q.ncols());
        Ok(energies(
            self.lse.as_slice().expect("contiguous"),
            &norms,
            self.beta,
            self.separation.max_entropy(self.patterns),
            self.max_sq_norm,
        ))
    }
}

/// Takes one query's (m, l, acc) of `b` into `a`'s, both rescaled to the larger m
/// (log-sum-exp); returns the factors that rescaled `a`'s and `b`'s terms. The one merge of
/// the crate's host side: the CPU path's blocks and every [`Partial`] go through it.
pub(crate) fn combine(a: (&mut f32, &mut f32, &mut [f32]), b: (f32, f32, &[f32])) -> (f32, f32) {
    let ((a_max, a_sum, a_acc), (b_max, b_sum, b_acc)) = (a, b);
    let m = a_max.max(b_max);
    if m == f32::NEG_INFINITY {
        // Neither has a pattern: nothing to rescale.
        return (1.0, 1.0);
    }
    let (ka, kb) = ((*a_max - m).exp(), (b_max - m).exp());
    *a_max = m;
    *a_sum = ka * *a_sum + kb * b_sum;
    for (x, &y) in a_acc.iter_mut().zip(b_acc) {
        *x = ka * *x + kb * y;
    }
    (ka, kb)
}

/// Turns one query's (m, l, acc) into its state (in place) and returns its log-sum-exp.
pub(crate) fn finish_row(max: f32, sum: f32, acc: &mut [f32]) -> f32 {
    let inv = 1.0 / sum;
    acc.iter_mut().for_each(|v| *v *= inv);
    max + sum.ln()
}
