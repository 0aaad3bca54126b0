//! Top-k selected on the device (issue 14): the k largest weights of each query, exactly,
//! ties to the lower index, with only the B·k (index, weight) pairs read back.

mod common;

use hopfield::{Device, Memory, RetrieveOptions};
use ndarray::{Array2, ArrayView2};
use rand::RngExt;

/// The host's selection from the weights: indices by weight, largest first, then by index.
fn select(weights: ArrayView2<f32>, k: usize) -> Array2<usize> {
    let mut out = Array2::zeros((weights.nrows(), k));
    for (r, row) in weights.rows().into_iter().enumerate() {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&i, &j| row[j].total_cmp(&row[i]).then(i.cmp(&j)));
        for (c, &i) in order.iter().take(k).enumerate() {
            out[[r, c]] = i;
        }
    }
    out
}

/// Retrieves with both the weights and top-k, and checks that the device's selection is the
/// host's selection from the same weights, index for index and bit for bit.
fn check(device: &Device, x: &Array2<f32>, q: &Array2<f32>, beta: f32, k: usize, what: &str) {
    let memory = Memory::from_array(device, x.view()).unwrap();
    let options = RetrieveOptions::new(beta).with_weights().with_top_k(k);
    let out = memory.retrieve(q.view(), &options).unwrap();
    let weights = out.weights.unwrap();
    let top = out.top_k.unwrap();
    let want = select(weights.view(), k);
    assert_eq!(top.indices, want, "{what}: indices");
    for ((r, c), &i) in want.indexed_iter() {
        assert_eq!(
            top.weights[[r, c]].to_bits(),
            weights[[r, i]].to_bits(),
            "{what}: weight of row {r} rank {c}"
        );
        assert_eq!(top.ids[[r, c]], memory.ids()[i], "{what}: id");
    }
}

/// Awkward shapes and k ∈ {1, 2, 7, N}.
#[test]
fn the_selection_is_the_weights_order() {
    let Some(device) = common::gpu() else {
        return;
    };
    let mut rng = common::rng("top-k order");
    for _ in 0..common::cases(40) {
        let (b, n, d) = (
            common::awkward(&mut rng),
            common::awkward(&mut rng),
            common::awkward(&mut rng),
        );
        let beta = rng.random_range(0.1f32..8.0);
        let x = common::normal(&mut rng, n, d, 1.0);
        let q = common::normal(&mut rng, b, d, 1.0);
        for k in [1, 2, 7, n].into_iter().filter(|&k| k <= n) {
            check(
                &device,
                &x,
                &q,
                beta,
                k,
                &format!("B={b} N={n} d={d} k={k}"),
            );
        }
    }
}

/// Equal weights (each pattern stored three times, and a query orthogonal to all of them)
/// come lowest index first.
#[test]
fn ties_go_to_the_lower_index() {
    let Some(device) = common::gpu() else {
        return;
    };
    let mut rng = common::rng("top-k ties");
    let (n, d) = (37, 11);
    let base = common::normal(&mut rng, n, d, 1.0);
    let x = Array2::from_shape_fn((3 * n, d), |(i, j)| base[[i % n, j]]);
    let mut q = common::normal(&mut rng, 3, d, 1.0);
    q.row_mut(2).fill(0.0);
    for k in [1, 2, 7, 3 * n] {
        check(&device, &x, &q, 2.0, k, &format!("ties k={k}"));
    }
    let memory = Memory::from_array(&device, x.view()).unwrap();
    let out = memory
        .retrieve(q.view(), &RetrieveOptions::new(2.0).with_top_k(5))
        .unwrap();
    assert_eq!(
        out.top_k.unwrap().indices.row(2).to_vec(),
        vec![0, 1, 2, 3, 4]
    );
}

/// Past 2^16 and 2^20 patterns, with weights spread over many of them (small β), so every
/// count pass and segment matters.
#[test]
fn at_scale() {
    let Some(device) = common::gpu() else {
        return;
    };
    let mut rng = common::rng("top-k scale");
    for (b, n, d, k) in [(2, (1 << 16) + 3, 16, 10), (1, (1 << 20) + 7, 3, 7)] {
        let x = common::normal(&mut rng, n, d, 1.0);
        let q = common::normal(&mut rng, b, d, 1.0);
        check(&device, &x, &q, 0.5, k, &format!("B={b} N={n} d={d} k={k}"));
    }
}

/// Top-k without the weights reads back the states, their last change and B·k pairs, nothing
/// B×N, and in steady state creates nothing.
#[test]
fn only_the_pairs_are_read_back() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("top-k readback");
    let (b, n, d, k) = (3, 4099, 24, 10);
    let memory = Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
    let q = common::normal(&mut rng, b, d, 1.0);
    let options = RetrieveOptions::new(2.0).with_top_k(k);
    let first = memory.retrieve(q.view(), &options).unwrap();
    let before = device.stats();
    let again = memory.retrieve(q.view(), &options).unwrap();
    let call = device.stats().since(before);
    assert_eq!(first.top_k, again.top_k);
    assert!(again.weights.is_none());
    assert_eq!(
        call.bytes_read_back,
        (b * d * 4 + b * 4 + b * k * 8) as u64,
        "{call:?}"
    );
    assert_eq!(
        call.buffers_created + call.bind_groups_created,
        0,
        "{call:?}"
    );
}
