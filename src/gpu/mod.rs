//! The wgpu side: one context per device (queue, pipelines built once, a readback pool, a
//! poller thread), and one Rust file per WGSL kernel that owns its pipeline and dispatch.

pub(crate) mod attention;
mod bias_act;
mod binary;
mod buffers;
mod change;
mod clamp;
pub(crate) mod classical;
mod context;
mod counters;
pub(crate) mod dense;
mod fused;
mod heads;
mod kernel;
pub(crate) mod layer;
mod layer_norm;
mod mask;
mod merge;
mod plan;
mod poller;
pub(crate) mod programs;
mod readback;
pub(crate) mod recorded;
pub(crate) mod recorder;
pub(crate) mod retrieval;
mod separate;
mod similarity;
mod softmax;
mod step;
mod threshold;
mod timer;
mod topk;
mod weighted_sum;
mod workspace;

pub(crate) use buffers::PatternStore;
pub(crate) use context::GpuContext;
