//! The embedding column of one input batch as a pattern matrix (and the id column as ids).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::{cast, cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::cast::{as_float32_array, as_large_list_array, as_uint64_array};
use datafusion::common::exec_err;
use datafusion::error::Result;
use ndarray::Array2;

/// The patterns of one batch: its non-null embeddings, in row order.
pub(crate) struct Rows {
    pub matrix: Array2<f32>,
    /// The `id` of each pattern, where the call names an id column.
    pub ids: Option<Vec<u64>>,
}

/// Reads `embeddings` (List, LargeList or FixedSizeList of numbers) as rows of length `dim`.
/// A null embedding is skipped; one of another length, one holding a null, or a non-null
/// embedding with a null id is an error that names the row.
pub(crate) fn read(embeddings: &ArrayRef, ids: Option<&ArrayRef>, dim: usize) -> Result<Rows> {
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    // One layout for all three list kinds (and any numeric items) keeps one loop below.
    let lists = cast(embeddings, &DataType::LargeList(item))?;
    let lists = as_large_list_array(&lists)?;
    let values = as_float32_array(lists.values())?;
    // Unsafe casts (wrapping, nulls for negatives) would give wrong ids silently.
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let ids = ids
        .map(|ids| cast_with_options(ids, &DataType::UInt64, &strict))
        .transpose()?;
    let ids = ids.as_ref().map(|ids| as_uint64_array(ids)).transpose()?;

    let offsets = lists.value_offsets();
    let mut data = Vec::with_capacity(lists.len() * dim);
    let mut kept_ids = ids.map(|_| Vec::with_capacity(lists.len()));
    for row in 0..lists.len() {
        if lists.is_null(row) {
            continue;
        }
        let id = ids.map(|ids| ids.is_valid(row).then(|| ids.value(row)));
        let name = || match id {
            Some(Some(id)) => format!("row {row} of an input batch (id {id})"),
            _ => format!("row {row} of an input batch"),
        };
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        if end - start != dim {
            return exec_err!(
                "hopfield_retrieve: the embedding in {} has {} values; the queries have d = {dim}",
                name(),
                end - start
            );
        }
        if values.null_count() > 0 && (start..end).any(|i| values.is_null(i)) {
            return exec_err!(
                "hopfield_retrieve: the embedding in {} holds a null value",
                name()
            );
        }
        if let (Some(kept), Some(id)) = (kept_ids.as_mut(), id) {
            match id {
                Some(id) => kept.push(id),
                None => return exec_err!("hopfield_retrieve: the id in {} is null", name()),
            }
        }
        data.extend_from_slice(&values.values()[start..end]);
    }
    let matrix = Array2::from_shape_vec((data.len() / dim, dim), data)
        .map_err(|e| datafusion::error::DataFusionError::Internal(e.to_string()))?;
    Ok(Rows {
        matrix,
        ids: kept_ids,
    })
}
