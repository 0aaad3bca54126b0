//! [`Memory`]: stored patterns on a device, and retrieval from them.

use std::borrow::Cow;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2};

use crate::cpu;
use crate::device::{Backend, Device};
use crate::error::{check_finite, Error, Result};
use crate::gpu::{retrieval, GpuContext, PatternStore};
use crate::ids::PatternIds;
use crate::partial::{self, Partial};
use crate::retrieve::{
    self, check_score_range, row_sq_norms, BlockOut, Retrieval, RetrieveOptions,
};
use crate::storage::{encode_rows, round_to, MemoryOptions};
use crate::wait;
#[cfg(not(target_arch = "wasm32"))]
use crate::worker;
use crate::Separation;

mod on_device;
pub use on_device::BufferIo;

/// Score blocks on the CPU are kept to this many f32 (64 MiB) so memory use stays bounded
/// however many queries arrive at once.
const CPU_BLOCK_SCORES: usize = 16 << 20;

/// N stored patterns of dimension d, on a [`Device`].
///
/// Every method validates its input before touching the stored patterns: a call that returns
/// an error leaves the memory exactly as it was.
///
/// A pattern is addressed by its index (its row, 0..N, which shifts when earlier patterns are
/// removed) or by its id, a `u64` that stays with it: [`append`](Self::append) hands out
/// fresh ids in order, [`append_with_ids`](Self::append_with_ids) takes the caller's, and
/// neither [`remove`](Self::remove) nor [`replace`](Self::replace) nor
/// [`save`](Self::save)/[`load`](Self::load) changes a surviving pattern's id. Top-k results
/// report both ([`TopK::ids`](crate::TopK::ids)). A pattern may also carry a label.
///
/// ```
/// use hopfield::{Device, Memory, RetrieveOptions};
/// use ndarray::array;
///
/// let mut memory = Memory::new(&Device::cpu(), 3)?;
/// memory.append(array![[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]].view())?;
/// let out = memory.retrieve(array![[0.9, -0.8, 0.7]].view(), &RetrieveOptions::new(10.0))?;
/// assert!((out.states[[0, 0]] - 1.0).abs() < 1e-3);
/// # Ok::<(), hopfield::Error>(())
/// ```
///
/// # Many callers
///
/// A `Memory` is `Send + Sync`: any number of threads may retrieve from one `&Memory` at once,
/// on every device (calls to a GL device take turns inside the crate, as GL has one context).
/// A writer needs `&mut Memory`; [`snapshot`](Self::snapshot) (or `clone`) gives readers their
/// own copy in O(chunks) time, so a writer never waits for them.
///
/// # On the web
///
/// In a browser (wasm32) nothing may block, and a GPU answers only once control returns to
/// the event loop: there the `_async` forms ([`from_array_async`](Self::from_array_async),
/// [`append_async`](Self::append_async), [`patterns_async`](Self::patterns_async),
/// [`retrieve_async`](Self::retrieve_async)) are the ones to use on a GPU device; a sync call
/// that would wait for one returns [`Error::WouldBlock`]. On the CPU device both forms work.
#[derive(Clone)]
pub struct Memory {
    device: Device,
    dim: usize,
    options: MemoryOptions,
    /// Squared norm of each pattern, kept on the host for M = max ‖x_i‖ (energy, range checks).
    /// Shared with clones until either side mutates (as are `ids` and the stored rows).
    sq_norms: Arc<Vec<f64>>,
    /// Ids and labels, in row order.
    ids: Arc<PatternIds>,
    store: Store,
}

#[derive(Clone)]
enum Store {
    Cpu(Arc<Vec<f32>>),
    Gpu(Arc<GpuContext>, PatternStore),
}

impl Memory {
    /// An empty memory for f32 patterns of dimension `dim` (≥ 1), in chunks as large as the
    /// device can bind.
    pub fn new(device: &Device, dim: usize) -> Result<Memory> {
        Memory::with_options(device, dim, MemoryOptions::default())
    }

    /// An empty memory for patterns of dimension `dim` (≥ 1) stored as `options` say.
    pub fn with_options(device: &Device, dim: usize, options: MemoryOptions) -> Result<Memory> {
        if dim == 0 {
            return Err(Error::ZeroDimension);
        }
        let store = match &device.backend {
            Backend::Cpu => {
                let row_bytes = options.precision.row_bytes(dim);
                if let Some(b) = options.max_chunk_bytes.filter(|&b| b < row_bytes) {
                    return Err(Error::InvalidOptions(format!(
                        "max_chunk_bytes = {b} cannot hold one pattern ({row_bytes} bytes as {})",
                        options.precision
                    )));
                }
                Store::Cpu(Arc::default())
            }
            Backend::Gpu(ctx) => {
                Store::Gpu(Arc::clone(ctx), PatternStore::new(ctx, dim, &options)?)
            }
        };
        Ok(Memory {
            device: device.clone(),
            dim,
            options,
            sq_norms: Arc::default(),
            ids: Arc::default(),
            store,
        })
    }

    /// How the patterns are stored.
    pub fn options(&self) -> MemoryOptions {
        self.options
    }

    /// Number of device buffers the patterns take (1 on the CPU path, 0 when empty).
    pub fn chunks(&self) -> usize {
        match &self.store {
            Store::Cpu(rows) => usize::from(!rows.is_empty()),
            Store::Gpu(_, store) => store.chunk_count(),
        }
    }

    /// A memory holding the rows of `patterns` (N×d).
    pub fn from_array(device: &Device, patterns: ArrayView2<f32>) -> Result<Memory> {
        let mut memory = Memory::new(device, patterns.ncols())?;
        memory.append(patterns)?;
        Ok(memory)
    }

    /// The asynchronous form of [`from_array`](Self::from_array), for the web.
    pub async fn from_array_async(
        device: &Device,
        patterns: ArrayView2<'_, f32>,
    ) -> Result<Memory> {
        let mut memory = Memory::new(device, patterns.ncols())?;
        memory.append_async(patterns).await?;
        Ok(memory)
    }

    /// A memory holding the row-major `data` as patterns of dimension `dim`.
    pub fn from_rows(device: &Device, dim: usize, data: &[f32]) -> Result<Memory> {
        let mut memory = Memory::new(device, dim)?;
        memory.append_rows(data)?;
        Ok(memory)
    }

    /// Number of stored patterns N.
    pub fn len(&self) -> usize {
        self.sq_norms.len()
    }

    /// Whether no pattern is stored.
    pub fn is_empty(&self) -> bool {
        self.sq_norms.is_empty()
    }

    /// Pattern dimension d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The device the patterns live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Largest pattern norm M = max ‖x_i‖ (0 for an empty memory).
    pub fn max_norm(&self) -> f64 {
        self.sq_norms.iter().copied().fold(0.0, f64::max).sqrt()
    }

    /// Appends the rows of `patterns` (N×d), giving them fresh ids (see [`ids`](Self::ids)).
    /// Growth is amortised: rows already on the device are not uploaded again.
    pub fn append(&mut self, patterns: ArrayView2<f32>) -> Result<()> {
        self.check_dim("patterns", patterns.ncols())?;
        let rows = patterns.as_standard_layout();
        let data = rows.as_slice().expect("standard layout is contiguous");
        let ctx = self.gpu_context();
        let _serial = ctx.as_deref().and_then(GpuContext::exclusive);
        wait::now("Memory::append", self.push_rows(data, None))
    }

    /// The asynchronous form of [`append`](Self::append), for the web; on native targets it
    /// is `append` itself (an upload is queued, not waited for).
    pub async fn append_async(&mut self, patterns: ArrayView2<'_, f32>) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        return self.append(patterns);
        #[cfg(target_arch = "wasm32")]
        {
            self.check_dim("patterns", patterns.ncols())?;
            let rows = patterns.as_standard_layout();
            let data = rows.as_slice().expect("standard layout is contiguous");
            self.push_rows(data, None).await
        }
    }

    /// Appends row-major `data` (a whole number of rows of dimension d), with fresh ids.
    pub fn append_rows(&mut self, data: &[f32]) -> Result<()> {
        let ctx = self.gpu_context();
        let _serial = ctx.as_deref().and_then(GpuContext::exclusive);
        wait::now("Memory::append_rows", self.push_rows(data, None))
    }

    /// Appends the rows of `patterns` (N×d) under the caller's `ids`, one per row. An id that
    /// is already taken, or given twice, is an [`Error::DuplicateId`]; later fresh ids are
    /// larger than every id given here.
    ///
    /// ```
    /// use hopfield::{Device, Memory};
    /// use ndarray::array;
    ///
    /// let mut memory = Memory::new(&Device::cpu(), 2)?;
    /// memory.append_with_ids(array![[1.0, 0.0], [0.0, 1.0]].view(), &[40, 7])?;
    /// memory.append(array![[1.0, 1.0]].view())?;          // a fresh id: 41
    /// memory.remove(&[0])?;
    /// assert_eq!(memory.ids(), &[7, 41]);
    /// assert_eq!(memory.index_of(41), Some(1));
    /// assert!(memory.append_with_ids(array![[2.0, 2.0]].view(), &[7]).is_err());
    /// # Ok::<(), hopfield::Error>(())
    /// ```
    pub fn append_with_ids(&mut self, patterns: ArrayView2<f32>, ids: &[u64]) -> Result<()> {
        self.check_dim("patterns", patterns.ncols())?;
        let rows = patterns.as_standard_layout();
        let data = rows.as_slice().expect("standard layout is contiguous");
        let ctx = self.gpu_context();
        let _serial = ctx.as_deref().and_then(GpuContext::exclusive);
        wait::now("Memory::append_with_ids", self.push_rows(data, Some(ids)))
    }

    /// The device context of a GPU memory, for the sync calls that hold its GL lock around
    /// their wait (see `GpuContext::exclusive`).
    fn gpu_context(&self) -> Option<Arc<GpuContext>> {
        match &self.store {
            Store::Cpu(_) => None,
            Store::Gpu(ctx, _) => Some(Arc::clone(ctx)),
        }
    }

    /// Appends rows under `ids`, or under fresh ids when `None`; checks everything first.
    async fn push_rows(&mut self, data: &[f32], ids: Option<&[u64]>) -> Result<()> {
        if !data.len().is_multiple_of(self.dim) {
            return Err(Error::RaggedRows {
                what: "patterns",
                len: data.len(),
                dim: self.dim,
            });
        }
        check_finite("patterns", data, self.dim)?;
        let rows = data.len() / self.dim;
        let ids = match ids {
            Some(ids) if ids.len() != rows => {
                return Err(Error::IdCount {
                    ids: ids.len(),
                    patterns: rows,
                })
            }
            Some(ids) => {
                self.ids.check_new(ids)?;
                ids.to_vec()
            }
            None => self.ids.fresh(rows)?,
        };
        if data.is_empty() {
            return Ok(());
        }
        let data = round_to(self.options.precision, data, self.dim)?;
        match &mut self.store {
            Store::Cpu(rows) => Arc::make_mut(rows).extend_from_slice(&data),
            Store::Gpu(ctx, store) => {
                let words = encode_rows(store.precision(), &data, self.dim);
                store.append(ctx, &words).await?
            }
        }
        Arc::make_mut(&mut self.sq_norms).extend(row_sq_norms(&data, self.dim));
        Arc::make_mut(&mut self.ids).push(&ids);
        Ok(())
    }

    /// Replaces pattern `index` with `pattern` (length d); its id and label stay.
    pub fn replace(&mut self, index: usize, pattern: &[f32]) -> Result<()> {
        let ctx = self.gpu_context();
        let _serial = ctx.as_deref().and_then(GpuContext::exclusive);
        wait::now("Memory::replace", self.replace_row(index, pattern))
    }

    async fn replace_row(&mut self, index: usize, pattern: &[f32]) -> Result<()> {
        self.check_dim("pattern", pattern.len())?;
        if index >= self.len() {
            return Err(Error::IndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        check_finite("patterns", pattern, self.dim)?;
        let pattern = round_to(self.options.precision, pattern, self.dim)?;
        match &mut self.store {
            Store::Cpu(rows) => Arc::make_mut(rows)[index * self.dim..(index + 1) * self.dim]
                .copy_from_slice(&pattern),
            Store::Gpu(ctx, store) => {
                let words = encode_rows(store.precision(), &pattern, self.dim);
                store.replace(ctx, index, &words).await?
            }
        }
        Arc::make_mut(&mut self.sq_norms)[index] = row_sq_norms(&pattern, self.dim)[0];
        Ok(())
    }

    /// Removes the patterns at `indices` (any order; repeats count once). Later patterns move
    /// up to close the gaps, keeping their order and their ids.
    pub fn remove(&mut self, indices: &[usize]) -> Result<()> {
        let ctx = self.gpu_context();
        let _serial = ctx.as_deref().and_then(GpuContext::exclusive);
        wait::now("Memory::remove", self.remove_rows(indices))
    }

    async fn remove_rows(&mut self, indices: &[usize]) -> Result<()> {
        if let Some(&index) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::IndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        let mut sorted = indices.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.is_empty() {
            return Ok(());
        }
        match &mut self.store {
            Store::Cpu(rows) => {
                let dim = self.dim;
                let mut gone = sorted.iter().peekable();
                let mut i = 0;
                Arc::make_mut(rows).retain(|_| {
                    let row = i / dim;
                    i += 1;
                    while gone.next_if(|&&g| g < row).is_some() {}
                    gone.peek().is_none_or(|&&g| g != row)
                });
            }
            Store::Gpu(ctx, buf) => buf.remove(ctx, &sorted).await?,
        }
        let mut gone = sorted.iter().peekable();
        let mut row = 0;
        Arc::make_mut(&mut self.sq_norms).retain(|_| {
            let keep = gone.peek().is_none_or(|&&g| g != row);
            if !keep {
                gone.next();
            }
            row += 1;
            keep
        });
        Arc::make_mut(&mut self.ids).remove(&sorted);
        Ok(())
    }

    /// Removes the patterns with these ids (any order; repeats count once). An id the memory
    /// does not hold is an [`Error::UnknownId`], and then nothing is removed.
    pub fn remove_ids(&mut self, ids: &[u64]) -> Result<()> {
        let indices = ids
            .iter()
            .map(|&id| self.index_of(id).ok_or(Error::UnknownId(id)))
            .collect::<Result<Vec<_>>>()?;
        self.remove(&indices)
    }

    /// Removes every pattern (device buffers are kept for reuse). Their ids are not handed out
    /// again.
    pub fn clear(&mut self) {
        match &mut self.store {
            Store::Cpu(rows) => *rows = Arc::default(),
            Store::Gpu(ctx, buf) => {
                let _serial = ctx.exclusive();
                buf.clear()
            }
        }
        self.sq_norms = Arc::default();
        Arc::make_mut(&mut self.ids).clear();
    }

    /// The id of each stored pattern, in index order.
    pub fn ids(&self) -> &[u64] {
        self.ids.ids()
    }

    /// The id of pattern `index`, or `None` past the end.
    pub fn id_of(&self, index: usize) -> Option<u64> {
        self.ids.ids().get(index).copied()
    }

    /// The index pattern `id` is at now, or `None` if no pattern has that id.
    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.ids.row_of(id)
    }

    /// The label of pattern `index`, if it has one.
    pub fn label_of(&self, index: usize) -> Option<&str> {
        self.ids.labels().get(index)?.as_deref()
    }

    /// Gives pattern `index` a label, or takes it away with `None`. Labels are free text, kept
    /// on the host and saved with the memory.
    pub fn set_label(&mut self, index: usize, label: Option<String>) -> Result<()> {
        if index >= self.len() {
            return Err(Error::IndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        Arc::make_mut(&mut self.ids).set_label(index, label);
        Ok(())
    }

    /// Ids and labels, for [`persist`](crate::persist).
    pub(crate) fn pattern_ids(&self) -> &PatternIds {
        &self.ids
    }

    /// A memory with these rows (already as `options.precision` holds them) and ids, for
    /// [`persist`](crate::persist).
    pub(crate) fn restore(
        device: &Device,
        dim: usize,
        options: MemoryOptions,
        rows: &[f32],
        ids: PatternIds,
    ) -> Result<Memory> {
        let mut memory = Memory::with_options(device, dim, options)?;
        let ctx = memory.gpu_context();
        let _serial = ctx.as_deref().and_then(GpuContext::exclusive);
        wait::now("Memory::load", memory.push_rows(rows, Some(ids.ids())))?;
        memory.ids = Arc::new(ids);
        Ok(memory)
    }

    /// Reads the stored patterns back as an N×d array (f16 patterns as the f32 values they
    /// hold).
    pub fn patterns(&self) -> Result<Array2<f32>> {
        let _serial = self.store.exclusive();
        wait::now("Memory::patterns", self.read_patterns())
    }

    /// The asynchronous form of [`patterns`](Self::patterns), for the web; on native targets
    /// a worker thread waits for the device, as in [`retrieve_async`](Self::retrieve_async).
    pub async fn patterns_async(&self) -> Result<Array2<f32>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let memory = self.snapshot();
            worker::run(move || memory.patterns()).await
        }
        #[cfg(target_arch = "wasm32")]
        self.read_patterns().await
    }

    async fn read_patterns(&self) -> Result<Array2<f32>> {
        let data = match &self.store {
            Store::Cpu(rows) => rows.to_vec(),
            Store::Gpu(ctx, buf) => buf.read(ctx).await?,
        };
        Ok(Array2::from_shape_vec((self.len(), self.dim), data).expect("N×d rows"))
    }

    /// Retrieves from a batch of queries (B×d): `softmax(β Q Xᵀ) X`, as many steps as `options`
    /// say. Blocks until the result is on the host; see [`retrieve_async`](Self::retrieve_async)
    /// (the only form for a GPU on the web).
    pub fn retrieve(
        &self,
        queries: ArrayView2<f32>,
        options: &RetrieveOptions,
    ) -> Result<Retrieval> {
        let _serial = self.store.exclusive();
        wait::now("Memory::retrieve", self.retrieve_here(queries, options))
    }

    /// Retrieval on the calling task, awaiting the device between blocks.
    async fn retrieve_here(
        &self,
        queries: ArrayView2<'_, f32>,
        options: &RetrieveOptions,
    ) -> Result<Retrieval> {
        options.validate(self.len())?;
        let (queries, blocks) = self.run_blocks(queries, options).await?;
        let queries = ArrayView2::from_shape((queries.len() / self.dim, self.dim), &queries)
            .expect("B×d queries, checked");
        Ok(retrieve::assemble(
            options,
            queries,
            blocks,
            self.ids(),
            self.max_sq_norm(),
        ))
    }

    /// Runs the steps `options` ask for, block by block, on the queries as the backends see
    /// them (a partial cue's unknown features zeroed), which it returns with the blocks.
    async fn run_blocks<'q>(
        &self,
        queries: ArrayView2<'q, f32>,
        options: &RetrieveOptions,
    ) -> Result<(Cow<'q, [f32]>, Vec<(usize, BlockOut)>)> {
        self.check_dim("queries", queries.ncols())?;
        let q = match queries.to_slice() {
            Some(q) => Cow::Borrowed(q),
            None => Cow::Owned(queries.iter().copied().collect()),
        };
        // A partial cue retrieves from the queries with their unknown features zeroed (so
        // whatever they held, NaN included, is ignored), and clamps with the expanded mask if
        // asked to.
        let (q, clamp) = match options.cue(&q, self.dim)? {
            Some(cue) => (Cow::Owned(cue.queries), cue.clamp),
            None => (q, None),
        };
        check_finite("queries", &q, self.dim)?;
        let query_norm = row_sq_norms(&q, self.dim)
            .into_iter()
            .fold(0.0, f64::max)
            .sqrt();
        check_score_range(options.beta, query_norm, self.max_norm())?;
        let clamp = clamp.as_deref();
        let blocks = match &self.store {
            Store::Cpu(rows) => {
                let view = ArrayView2::from_shape((q.len() / self.dim, self.dim), &q)
                    .expect("B×d queries, checked above");
                self.cpu_blocks(rows, view, options, clamp)
            }
            Store::Gpu(ctx, store) => self.gpu_blocks(ctx, store, &q, options, clamp).await?,
        };
        Ok((q, blocks))
    }

    /// One update step's [`Partial`] of `queries` over this memory's patterns: what it
    /// contributes when its patterns are one shard of a larger memory, to be merged with the
    /// other shards' by [`merge`](crate::merge) (see [`partial`](crate::partial)). `options`
    /// must ask for one step of softmax or softmax₁, without weights or clamping; top-k may
    /// exceed this memory's size (the partial keeps what it has). An empty memory gives the
    /// partial of no pattern. `merge(&[memory.retrieve_partial(q, o)?])` equals
    /// `memory.retrieve(q, o)` in its states and top-k.
    pub fn retrieve_partial(
        &self,
        queries: ArrayView2<f32>,
        options: &RetrieveOptions,
    ) -> Result<Partial> {
        partial::check_options(options)?;
        self.check_dim("queries", queries.ncols())?;
        if self.is_empty() {
            return Partial::empty(queries.nrows(), self.dim, options);
        }
        let mut shard = options.clone();
        // Softmax₁'s zero logit belongs to the whole memory: the merge adds it once.
        shard.separation = Separation::Softmax;
        shard.energy = false;
        shard.keep_lse = true;
        shard.top_k = options.top_k.map(|k| k.min(self.len()));
        shard.validate(self.len())?;
        let _serial = self.store.exclusive();
        let (queries, mut blocks) =
            wait::now("Memory::retrieve_partial", self.run_blocks(queries, &shard))?;
        let lse: Vec<f32> = blocks
            .iter_mut()
            .flat_map(|(_, block)| block.lse_last.take().expect("asked for"))
            .collect();
        let queries = ArrayView2::from_shape((queries.len() / self.dim, self.dim), &queries)
            .expect("B×d queries, checked");
        let out = retrieve::assemble(&shard, queries, blocks, self.ids(), 0.0);
        Ok(Partial::of_shard(
            options,
            self.len(),
            self.max_sq_norm(),
            out.states,
            lse,
            out.top_k,
        ))
    }

    /// The largest squared norm of a stored pattern, M² (0 when empty).
    fn max_sq_norm(&self) -> f64 {
        self.sq_norms.iter().copied().fold(0.0, f64::max)
    }

    /// The asynchronous form of [`retrieve`](Self::retrieve): the future never blocks the
    /// executor, on any device. On native targets it hands a [`snapshot`](Self::snapshot) and
    /// a copy of the queries to a worker thread, which records, submits and waits for the
    /// device (or runs the CPU path), and only awaits that thread's answer; dropping the future
    /// abandons the result, and the worker still finishes the retrieval. On the web (wasm32),
    /// which has no threads, the future itself records and submits, and awaits the device
    /// between blocks (the CPU path runs inside its first poll).
    pub async fn retrieve_async(
        &self,
        queries: ArrayView2<'_, f32>,
        options: &RetrieveOptions,
    ) -> Result<Retrieval> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let memory = self.snapshot();
            let queries = queries.to_owned();
            let options = options.clone();
            worker::run(move || memory.retrieve(queries.view(), &options)).await
        }
        #[cfg(target_arch = "wasm32")]
        self.retrieve_here(queries, options).await
    }

    /// A copy of this memory that later mutations of either do not affect, made in
    /// O(chunks) time without copying any pattern: a reader retrieves from its snapshot while
    /// the writer goes on mutating the original through `&mut`, so the writer never waits for
    /// readers. Ids, labels and options are the original's.
    ///
    /// The design is copy-on-write: the host-side rows, norms and ids sit behind `Arc`s, and so
    /// does each device chunk. A mutation copies what is still shared first — the host data
    /// whole, on the device only the chunk it writes (appending into a shared last chunk copies
    /// that chunk; removal already builds fresh chunks). So a snapshot costs nothing until the
    /// writer touches shared data, and then at most one copy of what it touches, instead of a
    /// full copy per snapshot or a lock that makes the writer wait for every reader. It is the
    /// same as `clone`; the snapshot may be mutated too, without affecting the original.
    ///
    /// ```
    /// use hopfield::{Device, Memory, RetrieveOptions};
    /// use ndarray::array;
    ///
    /// let mut memory = Memory::from_array(&Device::cpu(), array![[1.0, 0.0], [0.0, 1.0]].view())?;
    /// let reader = memory.snapshot();
    /// memory.remove(&[0])?;                           // does not wait for, nor change, `reader`
    /// let out = reader.retrieve(array![[1.0, 0.0]].view(), &RetrieveOptions::new(8.0))?;
    /// assert_eq!((reader.len(), memory.len()), (2, 1));
    /// assert!(out.states[[0, 0]] > 0.99);
    /// # Ok::<(), hopfield::Error>(())
    /// ```
    pub fn snapshot(&self) -> Memory {
        self.clone()
    }

    /// The CPU path's blocks, each small enough to keep the score matrix bounded.
    fn cpu_blocks(
        &self,
        rows: &[f32],
        queries: ArrayView2<f32>,
        options: &RetrieveOptions,
        clamp: Option<&[bool]>,
    ) -> Vec<(usize, BlockOut)> {
        let b = queries.nrows();
        let x = ArrayView2::from_shape((self.len(), self.dim), rows).expect("N×d rows");
        let per_block = (CPU_BLOCK_SCORES / self.len()).max(1);
        if per_block < b {
            log::debug!("{b} queries retrieved in blocks of {per_block} on the CPU");
        }
        (0..b)
            .step_by(per_block)
            .map(|start| {
                let rows = per_block.min(b - start);
                let block = queries.slice(ndarray::s![start..start + rows, ..]);
                let clamp = clamp.map(|k| &k[start * self.dim..][..rows * self.dim]);
                (rows, cpu::retrieve_block(x, block, options, clamp))
            })
            .collect()
    }

    /// The GPU's blocks, as many queries each as the device's limits allow, one after another.
    async fn gpu_blocks(
        &self,
        ctx: &GpuContext,
        store: &PatternStore,
        q: &[f32],
        options: &RetrieveOptions,
        clamp: Option<&[bool]>,
    ) -> Result<Vec<(usize, BlockOut)>> {
        let plan = retrieval::blocks(ctx, store, self.dim, options)?;
        let per_block = plan.rows;
        if per_block * self.dim < q.len() {
            log::debug!(
                "{} queries retrieved in blocks of {per_block}",
                q.len() / self.dim
            );
        }
        let mut blocks = Vec::with_capacity(q.len().div_ceil(per_block * self.dim));
        for (i, chunk) in q.chunks(per_block * self.dim).enumerate() {
            let clamp = clamp.map(|k| &k[i * per_block * self.dim..][..chunk.len()]);
            let out = retrieval::retrieve_block(ctx, store, chunk, clamp, &plan, options).await?;
            blocks.push((chunk.len() / self.dim, out));
        }
        Ok(blocks)
    }

    fn check_dim(&self, what: &'static str, got: usize) -> Result<()> {
        if got != self.dim {
            return Err(Error::DimensionMismatch {
                what,
                expected: self.dim,
                got,
            });
        }
        Ok(())
    }
}

impl Store {
    /// The GL device lock (see `GpuContext::exclusive`) for a sync call's whole wait.
    fn exclusive(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        match self {
            Store::Cpu(_) => None,
            Store::Gpu(ctx, _) => ctx.exclusive(),
        }
    }
}

impl Drop for Memory {
    /// On GL even dropping a buffer takes the device's context, so the chunks go under the
    /// device lock (see `GpuContext::exclusive`), not while another thread's call holds it.
    fn drop(&mut self) {
        if let Store::Gpu(ctx, _) = &self.store {
            let ctx = Arc::clone(ctx);
            let _serial = ctx.exclusive();
            self.store = Store::Cpu(Arc::default());
        }
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("device", &self.device.info().name)
            .field("len", &self.len())
            .field("dim", &self.dim)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future must be `Send`, so it can be spawned on a multi-threaded executor: no wgpu
    /// error-scope guard (which is `!Send`) may live across an `.await`.
    #[test]
    fn retrieve_async_is_send() {
        fn send<T: Send>(_: &T) {}
        let memory = Memory::from_rows(&Device::cpu(), 2, &[1.0, 0.0]).unwrap();
        let q = ndarray::array![[1.0f32, 0.0]];
        let opts = RetrieveOptions::new(1.0);
        let future = memory.retrieve_async(q.view(), &opts);
        send(&future);
        assert!(pollster::block_on(future).is_ok());
    }
}
