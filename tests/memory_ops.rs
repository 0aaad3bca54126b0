//! Memory mutations against a plain `Vec` of rows, and retrieval after them against a memory
//! built fresh from the same rows.

mod common;

use common::normal;
use hopfield::{Device, Memory, RetrieveOptions};
use ndarray::{Array2, ArrayView2};
use rand::RngExt;

fn as_rows(a: ArrayView2<f32>) -> Vec<Vec<f32>> {
    a.rows().into_iter().map(|r| r.to_vec()).collect()
}

fn check(memory: &Memory, model: &[Vec<f32>], what: &str) {
    assert_eq!(memory.len(), model.len(), "{what}: len");
    assert_eq!(
        as_rows(memory.patterns().unwrap().view()),
        model,
        "{what}: patterns"
    );
}

/// A random sequence of appends (growing past several capacities), replacements, removals
/// (unordered, repeated indices) and clears.
fn mutations_match_a_model(device: &Device) {
    let mut rng = common::rng("mutations_match_a_model");
    let d = 7;
    let mut memory = Memory::new(device, d).unwrap();
    let mut model: Vec<Vec<f32>> = Vec::new();
    for op in 0..120 {
        match rng.random_range(0..10) {
            0..=4 => {
                let rows = rng.random_range(0..40);
                let x = normal(&mut rng, rows, d, 1.0);
                memory.append(x.view()).unwrap();
                model.extend(as_rows(x.view()));
            }
            5..=6 if !model.is_empty() => {
                let i = rng.random_range(0..model.len());
                let row = normal(&mut rng, 1, d, 1.0).into_raw_vec_and_offset().0;
                memory.replace(i, &row).unwrap();
                model[i] = row;
            }
            7..=8 if !model.is_empty() => {
                let k = rng.random_range(1..=model.len().min(6));
                let mut idx: Vec<usize> =
                    (0..k).map(|_| rng.random_range(0..model.len())).collect();
                idx.push(idx[0]);
                memory.remove(&idx).unwrap();
                idx.sort_unstable();
                idx.dedup();
                for &i in idx.iter().rev() {
                    model.remove(i);
                }
            }
            9 => {
                memory.clear();
                model.clear();
            }
            _ => {}
        }
        check(&memory, &model, &format!("after op {op}"));
    }
    if !model.is_empty() {
        let flat: Vec<f32> = model.concat();
        let fresh = Memory::from_rows(device, d, &flat).unwrap();
        let q = normal(&mut rng, 9, d, 1.0);
        let opts = RetrieveOptions::new(2.0).steps(2).with_weights();
        assert_eq!(
            memory.retrieve(q.view(), &opts).unwrap(),
            fresh.retrieve(q.view(), &opts).unwrap()
        );
    }
}

fn empty_batches_and_rows(device: &Device) {
    let mut memory = Memory::from_array(device, Array2::<f32>::eye(4).view()).unwrap();
    memory.append(Array2::<f32>::zeros((0, 4)).view()).unwrap();
    memory.remove(&[]).unwrap();
    assert_eq!(memory.len(), 4);
    let out = memory
        .retrieve(
            Array2::<f32>::zeros((0, 4)).view(),
            &RetrieveOptions::new(1.0).with_weights(),
        )
        .unwrap();
    assert_eq!(out.states.dim(), (0, 4));
    assert_eq!(out.weights.unwrap().dim(), (0, 4));
}

on_every_backend!(mutations_match_a_model, empty_batches_and_rows);
