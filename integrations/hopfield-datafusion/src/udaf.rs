//! The aggregate function: its two forms, their arguments and return types.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use hopfield::RetrieveOptions;
use ndarray::Array2;

use crate::accumulator::{Config, RetrieveAccumulator};
use crate::bound::BoundRetrieve;
use crate::output::{self, Output};
use crate::{args, state};

/// The name the SQL form is registered under.
pub const SQL_NAME: &str = "hopfield_retrieve";
/// The name of the bound form (not registered: each bound function is a value).
pub const BOUND_NAME: &str = "hopfield_retrieve_bound";

/// One retrieval step as an aggregate over an embedding column; see the crate's docs for the
/// two forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HopfieldRetrieve {
    form: Form,
    signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Form {
    /// `(embedding, query, beta)` or `(embedding, query, beta, id, k)`.
    Sql,
    /// `(embedding)` or `(embedding, id)`.
    Bound(BoundRetrieve),
}

impl HopfieldRetrieve {
    /// The SQL form, `hopfield_retrieve(embedding, query, beta [, id, k])`.
    pub fn sql() -> Self {
        Self::with_form(Form::Sql)
    }

    pub(crate) fn bound(bound: BoundRetrieve) -> Self {
        Self::with_form(Form::Bound(bound))
    }

    fn with_form(form: Form) -> Self {
        HopfieldRetrieve {
            form,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    pub(crate) fn form(&self) -> &Form {
        &self.form
    }

    /// The result's shape for these arguments, once they are checked.
    fn output(&self, arg_types: &[DataType]) -> Result<Output> {
        check(&arg_types[0], "embedding", is_number_list)?;
        match &self.form {
            Form::Sql => {
                if arg_types.len() != 3 && arg_types.len() != 5 {
                    return plan_err!(
                        "{SQL_NAME} takes (embedding, query, beta) or (embedding, query, beta, \
                         id, k), got {} arguments",
                        arg_types.len()
                    );
                }
                check(&arg_types[1], "query", is_number_list)?;
                check(&arg_types[2], "beta", DataType::is_numeric)?;
                if arg_types.len() == 3 {
                    return Ok(Output::State);
                }
                check(&arg_types[3], "id", DataType::is_integer)?;
                check(&arg_types[4], "k", DataType::is_integer)?;
                Ok(Output::StateTopK)
            }
            Form::Bound(bound) => {
                let top_k = bound.top_k.is_some();
                match arg_types.len() {
                    2 => check(&arg_types[1], "id", DataType::is_integer)?,
                    1 if !top_k => {}
                    n => {
                        return plan_err!(
                            "{BOUND_NAME} takes (embedding, id){}, got {n} arguments",
                            if top_k {
                                " (top-k names patterns by id)"
                            } else {
                                " or (embedding)"
                            }
                        )
                    }
                }
                Ok(Output::Batch { top_k })
            }
        }
    }

    fn config(&self, args: &AccumulatorArgs) -> Result<Config> {
        let types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let output = self.output(&types)?;
        let (queries, options, id_arg) = match &self.form {
            Form::Sql => {
                let query = args::query(args::constant(args.exprs, 1, "query")?)?;
                let beta = args::beta(args::constant(args.exprs, 2, "beta")?)?;
                let mut options = RetrieveOptions::new(beta);
                let mut id_arg = None;
                if output == Output::StateTopK {
                    options = options.with_top_k(args::top_k(args::constant(args.exprs, 4, "k")?)?);
                    id_arg = Some(3);
                }
                let dim = query.len();
                (
                    Array2::from_shape_vec((1, dim), query).map_err(internal)?,
                    options,
                    id_arg,
                )
            }
            Form::Bound(bound) => {
                let id_arg = (args.exprs.len() == 2).then_some(1);
                (bound.queries.clone(), bound.options(), id_arg)
            }
        };
        Ok(Config {
            queries,
            options,
            id_arg,
            output,
        })
    }
}

fn internal(e: impl std::fmt::Display) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Internal(e.to_string())
}

fn is_number_list(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            item.data_type().is_numeric()
        }
        _ => false,
    }
}

fn check(data_type: &DataType, what: &str, ok: impl Fn(&DataType) -> bool) -> Result<()> {
    if ok(data_type) {
        return Ok(());
    }
    let wanted = match what {
        "embedding" | "query" => "a list of numbers",
        "beta" => "a number",
        _ => "an integer",
    };
    plan_err!("hopfield_retrieve: {what} must be {wanted}, got {data_type}")
}

impl AggregateUDFImpl for HopfieldRetrieve {
    fn name(&self) -> &str {
        match self.form {
            Form::Sql => SQL_NAME,
            Form::Bound(_) => BOUND_NAME,
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The arguments as they are: a cast of the embedding column would copy every pattern.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() {
            return plan_err!(
                "{}: no arguments; the first is the embedding column",
                self.name()
            );
        }
        self.output(arg_types)?;
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.is_empty() {
            return plan_err!(
                "{}: no arguments; the first is the embedding column",
                self.name()
            );
        }
        Ok(output::return_type(self.output(arg_types)?))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct || !args.order_bys.is_empty() {
            return plan_err!("{}: DISTINCT and ORDER BY mean nothing here", self.name());
        }
        let config = self.config(&args)?;
        Ok(Box::new(RetrieveAccumulator::new(Arc::new(config))?))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state::fields(args.name))
    }
}
