//! Seeded random patterns as Parquet files (the layout `retrieve_parquet` reads), random
//! queries as .npy, and what the core crate retrieves for them, so that `retrieve_parquet`
//! can be checked from outside.
//!
//! ```text
//! cargo run --example write_patterns -- --dir DIR --n 10000 --d 64 --files 4 --queries 16 --beta 8 --topk 5
//! ```
//! writes DIR/patterns/part-*.parquet, DIR/queries.npy, DIR/expected_states.npy and, with
//! `--topk`, DIR/expected_ids.npy.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use datafusion::arrow::array::{Float32Array, ListArray, RecordBatch, UInt64Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use hopfield::{Device, Memory, RetrieveOptions};
use ndarray::{s, Array2};
use ndarray_npy::write_npy;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    #[arg(long, default_value_t = 64)]
    d: usize,
    #[arg(long, default_value_t = 4)]
    files: usize,
    #[arg(long, default_value_t = 16)]
    queries: usize,
    #[arg(long, default_value_t = 8.0)]
    beta: f32,
    #[arg(long)]
    topk: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn normal(rng: &mut StdRng, rows: usize, cols: usize) -> Array2<f32> {
    let s = 1.0 / (cols as f32).sqrt();
    Array2::from_shape_simple_fn((rows, cols), || s * rng.sample::<f32, _>(StandardNormal))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let patterns = normal(&mut rng, args.n, args.d);
    let ids: Vec<u64> = (0..args.n as u64).map(|i| 10 * i + 1).collect();
    // Noisy copies of stored patterns, so that top-k has a clear answer.
    let mut queries = normal(&mut rng, args.queries, args.d) * 0.3;
    for (i, mut row) in queries.rows_mut().into_iter().enumerate() {
        row += &patterns.row(i % args.n);
    }

    let dir = args.dir.join("patterns");
    std::fs::create_dir_all(&dir)?;
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("embedding", DataType::List(item.clone()), true),
    ]));
    // The storage advice of the README: no dictionary for floats, row groups of 64k rows.
    let properties = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(65_536))
        .build();
    let per_file = args.n.div_ceil(args.files.max(1));
    for (f, start) in (0..args.n).step_by(per_file.max(1)).enumerate() {
        let end = (start + per_file).min(args.n);
        let rows = patterns.slice(s![start..end, ..]);
        let values = Arc::new(Float32Array::from_iter_values(rows.iter().copied()));
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(args.d, end - start));
        let embedding = Arc::new(ListArray::new(item.clone(), offsets, values, None));
        let id = Arc::new(UInt64Array::from(ids[start..end].to_vec()));
        let batch = RecordBatch::try_new(schema.clone(), vec![id, embedding])?;
        let file = std::fs::File::create(dir.join(format!("part-{f}.parquet")))?;
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties.clone()))?;
        writer.write(&batch)?;
        writer.close()?;
    }

    let mut memory = Memory::new(&Device::cpu(), args.d)?;
    memory.append_with_ids(patterns.view(), &ids)?;
    let mut options = RetrieveOptions::new(args.beta);
    if let Some(k) = args.topk {
        options = options.with_top_k(k);
    }
    let out = memory.retrieve(queries.view(), &options)?;
    write_npy(args.dir.join("queries.npy"), &queries)?;
    write_npy(args.dir.join("expected_states.npy"), &out.states)?;
    if let Some(top) = out.top_k {
        write_npy(args.dir.join("expected_ids.npy"), &top.ids)?;
    }
    Ok(())
}
