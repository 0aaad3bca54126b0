//! A partial as the aggregate's intermediate state: one row of eight columns, so that
//! partials travel between DataFusion's partial and final aggregation (and between Ballista's
//! stages) as ordinary Arrow data. Matrices are flattened row-major; their shapes follow from
//! the query count B, the dimension d and the candidate count.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float32Array, ListArray, UInt64Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{
    as_float32_array, as_float64_array, as_list_array, as_uint64_array,
};
use datafusion::common::{exec_err, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use hopfield::{Candidates, Partial, RetrieveOptions};
use ndarray::Array2;

/// The state's columns, in order (the names are prefixed with the aggregate's).
const COLUMNS: [(&str, Kind); 8] = [
    ("patterns", Kind::U64),
    ("max_sq_norm", Kind::F64),
    ("max", Kind::ListF32),
    ("sum", Kind::ListF32),
    ("acc", Kind::ListF32),
    ("top_indices", Kind::ListU64),
    ("top_ids", Kind::ListU64),
    ("top_terms", Kind::ListF32),
];

#[derive(Clone, Copy)]
enum Kind {
    U64,
    F64,
    ListF32,
    ListU64,
}

/// The state's fields for an aggregate named `name`.
pub(crate) fn fields(name: &str) -> Vec<FieldRef> {
    COLUMNS
        .iter()
        .map(|(column, kind)| {
            let data_type = match kind {
                Kind::U64 => DataType::UInt64,
                Kind::F64 => DataType::Float64,
                Kind::ListF32 => DataType::new_list(DataType::Float32, true),
                Kind::ListU64 => DataType::new_list(DataType::UInt64, true),
            };
            Arc::new(Field::new(format!("{name}[{column}]"), data_type, true))
        })
        .collect()
}

fn list<A: Array + 'static>(values: A, item: DataType) -> ScalarValue {
    let field = Arc::new(Field::new_list_field(item, true));
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    ScalarValue::List(Arc::new(ListArray::new(
        field,
        offsets,
        Arc::new(values),
        None,
    )))
}

fn f32_list(values: impl IntoIterator<Item = f32>) -> ScalarValue {
    list(Float32Array::from_iter_values(values), DataType::Float32)
}

fn u64_list(values: impl IntoIterator<Item = u64>) -> ScalarValue {
    list(UInt64Array::from_iter_values(values), DataType::UInt64)
}

/// `partial` as one row of the state's columns.
pub(crate) fn to_scalars(partial: &Partial) -> Vec<ScalarValue> {
    let top = partial.top_k.as_ref();
    vec![
        ScalarValue::UInt64(Some(partial.patterns as u64)),
        ScalarValue::Float64(Some(partial.max_sq_norm)),
        f32_list(partial.max.iter().copied()),
        f32_list(partial.sum.iter().copied()),
        f32_list(partial.acc.iter().copied()),
        u64_list(
            top.into_iter()
                .flat_map(|c| c.indices.iter().map(|&i| i as u64)),
        ),
        u64_list(top.into_iter().flat_map(|c| c.ids.iter().copied())),
        f32_list(top.into_iter().flat_map(|c| c.terms.iter().copied())),
    ]
}

/// The state columns' row `row` as a partial of `queries` × `dim` under `options`.
pub(crate) fn from_arrays(
    states: &[ArrayRef],
    row: usize,
    queries: usize,
    dim: usize,
    options: &RetrieveOptions,
) -> Result<Partial> {
    if states.len() != COLUMNS.len() {
        return exec_err!(
            "hopfield_retrieve: a state has {} columns, expected {}",
            states.len(),
            COLUMNS.len()
        );
    }
    let patterns = as_uint64_array(&states[0])?.value(row) as usize;
    let max_sq_norm = as_float64_array(&states[1])?.value(row);
    let max = f32_row(&states[2], row, queries, 1)?;
    let sum = f32_row(&states[3], row, queries, 1)?;
    let acc = f32_row(&states[4], row, queries, dim)?;
    let top_k = match options.top_k {
        None => None,
        Some(k) => {
            let kept = k.min(patterns);
            let indices = u64_row(&states[5], row, queries, kept)?.mapv(|i| i as usize);
            let ids = u64_row(&states[6], row, queries, kept)?;
            let terms = f32_row(&states[7], row, queries, kept)?;
            Some(Candidates {
                k,
                indices,
                ids,
                terms,
            })
        }
    };
    Ok(Partial {
        beta: options.beta,
        separation: options.separation,
        patterns,
        max_sq_norm,
        max: max.column(0).to_owned(),
        sum: sum.column(0).to_owned(),
        acc,
        top_k,
    })
}

fn list_row(column: &ArrayRef, row: usize, len: usize) -> Result<ArrayRef> {
    let lists = as_list_array(column)?;
    if lists.is_null(row) || lists.value_length(row) as usize != len {
        return exec_err!(
            "hopfield_retrieve: a state's {} column holds {} values in row {row}, expected {len}",
            lists.data_type(),
            if lists.is_null(row) {
                0
            } else {
                lists.value_length(row) as usize
            }
        );
    }
    Ok(lists.value(row))
}

fn shaped<T>(data: Vec<T>, rows: usize, cols: usize) -> Result<Array2<T>> {
    Array2::from_shape_vec((rows, cols), data).map_err(|e| DataFusionError::Internal(e.to_string()))
}

fn f32_row(column: &ArrayRef, row: usize, rows: usize, cols: usize) -> Result<Array2<f32>> {
    let values = list_row(column, row, rows * cols)?;
    shaped(as_float32_array(&values)?.values().to_vec(), rows, cols)
}

fn u64_row(column: &ArrayRef, row: usize, rows: usize, cols: usize) -> Result<Array2<u64>> {
    let values = list_row(column, row, rows * cols)?;
    shaped(as_uint64_array(&values)?.values().to_vec(), rows, cols)
}
