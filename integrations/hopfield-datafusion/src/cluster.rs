//! Sessions and registries with the aggregate in them: what a DataFusion program, a Ballista
//! client and the cluster's scheduler and executors each need.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::error::Result;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::codec::{HopfieldLogicalCodec, HopfieldPhysicalCodec};
use crate::udaf::{HopfieldRetrieve, SQL_NAME};

/// The SQL form as a function value, to register by hand.
pub fn sql_udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::from(HopfieldRetrieve::sql()))
}

/// `config` with this crate's codecs as Ballista's (a plain DataFusion session ignores them).
pub fn with_codecs(config: SessionConfig) -> SessionConfig {
    config
        .with_ballista_logical_extension_codec(Arc::new(HopfieldLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(HopfieldPhysicalCodec::default()))
}

/// Registers the SQL form, `hopfield_retrieve`, on a context: one built without
/// [`session_state`], or a Ballista client's after `standalone_with_state` /
/// `remote_with_state`, which in Ballista 55 replace the session's aggregate functions with
/// Ballista's defaults (the scheduler and executors keep the state's).
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(sql_udaf().as_ref().clone());
}

/// A DataFusion session (or a Ballista client's, before `SessionContext::standalone_with_state`
/// or `remote_with_state`) with the SQL form registered and this crate's codecs.
pub fn session_state(config: SessionConfig) -> Result<datafusion::execution::SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_config(with_codecs(config))
        .with_default_features()
        .build();
    state.register_udaf(sql_udaf())?;
    Ok(state)
}

/// Ballista's default functions and the SQL form: an executor's registry, which decodes the
/// plans it is sent by looking functions up by name.
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    registry
        .aggregate_functions
        .insert(SQL_NAME.to_string(), sql_udaf());
    registry
}
