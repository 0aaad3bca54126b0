//! The classical binary Hopfield network (Hopfield 1982): ±1 states, a symmetric weight
//! matrix with zero diagonal learned by the Hebbian or the Storkey rule, thresholds θ, and
//! sign updates, synchronous or asynchronous (see [`binary`](mod@crate::binary)).
//!
//! Energy E(σ) = −½ σᵀWσ + θᵀσ; asynchronous updates never increase it.
//!
//! The network keeps C = d·W (and d·θ): a sign does not care about the positive scale, and it
//! makes Hebbian weights integers, so every field sums exactly in f32 and the CPU and GPU paths
//! take exactly the same decisions. Weights are learned on the host in f64 (O(P·d²)) and
//! uploaded once; the GPU runs the sweeps.
//!
//! ```
//! use hopfield::classical::{Classical, Rule};
//! use hopfield::binary::RecallOptions;
//! use hopfield::Device;
//! use ndarray::array;
//!
//! let patterns = array![[1.0, 1.0, 1.0, -1.0, -1.0, -1.0], [1.0, -1.0, 1.0, -1.0, 1.0, -1.0]];
//! let net = Classical::train(&Device::cpu(), patterns.view(), Rule::Storkey)?;
//! let noisy = array![[1.0, 1.0, -1.0, -1.0, -1.0, -1.0]]; // pattern 0 with neuron 2 flipped
//! let out = net.recall(noisy.view(), &RecallOptions::asynchronous(1))?;
//! assert_eq!(out.states.row(0), patterns.row(0));
//! assert!(out.converged[0]);
//! # Ok::<(), hopfield::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::binary::{self, check_queries, check_states, Recall, RecallOptions, Update};
use crate::device::{Backend, Device};
use crate::error::{check_finite, Error, Result};
use crate::gpu::classical::ClassicalGpu;

/// How the weights are learned from the patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// W = (1/d) Σ_μ ξ_μ ξ_μᵀ, zero diagonal. Stores about 0.14·d random patterns.
    Hebbian,
    /// Storkey (1997), pattern by pattern: W_ij += (1/d)(ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j) with
    /// h_ij = Σ_{k≠i,j} W_ik ξ_k, for i ≠ j (the diagonal stays zero). Local and incremental
    /// like Hebb's rule, with a higher capacity.
    Storkey,
}

/// A trained classical Hopfield network on a [`Device`].
pub struct Classical {
    dim: usize,
    rule: Rule,
    patterns: usize,
    /// C = d·W, row-major d×d, symmetric, zero diagonal: what both backends sum.
    scaled: Vec<f32>,
    /// d·θ.
    scaled_thresholds: Vec<f32>,
    engine: Engine,
}

/// Where the recalls run: the host, or a GPU holding the weights.
enum Engine {
    Cpu,
    Gpu(ClassicalGpu),
}

impl Classical {
    /// Learns the weights of `patterns` (P×d, every entry ±1, P ≥ 1) by `rule`, with zero
    /// thresholds, and puts them on `device`.
    pub fn train(device: &Device, patterns: ArrayView2<f32>, rule: Rule) -> Result<Classical> {
        check_states("patterns", patterns)?;
        if patterns.nrows() == 0 {
            return Err(Error::EmptyMemory);
        }
        let dim = patterns.ncols();
        let w = match rule {
            Rule::Hebbian => hebbian(patterns),
            Rule::Storkey => storkey(patterns),
        };
        let scaled: Vec<f32> = w.iter().map(|&v| (v * dim as f64) as f32).collect();
        let scaled_thresholds = vec![0.0; dim];
        let engine = match &device.backend {
            Backend::Cpu => Engine::Cpu,
            Backend::Gpu(ctx) => Engine::Gpu(ClassicalGpu::new(ctx, &scaled, &scaled_thresholds)?),
        };
        Ok(Classical {
            dim,
            rule,
            patterns: patterns.nrows(),
            scaled,
            scaled_thresholds,
            engine,
        })
    }

    /// Sets the thresholds θ (d finite values): σ_i ← sign(Σ_j W_ij σ_j − θ_i).
    pub fn set_thresholds(&mut self, thresholds: ArrayView1<f32>) -> Result<()> {
        if thresholds.len() != self.dim {
            return Err(Error::DimensionMismatch {
                what: "thresholds",
                expected: self.dim,
                got: thresholds.len(),
            });
        }
        let t = thresholds.to_vec();
        check_finite("thresholds", &t, self.dim)?;
        let scaled: Vec<f32> = t.iter().map(|&v| v * self.dim as f32).collect();
        if let Engine::Gpu(gpu) = &self.engine {
            gpu.set_thresholds(&scaled)?;
        }
        self.scaled_thresholds = scaled;
        Ok(())
    }

    /// Neurons d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The learning rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Number of patterns learned.
    pub fn patterns(&self) -> usize {
        self.patterns
    }

    /// The weights W (d×d) the updates use, in f64.
    pub fn weights(&self) -> Array2<f64> {
        let d = self.dim as f64;
        Array2::from_shape_fn((self.dim, self.dim), |(i, j)| {
            f64::from(self.scaled[i * self.dim + j]) / d
        })
    }

    /// The thresholds θ.
    pub fn thresholds(&self) -> Array1<f64> {
        let d = self.dim as f64;
        self.scaled_thresholds
            .iter()
            .map(|&t| f64::from(t) / d)
            .collect()
    }

    /// E(σ) = −½ σᵀWσ + θᵀσ of each row of `states` (±1, B×d), in f64.
    pub fn energy(&self, states: ArrayView2<f32>) -> Result<Array1<f64>> {
        check_queries(states, self.dim)?;
        Ok(states
            .rows()
            .into_iter()
            .map(|s| self.energy_of(&s.to_vec()))
            .collect())
    }

    fn energy_of(&self, s: &[f32]) -> f64 {
        let d = self.dim;
        let mut quad = 0.0;
        let mut lin = 0.0;
        for i in 0..d {
            quad += f64::from(s[i]) * self.scaled_field(s, i);
            lin += f64::from(self.scaled_thresholds[i]) * f64::from(s[i]);
        }
        (-0.5 * quad + lin) / d as f64
    }

    /// Σ_j C_ij σ_j (= d·(Wσ)_i), exact for Hebbian weights.
    fn scaled_field(&self, s: &[f32], i: usize) -> f64 {
        let row = &self.scaled[i * self.dim..(i + 1) * self.dim];
        row.iter().zip(s).map(|(&w, &v)| f64::from(w * v)).sum()
    }

    /// d·(Wσ − θ)_i: the field whose sign decides neuron i.
    fn decision_field(&self, s: &[f32], i: usize) -> f64 {
        self.scaled_field(s, i) - f64::from(self.scaled_thresholds[i])
    }

    /// Updates each query (a row of `queries`, B×d, ±1) until a sweep changes nothing or the
    /// sweep limit, and returns the final states with their energies.
    pub fn recall(&self, queries: ArrayView2<f32>, opts: &RecallOptions) -> Result<Recall> {
        opts.validate(queries.nrows(), self.dim)?;
        check_queries(queries, self.dim)?;
        let swept = match &self.engine {
            Engine::Gpu(gpu) => binary::on_device(queries, |q| {
                crate::wait::now(
                    "classical::Classical::recall",
                    gpu.recall(q, self.dim, opts),
                )
            })?,
            Engine::Cpu => self.recall_on_host(queries, opts),
        };
        Ok(binary::with_energy(swept, |s| self.energy_of(s)))
    }

    fn recall_on_host(&self, queries: ArrayView2<f32>, opts: &RecallOptions) -> binary::Swept {
        let d = self.dim;
        let mut old = vec![0.0f32; d];
        binary::recall_on_host(queries, opts, |state, clamped, sweep| {
            let mut changed = false;
            match opts.update {
                Update::Synchronous => {
                    old.copy_from_slice(state);
                    for i in (0..d).filter(|&i| !clamped[i]) {
                        state[i] = binary::sign(self.decision_field(&old, i), old[i]);
                        changed |= state[i] != old[i];
                    }
                }
                Update::Asynchronous { seed } => {
                    for l in binary::sweep_order(seed, sweep, d) {
                        let l = l as usize;
                        if clamped[l] {
                            continue;
                        }
                        let next = binary::sign(self.decision_field(state, l), state[l]);
                        changed |= next != state[l];
                        state[l] = next;
                    }
                }
            }
            changed
        })
    }
}

/// (1/d) Σ_μ ξ_μ ξ_μᵀ with zero diagonal.
fn hebbian(patterns: ArrayView2<f32>) -> Vec<f64> {
    let d = patterns.ncols();
    let mut w = vec![0.0; d * d];
    for xi in patterns.rows() {
        for i in 0..d {
            for j in 0..d {
                if i != j {
                    w[i * d + j] += f64::from(xi[i] * xi[j]);
                }
            }
        }
    }
    w.iter().map(|v| v / d as f64).collect()
}

/// Storkey's rule, one pattern at a time, every increment computed from the weights before it.
fn storkey(patterns: ArrayView2<f32>) -> Vec<f64> {
    let d = patterns.ncols();
    let mut w = vec![0.0f64; d * d];
    let mut h = vec![0.0f64; d];
    for xi in patterns.rows() {
        let xi: Vec<f64> = xi.iter().map(|&v| f64::from(v)).collect();
        // h_i = Σ_{k≠i} W_ik ξ_k (the diagonal is zero); h_ij then drops k = j.
        for i in 0..d {
            h[i] = (0..d).map(|k| w[i * d + k] * xi[k]).sum();
        }
        let mut dw = vec![0.0f64; d * d];
        for i in 0..d {
            for j in 0..d {
                if i != j {
                    let h_ij = h[i] - w[i * d + j] * xi[j];
                    let h_ji = h[j] - w[j * d + i] * xi[i];
                    dw[i * d + j] = (xi[i] * xi[j] - xi[i] * h_ji - h_ij * xi[j]) / d as f64;
                }
            }
        }
        for (a, b) in w.iter_mut().zip(&dw) {
            *a += b;
        }
    }
    // The rule is symmetric in i and j; rounding is made symmetric too, so the GPU may read
    // columns for rows.
    for i in 0..d {
        for j in 0..i {
            let m = 0.5 * (w[i * d + j] + w[j * d + i]);
            w[i * d + j] = m;
            w[j * d + i] = m;
        }
    }
    w
}
