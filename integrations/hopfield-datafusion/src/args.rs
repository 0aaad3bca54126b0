//! The constant arguments of the SQL form: the query, β and k are read once, when an
//! accumulator is made, from the literals the planner left in the aggregate's arguments.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_float32_array;
use datafusion::common::{plan_datafusion_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::PhysicalExpr;

/// The value of argument `position` (named `what` in errors), which must be a constant.
pub(crate) fn constant<'a>(
    exprs: &'a [Arc<dyn PhysicalExpr>],
    position: usize,
    what: &str,
) -> Result<&'a ScalarValue> {
    let expr = exprs.get(position).ok_or_else(|| {
        plan_datafusion_err!(
            "hopfield_retrieve: argument {} ({what}) is missing",
            position + 1
        )
    })?;
    match expr.downcast_ref::<Literal>() {
        Some(literal) => Ok(literal.value()),
        None => plan_err!(
            "hopfield_retrieve: argument {} ({what}) must be a constant, got {expr}; \
             one call retrieves one query over the whole table",
            position + 1
        ),
    }
}

/// A constant list of numbers as f32: the query.
pub(crate) fn query(value: &ScalarValue) -> Result<Vec<f32>> {
    let values: ArrayRef = match value {
        ScalarValue::List(list) if list.len() == 1 && list.is_valid(0) => list.value(0),
        ScalarValue::LargeList(list) if list.len() == 1 && list.is_valid(0) => list.value(0),
        ScalarValue::FixedSizeList(list) if list.len() == 1 && list.is_valid(0) => list.value(0),
        other => {
            return plan_err!(
                "hopfield_retrieve: the query must be a non-null list of numbers, got {other:?}"
            )
        }
    };
    let values = cast(&values, &DataType::Float32)?;
    let values = as_float32_array(&values)?;
    if values.is_empty() || values.null_count() > 0 {
        return plan_err!(
            "hopfield_retrieve: the query must have at least one value and no nulls, got {} \
             values of which {} null",
            values.len(),
            values.null_count()
        );
    }
    if let Some(bad) = values.values().iter().position(|v| !v.is_finite()) {
        return plan_err!("hopfield_retrieve: the query's value {bad} is not finite");
    }
    Ok(values.values().to_vec())
}

/// A constant number as f32: β, finite and positive.
pub(crate) fn beta(value: &ScalarValue) -> Result<f32> {
    match value.cast_to(&DataType::Float32)? {
        ScalarValue::Float32(Some(beta)) if beta.is_finite() && beta > 0.0 => Ok(beta),
        _ => plan_err!("hopfield_retrieve: β must be a finite number > 0, got {value}"),
    }
}

/// A constant count as usize: k of top-k, at least 1.
pub(crate) fn top_k(value: &ScalarValue) -> Result<usize> {
    let k = match value {
        ScalarValue::Int8(Some(k)) => i64::from(*k),
        ScalarValue::Int16(Some(k)) => i64::from(*k),
        ScalarValue::Int32(Some(k)) => i64::from(*k),
        ScalarValue::Int64(Some(k)) => *k,
        ScalarValue::UInt8(Some(k)) => i64::from(*k),
        ScalarValue::UInt16(Some(k)) => i64::from(*k),
        ScalarValue::UInt32(Some(k)) => i64::from(*k),
        ScalarValue::UInt64(Some(k)) => i64::try_from(*k).unwrap_or(i64::MAX),
        other => return plan_err!("hopfield_retrieve: k must be an integer constant, got {other}"),
    };
    match usize::try_from(k) {
        Ok(k) if k >= 1 => Ok(k),
        _ => plan_err!("hopfield_retrieve: k must be at least 1, got {k}"),
    }
}
