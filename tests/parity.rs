//! Both backends against the f64 reference, on fresh random inputs of awkward shapes.
//!
//! Tolerances (f32 arithmetic against the f64 reference, data of norm ≈ 1, β ≤ 8):
//! - states: ‖out − ref‖_F / ‖ref‖_F ≤ 1e-5 per step taken (errors of successive steps add up,
//!   each step's Jacobian being of order β·spread ≤ a few);
//! - weights, max change: max |out − ref| ≤ 1e-5 (probabilities / components of norm-1 states);
//! - energies: |out − ref| ≤ 1e-5 · (1 + |ref|).
//!
//! GPU outputs are poisoned with NaN before each kernel runs (`common::gpu`), and every measure
//! here turns a NaN into a failure.

#[path = "bodies/parity.rs"]
mod bodies;
mod common;

use bodies::*;
use common::normal;
use hopfield::{Device, Memory, RetrieveOptions};

/// The async form resolves to the same result as the blocking one, also from another thread.
async fn async_matches_blocking(device: &Device) {
    let mut rng = common::rng("async_matches_blocking");
    let x = normal(&mut rng, 40, 9, 1.0);
    let q = normal(&mut rng, 6, 9, 1.0);
    let memory = Memory::from_array(device, x.view()).unwrap();
    let opts = RetrieveOptions::new(2.0)
        .until_converged(1e-6, 30)
        .with_weights();
    let blocking = memory.retrieve(q.view(), &opts).unwrap();
    let from_thread = std::thread::scope(|s| {
        s.spawn(|| pollster::block_on(memory.retrieve_async(q.view(), &opts)).unwrap())
            .join()
            .unwrap()
    });
    assert_eq!(blocking, from_thread);
}

on_every_backend_async!(
    fixed_steps_match_reference,
    until_converged_matches_reference,
    huge_scores_do_not_overflow,
    batching_is_invisible,
    async_matches_blocking,
);
