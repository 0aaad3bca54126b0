//! The accumulator: partials computed by the core crate, carried and merged as state.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{exec_err, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Accumulator;
use hopfield::{Memory, Partial, RetrieveOptions};
use ndarray::Array2;

use crate::output::{self, Output};
use crate::{device, embeddings, state};

/// What every accumulator of one aggregate expression shares.
#[derive(Debug)]
pub(crate) struct Config {
    /// B×d.
    pub queries: Array2<f32>,
    pub options: RetrieveOptions,
    /// The position of the id column among the arguments, where there is one.
    pub id_arg: Option<usize>,
    pub output: Output,
}

pub(crate) struct RetrieveAccumulator {
    config: Arc<Config>,
    partial: Partial,
}

impl fmt::Debug for RetrieveAccumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetrieveAccumulator")
            .field("queries", &self.config.queries.nrows())
            .field("dim", &self.config.queries.ncols())
            .field("patterns", &self.partial.patterns)
            .finish()
    }
}

/// The core crate's errors, named as this aggregate's.
pub(crate) fn core_error(what: &str) -> impl FnOnce(hopfield::Error) -> DataFusionError + '_ {
    move |e| DataFusionError::External(Box::new(e)).context(format!("hopfield_retrieve: {what}"))
}

impl RetrieveAccumulator {
    pub(crate) fn new(config: Arc<Config>) -> Result<Self> {
        let (queries, dim) = config.queries.dim();
        let partial = Partial::empty(queries, dim, &config.options)
            .map_err(core_error("an empty partial"))?;
        Ok(RetrieveAccumulator { config, partial })
    }

    fn dim(&self) -> usize {
        self.config.queries.ncols()
    }
}

impl Accumulator for RetrieveAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let ids = match self.config.id_arg {
            Some(i) => Some(values.get(i).ok_or_else(|| {
                DataFusionError::Internal(format!("hopfield_retrieve: no argument {i} (id)"))
            })?),
            None => None,
        };
        let Some(embeddings) = values.first() else {
            return exec_err!("hopfield_retrieve: called without an embedding column");
        };
        let rows = embeddings::read(embeddings, ids, self.dim())?;
        if rows.matrix.nrows() == 0 {
            return Ok(());
        }
        let device = device::executor_device()?;
        let memory = match &rows.ids {
            Some(ids) => {
                let mut memory = Memory::new(device, self.dim()).map_err(core_error("a memory"))?;
                memory
                    .append_with_ids(rows.matrix.view(), ids)
                    .map_err(core_error("storing a batch of patterns"))?;
                memory
            }
            None => Memory::from_array(device, rows.matrix.view())
                .map_err(core_error("storing a batch of patterns"))?,
        };
        let partial = memory
            .retrieve_partial(self.config.queries.view(), &self.config.options)
            .map_err(core_error("retrieving over a batch of patterns"))?;
        self.partial
            .absorb(&partial)
            .map_err(core_error("merging a batch's partial"))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(state::to_scalars(&self.partial))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |column| column.len());
        let (queries, dim) = self.config.queries.dim();
        for row in 0..rows {
            let other = state::from_arrays(states, row, queries, dim, &self.config.options)?;
            self.partial
                .absorb(&other)
                .map_err(core_error("merging partials"))?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.partial.patterns == 0 {
            return output::empty(self.config.output);
        }
        let merged = self
            .partial
            .finish()
            .map_err(core_error("normalising the partials"))?;
        output::value(self.config.output, &merged)
    }

    fn size(&self) -> usize {
        let candidates = self.partial.top_k.as_ref().map_or(0, |c| c.ids.len() * 20);
        std::mem::size_of_val(self)
            + (self.partial.acc.len() + 2 * self.partial.max.len()) * 4
            + candidates
    }
}

#[cfg(test)]
#[path = "accumulator_tests.rs"]
mod tests;
