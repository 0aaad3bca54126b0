//! Many small attention problems at once — one per (batch item, head) of a Hopfield layer —
//! on the retrieval kernels themselves: `scores = β·q·kᵀ` is [`Similarity`] with the keys as
//! patterns, the masked rows go through [`Mask`], [`Softmax`] normalises them, and `xi·v` is
//! [`WeightedSum`] with the values as patterns. An update step `q ← xi·k` is the same
//! [`WeightedSum`] with the keys as patterns, followed by a new similarity (β applied again).
//!
//! The problems share one shape, and each kind of operand lives in one buffer, every problem at
//! an offset rounded up to the device's storage-offset alignment so that it binds exactly like
//! a retrieval block: the kernels see offset-0 matrices and need no batch dimension.
//!
//! [`Similarity`]: super::similarity::Similarity
//! [`Softmax`]: super::softmax::Softmax
//! [`WeightedSum`]: super::weighted_sum::WeightedSum
//! [`Mask`]: super::mask::Mask

use std::num::NonZeroU64;

use super::buffers::binding;
use super::mask::{Mask, MaskBindings};
use super::recorder::Recorder;
use super::similarity::{Columns, SimilarityBindings, SimilarityJob};
use super::softmax::{Softmax, SoftmaxBindings};
use super::weighted_sum::{WeightedSum, WeightedSumBindings, WeightedSumJob};
use super::GpuContext;
use crate::error::{Error, Result};
use crate::storage::{row_words, Precision};

use crate::storage::WORD_BYTES as WORD;

/// The common shape of the problems: `rows` states (queries) against `keys` stored patterns,
/// queries and keys of dimension `dim`, values of dimension `vdim`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub problems: usize,
    pub rows: usize,
    pub keys: usize,
    pub dim: usize,
    pub vdim: usize,
}

/// The problems' data, each operand problem after problem, row-major and unpadded.
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
    /// `problems × rows × keys`, nonzero = masked; `None`: nothing is masked.
    pub mask: Option<&'a [u32]>,
}

/// Where problem `p` of one operand lives: `words` 32-bit words at byte `p · stride`.
#[derive(Clone, Copy)]
struct Region {
    words: usize,
    stride: u64,
}

impl Region {
    fn new(words: usize, align: u64) -> Region {
        Region {
            words,
            stride: (words.max(1) as u64 * WORD).div_ceil(align) * align,
        }
    }

    fn bytes(&self, problems: usize) -> u64 {
        self.stride * problems as u64
    }

    fn bind<'b>(&self, buffer: &'b wgpu::Buffer, p: usize) -> wgpu::BufferBinding<'b> {
        wgpu::BufferBinding {
            buffer,
            offset: self.stride * p as u64,
            size: NonZeroU64::new(self.words.max(1) as u64 * WORD),
        }
    }

    /// The host image of a whole buffer, from `data` (problem after problem, `rows` rows of
    /// `cols` values) with each row padded to `row_len` words.
    fn pack<T: bytemuck::Pod + Default>(
        &self,
        problems: usize,
        data: &[T],
        cols: usize,
        row_len: usize,
    ) -> Vec<T> {
        let mut out = vec![T::default(); (self.bytes(problems) / WORD) as usize];
        let per = data.len() / problems.max(1);
        for p in 0..problems {
            let base = (self.stride / WORD) as usize * p;
            for (r, row) in data[p * per..(p + 1) * per].chunks(cols).enumerate() {
                out[base + r * row_len..][..cols].copy_from_slice(row);
            }
        }
        out
    }

    /// The inverse of [`pack`](Self::pack) for unpadded rows.
    fn unpack(&self, problems: usize, image: &[f32]) -> Vec<f32> {
        let step = (self.stride / WORD) as usize;
        (0..problems)
            .flat_map(|p| image[p * step..][..self.words].iter().copied())
            .collect()
    }
}

/// What a pass of [`Attention::associate`] starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum From {
    /// The uploaded queries.
    Queries,
    /// An update step: the queries `xi · k` of the current association.
    Update,
}

/// Where each operand's problems live in its buffer.
#[derive(Clone, Copy)]
struct Regions {
    k_words: usize,
    v_words: usize,
    query: Region,
    key: Region,
    value: Region,
    score: Region,
    lse: Region,
    out: Region,
}

impl Regions {
    /// The regions of problems of shape `s`; fails where an operand's buffer is past the
    /// device's largest.
    fn new(ctx: &GpuContext, s: Shape) -> Result<Regions> {
        let align = u64::from(ctx.limits.min_storage_buffer_offset_alignment).max(16);
        let (k_words, v_words) = (
            row_words(Precision::F32, s.dim),
            row_words(Precision::F32, s.vdim),
        );
        let r = Regions {
            k_words,
            v_words,
            query: Region::new(s.rows * s.dim, align),
            key: Region::new(s.keys * k_words, align),
            value: Region::new(s.keys * v_words, align),
            score: Region::new(s.rows * s.keys, align),
            lse: Region::new(s.rows, align),
            out: Region::new(s.rows * s.vdim, align),
        };
        let largest = [r.query, r.key, r.value, r.score, r.out]
            .iter()
            .map(|region| region.bytes(s.problems))
            .max()
            .unwrap_or(0);
        if largest > ctx.limits.max_buffer_size {
            return Err(Error::OverLimit {
                what: "the attention operands of one layer call".into(),
                needed: largest,
                limit: ctx.limits.max_buffer_size,
                limit_name: "max_buffer_size",
            });
        }
        Ok(r)
    }
}

/// Which operand a weighted sum of the association takes.
#[derive(Clone, Copy)]
enum Operand {
    /// `xi · k`: an update step's new queries.
    Keys,
    /// `xi · v`: the outputs.
    Values,
}

/// The problems on the device, with the buffers their passes share.
pub(crate) struct Attention<'c> {
    ctx: &'c GpuContext,
    shape: Shape,
    beta: Vec<f32>,
    r: Regions,
    queries: wgpu::Buffer,
    next: wgpu::Buffer,
    keys: wgpu::Buffer,
    values: wgpu::Buffer,
    scores: wgpu::Buffer,
    lses: wgpu::Buffer,
    outs: wgpu::Buffer,
    mask: Option<wgpu::Buffer>,
    /// Softmax segment statistics and weighted-sum run partials, shared by the problems'
    /// passes (recorded one after another, so never in use by two at once).
    stats: wgpu::Buffer,
    part: wgpu::Buffer,
}

/// Fails where the problems' rows or masked scores are past what one dispatch covers.
fn check_dispatch(ctx: &GpuContext, s: Shape) -> Result<()> {
    let max_groups = ctx.limits.max_compute_workgroups_per_dimension;
    if s.rows > max_groups as usize || s.rows * s.keys > Mask::max_len(max_groups) {
        return Err(Error::InvalidOptions(format!(
            "{} states against {} stored patterns per head is past what this device \
             dispatches at once ({max_groups} workgroups per dimension)",
            s.rows, s.keys
        )));
    }
    Ok(())
}

impl<'c> Attention<'c> {
    /// Uploads the problems; fails where a shape is past what one dispatch can cover.
    pub(crate) async fn new(ctx: &'c GpuContext, p: &Problems<'_>) -> Result<Attention<'c>> {
        ctx.check_alive()?;
        check_dispatch(ctx, p.shape)?;
        let r = Regions::new(ctx, p.shape)?;
        let (attention, done) =
            ctx.scoped("uploading layer attention", || Attention::upload(ctx, p, r));
        done.await?;
        Ok(attention)
    }

    /// The operands' buffers, uploaded, and the buffers the passes write.
    fn upload(ctx: &'c GpuContext, p: &Problems<'_>, r: Regions) -> Attention<'c> {
        let (s, n) = (p.shape, p.shape.problems);
        let upload = |label, region: Region, data: &[f32], cols, row_len| {
            let b = ctx.storage(label, region.bytes(n));
            let image = region.pack(n, data, cols, row_len);
            ctx.write(&b, 0, bytemuck::cast_slice(&image));
            b
        };
        let mask = p.mask.map(|m| {
            let b = ctx.storage("association mask", r.score.bytes(n));
            let image = r.score.pack(n, m, s.keys, s.keys);
            ctx.write(&b, 0, bytemuck::cast_slice(&image));
            b
        });
        Attention {
            ctx,
            shape: s,
            beta: p.beta.to_vec(),
            r,
            queries: upload("layer queries", r.query, p.queries, s.dim, s.dim),
            keys: upload("layer keys", r.key, p.keys, s.dim, r.k_words),
            values: upload("layer values", r.value, p.values, s.vdim, r.v_words),
            next: ctx.storage("layer updated queries", r.query.bytes(n)),
            stats: ctx.storage(
                "layer softmax statistics",
                Softmax::stats_bytes(s.rows, s.keys),
            ),
            part: ctx.storage(
                "layer weighted-sum partials",
                WeightedSum::part_bytes(ctx, s.rows, s.dim.max(s.vdim), s.keys),
            ),
            scores: ctx.storage("layer association", r.score.bytes(n)),
            lses: ctx.storage("layer lse", r.lse.bytes(n)),
            outs: ctx.storage("layer outputs", r.out.bytes(n)),
            mask,
        }
    }

    /// Computes `xi = softmax(mask(β·q·kᵀ))` of every problem where `active[p]` (the others
    /// keep their association), `q` being the queries or, for an update, `xi · k`. Returns the
    /// associations of all problems (`problems × rows × keys`) when `read` is set.
    pub(crate) async fn associate(
        &self,
        from: From,
        active: &[bool],
        read: bool,
    ) -> Result<Option<Vec<f32>>> {
        let (r, problems) = (self.r, self.shape.problems);
        let image = self
            .run("layer association", |rec| {
                if from == From::Queries {
                    // Every problem is written now; an unwritten score stays NaN and fails a test.
                    rec.poison(&self.scores, r.score.bytes(problems));
                } else {
                    rec.poison(&self.next, r.query.bytes(problems));
                }
                rec.poison(&self.lses, r.lse.bytes(problems));
                for p in (0..problems).filter(|&p| active[p]) {
                    self.record_association(rec, from, p);
                }
                if read {
                    vec![(&self.scores, r.score.bytes(problems))]
                } else {
                    vec![]
                }
            })
            .await?;
        Ok(read.then(|| r.score.unpack(problems, &image[0])))
    }

    /// Records problem `p`'s association: for an update its new queries first, then scores,
    /// mask and softmax.
    fn record_association(&self, rec: &mut Recorder<'_>, from: From, p: usize) {
        let (ctx, s, r) = (self.ctx, self.shape, self.r);
        let kernels = ctx.kernels.for_patterns(&ctx.device, Precision::F32);
        let queries = match from {
            From::Queries => &self.queries,
            From::Update => {
                kernels
                    .weighted_sum
                    .encode(rec, self.xi_times(Operand::Keys, p));
                &self.next
            }
        };
        let similarity = SimilarityJob {
            shape: (s.rows, s.keys, s.dim, r.k_words),
            cols: Columns {
                offset: 0,
                ld: s.keys,
            },
            beta: self.beta[p],
        };
        let b = SimilarityBindings {
            queries: r.query.bind(queries, p),
            patterns: r.key.bind(&self.keys, p),
            scores: r.score.bind(&self.scores, p),
        };
        kernels.similarity.encode(rec, similarity, b);
        if let Some(mask) = &self.mask {
            let b = MaskBindings {
                scores: r.score.bind(&self.scores, p),
                mask: r.score.bind(mask, p),
            };
            ctx.kernels.mask.encode(rec, s.rows * s.keys, b);
        }
        let stats_bytes = Softmax::stats_bytes(s.rows, s.keys);
        rec.poison(&self.stats, stats_bytes);
        let b = SoftmaxBindings {
            scores: r.score.bind(&self.scores, p),
            stats: binding(&self.stats, stats_bytes),
            lse: r.lse.bind(&self.lses, p),
        };
        ctx.kernels.softmax.encode(rec, (s.rows, s.keys), b);
    }

    /// Computes `xi · v` of every problem (`problems × rows × vdim`), and returns the
    /// associations too when `with_association`.
    pub(crate) async fn retrieve(
        &self,
        with_association: bool,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
        let (ctx, r, problems) = (self.ctx, self.r, self.shape.problems);
        let kernels = ctx.kernels.for_patterns(&ctx.device, Precision::F32);
        let image = self
            .run("layer retrieval", |rec| {
                rec.poison(&self.outs, r.out.bytes(problems));
                for p in 0..problems {
                    kernels
                        .weighted_sum
                        .encode(rec, self.xi_times(Operand::Values, p));
                }
                let mut parts = vec![(&self.outs, r.out.bytes(problems))];
                if with_association {
                    parts.push((&self.scores, r.score.bytes(problems)));
                }
                parts
            })
            .await?;
        let out = r.out.unpack(problems, &image[0]);
        let xi = with_association.then(|| r.score.unpack(problems, &image[1]));
        Ok((out, xi))
    }

    /// The weighted sum `xi · k` (into the updated queries) or `xi · v` (into the outputs) of
    /// problem `p`.
    fn xi_times(&self, operand: Operand, p: usize) -> WeightedSumJob<'_> {
        let (s, r) = (self.shape, self.r);
        let (dim, words, patterns, states) = match operand {
            Operand::Keys => (
                s.dim,
                r.k_words,
                r.key.bind(&self.keys, p),
                r.query.bind(&self.next, p),
            ),
            Operand::Values => (
                s.vdim,
                r.v_words,
                r.value.bind(&self.values, p),
                r.out.bind(&self.outs, p),
            ),
        };
        WeightedSumJob {
            shape: (s.rows, s.keys, dim, words),
            cols: Columns {
                offset: 0,
                ld: s.keys,
            },
            accumulate: false,
            b: WeightedSumBindings {
                weights: r.score.bind(&self.scores, p),
                patterns,
                states,
            },
            part: &self.part,
        }
    }

    /// Records a pass (`record` returns the parts to read back), submits it and reads them.
    async fn run<'s>(
        &'s self,
        what: &str,
        record: impl FnOnce(&mut Recorder<'_>) -> Vec<(&'s wgpu::Buffer, u64)>,
    ) -> Result<Vec<Vec<f32>>> {
        let ctx = self.ctx;
        let mut encoder = ctx.encoder(what);
        let (parts, done) = ctx.scoped(&format!("recording {what}"), || {
            record(&mut Recorder::new(ctx, &mut encoder))
        });
        done.await?;
        let running = format!("running {what}");
        ctx.submit_and_read(&running, encoder, None, &parts).await
    }
}
