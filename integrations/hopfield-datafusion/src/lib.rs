//! # hopfield-datafusion: Hopfield retrieval as a DataFusion aggregate, run by Ballista
//!
//! One retrieval step `ξ_new = Xᵀ softmax(β X ξ)` over patterns stored in a table splits
//! exactly by rows: each partition's patterns give, per query, a [`hopfield::Partial`]
//! (max score, Σ e^(s−m), Σ e^(s−m)·x and top-k candidates) that merges with any other by
//! log-sum-exp. That is the shape of an aggregate: `update_batch` computes a partial with the
//! core crate on the executor's device, `state`/`merge_batch` carry and merge partials,
//! `evaluate` normalises them into the states (and the top-k ids and weights).
//!
//! Two forms of the aggregate:
//! - SQL, one query per call ([`HopfieldRetrieve::sql`], registered as `hopfield_retrieve`):
//!   `hopfield_retrieve(embedding, [..query..], beta)` gives the state as a list of f32;
//!   `hopfield_retrieve(embedding, [..query..], beta, id, k)` gives a struct
//!   `{state, ids, weights}` with the k strongest patterns by their `id`.
//! - Bound ([`BoundRetrieve`]): a batch of B queries, β, the separation and top-k held by the
//!   function itself, so B queries cost one scan; it travels to Ballista's executors through
//!   [`HopfieldPhysicalCodec`] (and to the scheduler through [`HopfieldLogicalCodec`]).
//!
//! [`session_state`] builds a DataFusion session (or a Ballista client's) with the SQL form
//! registered and the codecs configured; the examples `scheduler` and `executor` are the
//! processes of a real cluster. The README says what it costs.

mod accumulator;
mod args;
mod bound;
mod cluster;
mod codec;
mod device;
mod embeddings;
mod output;
mod state;
mod udaf;

pub use bound::BoundRetrieve;
pub use cluster::{function_registry, register, session_state, sql_udaf, with_codecs};
pub use codec::{HopfieldLogicalCodec, HopfieldPhysicalCodec};
pub use device::executor_device;
pub use udaf::{HopfieldRetrieve, BOUND_NAME, SQL_NAME};

/// Re-exported so that callers name the same versions this crate is built on.
pub use ballista_core;
pub use datafusion;
pub use hopfield;
