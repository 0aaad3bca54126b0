//! The parity test bodies, async so that tests/parity.rs (native, waiting with pollster) and
//! tests/web.rs (a browser, awaiting WebGPU) run the same checks; tolerances are in
//! tests/parity.rs.

use super::common::{self, awkward, max_abs_err, normal, rel_err, to64};
use hopfield::{reference, Device, Memory, RetrieveOptions, Stop};
use ndarray::{Array2, ArrayView2};
use rand::RngExt;

const SHAPES: usize = 200;

struct Case {
    x: Array2<f32>,
    q: Array2<f32>,
    beta: f32,
}

fn random_case(rng: &mut rand::rngs::StdRng) -> Case {
    let (b, n, d) = (awkward(rng), awkward(rng), awkward(rng));
    // log-uniform β in [0.1, 8]: from nearly uniform weights to nearly one-hot ones.
    let beta = (rng.random_range(0.1f32.ln()..8f32.ln())).exp();
    Case {
        x: normal(rng, n, d, 1.0),
        q: normal(rng, b, d, 1.0),
        beta,
    }
}

fn describe(c: &Case) -> String {
    format!(
        "B={} N={} d={} beta={}",
        c.q.nrows(),
        c.x.nrows(),
        c.x.ncols(),
        c.beta
    )
}

/// Every output of a fixed-step retrieval against the reference.
pub async fn fixed_steps_match_reference(device: &Device) {
    let mut rng = common::rng("fixed_steps_match_reference");
    for _ in 0..SHAPES {
        let c = random_case(&mut rng);
        let n = c.x.nrows();
        let steps = rng.random_range(1..=3);
        let k = rng.random_range(1..=n.min(5));
        let opts = RetrieveOptions::new(c.beta)
            .steps(steps)
            .with_weights()
            .with_top_k(k)
            .with_energy();
        let memory = Memory::from_array_async(device, c.x.view()).await.unwrap();
        let out = memory.retrieve_async(c.q.view(), &opts).await.unwrap();
        let (x, q) = (to64(c.x.view()), to64(c.q.view()));
        let (states, weights, change) =
            reference::retrieve(x.view(), q.view(), c.beta.into(), steps);
        let what = describe(&c);

        let e = rel_err(out.states.view(), states.view());
        assert!(
            e <= 1e-5 * steps as f64,
            "{what} steps={steps}: states rel err {e:e}"
        );
        let w = out.weights.as_ref().expect("weights were asked for");
        let e = max_abs_err(w.view(), weights.view());
        assert!(e <= 1e-5, "{what}: weights err {e:e}");
        let e = out
            .max_change
            .iter()
            .zip(&change)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(
                0.0,
                |m: f64, v| if v.is_nan() { f64::INFINITY } else { m.max(v) },
            );
        assert!(e <= 1e-5, "{what}: max change err {e:e}");
        assert!(
            out.steps.iter().all(|&s| s == steps),
            "{what}: steps {:?}",
            out.steps
        );
        assert!(out.converged.is_none());

        check_top_k(
            &out.top_k.expect("top-k was asked for"),
            weights.view(),
            k,
            &what,
        );

        let energy = out.energy.expect("energy was asked for");
        let before = reference::energy(x.view(), q.view(), c.beta.into());
        let after = reference::energy(x.view(), states.view(), c.beta.into());
        for (got, want) in [(&energy.before, &before), (&energy.after, &after)] {
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{what}: energy {g} vs {w}"
                );
            }
        }
    }
}

/// Top-k must pick patterns whose reference weights are the k largest (ties and near-ties may
/// come in either order), strongest first, with the weights the reference gives them.
fn check_top_k(top: &hopfield::TopK, weights: ArrayView2<f64>, k: usize, what: &str) {
    assert_eq!(top.indices.dim(), (weights.nrows(), k), "{what}");
    for (r, row) in weights.rows().into_iter().enumerate() {
        let mut sorted: Vec<f64> = row.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        for (c, &want) in sorted.iter().take(k).enumerate() {
            let i = top.indices[[r, c]];
            let got = f64::from(top.weights[[r, c]]);
            assert!(
                (got - want).abs() <= 1e-5,
                "{what}: top-{k} row {r} rank {c}: {got} vs {want}"
            );
            assert!(
                (row[i] - want).abs() <= 1e-5,
                "{what}: row {r} rank {c} picks {i} of weight {}",
                row[i]
            );
            if c > 0 {
                assert!(
                    top.weights[[r, c - 1]] >= top.weights[[r, c]],
                    "{what}: not sorted"
                );
            }
        }
        let mut picked = top.indices.row(r).to_vec();
        picked.sort_unstable();
        picked.dedup();
        assert_eq!(picked.len(), k, "{what}: row {r} repeats a pattern");
    }
}

/// Until-converged: states after the steps taken match the reference after as many steps, and
/// the reference agrees that those steps were the right number to stop at.
pub async fn until_converged_matches_reference(device: &Device) {
    let mut rng = common::rng("until_converged_matches_reference");
    for _ in 0..SHAPES / 2 {
        let c = random_case(&mut rng);
        let eps = (rng.random_range(1e-5f32.ln()..1e-3f32.ln())).exp();
        let max_steps = 40;
        let opts = RetrieveOptions::new(c.beta).until_converged(eps, max_steps);
        let memory = Memory::from_array_async(device, c.x.view()).await.unwrap();
        let out = memory.retrieve_async(c.q.view(), &opts).await.unwrap();
        let what = format!("{} eps={eps}", describe(&c));
        assert_eq!(opts.stop, Stop::Converged { eps, max_steps });

        let (x, q) = (to64(c.x.view()), to64(c.q.view()));
        let t = out.steps[0];
        assert!(
            out.steps.iter().all(|&s| s == t),
            "{what}: one block, one count"
        );
        assert!((1..=max_steps).contains(&t), "{what}: {t} steps");
        let (states, _, change) = reference::retrieve(x.view(), q.view(), c.beta.into(), t);
        let e = rel_err(out.states.view(), states.view());
        assert!(
            e <= 1e-5 * t as f64,
            "{what}: after {t} steps, states rel err {e:e}"
        );

        // Judged in f64 with a margin for f32 rounding of the changes themselves.
        let margin = 1e-5;
        let eps = f64::from(eps);
        if t < max_steps {
            assert!(
                change.iter().all(|&c| c <= eps + margin),
                "{what}: stopped at {t} with changes {change}"
            );
        }
        if t > 1 {
            let (_, _, before) = reference::retrieve(x.view(), q.view(), c.beta.into(), t - 1);
            assert!(
                before.iter().any(|&c| c > eps - margin),
                "{what}: could have stopped at {} (changes {before})",
                t - 1
            );
        }
        let converged = out.converged.expect("asked to converge");
        for (r, (&flag, &c)) in converged.iter().zip(&change).enumerate() {
            if c < eps - margin || c > eps + margin {
                assert_eq!(flag, c <= eps, "{what}: row {r} change {c} vs eps {eps}");
            }
        }
    }
}

/// Extreme but legal inputs: β = 1e4 and patterns of norm 1e3 give scores of order 1e10. The
/// stable softmax must pick the nearest pattern exactly, without NaN or Inf.
pub async fn huge_scores_do_not_overflow(device: &Device) {
    let mut rng = common::rng("huge_scores_do_not_overflow");
    for &(n, d) in &[(1, 1), (17, 5), (129, 33)] {
        // Equal norms, so the largest score is the nearest pattern.
        let mut x = normal(&mut rng, n, d, 1.0);
        for mut row in x.rows_mut() {
            let norm = row.dot(&row).sqrt();
            row.mapv_inplace(|v| v * 1e3 / norm);
        }
        let noise = normal(&mut rng, n, d, 1.0);
        let q = &x + &noise;
        let memory = Memory::from_array_async(device, x.view()).await.unwrap();
        let opts = RetrieveOptions::new(1e4).steps(2).with_energy();
        let out = memory.retrieve_async(q.view(), &opts).await.unwrap();
        assert!(out.states.iter().all(|v| v.is_finite()));
        let e = out.energy.unwrap();
        assert!(e.before.iter().chain(&e.after).all(|v| v.is_finite()));
        // Each query is nearest to its own pattern (noise ≪ pattern spacing); at this β the
        // softmax is one-hot, so the state is that pattern to f32 precision.
        let e = rel_err(out.states.view(), to64(x.view()).view());
        assert!(e <= 1e-6, "n={n} d={d}: rel err {e:e}");
    }
}

/// A query's result does not depend on the other queries retrieved with it.
pub async fn batching_is_invisible(device: &Device) {
    let mut rng = common::rng("batching_is_invisible");
    let x = normal(&mut rng, 257, 31, 1.0);
    let q = normal(&mut rng, 1031, 31, 1.0);
    let memory = Memory::from_array_async(device, x.view()).await.unwrap();
    let opts = RetrieveOptions::new(3.0).steps(2).with_top_k(2);
    let all = memory.retrieve_async(q.view(), &opts).await.unwrap();
    for r in [0, 1, 500, 1030] {
        let one = memory
            .retrieve_async(q.slice(ndarray::s![r..r + 1, ..]), &opts)
            .await
            .unwrap();
        for (a, b) in one.states.iter().zip(all.states.row(r)) {
            assert!((a - b).abs() <= 1e-6, "row {r}: {a} vs {b}");
        }
        assert_eq!(
            one.top_k.unwrap().indices.row(0),
            all.top_k.as_ref().unwrap().indices.row(r)
        );
    }
}
