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
use super::mask::Mask;
use super::similarity::Columns;
use super::softmax::{Softmax, SoftmaxBuffers};
use super::weighted_sum::{WeightedSum, WeightedSumJob};
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

/// The problems on the device, with the buffers their passes share.
pub(crate) struct Attention<'c> {
    ctx: &'c GpuContext,
    shape: Shape,
    beta: Vec<f32>,
    k_words: usize,
    v_words: usize,
    query: Region,
    key: Region,
    value: Region,
    score: Region,
    lse: Region,
    out: Region,
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

impl<'c> Attention<'c> {
    /// Uploads the problems; fails where a shape is past what one dispatch can cover.
    pub(crate) async fn new(ctx: &'c GpuContext, p: &Problems<'_>) -> Result<Attention<'c>> {
        ctx.check_alive()?;
        let s = p.shape;
        let max_groups = ctx.limits.max_compute_workgroups_per_dimension;
        if s.rows > max_groups as usize || s.rows * s.keys > Mask::max_len(max_groups) {
            return Err(Error::InvalidOptions(format!(
                "{} states against {} stored patterns per head is past what this device \
                 dispatches at once ({max_groups} workgroups per dimension)",
                s.rows, s.keys
            )));
        }
        let align = u64::from(ctx.limits.min_storage_buffer_offset_alignment).max(16);
        let (k_words, v_words) = (
            row_words(Precision::F32, s.dim),
            row_words(Precision::F32, s.vdim),
        );
        let query = Region::new(s.rows * s.dim, align);
        let key = Region::new(s.keys * k_words, align);
        let value = Region::new(s.keys * v_words, align);
        let score = Region::new(s.rows * s.keys, align);
        let lse = Region::new(s.rows, align);
        let out = Region::new(s.rows * s.vdim, align);
        let n = s.problems;
        let largest = [query, key, value, score, out]
            .iter()
            .map(|r| r.bytes(n))
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
        let (attention, done) = ctx.scoped("uploading layer attention", || {
            let upload = |label, region: Region, data: &[f32], cols, row_len| {
                let b = ctx.storage(label, region.bytes(n));
                let image = region.pack(n, data, cols, row_len);
                ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(&image));
                b
            };
            let mask = p.mask.map(|m| {
                let b = ctx.storage("association mask", score.bytes(n));
                let image = score.pack(n, m, s.keys, s.keys);
                ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(&image));
                b
            });
            Attention {
                ctx,
                shape: s,
                beta: p.beta.to_vec(),
                k_words,
                v_words,
                queries: upload("layer queries", query, p.queries, s.dim, s.dim),
                keys: upload("layer keys", key, p.keys, s.dim, k_words),
                values: upload("layer values", value, p.values, s.vdim, v_words),
                next: ctx.storage("layer updated queries", query.bytes(n)),
                stats: ctx.storage(
                    "layer softmax statistics",
                    Softmax::stats_bytes(s.rows, s.keys),
                ),
                part: ctx.storage(
                    "layer weighted-sum partials",
                    WeightedSum::part_bytes(ctx, s.rows, s.dim.max(s.vdim), s.keys),
                ),
                scores: ctx.storage("layer association", score.bytes(n)),
                lses: ctx.storage("layer lse", lse.bytes(n)),
                outs: ctx.storage("layer outputs", out.bytes(n)),
                mask,
                query,
                key,
                value,
                score,
                lse,
                out,
            }
        });
        done.await?;
        Ok(attention)
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
        let (ctx, s) = (self.ctx, self.shape);
        let kernels = ctx.kernels.for_patterns(&ctx.device, Precision::F32);
        let mut encoder = ctx.encoder("layer association");
        let (parts, done) = ctx.scoped("recording layer association", || {
            if from == From::Queries {
                // Every problem is written now; an unwritten score stays NaN and fails a test.
                ctx.poison(&mut encoder, &self.scores, self.score.bytes(s.problems));
            } else {
                ctx.poison(&mut encoder, &self.next, self.query.bytes(s.problems));
            }
            ctx.poison(&mut encoder, &self.lses, self.lse.bytes(s.problems));
            for p in (0..s.problems).filter(|&p| active[p]) {
                let queries = match from {
                    From::Queries => &self.queries,
                    From::Update => {
                        kernels.weighted_sum.encode(
                            ctx,
                            &mut encoder,
                            WeightedSumJob {
                                shape: (s.rows, s.keys, s.dim, self.k_words),
                                cols: Columns {
                                    offset: 0,
                                    ld: s.keys,
                                },
                                accumulate: false,
                                weights: self.score.bind(&self.scores, p),
                                chunk: self.key.bind(&self.keys, p),
                                states: self.query.bind(&self.next, p),
                                part: &self.part,
                            },
                        );
                        &self.next
                    }
                };
                kernels.similarity.encode(
                    &ctx.device,
                    &mut encoder,
                    ctx.limits.max_compute_workgroups_per_dimension,
                    (s.rows, s.keys, s.dim, self.k_words),
                    Columns {
                        offset: 0,
                        ld: s.keys,
                    },
                    self.beta[p],
                    self.query.bind(queries, p),
                    self.key.bind(&self.keys, p),
                    self.score.bind(&self.scores, p),
                );
                if let Some(mask) = &self.mask {
                    ctx.kernels.mask.encode(
                        &ctx.device,
                        &mut encoder,
                        s.rows * s.keys,
                        self.score.bind(&self.scores, p),
                        self.score.bind(mask, p),
                    );
                }
                let stats_bytes = Softmax::stats_bytes(s.rows, s.keys);
                ctx.poison(&mut encoder, &self.stats, stats_bytes);
                ctx.kernels.softmax.encode(
                    &ctx.device,
                    &mut encoder,
                    (s.rows, s.keys),
                    SoftmaxBuffers {
                        scores: self.score.bind(&self.scores, p),
                        stats: binding(&self.stats, stats_bytes),
                        lse: self.lse.bind(&self.lses, p),
                    },
                );
            }
            if read {
                vec![(&self.scores, self.score.bytes(s.problems))]
            } else {
                vec![]
            }
        });
        done.await?;
        let read_back = ctx.submit_and_read("running layer association", encoder, None, &parts);
        let image = read_back.await?;
        Ok(read.then(|| self.score.unpack(s.problems, &image[0])))
    }

    /// Computes `xi · v` of every problem (`problems × rows × vdim`), and returns the
    /// associations too when `with_association`.
    pub(crate) async fn retrieve(
        &self,
        with_association: bool,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
        let (ctx, s) = (self.ctx, self.shape);
        let kernels = ctx.kernels.for_patterns(&ctx.device, Precision::F32);
        let mut encoder = ctx.encoder("layer retrieval");
        let (parts, done) = ctx.scoped("recording layer retrieval", || {
            ctx.poison(&mut encoder, &self.outs, self.out.bytes(s.problems));
            for p in 0..s.problems {
                kernels.weighted_sum.encode(
                    ctx,
                    &mut encoder,
                    WeightedSumJob {
                        shape: (s.rows, s.keys, s.vdim, self.v_words),
                        cols: Columns {
                            offset: 0,
                            ld: s.keys,
                        },
                        accumulate: false,
                        weights: self.score.bind(&self.scores, p),
                        chunk: self.value.bind(&self.values, p),
                        states: self.out.bind(&self.outs, p),
                        part: &self.part,
                    },
                );
            }
            let mut parts = vec![(&self.outs, self.out.bytes(s.problems))];
            if with_association {
                parts.push((&self.scores, self.score.bytes(s.problems)));
            }
            parts
        });
        done.await?;
        let read_back = ctx.submit_and_read("running layer retrieval", encoder, None, &parts);
        let image = read_back.await?;
        let out = self.out.unpack(s.problems, &image[0]);
        let xi = with_association.then(|| self.score.unpack(s.problems, &image[1]));
        Ok((out, xi))
    }
}
