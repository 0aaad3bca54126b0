//! Retrieval at scale, where the small-shape suites never go: N past 2^16 and 2^20 patterns,
//! d in the tens of thousands, with spread weights so that every pattern counts.
//!
//! Why these shapes: a software adapter (Mesa's llvmpipe behind lavapipe and GL) stops every
//! shader invocation after 65,535 loop trips in total, silently. A kernel whose invocation
//! walked all N patterns or all d features returned a sum over only part of them, with no
//! error: the unfused weighted sum past N ≈ 58k, the fused kernels at d = 16k. The kernels now
//! split every long axis across workgroups or dispatches; these tests hold them to it.
//!
//! Spread weights: patterns and queries of norm ≈ 1 in d dimensions have overlaps of spread
//! 1/√d, and β = 2√d makes the scores' spread 2, so the weights span a few e-folds and no
//! pattern is negligible: a pattern left out of a sum moves the result far past the tolerance.
//!
//! Tolerance: ‖out − ref‖_F / ‖ref‖_F ≤ 1e-5 for one step with f32 arithmetic, against an f64
//! evaluation of the same formula on the stored values (f16-rounded for f16 storage).
//! GPU outputs are poisoned before kernels run, so an unwritten element fails too.
//!
//! The separations beyond softmax (`separations_*`): β is set per N so that about 1.5 % of the
//! patterns, spread over every 4096-pattern segment of the device's row kernels, are in the
//! support of sparsemax and entmax (a missed segment moves τ and every weight), top-k keeps
//! N/64, and softmax₁ has softmax's spread; one step against the f64 reference within the same
//! 1e-5, with each support's size checked so the premise holds. Top-k's weights jump at its
//! k-th score, where at this N the scores crowd within f32's rounding: a pattern kept on one
//! side only must tie τ within that rounding, and the path is then held to the reference's
//! softmax over the patterns it kept (`common::top_k_as_kept`).
//!
//! The command-line tool at the same scale: cli/tests/at_scale.rs.

mod common;

use common::{normal, one_step_f64, rel_err};
use half::f16;
use hopfield::reference;
use hopfield::{
    Device, Error, Fusion, Memory, MemoryOptions, Precision, RetrieveOptions, Separation,
};
use ndarray::Array2;

const TOLERANCE: f64 = 1e-5;

fn rounded_to_f16(x: &Array2<f32>) -> Array2<f32> {
    x.mapv(|v| f16::from_f32(v).to_f32())
}

/// One shape, every path: f32 in one chunk (auto, fused, unfused with top-k) and f16 in
/// several chunks (auto, unfused). `fused_fits`: whether the fused kernels take this shape
/// (where they do not, `Fusion::Fused` must be refused with a typed error, never run).
fn every_path_exact(device: &Device, (b, n, d): (usize, usize, usize), fused_fits: bool) {
    let mut rng = common::rng(&format!("scale B={b} N={n} d={d}"));
    let x = normal(&mut rng, n, d, 1.0);
    let q = normal(&mut rng, b, d, 1.0);
    let beta = 2.0 * (d as f32).sqrt();
    let what = format!("B={b} N={n} d={d} beta={beta}");

    let (expected, top) = one_step_f64(x.view(), q.view(), f64::from(beta));
    let memory = Memory::from_array(device, x.view()).unwrap();
    let check = |memory: &Memory, fusion: Fusion, expected: &Array2<f64>, path: &str| {
        let opts = RetrieveOptions::new(beta).fusion(fusion);
        match memory.retrieve(q.view(), &opts) {
            Ok(out) => {
                let e = rel_err(out.states.view(), expected.view());
                assert!(e <= TOLERANCE, "{what} {path}: states rel err {e:e}");
            }
            Err(Error::InvalidOptions(why)) if fusion == Fusion::Fused && !fused_fits => {
                eprintln!("{what} {path}: refused as expected: {why}");
            }
            Err(e) => panic!("{what} {path}: {e}"),
        }
    };
    check(&memory, Fusion::Auto, &expected, "f32 auto");
    if device.is_gpu() {
        check(&memory, Fusion::Fused, &expected, "f32 fused");
        if !fused_fits {
            let refused =
                memory.retrieve(q.view(), &RetrieveOptions::new(beta).fusion(Fusion::Fused));
            assert!(
                matches!(refused, Err(Error::InvalidOptions(_))),
                "{what}: the fused path ran a shape it cannot do"
            );
        }
    }
    let opts = RetrieveOptions::new(beta)
        .fusion(Fusion::Unfused)
        .with_top_k(3);
    let out = memory.retrieve(q.view(), &opts).unwrap();
    let e = rel_err(out.states.view(), expected.view());
    assert!(
        e <= TOLERANCE,
        "{what} f32 unfused top-k: states rel err {e:e}"
    );
    let got = out.top_k.as_ref().expect("top-k was asked for");
    for (r, want) in top.iter().enumerate() {
        let row: Vec<usize> = got.indices.row(r).to_vec();
        assert_eq!(&row, want, "{what}: top-3 of query {r}");
    }
    drop(memory);

    // f16 storage, in about three chunks.
    let x16 = rounded_to_f16(&x);
    let (expected16, _) = one_step_f64(x16.view(), q.view(), f64::from(beta));
    let chunk_bytes = Precision::F16.row_bytes(d) * n.div_ceil(3) as u64;
    let options = MemoryOptions::default()
        .precision(Precision::F16)
        .max_chunk_bytes(chunk_bytes);
    let mut memory = Memory::with_options(device, d, options).unwrap();
    memory.append(x.view()).unwrap();
    assert!(
        memory.chunks() >= 2 || !device.is_gpu(),
        "{what}: one chunk only"
    );
    check(&memory, Fusion::Auto, &expected16, "f16 chunked auto");
    check(&memory, Fusion::Unfused, &expected16, "f16 chunked unfused");
}

fn many_patterns_65535(device: &Device) {
    every_path_exact(device, (3, 65_535, 24), true);
}

fn many_patterns_65537(device: &Device) {
    every_path_exact(device, (2, 65_537, 24), true);
}

fn many_patterns_2_17_plus_3(device: &Device) {
    every_path_exact(device, (1, (1 << 17) + 3, 24), true);
}

fn many_patterns_2_20_plus_1(device: &Device) {
    every_path_exact(device, (2, (1 << 20) + 1, 16), true);
}

fn wide_patterns_4096(device: &Device) {
    every_path_exact(device, (2, 613, 4096), true);
}

fn wide_patterns_16385(device: &Device) {
    every_path_exact(device, (2, 257, 16_385), false);
}

fn wide_patterns_65536(device: &Device) {
    every_path_exact(device, (1, 97, 65_536), false);
}

/// Every separation but softmax at one shape, one step, weights and states against the f64
/// reference (see the module's doc for β).
fn separations_exact(device: &Device, (b, n, d): (usize, usize, usize)) {
    let mut rng = common::rng(&format!("separations B={b} N={n} d={d}"));
    let x = normal(&mut rng, n, d, 1.0);
    let q = normal(&mut rng, b, d, 1.0);
    let memory = Memory::from_array(device, x.view()).unwrap();
    let (x64, q64) = (common::to64(x.view()), common::to64(q.view()));
    // Scores of spread σ = β/√d: Σ(z − τ)₊ = 1 over N Gaussian scores puts τ about 2.17σ above
    // their mean, where N·σ·0.0053 = 1 and about 1.5 % of them are above it.
    let sparse_beta = (d as f32).sqrt() / (n as f32 * 0.0053);
    let overlaps = reference::scores(x64.view(), q64.view(), 1.0);
    for (s, beta, least) in [
        (Separation::Sparsemax, sparse_beta, n / 200),
        (Separation::Entmax(1.5), sparse_beta, n / 200),
        (Separation::TopK(n / 64), 2.0 * (d as f32).sqrt(), n / 64),
        (Separation::Softmax1, 2.0 * (d as f32).sqrt(), n),
    ] {
        let what = format!("{s} B={b} N={n} d={d} beta={beta}");
        let z = &overlaps * f64::from(beta);
        let (p, _) = reference::separate_rows(s, z.view());
        let want = p.dot(&x64);
        for row in p.rows() {
            let support = row.iter().filter(|&&w| w > 0.0).count();
            assert!(
                support >= least,
                "{what}: the reference's support is {support}"
            );
        }
        let opts = RetrieveOptions::new(beta).separation(s).with_weights();
        let out = memory.retrieve(q.view(), &opts).unwrap();
        let weights = out.weights.unwrap();
        let (p, want) = match s {
            Separation::TopK(k) => {
                let slack =
                    |r: usize, i: usize| common::score_slack(x64.row(i), q64.row(r), beta.into());
                let kept = common::top_k_as_kept(k, z.view(), weights.view(), slack, &what);
                let want = kept.dot(&x64);
                (kept, want)
            }
            _ => (p, want),
        };
        let e = rel_err(out.states.view(), want.view());
        assert!(e <= TOLERANCE, "{what}: states rel err {e:e}");
        let e = rel_err(weights.view(), p.view());
        assert!(e <= TOLERANCE, "{what}: weights rel err {e:e}");
    }
}

fn separations_65537(device: &Device) {
    separations_exact(device, (3, 65_537, 24));
}

fn separations_2_20_plus_7(device: &Device) {
    separations_exact(device, (2, (1 << 20) + 7, 16));
}

on_every_backend!(
    separations_65537,
    separations_2_20_plus_7,
    many_patterns_65535,
    many_patterns_65537,
    many_patterns_2_17_plus_3,
    many_patterns_2_20_plus_1,
    wide_patterns_4096,
    wide_patterns_16385,
    wide_patterns_65536,
);
