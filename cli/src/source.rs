//! What `retrieve` retrieves from: one memory on one device, or, when `--device` lists several
//! (`--device gpu,cpu`, `--device vulkan:0,vulkan:1`), one memory sharded over all of them.

use std::path::Path;

use hopfield::{
    Device, Error, GpuOptions, Limits, Memory, MemoryOptions, Precision, Retrieval,
    RetrieveOptions, ShardedMemory,
};
use ndarray::{Array2, ArrayView2};

use crate::Failure;

/// One device, by name: auto, cpu, gpu, BACKEND:INDEX (the INDEX-th adapter of that
/// backend, from 0), or a substring of an adapter's name.
pub fn open_one(spec: &str, limits: Limits) -> Result<Device, Failure> {
    let opts = GpuOptions::default().limits(limits);
    let indexed = spec
        .split_once(':')
        .and_then(|(backend, i)| Some((backend, i.trim().parse::<usize>().ok()?)));
    let opened = match (spec.trim().to_ascii_lowercase().as_str(), indexed) {
        ("", _) => return Err(Failure(2, "--device names an empty device".into())),
        ("auto", _) => Device::auto_with(&opts),
        ("cpu", _) => Ok(Device::cpu()),
        ("gpu", _) => Device::gpu_with(&opts),
        (_, Some((backend, i))) => Device::gpu_with(&opts.backends(backend).adapter_index(i)),
        (name, None) => Device::gpu_with(&opts.adapter_name(name)),
    };
    // A name or number that matches no adapter is the user's to fix, like any bad argument.
    opened.map_err(|e| match e {
        Error::NoAdapter(why) | Error::InvalidOptions(why) => {
            Failure(2, format!("--device {spec}: {why}"))
        }
        e => e.into(),
    })
}

/// Every device of a comma-separated `--device` list.
pub fn open_all(list: &str, limits: Limits) -> Result<Vec<Device>, Failure> {
    list.split(',').map(|spec| open_one(spec, limits)).collect()
}

/// The patterns retrieval runs over.
pub enum Source {
    One(Memory),
    Sharded(ShardedMemory),
}

impl Source {
    /// `patterns` (or a memory file's, with their ids) on `devices`: one memory with
    /// `storage` for one device, sharded in equal shares for several (f32 and the devices'
    /// own chunking only).
    pub fn new(
        devices: &[Device],
        patterns: Option<&Array2<f32>>,
        memory_file: Option<&Path>,
        storage: MemoryOptions,
    ) -> Result<Source, Failure> {
        let loaded = |device: &Device| -> Result<Memory, Failure> {
            if let Some(patterns) = patterns {
                let mut memory = Memory::with_options(device, patterns.ncols(), storage)?;
                memory.append(patterns.view())?;
                return Ok(memory);
            }
            let path = memory_file.ok_or_else(|| {
                Failure(2, "give the stored patterns: --patterns or --memory".into())
            })?;
            Memory::load(device, path).map_err(|e| {
                let Failure(code, why) = Failure::from(e);
                Failure(code, format!("memory {why}"))
            })
        };
        if let [device] = devices {
            return Ok(Source::One(loaded(device)?));
        }
        if storage != MemoryOptions::default().precision(Precision::F32) {
            return Err(Failure(
                2,
                "--precision f16 and --max-chunk-bytes set one memory's storage: a --device \
                 list shards the memory in f32 over the devices, give one device for them"
                    .into(),
            ));
        }
        // The patterns come to the host once, then go to the shards with their ids.
        let whole = loaded(&Device::cpu())?;
        let mut sharded = ShardedMemory::new(devices, whole.dim())?;
        sharded.append_with_ids(whole.patterns()?.view(), whole.ids())?;
        Ok(Source::Sharded(sharded))
    }

    pub fn retrieve(
        &self,
        queries: ArrayView2<f32>,
        opts: &RetrieveOptions,
    ) -> hopfield::Result<Retrieval> {
        match self {
            Source::One(m) => m.retrieve(queries, opts),
            Source::Sharded(m) => m.retrieve(queries, opts),
        }
    }

    pub fn max_norm(&self) -> f64 {
        match self {
            Source::One(m) => m.max_norm(),
            Source::Sharded(m) => m.max_norm(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Source::One(m) => m.len(),
            Source::Sharded(m) => m.len(),
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Source::One(m) => m.dim(),
            Source::Sharded(m) => m.dim(),
        }
    }

    /// Where the patterns are, for the summary line: the device and the storage, or each
    /// shard's device and size.
    pub fn describe(&self) -> (String, String) {
        match self {
            Source::One(m) => {
                let chunks = m.chunks();
                (
                    m.device().info().to_string(),
                    format!(
                        "{} in {chunks} chunk{}",
                        m.options().precision,
                        if chunks == 1 { "" } else { "s" }
                    ),
                )
            }
            Source::Sharded(m) => {
                let shards: Vec<String> = m
                    .shards()
                    .iter()
                    .map(|s| format!("{} [{} patterns]", s.device().info(), s.len()))
                    .collect();
                (
                    format!("{} shards: {}", shards.len(), shards.join(", ")),
                    "f32".to_string(),
                )
            }
        }
    }
}
