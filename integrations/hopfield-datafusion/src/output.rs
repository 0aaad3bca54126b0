//! What the aggregate returns, as Arrow types and values.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float32Array, ListArray, StructArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{internal_err, ScalarValue};
use datafusion::error::Result;
use hopfield::Merged;
use ndarray::Array2;

/// The shape of the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// SQL, one query: its state, `List<Float32>`.
    State,
    /// SQL, one query with top-k: `{state: List<Float32>, ids: List<UInt64>, weights: List<Float32>}`.
    StateTopK,
    /// Bound, B queries: `{states: List<List<Float32>>}` and, with top-k, `ids` and `weights`
    /// as B lists each.
    Batch { top_k: bool },
}

fn list_of(item: DataType) -> DataType {
    DataType::new_list(item, true)
}

fn fields(output: Output) -> Fields {
    let (state, ids, weights) = match output {
        Output::State | Output::StateTopK => (
            "state",
            list_of(DataType::UInt64),
            list_of(DataType::Float32),
        ),
        Output::Batch { .. } => (
            "states",
            list_of(list_of(DataType::UInt64)),
            list_of(list_of(DataType::Float32)),
        ),
    };
    let state_type = match output {
        Output::Batch { .. } => list_of(list_of(DataType::Float32)),
        _ => list_of(DataType::Float32),
    };
    let mut fields = vec![Field::new(state, state_type, true)];
    if matches!(output, Output::StateTopK | Output::Batch { top_k: true }) {
        fields.push(Field::new("ids", ids, true));
        fields.push(Field::new("weights", weights, true));
    }
    Fields::from(fields)
}

pub(crate) fn return_type(output: Output) -> DataType {
    match output {
        Output::State => list_of(DataType::Float32),
        _ => DataType::Struct(fields(output)),
    }
}

/// `rows` as a one-row list of lists (B lists of its columns' length), or as one list when
/// `nested` is false (then `rows` has one row).
fn rows_list(rows: ArrayRef, lengths: usize, count: usize, nested: bool) -> ArrayRef {
    let item = rows.data_type().clone();
    let inner = ListArray::new(
        Arc::new(Field::new_list_field(item, true)),
        OffsetBuffer::from_lengths(std::iter::repeat_n(lengths, count)),
        rows,
        None,
    );
    if !nested {
        return Arc::new(inner);
    }
    let inner: ArrayRef = Arc::new(inner);
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(inner.data_type().clone(), true)),
        OffsetBuffer::from_lengths([count]),
        inner,
        None,
    ))
}

fn f32_rows(matrix: &Array2<f32>, nested: bool) -> ArrayRef {
    let values = Arc::new(Float32Array::from_iter_values(matrix.iter().copied()));
    rows_list(values, matrix.ncols(), matrix.nrows(), nested)
}

fn u64_rows(matrix: &Array2<u64>, nested: bool) -> ArrayRef {
    let values = Arc::new(UInt64Array::from_iter_values(matrix.iter().copied()));
    rows_list(values, matrix.ncols(), matrix.nrows(), nested)
}

/// The merged retrieval as the aggregate's value.
pub(crate) fn value(output: Output, merged: &Merged) -> Result<ScalarValue> {
    let nested = matches!(output, Output::Batch { .. });
    let states = f32_rows(&merged.states, nested);
    if output == Output::State {
        return ScalarValue::try_from_array(&states, 0);
    }
    let mut columns = vec![states];
    if matches!(output, Output::StateTopK | Output::Batch { top_k: true }) {
        let Some(top) = merged.top_k.as_ref() else {
            return internal_err!("hopfield_retrieve: top-k was asked for but not computed");
        };
        columns.push(u64_rows(&top.ids, nested));
        columns.push(f32_rows(&top.weights, nested));
    }
    let row = StructArray::try_new(fields(output), columns, None)?;
    Ok(ScalarValue::Struct(Arc::new(row)))
}

/// The value over no patterns at all: SQL's NULL, as for SUM over an empty table.
pub(crate) fn empty(output: Output) -> Result<ScalarValue> {
    ScalarValue::try_from(return_type(output))
}
