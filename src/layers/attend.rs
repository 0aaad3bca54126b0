//! The per-head attention of a layer, `xi = separation(mask(β·q·kᵀ))` (softmax unless the
//! configuration says otherwise) with hflayers' update steps
//! and `o = xi·v`, for all (batch item, head) problems at once: on the GPU through the
//! retrieval kernels ([`crate::gpu::attention`]), on the CPU in plain loops.

use crate::error::{Error, Result};
use crate::gpu::attention::{Attention, From, Shape};
use crate::Separation;

/// The problems' data on the host, each operand problem after problem, row-major and unpadded.
pub(crate) struct Problems<'a> {
    pub shape: Shape,
    /// `problems × rows × dim`.
    pub queries: &'a [f32],
    /// `problems × keys × dim`.
    pub keys: &'a [f32],
    /// `problems × keys × vdim`.
    pub values: &'a [f32],
    /// One β per problem.
    pub beta: &'a [f32],
    /// The association's rule.
    pub separation: Separation,
    /// `problems × rows × keys`, nonzero = masked; `None`: nothing is masked.
    pub mask: Option<&'a [u32]>,
}

/// What the attention of one layer call gives back.
pub(crate) struct Attended {
    /// `problems × rows × vdim`.
    pub out: Vec<f32>,
    /// `problems × rows × keys`, the final association, when asked for.
    pub association: Option<Vec<f32>>,
    /// Softmaxes of the longest-running head: 1 + its update steps.
    pub iterations: usize,
}

/// Where the passes run; problem `p` belongs to head `p % heads`.
pub(crate) enum Engine<'a> {
    Cpu(Host<'a>),
    Gpu(&'a Attention<'a>),
}

impl Engine<'_> {
    /// Recomputes the association of the `active` problems from the queries or, for an
    /// update, from `xi · k`; returns every problem's association when `read`.
    async fn associate(
        &mut self,
        from: From,
        active: &[bool],
        read: bool,
    ) -> Result<Option<Vec<f32>>> {
        match self {
            Engine::Cpu(host) => Ok(host.associate(from, active, read)),
            Engine::Gpu(gpu) => gpu.associate(from, active, read).await,
        }
    }
}

/// Runs the problems on the CPU: [`steps`], then `xi · v`.
pub(crate) async fn attend(
    problems: &Problems<'_>,
    heads: usize,
    steps_max: Option<usize>,
    eps: f32,
    association: bool,
) -> Result<Attended> {
    let mut engine = Engine::Cpu(Host::new(problems));
    let iterations = steps(&mut engine, problems.shape, heads, steps_max, eps).await?;
    let Engine::Cpu(host) = engine else {
        return Err(Error::Gpu(
            "layer attention: the host engine changed".into(),
        ));
    };
    let (out, association) = host.retrieve(association);
    Ok(Attended {
        out,
        association,
        iterations,
    })
}

/// One association, then hflayers' update steps — head `h` takes another while
/// `update_steps_max` allows and some batch item's association moved by more than `eps`
/// (Frobenius norm over rows × keys) in the previous step. Returns the softmaxes taken by the
/// longest-running head.
///
/// The stopping test reads the associations back after each update step and measures the
/// change on the host, in f64. A layer call's associations are small (batch × heads × L × S),
/// so the read costs little beside the synchronisation every step needs anyway; what no
/// decision will use (with `Some(0)`, the default, or `Some(1)`: nothing) is not read, and on
/// a GPU then nothing is submitted until the caller's retrieval.
pub(crate) async fn steps(
    engine: &mut Engine<'_>,
    s: Shape,
    heads: usize,
    steps_max: Option<usize>,
    eps: f32,
) -> Result<usize> {
    let per = s.rows * s.keys;
    // The association after step t is read only if a stopping decision will use it: the
    // decision after step t' (1 ≤ t' < update_steps_max) compares steps t' and t' − 1.
    let needed = |t: usize| steps_max.is_none_or(|m| t + 1 < m || (t >= 1 && t < m));
    let mut head_on = vec![true; heads];
    let all = vec![true; s.problems];
    let mut xi = engine.associate(From::Queries, &all, needed(0)).await?;
    let mut prev: Option<Vec<f32>> = None;
    let mut iterations = 1;
    for t in 0.. {
        if steps_max.is_some_and(|m| t >= m) {
            break;
        }
        if t >= 1 {
            let (Some(now), Some(before)) = (&xi, &prev) else {
                return Err(Error::Gpu(
                    "layer attention: a stopping decision without its associations".into(),
                ));
            };
            for (h, on) in head_on.iter_mut().enumerate().filter(|(_, on)| **on) {
                // NaN-propagating max, as torch's: a NaN change stops the head (NaN > ε is false).
                let mut change = 0.0f64;
                for p in (h..s.problems).step_by(heads) {
                    let d = frobenius(&now[p * per..][..per], &before[p * per..][..per]);
                    change = if d.is_nan() || change.is_nan() {
                        f64::NAN
                    } else {
                        change.max(d)
                    };
                }
                *on = change > f64::from(eps);
            }
        }
        if !head_on.iter().any(|&on| on) {
            break;
        }
        let active: Vec<bool> = (0..s.problems).map(|p| head_on[p % heads]).collect();
        let next = engine
            .associate(From::Update, &active, needed(t + 1))
            .await?;
        prev = xi;
        xi = next;
        iterations += 1;
    }
    Ok(iterations)
}

fn frobenius(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The same passes on the host, in f32 like the kernels.
pub(crate) struct Host<'a> {
    p: &'a Problems<'a>,
    xi: Vec<f32>,
}

impl<'a> Host<'a> {
    fn new(p: &'a Problems<'a>) -> Host<'a> {
        let s = p.shape;
        Host {
            p,
            xi: vec![f32::NAN; s.problems * s.rows * s.keys],
        }
    }
}

/// `out[rows × cols] = a[rows × n] · b[n × cols]`.
fn matmul(a: &[f32], b: &[f32], rows: usize, n: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for j in 0..n {
            let w = a[r * n + j];
            for c in 0..cols {
                out[r * cols + c] += w * b[j * cols + c];
            }
        }
    }
    out
}

impl Host<'_> {
    fn associate(&mut self, from: From, active: &[bool], read: bool) -> Option<Vec<f32>> {
        let s = self.p.shape;
        let (qlen, klen, per) = (s.rows * s.dim, s.keys * s.dim, s.rows * s.keys);
        for p in (0..s.problems).filter(|&p| active[p]) {
            let keys = &self.p.keys[p * klen..][..klen];
            let q = match from {
                From::Queries => self.p.queries[p * qlen..][..qlen].to_vec(),
                From::Update => matmul(&self.xi[p * per..][..per], keys, s.rows, s.keys, s.dim),
            };
            let xi = &mut self.xi[p * per..][..per];
            for r in 0..s.rows {
                let row = &mut xi[r * s.keys..][..s.keys];
                for (c, score) in row.iter_mut().enumerate() {
                    let masked = self
                        .p
                        .mask
                        .is_some_and(|m| m[p * per + r * s.keys + c] != 0);
                    *score = if masked {
                        f32::NEG_INFINITY
                    } else {
                        let dot: f32 = q[r * s.dim..][..s.dim]
                            .iter()
                            .zip(&keys[c * s.dim..][..s.dim])
                            .map(|(a, b)| a * b)
                            .sum();
                        self.p.beta[p] * dot
                    };
                }
                if self.p.separation != Separation::Softmax {
                    crate::cpu::separate::apply(self.p.separation, row);
                    continue;
                }
                // A fully masked row has max −∞ and becomes NaN, as torch's softmax makes it.
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for x in row.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                row.iter_mut().for_each(|x| *x /= sum);
            }
        }
        read.then(|| self.xi.clone())
    }

    fn retrieve(&self, association: bool) -> (Vec<f32>, Option<Vec<f32>>) {
        let s = self.p.shape;
        let (per, vlen) = (s.rows * s.keys, s.keys * s.vdim);
        let out = (0..s.problems)
            .flat_map(|p| {
                let v = &self.p.values[p * vlen..][..vlen];
                matmul(&self.xi[p * per..][..per], v, s.rows, s.keys, s.vdim)
            })
            .collect();
        (out, association.then(|| self.xi.clone()))
    }
}
