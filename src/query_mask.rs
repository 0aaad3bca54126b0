//! Boolean masks over the features of a batch of queries — a partial cue's known features
//! (`RetrieveOptions::known`), a binary recall's clamped neurons (`RecallOptions::clamped`):
//! B×d, one row per query, or 1×d, one row for the whole batch. One shape check and one way
//! to read a query's row, for both.

use ndarray::{Array2, ArrayView1};

use crate::error::{Error, Result};

/// Refuses a mask that is neither `rows`×`dim` nor 1×`dim`, naming it (`what`) and the unit of
/// the features (`unit`: "features", "neurons"), before anything runs.
pub(crate) fn check(
    mask: &Array2<bool>,
    what: &str,
    rows: usize,
    dim: usize,
    unit: &str,
) -> Result<()> {
    if mask.ncols() != dim || !(mask.nrows() == rows || mask.nrows() == 1) {
        return Err(Error::InvalidOptions(format!(
            "the {what} is {}×{}: it must be B×d or 1×d for {rows} queries of {dim} {unit}",
            mask.nrows(),
            mask.ncols()
        )));
    }
    Ok(())
}

/// The mask's row for query `row`: its own, or the one row of a 1×d mask.
pub(crate) fn row(mask: &Array2<bool>, row: usize) -> ArrayView1<'_, bool> {
    mask.row(if mask.nrows() == 1 { 0 } else { row })
}
