//! The wgpu side: one context per device (queue, pipelines built once, a readback pool, a
//! poller thread), and one Rust file per WGSL kernel that owns its pipeline and dispatch.

pub(crate) mod attention;
mod buffers;
mod change;
mod context;
mod fused;
mod kernel;
mod mask;
mod merge;
mod plan;
mod poller;
pub(crate) mod retrieval;
mod similarity;
mod softmax;
mod step;
mod weighted_sum;

pub(crate) use buffers::PatternStore;
pub(crate) use context::GpuContext;
