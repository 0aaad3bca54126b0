//! The aggregate on plain DataFusion, over Parquet files in several partitions, against the
//! core crate's `Memory::retrieve` on the same patterns.

mod common;

use common::*;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float32Array, ListArray, RecordBatch, UInt64Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::*;
use hopfield::{RetrieveOptions, Separation};
use hopfield_datafusion::{session_state, BoundRetrieve};
use ndarray::{Array2, Axis};

/// Patterns × dimension × files, awkward on purpose: one pattern (most files empty), primes,
/// more files than some have rows.
const SHAPES: [(usize, usize, usize); 4] = [(1, 1, 3), (2, 7, 3), (257, 13, 4), (1031, 33, 2)];

async fn context(dir: &std::path::Path) -> SessionContext {
    // Several target partitions, so each file is its own partition and the plan aggregates
    // partially per partition, then finally over their states.
    let config = SessionConfig::new().with_target_partitions(4);
    let ctx = SessionContext::new_with_state(session_state(config).unwrap());
    ctx.register_parquet(
        "memories",
        dir.to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();
    ctx
}

async fn one_value(ctx: &SessionContext, sql: &str) -> ScalarValue {
    let batches: Vec<RecordBatch> = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 1, "{sql}: one row");
    let batch = batches.iter().find(|b| b.num_rows() == 1).unwrap();
    ScalarValue::try_from_array(batch.column(0), 0).unwrap()
}

/// Queries near stored patterns (so top-k means something), and one random.
fn queries(rng: &mut rand::rngs::StdRng, patterns: &Array2<f32>, b: usize) -> Array2<f32> {
    let d = patterns.ncols();
    let mut q = normal(rng, b, d, 0.3);
    for (i, mut row) in q.axis_iter_mut(Axis(0)).enumerate().skip(1) {
        row += &patterns.row(i % patterns.nrows());
    }
    q
}

#[tokio::test]
async fn sql_form_equals_the_core_crate() {
    let mut rng = rng("sql_form_equals_the_core_crate");
    for (n, d, files) in SHAPES {
        let dir = tempfile::tempdir().unwrap();
        let patterns = normal(&mut rng, n, d, 1.0);
        let ids = ids(n);
        write_parquet(dir.path(), patterns.view(), &ids, files, n % 2 == 0, 2);
        let ctx = context(dir.path()).await;
        let query = queries(&mut rng, &patterns, 2)
            .row(1)
            .to_owned()
            .insert_axis(Axis(0));
        let sql_query = sql_list(query.iter().copied());

        let value = one_value(
            &ctx,
            &format!("SELECT hopfield_retrieve(embedding, {sql_query}, 8.0) FROM memories"),
        )
        .await;
        let ScalarValue::List(state) = value else {
            panic!("a list, got {value:?}")
        };
        let want = core_retrieve(
            patterns.view(),
            &ids,
            query.view(),
            &RetrieveOptions::new(8.0),
        );
        let what = format!("N = {n}, d = {d}, {files} files");
        assert_rows_close(&[f32_list(&state.value(0))], want.states.view(), &what);

        let k = 3;
        let value = one_value(
            &ctx,
            &format!("SELECT hopfield_retrieve(embedding, {sql_query}, 8, id, {k}) FROM memories"),
        )
        .await;
        let options = RetrieveOptions::new(8.0).with_top_k(k);
        let want = core_retrieve(patterns.view(), &ids, query.view(), &options);
        let top = want.top_k.unwrap();
        assert_rows_close(
            &[list_row_f32(&field(&value, "state"))],
            want.states.view(),
            &what,
        );
        assert_eq!(
            list_row_u64(&field(&value, "ids")),
            top.ids.row(0).to_vec(),
            "{what}: top-k ids"
        );
        assert_rows_close(
            &[list_row_f32(&field(&value, "weights"))],
            top.weights.view(),
            &what,
        );
    }
}

async fn bound_value(ctx: &SessionContext, bound: &BoundRetrieve, with_id: bool) -> ScalarValue {
    let table = ctx.table("memories").await.unwrap();
    let mut args = vec![col("embedding")];
    if with_id {
        args.push(col("id"));
    }
    let batches = table
        .aggregate(vec![], vec![bound.udaf().call(args)])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let batch = batches.iter().find(|b| b.num_rows() == 1).expect("one row");
    ScalarValue::try_from_array(batch.column(0), 0).unwrap()
}

#[tokio::test]
async fn bound_form_equals_the_core_crate() {
    let mut rng = rng("bound_form_equals_the_core_crate");
    for (n, d, files) in SHAPES {
        let dir = tempfile::tempdir().unwrap();
        let patterns = normal(&mut rng, n, d, 1.0);
        let ids = ids(n);
        write_parquet(dir.path(), patterns.view(), &ids, files, n % 2 == 1, 1);
        let ctx = context(dir.path()).await;
        let q = queries(&mut rng, &patterns, 7);
        for (separation, k) in [(Separation::Softmax, 4), (Separation::Softmax1, 1)] {
            let what = format!("N = {n}, d = {d}, {files} files, {separation:?}, k = {k}");
            let bound = BoundRetrieve::new(q.clone(), 5.0)
                .unwrap()
                .with_separation(separation)
                .unwrap()
                .with_top_k(k)
                .unwrap();
            let value = bound_value(&ctx, &bound, true).await;
            let options = RetrieveOptions::new(5.0)
                .separation(separation)
                .with_top_k(k);
            let want = core_retrieve(patterns.view(), &ids, q.view(), &options);
            let top = want.top_k.unwrap();
            assert_rows_close(
                &nested_rows(&field(&value, "states"), f32_list),
                want.states.view(),
                &what,
            );
            let got_ids = nested_rows(&field(&value, "ids"), u64_list);
            let want_ids: Vec<Vec<u64>> = top.ids.rows().into_iter().map(|r| r.to_vec()).collect();
            assert_eq!(got_ids, want_ids, "{what}: top-k ids");
            assert_rows_close(
                &nested_rows(&field(&value, "weights"), f32_list),
                top.weights.view(),
                &what,
            );
        }
        // Without top-k the id column is not needed.
        let bound = BoundRetrieve::new(q.clone(), 5.0).unwrap();
        let value = bound_value(&ctx, &bound, false).await;
        let want = core_retrieve(patterns.view(), &ids, q.view(), &RetrieveOptions::new(5.0));
        assert_rows_close(
            &nested_rows(&field(&value, "states"), f32_list),
            want.states.view(),
            "no top-k",
        );
    }
}

#[tokio::test]
async fn the_plan_aggregates_partially_then_finally() {
    let mut rng = rng("the_plan_aggregates_partially_then_finally");
    let dir = tempfile::tempdir().unwrap();
    let patterns = normal(&mut rng, 40, 5, 1.0);
    write_parquet(dir.path(), patterns.view(), &ids(40), 3, false, 0);
    let ctx = context(dir.path()).await;
    let sql = "EXPLAIN SELECT hopfield_retrieve(embedding, [1, 0, 0, 0, 0], 8.0) FROM memories";
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let plan = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(
        plan.contains("AggregateExec: mode=Partial"),
        "no partial aggregation in\n{plan}"
    );
    assert!(
        plan.contains("AggregateExec: mode=Final"),
        "no final aggregation in\n{plan}"
    );
}

#[tokio::test]
async fn a_table_without_patterns_gives_null() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = Array2::<f32>::zeros((0, 3));
    // Only null embeddings: nothing to retrieve from.
    write_parquet(dir.path(), patterns.view(), &[], 2, false, 3);
    let ctx = context(dir.path()).await;
    let value = one_value(
        &ctx,
        "SELECT hopfield_retrieve(embedding, [1, 0, 0], 8.0) FROM memories",
    )
    .await;
    assert!(value.is_null(), "expected NULL, got {value:?}");
}

#[tokio::test]
async fn a_wrong_length_embedding_is_an_error_naming_its_row() {
    let mut rng = rng("a_wrong_length_embedding_is_an_error_naming_its_row");
    let dir = tempfile::tempdir().unwrap();
    let patterns = normal(&mut rng, 6, 4, 1.0);
    write_parquet(dir.path(), patterns.view(), &ids(6), 2, false, 0);
    // A third file whose second row has five values.
    let values = normal(&mut rng, 1, 9, 1.0);
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let embedding: ArrayRef = Arc::new(ListArray::new(
        item,
        OffsetBuffer::from_lengths([4, 5]),
        Arc::new(Float32Array::from_iter_values(values.iter().copied())),
        None,
    ));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("embedding", embedding.data_type().clone(), true),
    ]));
    let ids_column: ArrayRef = Arc::new(UInt64Array::from(vec![76, 78]));
    let mixed = RecordBatch::try_new(schema, vec![ids_column, embedding]).unwrap();
    let file = std::fs::File::create(dir.path().join("part-bad.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, mixed.schema(), None).unwrap();
    writer.write(&mixed).unwrap();
    writer.close().unwrap();

    let ctx = context(dir.path()).await;
    let sql = "SELECT hopfield_retrieve(embedding, [1, 0, 0, 0], 8.0, id, 2) FROM memories";
    let err = ctx
        .sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 1 of an input batch (id 78) has 5 values; the queries have d = 4"),
        "the error should name the row: {err}"
    );
}

#[tokio::test]
async fn constant_arguments_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng("constant_arguments_are_checked_before_anything_runs");
    write_parquet(
        dir.path(),
        normal(&mut rng, 3, 2, 1.0).view(),
        &ids(3),
        1,
        false,
        0,
    );
    let ctx = context(dir.path()).await;
    for (sql, says) in [
        (
            "SELECT hopfield_retrieve(embedding, [1, 0], 0.0) FROM memories",
            "β must be",
        ),
        (
            "SELECT hopfield_retrieve(embedding, [1, 0], 8.0, id, 0) FROM memories",
            "k must be at least 1",
        ),
        (
            "SELECT hopfield_retrieve(embedding, [1, 0]) FROM memories",
            "takes (embedding, query, beta)",
        ),
        (
            "SELECT hopfield_retrieve(embedding, embedding, 8.0) FROM memories",
            "must be a constant",
        ),
        (
            "SELECT hopfield_retrieve(id, [1, 0], 8.0) FROM memories",
            "embedding must be a list",
        ),
    ] {
        let err = match ctx.sql(sql).await {
            Err(e) => e.to_string(),
            Ok(df) => df.collect().await.expect_err(sql).to_string(),
        };
        assert!(err.contains(says), "{sql}: expected '{says}' in: {err}");
    }
}
