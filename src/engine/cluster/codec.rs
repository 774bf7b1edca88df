//! How glaux's plan nodes cross the wire between client, scheduler and executors.
//!
//! Ballista serializes plans with DataFusion's protobuf format; nodes it does not know go through
//! extension codecs. glaux adds:
//! - [`ScannedTable`] in logical plans: the client's resolved scan, as the physical plan bytes;
//! - in physical plans, the nodes glaux's optimizer rules put there, each sent as what it
//!   replaced (the CASE, the cast, the window) and rebuilt by the same rule when decoded, so an
//!   executor runs exactly what a local session would; [`RunsExec`] as its run length.
//!
//! Anything else is Ballista's (its shuffle readers and writers, file formats). Each glaux
//! payload starts with a tag byte; Ballista's follow a zero tag.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_extension_codec, physical_plan_from_bytes_with_proto_converter,
    physical_plan_to_bytes_with_extension_codec, physical_plan_to_bytes_with_proto_converter,
};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::PhysicalExprNode;
use prost::Message;

use super::scan::ScannedTable;
use crate::engine::decimal_quotient::DecimalQuotient;
use crate::engine::literal_case::LiteralCase;
use crate::engine::row_number::{RunsExec, SortedRowNumberExec};

/// Payload tags.
const BALLISTA: u8 = 0;
const SCANNED_TABLE: u8 = 1;
const SORTED_ROW_NUMBER: u8 = 2;
const RUNS: u8 = 3;
const DECIMAL_QUOTIENT: u8 = 4;
const LITERAL_CASE: u8 = 5;

fn corrupt(what: &str, detail: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("cannot decode glaux's {what} from the cluster: {detail}"))
}

fn recompute() -> ReplaceChildrenOptions {
    ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute)
}

fn split(buf: &[u8]) -> Result<(u8, &[u8])> {
    buf.split_first().map(|(tag, rest)| (*tag, rest)).ok_or_else(|| corrupt("plan node", "empty payload"))
}

/// glaux's physical codec, over Ballista's.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (tag, rest) = split(buf)?;
        let input = || inputs.first().cloned().ok_or_else(|| corrupt("plan node", "no input"));
        match tag {
            BALLISTA => self.ballista.try_decode(rest, inputs, ctx, converter),
            SORTED_ROW_NUMBER => {
                let window = physical_plan_from_bytes_with_proto_converter(rest, ctx, self, converter)?;
                let window = window.replace_children(vec![input()?], recompute())?;
                Ok(match SortedRowNumberExec::replacing(&window)? {
                    Some(exec) => Arc::new(exec),
                    // Not sorted after all on this side: DataFusion's window gives the same rows.
                    None => window,
                })
            }
            RUNS => {
                let rows = <[u8; 8]>::try_from(rest).map_err(|_| corrupt("RunsExec", "bad length"))?;
                Ok(Arc::new(RunsExec::new(input()?, u64::from_le_bytes(rows) as usize)))
            }
            other => Err(corrupt("plan node", format!("unknown tag {other}"))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(exec) = node.downcast_ref::<SortedRowNumberExec>() {
            // The window alone: its input travels as this node's input.
            let window = exec.replaced();
            let placeholder: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(window.children()[0].schema()));
            let window = Arc::clone(window).replace_children(vec![placeholder], recompute())?;
            buf.push(SORTED_ROW_NUMBER);
            buf.extend_from_slice(&physical_plan_to_bytes_with_proto_converter(window, self, converter)?);
            return Ok(());
        }
        if let Some(exec) = node.downcast_ref::<RunsExec>() {
            buf.push(RUNS);
            buf.extend_from_slice(&(exec.rows() as u64).to_le_bytes());
            return Ok(());
        }
        buf.push(BALLISTA);
        self.ballista.try_encode(node, buf, converter)
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let (tag, rest) = split(buf)?;
        let node = PhysicalExprNode::decode(rest).map_err(|e| corrupt("expression", e))?;
        let replaced = ctx.decode(&node)?;
        let rebuilt: Option<Arc<dyn PhysicalExpr>> = match tag {
            DECIMAL_QUOTIENT => DecimalQuotient::replacing(&replaced, ctx.schema())?.map(|e| Arc::new(e) as _),
            LITERAL_CASE => LiteralCase::replacing(&replaced)?.map(|e| Arc::new(e) as _),
            other => return Err(corrupt("expression", format!("unknown tag {other}"))),
        };
        // Should the rule not apply on this side, the replaced expression gives the same values.
        Ok(rebuilt.unwrap_or(replaced))
    }

    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> Result<()> {
        let (tag, replaced) = if let Some(quotient) = node.downcast_ref::<DecimalQuotient>() {
            (DECIMAL_QUOTIENT, quotient.replaced())
        } else if let Some(case) = node.downcast_ref::<LiteralCase>() {
            (LITERAL_CASE, case.replaced())
        } else {
            return Err(DataFusionError::NotImplemented(format!("the cluster cannot send the expression {node}")));
        };
        buf.push(tag);
        ctx.encode_child(replaced)?.encode(buf).map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

/// glaux's logical codec, over Ballista's; encodes physical plans inside it with `physical`.
#[derive(Debug)]
pub struct LogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
    physical: Arc<PhysicalCodec>,
}

impl LogicalCodec {
    /// A codec whose resolved scans are encoded with `physical`.
    pub fn new(physical: Arc<PhysicalCodec>) -> LogicalCodec {
        LogicalCodec { ballista: BallistaLogicalExtensionCodec::default(), physical }
    }
}

/// What a [`ScannedTable`] carries besides its plan.
#[derive(serde::Serialize, serde::Deserialize)]
struct ScanHeader {
    name: String,
    projection: Option<Vec<usize>>,
    fetch: Option<usize>,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let (tag, rest) = split(buf)?;
        if tag != SCANNED_TABLE {
            return self.ballista.try_decode_table_provider(rest, table_ref, schema, ctx);
        }
        let (length, rest) = rest.split_at_checked(4).ok_or_else(|| corrupt("scan", "short header"))?;
        let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
        let (header, plan) = rest.split_at_checked(length).ok_or_else(|| corrupt("scan", "short header"))?;
        let header: ScanHeader = serde_json::from_slice(header).map_err(|e| corrupt("scan", e))?;
        let plan = physical_plan_from_bytes_with_extension_codec(plan, ctx, self.physical.as_ref())?;
        Ok(Arc::new(ScannedTable {
            name: header.name,
            schema,
            plan,
            projection: header.projection,
            fetch: header.fetch,
        }))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(table) = node.downcast_ref::<ScannedTable>() else {
            buf.push(BALLISTA);
            return self.ballista.try_encode_table_provider(table_ref, node, buf);
        };
        let header = ScanHeader { name: table.name.clone(), projection: table.projection.clone(), fetch: table.fetch };
        let header = serde_json::to_vec(&header).map_err(|e| DataFusionError::External(Box::new(e)))?;
        buf.push(SCANNED_TABLE);
        buf.extend_from_slice(&(header.len() as u32).to_le_bytes());
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&physical_plan_to_bytes_with_extension_codec(
            Arc::clone(&table.plan),
            self.physical.as_ref(),
        )?);
        Ok(())
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::physical_plan::collect;
    use datafusion::physical_plan::projection::ProjectionExec;
    use datafusion::prelude::SessionConfig;

    use super::*;
    use crate::config::WarehouseSettings;

    /// The object stores of a server without S3 settings.
    fn stores() -> Arc<dyn datafusion::execution::object_store::ObjectStoreRegistry> {
        let settings = WarehouseSettings {
            location: "/nonexistent".into(),
            region: None,
            endpoint: None,
            allow_http: false,
            path_style: false,
            sse: None,
            sse_kms_key_id: None,
        };
        crate::engine::object_stores(&settings)
    }

    /// How many of each glaux node `plan` holds: sorted row numbers, runs, decimal quotients,
    /// literal CASEs.
    fn glaux_nodes(plan: &Arc<dyn ExecutionPlan>) -> [usize; 4] {
        let mut counts = [0; 4];
        plan.apply(|node| {
            counts[0] += usize::from(node.is::<SortedRowNumberExec>());
            counts[1] += usize::from(node.is::<RunsExec>());
            if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
                for item in projection.expr() {
                    item.expr
                        .apply(|e| {
                            counts[2] += usize::from(e.is::<DecimalQuotient>());
                            counts[3] += usize::from(e.is::<LiteralCase>());
                            Ok(TreeNodeRecursion::Continue)
                        })
                        .unwrap();
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        counts
    }

    /// Every node glaux's rules put in a plan survives the trip to an executor as itself, and
    /// the decoded plan gives the original's rows.
    #[tokio::test]
    async fn glaux_plan_nodes_cross_the_wire_as_themselves() {
        let state = super::super::server_state(SessionConfig::new(), true, &[], stores()).unwrap();
        let ctx = datafusion::prelude::SessionContext::new_with_state(state);
        ctx.sql(
            "CREATE TABLE t AS SELECT i % 50 AS k, i AS v, CAST(i * 1.25 AS DECIMAL(12, 2)) AS amount, \
             CAST(i % 7 + 1 AS INT) AS n FROM generate_series(1, 3000) AS s(i)",
        )
        .await
        .unwrap();
        let sql = "SELECT k, v, row_number() OVER (PARTITION BY k ORDER BY v DESC) AS rn, \
                   CAST(amount / n AS DECIMAL(12, 1)) AS q, \
                   CASE WHEN v > 2000 THEN 'late' WHEN v > 1000 THEN 'middle' ELSE 'early' END AS band \
                   FROM t ORDER BY k, v";
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        assert_eq!(
            glaux_nodes(&plan),
            [1, 1, 1, 1],
            "{}",
            datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
        );

        let codec = PhysicalCodec::default();
        let bytes = physical_plan_to_bytes_with_extension_codec(Arc::clone(&plan), &codec).unwrap();
        let decoded = physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec).unwrap();
        assert_eq!(glaux_nodes(&decoded), [1, 1, 1, 1]);
        let format = |batches: &[arrow::array::RecordBatch]| {
            arrow::util::pretty::pretty_format_batches(batches).unwrap().to_string()
        };
        let expected = collect(plan, ctx.task_ctx()).await.unwrap();
        let got = collect(decoded, ctx.task_ctx()).await.unwrap();
        assert_eq!(format(&got), format(&expected));
    }

    /// A state Ballista rebuilds (registering its functions again, in hash order) still calls
    /// Athena's `element_at`, not DataFusion's `map_extract`, whose alias it is.
    #[test]
    fn a_rebuilt_server_state_keeps_glaux_s_function_names() {
        let state = super::super::server_state(SessionConfig::new(), false, &[], stores()).unwrap();
        let glaux = Arc::clone(&state.scalar_functions()["element_at"]);
        for _ in 0..20 {
            let rebuilt =
                datafusion::execution::session_state::SessionStateBuilder::new_from_existing(state.clone()).build();
            assert!(Arc::ptr_eq(&rebuilt.scalar_functions()["element_at"], &glaux));
        }
    }
}
