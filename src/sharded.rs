//! One memory spread over several devices: GPUs of any vendor, and the CPU path as one more.
//!
//! Each device holds a shard of the patterns in its own [`Memory`]. A retrieval step runs on
//! every shard at once (a thread per shard), each returning its [`Partial`], and the host
//! merges them ([`merge`]) into the step the whole memory would have taken; the merged states
//! are the next step's queries. So a step costs the slowest shard's scan plus B·d floats per
//! shard back to the host, and the shards' devices never talk to one another.

use ndarray::{Array1, Array2, ArrayView2};

use crate::error::check_finite;
use crate::partial::{merge, Merged, Partial};
use crate::retrieve::{self, Energies, Retrieval, RetrieveOptions};
use crate::{Device, Error, Memory, Result, Separation};

/// A memory whose patterns are spread over several [`Device`]s, retrieved from as one.
///
/// New patterns go to the shards in proportion to their shares (by default equal): wgpu does
/// not say how much memory an adapter has, so the caller states what each device should hold
/// (its memory, or its measured speed). A shard whose device runs out of room fails the append
/// with that device's error, and the other shards are rolled back.
///
/// Retrieval equals [`Memory::retrieve`] over the same patterns (softmax and softmax₁, any
/// steps, until converged, top-k, energies, partial cues), within f32 rounding. Not offered:
/// the B×N weights (ask for top-k), the separations that need a threshold over every score,
/// and device timing.
///
/// ```
/// use hopfield::{Device, RetrieveOptions, ShardedMemory};
/// use ndarray::array;
///
/// let mut memory = ShardedMemory::new(&[Device::cpu(), Device::cpu()], 2)?;
/// memory.append(array![[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]].view())?;
/// assert_eq!(memory.shards().iter().map(|m| m.len()).collect::<Vec<_>>(), vec![2, 1]);
/// let out = memory.retrieve(array![[0.1, 0.9]].view(), &RetrieveOptions::new(8.0).with_top_k(1))?;
/// assert_eq!(out.reached_ids(), Some(vec![1]));
/// # Ok::<(), hopfield::Error>(())
/// ```
#[derive(Debug)]
pub struct ShardedMemory {
    shards: Vec<Memory>,
    shares: Vec<f64>,
    dim: usize,
    /// The next fresh id: past every id ever stored, as [`Memory`]'s own.
    next_id: u64,
}

impl ShardedMemory {
    /// An empty memory of dimension `dim` over `devices`, with equal shares.
    pub fn new(devices: &[Device], dim: usize) -> Result<ShardedMemory> {
        ShardedMemory::with_shares(devices, dim, &vec![1.0; devices.len()])
    }

    /// An empty memory of dimension `dim` over `devices`, device i holding about
    /// `shares[i] / Σ shares` of the patterns.
    pub fn with_shares(devices: &[Device], dim: usize, shares: &[f64]) -> Result<ShardedMemory> {
        if devices.is_empty() {
            return Err(Error::InvalidOptions(
                "a sharded memory needs at least one device".into(),
            ));
        }
        if shares.len() != devices.len() || !shares.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(Error::InvalidOptions(format!(
                "shares {shares:?}: give one finite share > 0 per device ({} devices)",
                devices.len()
            )));
        }
        let shards = devices
            .iter()
            .map(|device| Memory::new(device, dim))
            .collect::<Result<Vec<_>>>()?;
        Ok(ShardedMemory {
            shards,
            shares: shares.to_vec(),
            dim,
            next_id: 0,
        })
    }

    /// The shards, one per device in the order given.
    pub fn shards(&self) -> &[Memory] {
        &self.shards
    }

    /// The number of stored patterns.
    pub fn len(&self) -> usize {
        self.shards.iter().map(Memory::len).sum()
    }

    /// Whether no pattern is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pattern dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// M = max ‖x_i‖ over every shard.
    pub fn max_norm(&self) -> f64 {
        self.shards.iter().map(Memory::max_norm).fold(0.0, f64::max)
    }

    /// The id of each pattern: the shards' ids, shard after shard. Top-k indices count rows
    /// in this order.
    pub fn ids(&self) -> Vec<u64> {
        self.shards.iter().flat_map(|m| m.ids().to_vec()).collect()
    }

    /// Which shard holds the pattern with this id.
    pub fn shard_of(&self, id: u64) -> Option<usize> {
        self.shards.iter().position(|m| m.index_of(id).is_some())
    }

    /// Appends patterns (rows) with fresh ids, spread over the shards by their shares.
    pub fn append(&mut self, patterns: ArrayView2<f32>) -> Result<()> {
        let n = patterns.nrows() as u64;
        let end = self
            .next_id
            .checked_add(n)
            .ok_or_else(|| Error::InvalidOptions(format!("no {n} fresh pattern ids left")))?;
        let ids: Vec<u64> = (self.next_id..end).collect();
        self.append_with_ids(patterns, &ids)
    }

    /// Appends patterns with the caller's ids, unique among themselves and across every
    /// shard ([`Error::DuplicateId`] otherwise, and nothing is stored).
    pub fn append_with_ids(&mut self, patterns: ArrayView2<f32>, ids: &[u64]) -> Result<()> {
        if patterns.ncols() != self.dim {
            return Err(Error::DimensionMismatch {
                what: "patterns",
                expected: self.dim,
                got: patterns.ncols(),
            });
        }
        if ids.len() != patterns.nrows() {
            return Err(Error::InvalidOptions(format!(
                "{} ids for {} patterns",
                ids.len(),
                patterns.nrows()
            )));
        }
        let data = patterns.as_standard_layout();
        check_finite(
            "patterns",
            data.as_slice().expect("standard layout"),
            self.dim,
        )?;
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        if let Some(&id) = ids
            .iter()
            .find(|&&id| !seen.insert(id) || self.shard_of(id).is_some())
        {
            return Err(Error::DuplicateId(id));
        }
        let counts = self.placement(ids.len());
        let mut start = 0;
        for (s, &count) in counts.iter().enumerate() {
            let rows = data.slice(ndarray::s![start..start + count, ..]);
            if let Err(e) = self.shards[s].append_with_ids(rows, &ids[start..start + count]) {
                // Take back what the earlier shards stored, so the memory is as it was.
                for (t, &c) in counts.iter().enumerate().take(s) {
                    let before = counts[..t].iter().sum::<usize>();
                    let _ = self.shards[t].remove_ids(&ids[before..before + c]);
                }
                return Err(e);
            }
            start += count;
        }
        if let Some(&max) = ids.iter().max() {
            self.next_id = self.next_id.max(max.saturating_add(1));
        }
        Ok(())
    }

    /// Removes the patterns with these ids; an id no shard holds is an
    /// [`Error::UnknownId`], and then nothing is removed.
    pub fn remove_ids(&mut self, ids: &[u64]) -> Result<()> {
        let mut per_shard = vec![Vec::new(); self.shards.len()];
        for &id in ids {
            let s = self.shard_of(id).ok_or(Error::UnknownId(id))?;
            per_shard[s].push(id);
        }
        for (shard, ids) in self.shards.iter_mut().zip(per_shard) {
            if !ids.is_empty() {
                shard.remove_ids(&ids)?;
            }
        }
        Ok(())
    }

    /// How many of `n` new patterns each shard takes: the shards below their share of the
    /// new total fill up in proportion to what they lack (largest remainders round up).
    fn placement(&self, n: usize) -> Vec<usize> {
        let total = (self.len() + n) as f64;
        let sum: f64 = self.shares.iter().sum();
        let lack: Vec<f64> = self
            .shards
            .iter()
            .zip(&self.shares)
            .map(|(m, share)| (total * share / sum - m.len() as f64).max(0.0))
            .collect();
        let lack_sum: f64 = lack.iter().sum();
        if lack_sum <= 0.0 {
            let mut counts = vec![0; self.shards.len()];
            counts[0] = n;
            return counts;
        }
        let exact: Vec<f64> = lack.iter().map(|l| n as f64 * l / lack_sum).collect();
        let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by(|&a, &b| {
            let frac = |i: usize| exact[i] - exact[i].floor();
            frac(b).total_cmp(&frac(a)).then(a.cmp(&b))
        });
        let mut left = n - counts.iter().sum::<usize>();
        for &i in order.iter().cycle() {
            if left == 0 {
                break;
            }
            counts[i] += 1;
            left -= 1;
        }
        counts
    }

    /// Retrieves from a batch of queries (B×d) as [`Memory::retrieve`] over all the shards'
    /// patterns would: every step runs on all shards at once and is merged on the host. All
    /// queries stop together (every query reports the same step count).
    pub fn retrieve(
        &self,
        queries: ArrayView2<f32>,
        options: &RetrieveOptions,
    ) -> Result<Retrieval> {
        self.check(options)?;
        if queries.ncols() != self.dim {
            return Err(Error::DimensionMismatch {
                what: "queries",
                expected: self.dim,
                got: queries.ncols(),
            });
        }
        let q = queries.as_standard_layout();
        let q = q.as_slice().expect("standard layout");
        let (q, clamp) = match options.cue(q, self.dim)? {
            Some(cue) => (cue.queries, cue.clamp),
            None => (q.to_vec(), None),
        };
        check_finite("queries", &q, self.dim)?;
        let b = q.len() / self.dim;
        let queries = Array2::from_shape_vec((b, self.dim), q).expect("B×d");
        let mut step = RetrieveOptions::new(options.beta)
            .separation(options.separation)
            .fusion(options.fusion);
        let mut states = queries.clone();
        let mut energy_before = None;
        let mut max_change = Array1::zeros(b);
        let mut steps = 0;
        let top_k = loop {
            let final_step = steps + 1 == options.max_steps();
            // Top-k describes the last step, which until-converged knows only afterwards.
            step.top_k = options
                .top_k
                .filter(|_| final_step || options.eps().is_some());
            let mut merged = self.step(states.view(), &step)?;
            if steps == 0 && options.energy {
                energy_before = Some(merged.energies(queries.view())?);
            }
            let mut next = std::mem::take(&mut merged.states);
            if let Some(known) = &clamp {
                let next = next.as_slice_mut().expect("row-major");
                retrieve::clamp_known(next, flat(&queries), known);
            }
            let changes = max_change.as_slice_mut().expect("contiguous");
            retrieve::max_changes(flat(&states), flat(&next), self.dim, changes);
            states = next;
            steps += 1;
            let converged = options
                .eps()
                .is_some_and(|eps| max_change.iter().all(|&c| c <= eps));
            if final_step || converged {
                break merged.top_k;
            }
        };
        let energy = match energy_before {
            Some(before) => {
                step.top_k = None;
                let after = self.step(states.view(), &step)?.energies(states.view())?;
                Some(Energies { before, after })
            }
            None => None,
        };
        let converged = options
            .eps()
            .map(|eps| max_change.iter().map(|&c| c <= eps).collect());
        Ok(Retrieval {
            states,
            weights: None,
            top_k,
            energy,
            steps: vec![steps; b],
            max_change,
            converged,
            device_time: None,
        })
    }

    /// What a sharded retrieval cannot do, refused before anything runs.
    fn check(&self, options: &RetrieveOptions) -> Result<()> {
        options.validate(self.len())?;
        let refuse = |why: &str| Err(Error::InvalidOptions(why.into()));
        if !matches!(
            options.separation,
            Separation::Softmax | Separation::Softmax1
        ) {
            return refuse(
                "a sharded memory merges softmax and softmax1 only: the other separations need \
                 a threshold over every pattern's score",
            );
        }
        if options.weights {
            return refuse(
                "a sharded memory returns no B×N weights (they would be gathered from every \
                 shard): ask for top-k",
            );
        }
        if options.timing {
            return refuse("a sharded memory does not measure device time: ask each shard");
        }
        Ok(())
    }

    /// One step over every shard at once, merged.
    fn step(&self, states: ArrayView2<f32>, options: &RetrieveOptions) -> Result<Merged> {
        let run = |m: &Memory| m.retrieve_partial(states, options);
        #[cfg(not(target_arch = "wasm32"))]
        let parts: Vec<Result<Partial>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .shards
                .iter()
                .map(|m| s.spawn(move || run(m)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("shard thread panicked"))
                .collect()
        });
        #[cfg(target_arch = "wasm32")]
        let parts: Vec<Result<Partial>> = self.shards.iter().map(run).collect();
        merge(&parts.into_iter().collect::<Result<Vec<_>>>()?)
    }
}

/// A B×d array's values: every array `retrieve` steps through is made row-major
/// (`from_shape_vec`, `Partial::finish`).
fn flat(a: &Array2<f32>) -> &[f32] {
    a.as_slice().expect("row-major")
}
