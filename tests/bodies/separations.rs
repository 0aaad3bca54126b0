//! The separations and partial cues in one async body, so that a browser (tests/web.rs: Tint
//! compiling the threshold, top-k and clamp kernels, SwiftShader running them) checks what
//! tests/separations.rs and tests/partial_cues.rs check natively; tests/separations.rs runs
//! this body too. Tolerances as there: states 1e-5 relative, weights 1e-5 absolute, energies
//! 1e-5·(1 + |E|); top-k against the reference over the patterns it kept, where its k-th
//! score ties another within f32's rounding (`common::top_k_as_kept`).

use super::common::{self, awkward, max_abs_err, normal, rel_err, to64};
use hopfield::{reference, Device, Memory, RetrieveOptions, Separation};
use rand::RngExt;

/// One step of every rule, with weights and energies, on awkward shapes and on rows of more
/// than one 4096-score segment; then a clamped partial cue.
pub async fn every_rule_matches_reference(device: &Device) {
    let mut rng = common::rng("every_rule_matches_reference");
    let mut shapes: Vec<(usize, usize, usize)> = (0..4)
        .map(|_| {
            (
                awkward(&mut rng).min(17),
                awkward(&mut rng),
                awkward(&mut rng),
            )
        })
        .collect();
    shapes.push((2, 4097, 5));
    for (b, n, d) in shapes {
        let x = normal(&mut rng, n, d, 1.0);
        let q = normal(&mut rng, b, d, 1.0);
        let beta = rng.random_range(1.0f32..8.0);
        let (x64, q64) = (to64(x.view()), to64(q.view()));
        let memory = Memory::from_array_async(device, x.view()).await.unwrap();
        for s in [
            Separation::Sparsemax,
            Separation::Entmax(1.5),
            Separation::Entmax(1.25),
            Separation::Softmax1,
            Separation::TopK(rng.random_range(1..=n)),
        ] {
            let what = format!("{s} B={b} N={n} d={d} beta={beta}");
            let opts = RetrieveOptions::new(beta)
                .separation(s)
                .with_weights()
                .with_energy();
            let out = memory.retrieve_async(q.view(), &opts).await.unwrap();
            let z = reference::scores(x64.view(), q64.view(), beta.into());
            let weights = out.weights.as_ref().unwrap();
            let p = match s {
                Separation::TopK(k) => {
                    let slack = |r: usize, i: usize| {
                        common::score_slack(x64.row(i), q64.row(r), beta.into())
                    };
                    common::top_k_as_kept(k, z.view(), weights.view(), slack, &what)
                }
                _ => reference::separate_rows(s, z.view()).0,
            };
            let e = max_abs_err(weights.view(), p.view());
            assert!(e <= 1e-5, "{what}: weights err {e:e}");
            let e = rel_err(out.states.view(), p.dot(&x64).view());
            assert!(e <= 1e-5, "{what}: states rel err {e:e}");
            let want = reference::energy_with(x64.view(), q64.view(), beta.into(), s);
            let got = out.energy.unwrap().before;
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{what}: energy {g} vs {w}"
                );
            }
        }
        // A clamped partial cue, two steps: the known features stay as given.
        let mask = ndarray::Array2::from_shape_fn((b, d), |(r, c)| (r + c) % 2 == 0);
        let opts = RetrieveOptions::new(beta)
            .steps(2)
            .known(mask.clone())
            .clamp_known();
        let out = memory.retrieve_async(q.view(), &opts).await.unwrap();
        for ((r, c), &k) in mask.indexed_iter() {
            if k {
                assert_eq!(
                    out.states[[r, c]],
                    q[[r, c]],
                    "B={b} N={n} d={d}: [{r},{c}]"
                );
            }
        }
    }
}
