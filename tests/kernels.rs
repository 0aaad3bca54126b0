//! Every GPU path — fused and unfused kernels, f32 and f16 storage, one chunk and many — against
//! the f64 reference on fresh random inputs of awkward shapes, including shapes that need
//! several splits per chunk, several feature slices (d > 128) and the many-query kernel (B > 8).
//!
//! Tolerances:
//! - states against the reference on the *stored* patterns (for f16, the values f16 holds;
//!   the arithmetic is f32 either way): ‖out − ref‖_F / ‖ref‖_F ≤ 1e-5 per step taken;
//! - f16 storage against the reference on the original f32 patterns: ≤ 1e-2 (each element
//!   is rounded by at most 2⁻¹¹ relative; the softmax amplifies score errors by up to β·‖x‖²);
//! - max change ≤ 1e-5 absolute; energies ≤ 1e-5 · (1 + |E|) against the stored patterns.
//!
//! Outputs are poisoned with NaN before each kernel (`common::gpu`), and every measure here
//! turns a NaN into a failure. The CPU path runs the f16 cases too: it rounds the same way.

#[path = "bodies/kernels.rs"]
mod bodies;
mod common;

use bodies::*;

on_every_backend_async!(
    every_path_on_awkward_shapes,
    every_path_on_large_shapes,
    chunking_is_invisible,
    timing_is_reported,
    more_chunks_than_one_merge
);
