//! Many small attention problems at once — one per (batch item, head) of a Hopfield layer —
//! on the retrieval kernels themselves: `scores = β·q·kᵀ` is [`Similarity`] with the keys as
//! patterns, the masked rows go through [`Mask`], the separation (the [`Softmax`] unless the
//! layer asks for another rule; see [`separate`](super::separate)) normalises them, and `xi·v` is
//! [`WeightedSum`] with the values as patterns. An update step `q ← xi·k` is the same
//! [`WeightedSum`] with the keys as patterns, followed by a new similarity (β applied again).
//!
//! The problems share one shape, and each kind of operand lives in one buffer, every problem at
//! an offset rounded up to the device's storage-offset alignment so that it binds exactly like
//! a retrieval block: the kernels see offset-0 matrices and need no batch dimension. The
//! operands are written there on the device (`heads.wgsl`, by [`layer`](super::layer)), and
//! the passes accumulate in one command encoder until something must be read back, so a layer
//! call whose update steps need no stopping decision is one submission.
//!
//! [`Similarity`]: super::similarity::Similarity
//! [`Softmax`]: super::softmax::Softmax
//! [`WeightedSum`]: super::weighted_sum::WeightedSum
//! [`Mask`]: super::mask::Mask

use std::num::NonZeroU64;
use std::sync::Mutex;

use super::buffers::binding;
use super::mask::{Mask, MaskBindings};
use super::recorder::Recorder;
use super::separate::{self, SeparationKind, SeparationScratch};
use super::similarity::{Columns, SimilarityBindings, SimilarityJob};
use super::softmax::{Softmax, SoftmaxBindings};
use super::weighted_sum::{WeightedSum, WeightedSumBindings, WeightedSumJob};
use super::GpuContext;
use crate::error::{Error, Result};
use crate::storage::{row_words, Precision};
use crate::Separation;

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

/// The problems on the device, with the buffers their passes share, and the commands recorded
/// since the last submission: a pass is submitted only when something must be read back.
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
    /// The association's rule, and its state (shared by the problems like `stats`).
    separation: Separation,
    separation_scratch: SeparationScratch,
    /// The associations of all problems back to back, unpadded: what is read back.
    compact: wgpu::Buffer,
    pending: Mutex<Option<wgpu::CommandEncoder>>,
}

/// Which operand's regions [`Attention::region`] describes.
#[derive(Clone, Copy)]
pub(crate) enum Input {
    Queries,
    Keys,
    Values,
}

/// Where the problems of one operand live: `rows × row_len` words each, `stride` words apart.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    pub rows: usize,
    pub row_len: usize,
    pub stride: usize,
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
    /// The buffers of problems of shape `s` (one β per problem, one separation for all;
    /// `mask`, `problems × rows × keys` with nonzero = masked, uploaded), their operands still to be recorded through
    /// [`record`](Self::record) into the regions [`region`](Self::region) describes. Fails
    /// where a shape is past what one dispatch or buffer can cover.
    pub(crate) fn new(
        ctx: &'c GpuContext,
        s: Shape,
        beta: Vec<f32>,
        separation: Separation,
        mask: Option<&[u32]>,
    ) -> Result<Attention<'c>> {
        ctx.check_alive()?;
        check_dispatch(ctx, s)?;
        let r = Regions::new(ctx, s)?;
        let n = s.problems;
        let mask = mask.map(|m| {
            let b = ctx.storage("association mask", r.score.bytes(n));
            let step = (r.score.stride / WORD) as usize;
            let mut image = vec![0u32; step * n];
            for (p, chunk) in m.chunks(r.score.words).enumerate() {
                image[p * step..][..chunk.len()].copy_from_slice(chunk);
            }
            ctx.write(&b, 0, bytemuck::cast_slice(&image));
            b
        });
        Ok(Attention {
            ctx,
            shape: s,
            beta,
            r,
            queries: ctx.storage("layer queries", r.query.bytes(n)),
            keys: ctx.storage("layer keys", r.key.bytes(n)),
            values: ctx.storage("layer values", r.value.bytes(n)),
            next: ctx.storage("layer updated queries", r.query.bytes(n)),
            stats: ctx.storage(
                "layer softmax statistics",
                Softmax::stats_bytes(s.rows, s.keys),
            ),
            part: ctx.storage(
                "layer weighted-sum partials",
                WeightedSum::part_bytes(ctx, s.rows, s.dim.max(s.vdim), s.keys),
            ),
            separation,
            separation_scratch: SeparationScratch::new(
                ctx,
                SeparationKind::of(separation),
                s.rows,
                s.keys,
            ),
            scores: ctx.storage("layer association", r.score.bytes(n)),
            lses: ctx.storage("layer lse", r.lse.bytes(n)),
            outs: ctx.storage("layer outputs", r.out.bytes(n)),
            compact: ctx.storage("layer association read", Self::association_bytes(s)),
            mask,
            pending: Mutex::new(None),
        })
    }

    /// Bytes of every problem's association, unpadded.
    fn association_bytes(s: Shape) -> u64 {
        (s.problems * s.rows * s.keys) as u64 * WORD
    }

    /// An operand's buffer and where its problems live in it.
    pub(crate) fn region(&self, input: Input) -> (&wgpu::Buffer, Layout) {
        let (s, r) = (self.shape, self.r);
        let (buffer, region, rows, row_len) = match input {
            Input::Queries => (&self.queries, r.query, s.rows, s.dim),
            Input::Keys => (&self.keys, r.key, s.keys, r.k_words),
            Input::Values => (&self.values, r.value, s.keys, r.v_words),
        };
        let layout = Layout {
            rows,
            row_len,
            stride: (region.stride / WORD) as usize,
        };
        (buffer, layout)
    }

    /// The per-problem outputs `xi · v` of [`retrieve`](Self::retrieve), `rows × vdim` each.
    pub(crate) fn outputs(&self) -> (&wgpu::Buffer, Layout) {
        let layout = Layout {
            rows: self.shape.rows,
            row_len: self.shape.vdim,
            stride: (self.r.out.stride / WORD) as usize,
        };
        (&self.outs, layout)
    }

    /// Records `f` after everything recorded so far, into the commands of the next submission.
    pub(crate) async fn record<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Recorder<'_>) -> T,
    ) -> Result<T> {
        let ctx = self.ctx;
        let (out, done) = ctx.scoped(&format!("recording {what}"), || {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let encoder = pending.get_or_insert_with(|| ctx.encoder("layer forward"));
            f(&mut Recorder::new(ctx, encoder))
        });
        done.await?;
        Ok(out)
    }

    /// Records a copy of every problem's association, back to back, into the buffer that is
    /// read (the regions' alignment padding is not).
    fn record_compact(&self) {
        let (s, r) = (self.shape, self.r);
        let bytes = r.score.words as u64 * WORD;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let encoder = pending.get_or_insert_with(|| self.ctx.encoder("layer forward"));
        self.ctx
            .poison(encoder, &self.compact, Self::association_bytes(s));
        for p in 0..s.problems {
            let from = r.score.stride * p as u64;
            encoder.copy_buffer_to_buffer(
                &self.scores,
                from,
                &self.compact,
                bytes * p as u64,
                bytes,
            );
        }
    }

    /// Submits everything recorded and reads `parts` back.
    async fn flush(&self, what: &str, parts: &[(&wgpu::Buffer, u64)]) -> Result<Vec<Vec<f32>>> {
        let encoder = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| self.ctx.encoder(what));
        self.ctx
            .submit_and_read(&format!("running {what}"), encoder, None, parts)
            .await
    }

    /// Records `xi = softmax(mask(β·q·kᵀ))` of every problem where `active[p]` (the others
    /// keep their association), `q` being the queries or, for an update, `xi · k`. With
    /// `read`, submits and returns the associations of all problems (`problems × rows × keys`);
    /// without, nothing is submitted yet.
    pub(crate) async fn associate(
        &self,
        from: From,
        active: &[bool],
        read: bool,
    ) -> Result<Option<Vec<f32>>> {
        let (r, problems) = (self.r, self.shape.problems);
        self.record("layer association", |rec| {
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
        })
        .await?;
        if !read {
            return Ok(None);
        }
        self.record_compact();
        let bytes = Self::association_bytes(self.shape);
        let mut image = self
            .flush("layer association", &[(&self.compact, bytes)])
            .await?;
        Ok(image.pop())
    }

    /// Records problem `p`'s association: for an update its new queries first, then scores,
    /// mask and separation.
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
        let scratch = &self.separation_scratch;
        separate::encode(rec, self.separation, (s.rows, s.keys), b, scratch);
    }

    /// Records `xi · v` of every problem into [`outputs`](Self::outputs), then `tail` (which
    /// records what follows and returns the buffer and bytes to read), submits everything
    /// and returns what `tail` named, and the associations when `with_association`.
    pub(crate) async fn retrieve(
        &self,
        with_association: bool,
        tail: impl FnOnce(&mut Recorder<'_>) -> (wgpu::Buffer, u64),
    ) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
        let (ctx, r, problems) = (self.ctx, self.r, self.shape.problems);
        let kernels = ctx.kernels.for_patterns(&ctx.device, Precision::F32);
        let (out, out_bytes) = self
            .record("layer retrieval", |rec| {
                rec.poison(&self.outs, r.out.bytes(problems));
                for p in 0..problems {
                    kernels
                        .weighted_sum
                        .encode(rec, self.xi_times(Operand::Values, p));
                }
                tail(rec)
            })
            .await?;
        let mut parts = vec![(&out, out_bytes)];
        if with_association {
            self.record_compact();
            parts.push((&self.compact, Self::association_bytes(self.shape)));
        }
        let mut image = self.flush("layer retrieval", &parts).await?.into_iter();
        let out = image.next().unwrap_or_default();
        Ok((out, image.next()))
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
}
