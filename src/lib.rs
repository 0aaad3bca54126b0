//! # hopfield: modern Hopfield networks on any GPU
//!
//! Associative memory whose retrieval `ξ_new = Xᵀ softmax(β X ξ)` (Ramsauer et al. 2020,
//! "Hopfield Networks is All You Need") runs as WGSL compute shaders through wgpu on Vulkan,
//! Metal, DX12 or GL, with a CPU path that computes the same function where no GPU exists.
//!
//! Patterns live on a [`Device`] in a [`Memory`]; a batch of queries is retrieved with
//! [`Memory::retrieve`], whose [`RetrieveOptions`] say how many steps to take and what to return
//! besides the states (attention weights, top-k patterns, energies).
//!
//! ```
//! use hopfield::{Device, Memory, RetrieveOptions};
//! use ndarray::array;
//!
//! let device = Device::auto()?;                 // a real GPU if there is one, else the CPU
//! let patterns = array![[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, 1.0, -1.0]];
//! let memory = Memory::from_array(&device, patterns.view())?;
//! let noisy = array![[0.8, 1.1, -0.2, -0.9]];   // pattern 0, corrupted
//! let out = memory.retrieve(noisy.view(), &RetrieveOptions::new(4.0).steps(3).with_top_k(1))?;
//! assert_eq!(out.top_k.unwrap().indices[[0, 0]], 0);
//! assert!((&out.states - &patterns.row(0)).iter().all(|d| d.abs() < 1e-2));
//! # Ok::<(), hopfield::Error>(())
//! ```
//!
//! The binary networks the modern one grew from live beside it: [`classical`] (Hopfield 1982,
//! Hebbian and Storkey rules) and [`dense`] (Krotov–Hopfield dense associative memory), with
//! the sweeps and sign rule they share in [`binary`]; [`diagnostics`] turns the theory of the
//! continuous network (fixed-point kinds, separation, Theorems 3 and 5) into functions.
//!
//! ## Ids, labels and files
//!
//! Each pattern has a stable `u64` id (fresh ones in order, or the caller's) and may carry a
//! label; ids survive removals and files, and top-k results give them beside the indices. A
//! memory saves to one safetensors file and loads onto any device, bit for bit
//! ([`persist`] has the format and the checks that refuse a damaged file):
//!
//! ```
//! use hopfield::{Device, Memory, RetrieveOptions};
//! use ndarray::array;
//!
//! let mut memory = Memory::new(&Device::auto()?, 3)?;
//! memory.append_with_ids(array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]].view(), &[7, 42])?;
//! memory.set_label(1, Some("the answer".into()))?;
//! memory.remove_ids(&[7])?;                       // 42 keeps its id, now at index 0
//!
//! let path = std::env::temp_dir().join(format!("hopfield-doc-{}.safetensors", std::process::id()));
//! memory.save(&path)?;                            // atomic: temporary file, then rename
//! let memory = Memory::load(&Device::cpu(), &path)?;
//! let out = memory.retrieve(array![[0.1, 0.9, 0.0]].view(), &RetrieveOptions::new(8.0).with_top_k(1))?;
//! let id = out.reached_ids().unwrap()[0];
//! assert_eq!((id, memory.label_of(memory.index_of(id).unwrap())), (42, Some("the answer")));
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), hopfield::Error>(())
//! ```
//!
//! ## On the web
//!
//! The library builds for `wasm32-unknown-unknown`, where wgpu speaks the browser's WebGPU.
//! A browser gives no threads and never lets a call wait for the GPU, so there the CPU path runs
//! on the calling thread and the `_async` forms are the ones to use on a GPU:
//! [`Device::gpu_async`], [`Memory::from_array_async`], [`Memory::append_async`],
//! [`Memory::retrieve_async`], [`Memory::patterns_async`] and the layers' `forward_async`. Each
//! operation is written once, async; its sync form waits for it on native targets and, on the
//! web, returns [`Error::WouldBlock`] rather than hang when the GPU would have to answer.
//! Files (`save`, `load`) fail there with an I/O error.
//!
//! Every error is a value of [`Error`]; no call panics on user input, and a failed call
//! leaves the memory as it was. The f64 [`reference`](mod@reference) implementation is what the test suite
//! checks both backends against. The crate logs its decisions (adapter chosen, fallbacks,
//! chunk sizes, how a batch is split) through the [`log`](https://docs.rs/log) facade at
//! info and debug level; it installs no logger, so it is silent unless the application
//! installs one.

#![warn(missing_docs)]

pub mod binary;
pub mod classical;
mod cpu;
pub mod dense;
mod device;
pub mod diagnostics;
mod error;
mod gpu;
mod ids;
pub mod layers;
mod memory;
pub mod partial;
pub mod persist;
mod query_mask;
pub mod reference;
mod retrieve;
mod separation;
pub mod shaders;
mod sharded;
mod storage;
mod wait;
#[cfg(not(target_arch = "wasm32"))]
mod worker;
pub mod workloads;

pub use device::{
    Device, DeviceFeatures, DeviceInfo, DeviceKind, DeviceLimits, DeviceStats, GpuOptions, Limits,
};
pub use error::{Error, FileOp, IoCause, Result};
pub use memory::BufferIo;
pub use memory::Memory;
pub use partial::{merge, Candidates, Merged, Partial};
pub use retrieve::{Energies, Fusion, Retrieval, RetrieveOptions, Stop, TopK};
pub use separation::Separation;
pub use sharded::ShardedMemory;
pub use storage::{MemoryOptions, Precision};
/// The wgpu this crate is built on, for [`Device::from_wgpu`] and
/// [`Memory::record_retrieval`]: an application that shares its device with the crate uses
/// these types, so the versions always match.
pub use wgpu;

/// The examples of docs/sharding.md, compiled (and run where they can) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/sharding.md")]
struct ShardingDocs;
