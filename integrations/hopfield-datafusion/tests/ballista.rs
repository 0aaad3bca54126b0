//! The aggregate on a Ballista cluster started in this process (a scheduler and an executor
//! on localhost, shuffle reads forced through the network path), against the core crate.

mod common;

use ballista::prelude::*;
use common::*;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::prelude::*;
use hopfield::{RetrieveOptions, Separation};
use hopfield_datafusion::{register, session_state, BoundRetrieve};

async fn cluster() -> SessionContext {
    let config = SessionConfig::new_with_ballista()
        .with_target_partitions(4)
        .with_ballista_standalone_parallelism(2)
        // Local shuffle files are otherwise read from disk directly; a real cluster's reduce
        // stage fetches them from the executor that wrote them.
        .with_ballista_shuffle_reader_force_remote_read(true);
    let ctx = SessionContext::standalone_with_state(session_state(config).unwrap())
        .await
        .unwrap();
    // Ballista 55 swaps the client session's aggregate functions for its own defaults when it
    // upgrades the session (the scheduler's and executor's keep the state's); register again.
    register(&ctx);
    ctx
}

fn one_row(batches: &[RecordBatch]) -> ScalarValue {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 1, "one row");
    let batch = batches.iter().find(|b| b.num_rows() == 1).unwrap();
    ScalarValue::try_from_array(batch.column(0), 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ballista_equals_the_core_crate() {
    let mut rng = rng("ballista_equals_the_core_crate");
    let (n, d, files) = (523, 17, 3);
    let dir = tempfile::tempdir().unwrap();
    let patterns = normal(&mut rng, n, d, 1.0);
    let ids = ids(n);
    write_parquet(dir.path(), patterns.view(), &ids, files, false, 2);
    let ctx = cluster().await;
    ctx.register_parquet(
        "memories",
        dir.path().to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();

    eprintln!(
        "executors retrieve on {}",
        hopfield_datafusion::executor_device().unwrap().info()
    );
    // Two stages: partial aggregation per file, then the final one over the shuffle.
    let explain = format!(
        "EXPLAIN SELECT hopfield_retrieve(embedding, {}, 8.0) FROM memories",
        sql_list(vec![0.0; d])
    );
    let batches = ctx.sql(&explain).await.unwrap().collect().await.unwrap();
    let plan = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    let distributed = plan
        .split("distributed_plan")
        .nth(1)
        .expect("a distributed plan");
    let stages: Vec<&str> = distributed.split("Stage[stage_id=").skip(1).collect();
    assert!(
        stages.len() == 2
            && stages[0].contains("AggregateExec: mode=Partial")
            && stages[1].contains("AggregateExec: mode=Final")
            && stages[1].contains("ShuffleExec"),
        "expected a partial stage and a final stage over its shuffle:\n{plan}"
    );

    // SQL, one query with top-k: the function travels by name.
    let mut query = normal(&mut rng, 1, d, 0.3);
    query += &patterns.row(5);
    let sql = format!(
        "SELECT hopfield_retrieve(embedding, {}, 8.0, id, 3) FROM memories",
        sql_list(query.iter().copied())
    );
    let value = one_row(&ctx.sql(&sql).await.unwrap().collect().await.unwrap());
    let want = core_retrieve(
        patterns.view(),
        &ids,
        query.view(),
        &RetrieveOptions::new(8.0).with_top_k(3),
    );
    let top = want.top_k.unwrap();
    assert_rows_close(
        &[list_row_f32(&field(&value, "state"))],
        want.states.view(),
        "SQL on Ballista",
    );
    assert_eq!(
        list_row_u64(&field(&value, "ids")),
        top.ids.row(0).to_vec(),
        "SQL on Ballista: ids"
    );

    // Bound, 9 queries: the function travels as bytes through the codecs.
    let q = normal(&mut rng, 9, d, 1.0);
    let bound = BoundRetrieve::new(q.clone(), 4.0)
        .unwrap()
        .with_separation(Separation::Softmax1)
        .unwrap()
        .with_top_k(5)
        .unwrap();
    let table = ctx.table("memories").await.unwrap();
    let call = bound.udaf().call(vec![col("embedding"), col("id")]);
    let value = one_row(
        &table
            .aggregate(vec![], vec![call])
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    let options = RetrieveOptions::new(4.0)
        .separation(Separation::Softmax1)
        .with_top_k(5);
    let want = core_retrieve(patterns.view(), &ids, q.view(), &options);
    let top = want.top_k.unwrap();
    assert_rows_close(
        &nested_rows(&field(&value, "states"), f32_list),
        want.states.view(),
        "bound on Ballista",
    );
    let want_ids: Vec<Vec<u64>> = top.ids.rows().into_iter().map(|r| r.to_vec()).collect();
    assert_eq!(
        nested_rows(&field(&value, "ids"), u64_list),
        want_ids,
        "bound on Ballista: ids"
    );
    assert_rows_close(
        &nested_rows(&field(&value, "weights"), f32_list),
        top.weights.view(),
        "bound on Ballista: weights",
    );
}
