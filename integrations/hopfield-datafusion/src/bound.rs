//! The bound form: B queries, β, the separation and top-k held by the aggregate itself, so
//! that B queries cost one scan of the patterns.

use std::hash::{Hash, Hasher};

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::AggregateUDF;
use hopfield::{RetrieveOptions, Separation};
use ndarray::Array2;

use crate::udaf::HopfieldRetrieve;

/// A batch of queries and the retrieval's options, as an aggregate over an embedding column
/// (and an id column, which top-k needs: candidates are named by id, rows having no order
/// across a distributed scan).
///
/// ```no_run
/// # use hopfield_datafusion::BoundRetrieve;
/// # use datafusion::prelude::*;
/// # async fn demo(df: DataFrame, queries: ndarray::Array2<f32>) -> datafusion::error::Result<()> {
/// let retrieve = BoundRetrieve::new(queries, 8.0)?.with_top_k(5)?.udaf();
/// let out = df.aggregate(vec![], vec![retrieve.call(vec![col("embedding"), col("id")])])?;
/// # Ok(()) }
/// ```
/// The result is one row: a struct of `states` (B lists of d f32) and, with top-k, `ids`
/// (B lists of k u64) and `weights` (B lists of k f32).
#[derive(Clone, Debug)]
pub struct BoundRetrieve {
    pub(crate) queries: Array2<f32>,
    pub(crate) beta: f32,
    pub(crate) separation: Separation,
    pub(crate) top_k: Option<usize>,
}

impl BoundRetrieve {
    /// One softmax step of `queries` (B×d) at inverse temperature `beta`.
    pub fn new(queries: Array2<f32>, beta: f32) -> Result<Self> {
        let (b, d) = queries.dim();
        if b == 0 || d == 0 {
            return plan_err!("BoundRetrieve: queries must be B×d with B, d ≥ 1, got {b}×{d}");
        }
        if let Some(i) = queries.iter().position(|v| !v.is_finite()) {
            return plan_err!(
                "BoundRetrieve: query value {} (row {}) is not finite",
                i,
                i / d
            );
        }
        if !(beta.is_finite() && beta > 0.0) {
            return plan_err!("BoundRetrieve: β must be a finite number > 0, got {beta}");
        }
        Ok(BoundRetrieve {
            queries,
            beta,
            separation: Separation::Softmax,
            top_k: None,
        })
    }

    /// Weights by `separation`: [`Separation::Softmax`] or [`Separation::Softmax1`], the two
    /// whose partials merge exactly.
    pub fn with_separation(mut self, separation: Separation) -> Result<Self> {
        if !matches!(separation, Separation::Softmax | Separation::Softmax1) {
            return plan_err!(
                "BoundRetrieve: only Softmax and Softmax1 split into mergeable partials, got \
                 {separation:?}"
            );
        }
        self.separation = separation;
        Ok(self)
    }

    /// Also return the `k` strongest patterns of each query (ids and weights).
    pub fn with_top_k(mut self, k: usize) -> Result<Self> {
        if k == 0 {
            return plan_err!("BoundRetrieve: k must be at least 1");
        }
        self.top_k = Some(k);
        Ok(self)
    }

    /// The queries, B×d.
    pub fn queries(&self) -> &Array2<f32> {
        &self.queries
    }

    /// The aggregate function, named `hopfield_retrieve_bound`; call it on
    /// `(embedding)` or, with top-k, `(embedding, id)`.
    pub fn udaf(&self) -> AggregateUDF {
        AggregateUDF::from(HopfieldRetrieve::bound(self.clone()))
    }

    pub(crate) fn options(&self) -> RetrieveOptions {
        let options = RetrieveOptions::new(self.beta).separation(self.separation);
        match self.top_k {
            Some(k) => options.with_top_k(k),
            None => options,
        }
    }
}

// DataFusion compares and hashes functions (plans are deduplicated by them); by bits, since
// f32 is neither Eq nor Hash and a query equal as numbers but not in bits (0.0, −0.0) is
// harmless to treat as another function.
impl PartialEq for BoundRetrieve {
    fn eq(&self, other: &Self) -> bool {
        self.queries.dim() == other.queries.dim()
            && self
                .queries
                .iter()
                .zip(other.queries.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
            && self.beta.to_bits() == other.beta.to_bits()
            && self.separation == other.separation
            && self.top_k == other.top_k
    }
}

impl Eq for BoundRetrieve {}

impl Hash for BoundRetrieve {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.queries.dim().hash(state);
        self.queries.iter().for_each(|v| v.to_bits().hash(state));
        self.beta.to_bits().hash(state);
        format!("{:?}", self.separation).hash(state);
        self.top_k.hash(state);
    }
}
