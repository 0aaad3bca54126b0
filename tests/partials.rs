//! Partials (issue 16): a memory split into shards, each shard's one-step partial merged in any
//! order, equals the whole memory's retrieval.
//!
//! Tolerances: the merged states are within 1e-5 (relative, Frobenius) of the whole memory's
//! and of the f64 reference, and the top-k weights within 1e-5 absolute, plus what f32 scores
//! cannot hold: each scaled score s = βx·ξ carries a rounding of about ε|s|, which moves a weight
//! by that much relative. At β = 1e3 with unit norms that is 6e-5, so the bound used is
//! 1e-5 + 8ε·max|s| (8 ε: the shard's and the whole's own log-sum-exps round too).

mod common;

use hopfield::{merge, Device, Error, Memory, Partial, RetrieveOptions, Separation};
use ndarray::{s, Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::RngExt;

/// Cut points of `n` rows into `shards` pieces, some of them empty.
fn cuts(rng: &mut rand::rngs::StdRng, n: usize, shards: usize) -> Vec<usize> {
    let mut at: Vec<usize> = (1..shards).map(|_| rng.random_range(0..=n)).collect();
    at.push(0);
    at.push(n);
    at.sort_unstable();
    at
}

/// The shard memories of `x` cut at `at`, each holding its rows with the whole memory's ids.
fn shards(device: &Device, x: ArrayView2<f32>, ids: &[u64], at: &[usize]) -> Vec<Memory> {
    at.windows(2)
        .map(|w| {
            let mut m = Memory::new(device, x.ncols()).unwrap();
            if w[1] > w[0] {
                m.append_with_ids(x.slice(s![w[0]..w[1], ..]), &ids[w[0]..w[1]])
                    .unwrap();
            }
            m
        })
        .collect()
}

/// Largest |β x·ξ| over the patterns and queries (for the tolerance's rounding term).
fn max_score(x: ArrayView2<f32>, q: ArrayView2<f32>, beta: f32) -> f64 {
    let s = q.dot(&x.t());
    f64::from(beta) * s.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64
}

/// One random case: shards cut at random, merged in row order and in a shuffled order.
fn check_case(device: &Device, rng: &mut rand::rngs::StdRng, beta: f32, unit: bool, what: &str) {
    let (b, n, d) = (
        common::awkward(rng),
        common::awkward(rng),
        common::awkward(rng),
    );
    let scale = if unit { 1.0 } else { 2.0 };
    let x = common::normal(rng, n, d, scale);
    let q = common::normal(rng, b, d, scale);
    let shard_count = if n <= 8 {
        n + 1
    } else {
        rng.random_range(1..6)
    };
    let at = if n <= 8 {
        // One pattern per shard, and an empty one at the end.
        (0..=n).chain([n]).collect()
    } else {
        cuts(rng, n, shard_count)
    };
    let k = [1, 2, 7, n][rng.random_range(0..4)].min(n);
    let separation = if rng.random_bool(0.5) {
        Separation::Softmax
    } else {
        Separation::Softmax1
    };
    let mut options = RetrieveOptions::new(beta)
        .separation(separation)
        .with_top_k(k);
    if rng.random_bool(0.3) {
        options = options.known(Array2::from_shape_simple_fn((1, d), || {
            rng.random_bool(0.7)
        }));
    }
    let what = format!("{what}: B={b} N={n} d={d} β={beta} k={k} {separation} cuts {at:?}");

    let whole = Memory::from_array(device, x.view()).unwrap();
    let want = whole
        .retrieve(q.view(), &options.clone().with_energy().with_weights())
        .unwrap();
    let memories = shards(device, x.view(), whole.ids(), &at);
    let mut parts: Vec<Partial> = memories
        .iter()
        .map(|m| m.retrieve_partial(q.view(), &options).unwrap())
        .collect();

    let slack = 1e-5 + 8.0 * f64::from(f32::EPSILON) * max_score(x.view(), q.view(), beta);
    let seen = match &options.known {
        Some(mask) => {
            &q * &mask
                .mapv(|k| if k { 1.0f32 } else { 0.0 })
                .broadcast((b, d))
                .unwrap()
        }
        None => q.clone(),
    };
    // In row order the candidates' rows are the whole memory's.
    let in_order = merge(&parts).unwrap();
    let err = common::rel_err(
        in_order.states.view(),
        common::to64(want.states.view()).view(),
    );
    assert!(err <= slack, "{what}: in order, states off by {err:e}");
    let want_top = want.top_k.as_ref().unwrap();
    let weights = want.weights.as_ref().unwrap();
    let top = in_order.top_k.as_ref().unwrap();
    let columns = whole.ids();
    common::check_top_by_weight(
        top,
        want_top,
        weights.view(),
        columns,
        columns,
        slack,
        &what,
    );
    let energies = in_order.energies(seen.view()).unwrap();
    let before = &want.energy.as_ref().unwrap().before;
    for (e, w) in energies.iter().zip(before) {
        assert!(
            (e - w).abs() <= slack * (1.0 + w.abs()),
            "{what}: energy {e} vs {w}"
        );
    }
    if separation == Separation::Softmax {
        let (reference, _) = common::one_step_f64(x.view(), seen.view(), f64::from(beta));
        let err = common::rel_err(in_order.states.view(), reference.view());
        assert!(
            err <= slack,
            "{what}: states off the f64 reference by {err:e}"
        );
    }

    // Shuffled: the same states and weights; indices count rows in the shuffled order.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.shuffle(rng);
    let shuffled: Vec<Partial> = order.iter().map(|&i| parts[i].clone()).collect();
    let ids: Vec<u64> = order
        .iter()
        .flat_map(|&i| memories[i].ids().to_vec())
        .collect();
    let merged = merge(&shuffled).unwrap();
    let err = common::rel_err(
        merged.states.view(),
        common::to64(in_order.states.view()).view(),
    );
    assert!(
        err <= slack,
        "{what}: order {order:?} moves the states by {err:e}"
    );
    let what = format!("{what}, merged in order {order:?}");
    common::check_top_by_weight(
        merged.top_k.as_ref().unwrap(),
        want_top,
        weights.view(),
        whole.ids(),
        &ids,
        slack,
        &what,
    );

    // One partial absorbing the others one by one is the same merge.
    let mut acc = parts.remove(0);
    for p in &parts {
        acc.absorb(p).unwrap();
    }
    assert_eq!(acc.finish().unwrap(), in_order, "{what}: absorb one by one");
}

fn shards_merge_into_the_whole(device: &Device) {
    let mut rng = common::rng("partials merge");
    for case in 0..common::cases(12) {
        let beta = rng.random_range(0.1f32..8.0);
        check_case(device, &mut rng, beta, false, &format!("case {case}"));
    }
    for case in 0..common::cases(4) {
        check_case(
            device,
            &mut rng,
            1e3,
            true,
            &format!("β = 1e3, case {case}"),
        );
    }
}

/// A memory's own partial, merged alone, is its retrieval: bit for bit for softmax.
fn one_partial_is_the_memory(device: &Device) {
    let mut rng = common::rng("one partial");
    let (b, n, d) = (5, 97, 33);
    let x = common::normal(&mut rng, n, d, 2.0);
    let q = common::normal(&mut rng, b, d, 2.0);
    let memory = Memory::from_array(device, x.view()).unwrap();
    for options in [
        RetrieveOptions::new(3.0),
        RetrieveOptions::new(3.0).with_top_k(7),
    ] {
        let want = memory.retrieve(q.view(), &options).unwrap();
        let got = merge(&[memory.retrieve_partial(q.view(), &options).unwrap()]).unwrap();
        assert_eq!(got.states, want.states, "{options:?}");
        assert_eq!(got.top_k, want.top_k, "{options:?}");
    }
}

/// Top-k larger than a shard: the shard keeps what it has, the merge the k best of all.
fn top_k_beyond_a_shard(device: &Device) {
    let mut rng = common::rng("top-k beyond a shard");
    let x = common::normal(&mut rng, 10, 4, 1.0);
    let q = common::normal(&mut rng, 3, 4, 1.0);
    let whole = Memory::from_array(device, x.view()).unwrap();
    let memories = shards(device, x.view(), whole.ids(), &[0, 2, 2, 10]);
    let options = RetrieveOptions::new(2.0).with_top_k(10);
    let parts: Vec<Partial> = memories
        .iter()
        .map(|m| m.retrieve_partial(q.view(), &options).unwrap())
        .collect();
    assert_eq!(parts[0].top_k.as_ref().unwrap().ids.ncols(), 2);
    assert_eq!(parts[1].top_k.as_ref().unwrap().ids.ncols(), 0);
    let merged = merge(&parts).unwrap();
    let want = whole
        .retrieve(q.view(), &options.clone().with_weights())
        .unwrap();
    common::check_top_by_weight(
        &merged.top_k.unwrap(),
        &want.top_k.unwrap(),
        want.weights.unwrap().view(),
        whole.ids(),
        whole.ids(),
        1e-5 + 8.0 * f64::from(f32::EPSILON) * max_score(x.view(), q.view(), 2.0),
        "top-k beyond a shard",
    );
}

on_every_backend!(
    shards_merge_into_the_whole,
    one_partial_is_the_memory,
    top_k_beyond_a_shard
);

/// What cannot be split, and partials that do not fit together, are typed errors.
#[test]
fn refusals() {
    let memory = Memory::from_array(&Device::cpu(), ndarray::array![[1.0f32, 0.0]].view()).unwrap();
    let q = ndarray::array![[1.0f32, 0.0]];
    let refused = |o: RetrieveOptions| {
        matches!(
            memory.retrieve_partial(q.view(), &o),
            Err(Error::InvalidOptions(_))
        )
    };
    assert!(refused(RetrieveOptions::new(1.0).steps(2)));
    assert!(refused(RetrieveOptions::new(1.0).until_converged(1e-6, 5)));
    assert!(refused(
        RetrieveOptions::new(1.0).separation(Separation::Sparsemax)
    ));
    assert!(refused(
        RetrieveOptions::new(1.0).separation(Separation::TopK(1))
    ));
    assert!(refused(RetrieveOptions::new(1.0).with_weights()));
    assert!(refused(
        RetrieveOptions::new(1.0)
            .known(ndarray::array![[true, false]])
            .clamp_known()
    ));
    assert!(matches!(
        memory.retrieve_partial(q.view(), &RetrieveOptions::new(-1.0)),
        Err(Error::InvalidBeta(_))
    ));
    assert!(matches!(
        memory.retrieve_partial(ndarray::array![[1.0f32]].view(), &RetrieveOptions::new(1.0)),
        Err(Error::DimensionMismatch { .. })
    ));

    let a = memory
        .retrieve_partial(q.view(), &RetrieveOptions::new(1.0))
        .unwrap();
    let mismatched = [
        memory
            .retrieve_partial(q.view(), &RetrieveOptions::new(2.0))
            .unwrap(),
        memory
            .retrieve_partial(q.view(), &RetrieveOptions::new(1.0).with_top_k(1))
            .unwrap(),
        memory
            .retrieve_partial(
                q.view(),
                &RetrieveOptions::new(1.0).separation(Separation::Softmax1),
            )
            .unwrap(),
        memory
            .retrieve_partial(
                ndarray::array![[1.0f32, 0.0], [0.0, 1.0]].view(),
                &RetrieveOptions::new(1.0),
            )
            .unwrap(),
    ];
    for other in &mismatched {
        let mut merged = a.clone();
        let err = merged.absorb(other).unwrap_err();
        assert!(matches!(err, Error::IncompatiblePartials(_)), "{err}");
        assert_eq!(merged, a, "a refused merge leaves the partial as it was");
    }
    let mut broken = a.clone();
    broken.sum = ndarray::Array1::zeros(3);
    assert!(matches!(
        merge(&[a.clone(), broken]),
        Err(Error::IncompatiblePartials(_))
    ));
    assert!(matches!(merge(&[]), Err(Error::IncompatiblePartials(_))));

    let empty = Partial::empty(1, 2, &RetrieveOptions::new(1.0)).unwrap();
    assert!(matches!(
        merge(&[empty.clone(), empty.clone()]),
        Err(Error::EmptyMemory)
    ));
    // An empty shard changes nothing.
    let with_empty = merge(&[empty.clone(), a.clone(), empty]).unwrap();
    assert_eq!(with_empty, merge(&[a]).unwrap());
}
