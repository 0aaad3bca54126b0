//! Shared by the integration tests: seeded patterns written as Parquet, the core crate's
//! answer for them, and the comparisons.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, ListArray, RecordBatch, StructArray,
    UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::parquet::arrow::ArrowWriter;
use hopfield::{Device, Memory, Retrieval, RetrieveOptions};
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// A fresh seed per run, printed so that a failure can be replayed (HOPFIELD_TEST_SEED).
pub fn rng(test: &str) -> StdRng {
    let seed = std::env::var("HOPFIELD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("{test}: HOPFIELD_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// Rows of i.i.d. N(0, scale²/cols) entries: norms near `scale`.
pub fn normal(rng: &mut StdRng, rows: usize, cols: usize, scale: f32) -> Array2<f32> {
    let s = scale / (cols as f32).sqrt();
    Array2::from_shape_simple_fn((rows, cols), || s * rng.sample::<f32, _>(StandardNormal))
}

/// Ids that are not row numbers, so a test cannot pass by confusing the two.
pub fn ids(n: usize) -> Vec<u64> {
    (0..n as u64).map(|i| 1_000_003 + 7 * i).collect()
}

/// Embeddings as List<Float32> (or FixedSizeList when `fixed`), with a null row after every
/// `null_every` patterns when given (the aggregate must skip those).
fn embedding_column(patterns: ArrayView2<f32>, fixed: bool) -> ArrayRef {
    let (n, d) = patterns.dim();
    let values = Arc::new(Float32Array::from_iter_values(patterns.iter().copied()));
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    if fixed {
        Arc::new(FixedSizeListArray::new(item, d as i32, values, None))
    } else {
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(d, n));
        Arc::new(ListArray::new(item, offsets, values, None))
    }
}

/// One record batch of `id` and `embedding`, plus `extra_nulls` rows whose embedding is null.
pub fn batch(
    patterns: ArrayView2<f32>,
    ids: &[u64],
    fixed: bool,
    extra_nulls: usize,
) -> RecordBatch {
    let d = patterns.ncols();
    let mut padded = patterns.to_owned();
    let mut all_ids = ids.to_vec();
    if extra_nulls > 0 {
        let filler = Array2::from_elem((extra_nulls, d), 99.0f32);
        padded = ndarray::concatenate![ndarray::Axis(0), padded, filler];
        all_ids.extend((0..extra_nulls as u64).map(|i| 9_000_000 + i));
    }
    let column = embedding_column(padded.view(), fixed);
    let valid = (0..padded.nrows()).map(|r| r < patterns.nrows());
    let column = with_nulls(column, NullBuffer::from_iter(valid));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("embedding", column.data_type().clone(), true),
    ]));
    RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(all_ids)), column]).unwrap()
}

fn with_nulls(column: ArrayRef, nulls: NullBuffer) -> ArrayRef {
    let data = column
        .to_data()
        .into_builder()
        .nulls(Some(nulls))
        .build()
        .unwrap();
    datafusion::arrow::array::make_array(data)
}

/// Writes `patterns` into `files` Parquet files under `dir` (row counts differing by file; an
/// empty file when there are more files than patterns), each with `extra_nulls` null rows.
pub fn write_parquet(
    dir: &Path,
    patterns: ArrayView2<f32>,
    ids: &[u64],
    files: usize,
    fixed: bool,
    extra_nulls: usize,
) {
    let n = patterns.nrows();
    let mut start = 0;
    for f in 0..files {
        let end = if f + 1 == files {
            n
        } else {
            (start + n / files + f % 2).min(n)
        };
        let rows = patterns.slice(ndarray::s![start..end, ..]);
        let batch = batch(rows, &ids[start..end], fixed, extra_nulls);
        let file = std::fs::File::create(dir.join(format!("part-{f}.parquet"))).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        start = end;
    }
}

/// The core crate's retrieval of `queries` over `patterns` (with `ids`) on the CPU path.
pub fn core_retrieve(
    patterns: ArrayView2<f32>,
    ids: &[u64],
    queries: ArrayView2<f32>,
    options: &RetrieveOptions,
) -> Retrieval {
    let mut memory = Memory::new(&Device::cpu(), patterns.ncols()).unwrap();
    memory.append_with_ids(patterns, ids).unwrap();
    // The aggregate gives min(k, N) candidates where the core crate refuses k > N.
    let mut options = options.clone();
    options.top_k = options.top_k.map(|k| k.min(patterns.nrows()));
    memory.retrieve(queries, &options).unwrap()
}

/// Each row of `got` within 1e-5 of `want`'s, relative to the row's largest entry (states are
/// convex combinations of patterns, so their scale is the patterns').
pub fn assert_rows_close(got: &[Vec<f32>], want: ArrayView2<f32>, what: &str) {
    assert_eq!(got.len(), want.nrows(), "{what}: row count");
    for (r, (g, w)) in got.iter().zip(want.rows()).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: row {r} length");
        let scale = w.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (c, (a, b)) in g.iter().zip(w.iter()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "{what}: [{r}, {c}] = {a}, the core crate gives {b} (scale {scale})"
            );
        }
    }
}

/// A list scalar's (or list array row's) values as f64-free plain vectors.
pub fn f32_list(array: &ArrayRef) -> Vec<f32> {
    let values = array
        .as_any()
        .downcast_ref::<Float32Array>()
        .expect("f32 values");
    values.values().to_vec()
}

pub fn u64_list(array: &ArrayRef) -> Vec<u64> {
    let values = array
        .as_any()
        .downcast_ref::<UInt64Array>()
        .expect("u64 values");
    values.values().to_vec()
}

/// Row 0 of a List<List<T>> column as B rows.
pub fn nested_rows<T>(column: &ArrayRef, read: impl Fn(&ArrayRef) -> Vec<T>) -> Vec<Vec<T>> {
    let outer = column
        .as_any()
        .downcast_ref::<ListArray>()
        .expect("a list of lists");
    let inner = outer.value(0);
    let inner = inner
        .as_any()
        .downcast_ref::<ListArray>()
        .expect("inner lists");
    (0..inner.len()).map(|i| read(&inner.value(i))).collect()
}

/// The struct column `name` of a one-row struct value.
pub fn field(value: &ScalarValue, name: &str) -> ArrayRef {
    let ScalarValue::Struct(row) = value else {
        panic!("expected a struct, got {value:?}")
    };
    let row: &StructArray = row;
    row.column_by_name(name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .clone()
}

/// The first row of a one-row list column, as f32s.
pub fn list_row_f32(column: &ArrayRef) -> Vec<f32> {
    let list = column.as_any().downcast_ref::<ListArray>().expect("a list");
    f32_list(&list.value(0))
}

pub fn list_row_u64(column: &ArrayRef) -> Vec<u64> {
    let list = column.as_any().downcast_ref::<ListArray>().expect("a list");
    u64_list(&list.value(0))
}

/// A SQL array literal of `values`, printed with enough digits to round-trip f32.
pub fn sql_list(values: impl IntoIterator<Item = f32>) -> String {
    let items: Vec<String> = values.into_iter().map(|v| format!("{v:e}")).collect();
    format!("[{}]", items.join(", "))
}
