//! What one memory's retrievals keep between calls, so that retrieving again with the same
//! shapes and options creates nothing on the device: per block shape, the scratch buffers and
//! the bind groups recorded over them (each with its parameter block in a uniform of its own).
//!
//! Bounds: at most [`KEEP`] idle workspaces per memory, holding at most [`KEEP_BYTES`] of
//! scratch together (a block larger than that is allocated per call: its work dwarfs the
//! allocation), each with at most [`BIND_GROUPS`] bind groups. A workspace is checked out for
//! the whole of a block's retrieval, so two threads retrieving from one memory never share
//! scratch; the later one allocates its own and the two come back as two idle workspaces.
//!
//! Validity: scratch sizes and fused splits depend on the pattern count and chunking, and bind
//! groups hold the pattern chunks' buffers, so every mutation that changes either empties the
//! memory's workspaces ([`PatternStore`](super::PatternStore) calls [`Workspaces::clear`]);
//! overwriting a row in place changes neither and keeps them. A clone of a memory starts with
//! none (it is another memory), and dropping the memory releases them.

use std::collections::HashMap;
use std::sync::Mutex;

use super::kernel::Kernel;
use super::separate::SeparationKind;
use super::step::Scratch;

/// Idle workspaces kept per memory.
pub(crate) const KEEP: usize = 4;
/// Bytes of scratch the idle workspaces of one memory may hold together.
pub(crate) const KEEP_BYTES: u64 = 256 << 20;
/// Bind groups one workspace keeps; past this it starts afresh. One retrieval records a few
/// per pattern chunk, so this is reached only when options such as β change from call to
/// call, each value needing its own parameter blocks.
pub(crate) const BIND_GROUPS: usize = 256;

/// Which scratch a block needs: its queries, the patterns (whose count, with the memory's fixed
/// chunk size, decides the chunks and the fused splits) and its path. Keyed by all of it, a
/// workspace that outlived a change it should not have would still never be taken for the
/// wrong shape; clearing on change is what frees its memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Key {
    pub rows: usize,
    pub n: usize,
    pub fused: bool,
    pub top_k: Option<usize>,
    /// The separation's own scratch.
    pub separation: SeparationKind,
    /// A partial cue's clamp buffers.
    pub clamp: bool,
    /// Recorded into an application's encoder ([`recorded`](super::recorded)). Such work
    /// moves its data by copies inside the encoder only, so any order of submissions keeps it
    /// whole; the host path writes its queries with `write_buffer`, which lands at whichever
    /// submission comes next, so the two never share scratch.
    pub recorded: bool,
}

/// A block shape's scratch and the bind groups recorded over it.
pub(crate) struct Workspace {
    pub key: Key,
    pub scratch: Scratch,
    pub binds: BindGroups,
}

/// A memory's idle workspaces, least recently used first.
#[derive(Default)]
pub(crate) struct Workspaces(Mutex<Vec<Workspace>>);

impl Clone for Workspaces {
    /// Empty: a clone is another memory, whose mutations must not reach these.
    fn clone(&self) -> Self {
        Workspaces::default()
    }
}

impl Workspaces {
    /// Checks out the idle workspace for `key`, if there is one.
    pub(crate) fn take(&self, key: Key) -> Option<Workspace> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let i = idle.iter().position(|w| w.key == key)?;
        Some(idle.remove(i))
    }

    /// Returns a workspace after a successful retrieval, dropping the least recently used
    /// ones past the bounds (and this one if it alone is past [`KEEP_BYTES`]).
    pub(crate) fn give(&self, workspace: Workspace) {
        if workspace.scratch.bytes() > KEEP_BYTES {
            return;
        }
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(workspace);
        while idle.len() > KEEP || idle.iter().map(|w| w.scratch.bytes()).sum::<u64>() > KEEP_BYTES
        {
            idle.remove(0);
        }
    }

    /// Drops every idle workspace (the patterns changed under them).
    pub(crate) fn clear(&mut self) {
        self.0.get_mut().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// One dispatch's bindings as a key: its pipeline, its parameter block's bytes, and each buffer
/// binding's buffer, offset and size. Holding the buffers keeps their identity from being reused
/// while the key lives.
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct BindKey {
    pipeline: wgpu::ComputePipeline,
    params: Vec<u8>,
    buffers: Vec<(wgpu::Buffer, u64, Option<std::num::NonZeroU64>)>,
}

impl BindKey {
    pub(crate) fn new(kernel: &Kernel, params: &[u8], buffers: &[wgpu::BufferBinding<'_>]) -> Self {
        BindKey {
            pipeline: kernel.pipeline().clone(),
            params: params.to_vec(),
            buffers: buffers
                .iter()
                .map(|b| (b.buffer.clone(), b.offset, b.size))
                .collect(),
        }
    }
}

/// Bind groups, each with its parameter block, by what they bind. A parameter block's uniform
/// is written once, when its bind group is made, and never again, so a cached bind group is
/// right wherever its key matches, however many times one submission uses it.
#[derive(Default)]
pub(crate) struct BindGroups(HashMap<BindKey, wgpu::BindGroup>);

impl BindGroups {
    pub(crate) fn get(&self, key: &BindKey) -> Option<&wgpu::BindGroup> {
        self.0.get(key)
    }

    pub(crate) fn insert(&mut self, key: BindKey, group: wgpu::BindGroup) {
        if self.0.len() >= BIND_GROUPS {
            self.0.clear();
        }
        self.0.insert(key, group);
    }
}
