//! Shipping the bound form to Ballista's scheduler and executors. The function holds its
//! queries, so its name alone cannot bring it back on the other side: it travels as bytes.
//! Everything else is passed to Ballista's own codecs, which this wraps.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{plan_err, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use hopfield::Separation;
use ndarray::Array2;

use crate::bound::BoundRetrieve;
use crate::udaf::{Form, HopfieldRetrieve, BOUND_NAME};

/// The bytes start with this, so a buffer of anything else is refused by name.
const MAGIC: &[u8; 4] = b"HOPB";
const VERSION: u8 = 1;
/// magic, version, separation, has top-k, k, β, B, d.
const HEADER: usize = 4 + 1 + 1 + 1 + 8 + 4 + 8 + 8;

/// The bound form as bytes: a fixed little-endian header, then the B×d queries row-major.
pub(crate) fn encode(bound: &BoundRetrieve, buf: &mut Vec<u8>) -> Result<()> {
    let separation = match bound.separation {
        Separation::Softmax => 0u8,
        Separation::Softmax1 => 1,
        other => return plan_err!("{BOUND_NAME}: cannot ship separation {other:?}"),
    };
    let (b, d) = bound.queries.dim();
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&[VERSION, separation, u8::from(bound.top_k.is_some())]);
    buf.extend_from_slice(&(bound.top_k.unwrap_or(0) as u64).to_le_bytes());
    buf.extend_from_slice(&bound.beta.to_le_bytes());
    buf.extend_from_slice(&(b as u64).to_le_bytes());
    buf.extend_from_slice(&(d as u64).to_le_bytes());
    bound
        .queries
        .iter()
        .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
    Ok(())
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// The bound form back from [`encode`]'s bytes, checked as a new one is.
pub(crate) fn decode(buf: &[u8]) -> Result<BoundRetrieve> {
    if buf.len() < HEADER || &buf[..4] != MAGIC || buf[4] != VERSION {
        return plan_err!(
            "{BOUND_NAME}: {} bytes that are not a bound retrieval of version {VERSION}",
            buf.len()
        );
    }
    let separation = match buf[5] {
        0 => Separation::Softmax,
        1 => Separation::Softmax1,
        other => return plan_err!("{BOUND_NAME}: unknown separation code {other}"),
    };
    let top_k = match buf[6] {
        0 => None,
        1 => Some(u64_at(buf, 7) as usize),
        other => return plan_err!("{BOUND_NAME}: top-k flag {other}, expected 0 or 1"),
    };
    let beta = f32::from_le_bytes([buf[15], buf[16], buf[17], buf[18]]);
    let (b, d) = (u64_at(buf, 19) as usize, u64_at(buf, 27) as usize);
    let expected = b
        .checked_mul(d)
        .and_then(|n| n.checked_mul(4))
        .and_then(|n| n.checked_add(HEADER));
    if expected != Some(buf.len()) {
        return plan_err!(
            "{BOUND_NAME}: {} bytes for {b}×{d} queries, expected {expected:?}",
            buf.len()
        );
    }
    let values = buf[HEADER..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let queries = Array2::from_shape_vec((b, d), values)
        .map_err(|e| datafusion::error::DataFusionError::Internal(e.to_string()))?;
    let bound = BoundRetrieve::new(queries, beta)?.with_separation(separation)?;
    match top_k {
        Some(k) => bound.with_top_k(k),
        None => Ok(bound),
    }
}

fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) -> Option<Result<()>> {
    match node.inner().downcast_ref::<HopfieldRetrieve>()?.form() {
        Form::Bound(bound) => Some(encode(bound, buf)),
        Form::Sql => None,
    }
}

fn decode_udaf(name: &str, buf: &[u8]) -> Option<Result<Arc<AggregateUDF>>> {
    (name == BOUND_NAME).then(|| decode(buf).map(|bound| Arc::new(bound.udaf())))
}

/// Ballista's logical codec, plus the bound form (the client sends logical plans to the
/// scheduler).
#[derive(Debug, Default)]
pub struct HopfieldLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

/// Ballista's physical codec, plus the bound form (the scheduler sends physical plans to
/// the executors, and stages between them).
#[derive(Debug, Default)]
pub struct HopfieldPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl LogicalExtensionCodec for HopfieldLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf).unwrap_or_else(|| self.inner.try_encode_udaf(node, buf))
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

impl PhysicalExtensionCodec for HopfieldPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        self.inner.try_decode_expr(buf, inputs, ctx)
    }

    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> Result<()> {
        self.inner.try_encode_expr(node, buf, ctx)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf).unwrap_or_else(|| self.inner.try_encode_udaf(node, buf))
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}
