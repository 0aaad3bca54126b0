//! The accumulator alone: merge order, empty partitions, nulls and bad rows, against the core
//! crate's retrieval of the same patterns.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float32Array, ListArray, StructArray, UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use hopfield::{RetrieveOptions, Separation};
use ndarray::{s, Array2, ArrayView2};

use super::{Config, RetrieveAccumulator};

// The integration tests' helpers (seeded data, the core crate's answer), shared.
#[path = "../tests/common/mod.rs"]
mod common;
use crate::output::Output;

fn ids(range: std::ops::Range<usize>) -> Vec<u64> {
    range.map(|i| 5_000 + 3 * i as u64).collect()
}

fn config(queries: &Array2<f32>, options: RetrieveOptions) -> Arc<Config> {
    Arc::new(Config {
        queries: queries.clone(),
        options,
        id_arg: Some(1),
        output: Output::Batch { top_k: true },
    })
}

/// A List<Float32> column of `rows`, null where `valid` says so.
fn embeddings(rows: ArrayView2<f32>, valid: Option<Vec<bool>>) -> ArrayRef {
    let values = Arc::new(Float32Array::from_iter_values(rows.iter().copied()));
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(rows.ncols(), rows.nrows()));
    Arc::new(ListArray::new(
        item,
        offsets,
        values,
        valid.map(NullBuffer::from),
    ))
}

fn update(acc: &mut RetrieveAccumulator, rows: ArrayView2<f32>, ids: &[u64]) {
    let ids: ArrayRef = Arc::new(UInt64Array::from(ids.to_vec()));
    acc.update_batch(&[embeddings(rows, None), ids]).unwrap();
}

/// Accumulators' states stacked as the rows of state columns, as a final aggregation sees them.
fn stacked(states: &[Vec<ScalarValue>]) -> Vec<ArrayRef> {
    (0..states[0].len())
        .map(|c| ScalarValue::iter_to_array(states.iter().map(|s| s[c].clone())).unwrap())
        .collect()
}

/// The evaluated states (B rows) and top-k ids (B rows).
fn evaluate(acc: &mut RetrieveAccumulator) -> (Array2<f32>, Array2<u64>) {
    let ScalarValue::Struct(row) = acc.evaluate().unwrap() else {
        panic!("a struct")
    };
    let row: &StructArray = &row;
    let rows = |name: &str| {
        let outer = row
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap()
            .value(0);
        let inner = outer.as_any().downcast_ref::<ListArray>().unwrap().clone();
        (
            inner.len(),
            inner.value_length(0) as usize,
            inner.values().clone(),
        )
    };
    let (b, d, values) = rows("states");
    let values = values
        .as_any()
        .downcast_ref::<Float32Array>()
        .unwrap()
        .values()
        .to_vec();
    let states = Array2::from_shape_vec((b, d), values).unwrap();
    let (b, k, values) = rows("ids");
    let values = values
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .values()
        .to_vec();
    (states, Array2::from_shape_vec((b, k), values).unwrap())
}

/// The core crate's states and top-k ids for the same patterns.
fn core(
    patterns: ArrayView2<f32>,
    ids: &[u64],
    queries: &Array2<f32>,
    options: &RetrieveOptions,
) -> (Array2<f32>, Array2<u64>) {
    let out = common::core_retrieve(patterns, ids, queries.view(), options);
    (out.states, out.top_k.unwrap().ids)
}

fn assert_close(got: &(Array2<f32>, Array2<u64>), want: &(Array2<f32>, Array2<u64>), what: &str) {
    assert_eq!(got.0.dim(), want.0.dim(), "{what}: shape");
    for ((r, c), w) in want.0.indexed_iter() {
        let scale = want.0.row(r).iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let g = got.0[[r, c]];
        assert!(
            (g - w).abs() <= 1e-5 * scale,
            "{what}: [{r}, {c}] = {g}, the core crate gives {w}"
        );
    }
    assert_eq!(got.1, want.1, "{what}: top-k ids");
}

#[test]
fn partials_merge_in_any_order() {
    let mut rng = common::rng("partials_merge_in_any_order");
    let (n, d, b) = (97, 11, 3);
    let patterns = common::normal(&mut rng, n, d, 1.0);
    let all_ids = ids(0..n);
    let queries = common::normal(&mut rng, b, d, 1.0) + patterns.slice(s![..b, ..]);
    for separation in [Separation::Softmax, Separation::Softmax1] {
        let options = RetrieveOptions::new(12.0)
            .separation(separation)
            .with_top_k(4);
        let want = core(patterns.view(), &all_ids, &queries, &options);
        // Uneven shards, one of them empty and one a single pattern.
        let bounds = [0, 40, 40, 41, 70, n];
        let states: Vec<Vec<ScalarValue>> = bounds
            .windows(2)
            .map(|w| {
                let mut acc = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
                if w[1] > w[0] {
                    update(
                        &mut acc,
                        patterns.slice(s![w[0]..w[1], ..]),
                        &all_ids[w[0]..w[1]],
                    );
                }
                acc.state().unwrap()
            })
            .collect();
        let mut reversed = states.clone();
        reversed.reverse();
        for (order, states) in [("forward", &states), ("reversed", &reversed)] {
            let mut acc = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
            acc.merge_batch(&stacked(states)).unwrap();
            assert_close(
                &evaluate(&mut acc),
                &want,
                &format!("{separation:?}, {order}"),
            );
        }
        // A tree: the last two merged first, their state merged with the others' one by one.
        let mut pair = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
        pair.merge_batch(&stacked(&states[3..])).unwrap();
        let mut acc = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
        for state in states[..3].iter().chain([&pair.state().unwrap()]) {
            acc.merge_batch(&stacked(std::slice::from_ref(state)))
                .unwrap();
        }
        assert_close(&evaluate(&mut acc), &want, &format!("{separation:?}, tree"));
        // And updated batch by batch in one accumulator.
        let mut acc = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
        for w in bounds.windows(2).filter(|w| w[1] > w[0]) {
            update(
                &mut acc,
                patterns.slice(s![w[0]..w[1], ..]),
                &all_ids[w[0]..w[1]],
            );
        }
        assert_close(
            &evaluate(&mut acc),
            &want,
            &format!("{separation:?}, batches"),
        );
    }
}

#[test]
fn an_empty_partition_changes_nothing() {
    let mut rng = common::rng("an_empty_partition_changes_nothing");
    let (n, d) = (5, 3);
    let patterns = common::normal(&mut rng, n, d, 1.0);
    let queries = common::normal(&mut rng, 2, d, 1.0);
    let options = RetrieveOptions::new(4.0).with_top_k(7);
    let mut empty = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
    // A batch with only null embeddings is an empty partition too.
    let nulls: ArrayRef = embeddings(patterns.view(), Some(vec![false; n]));
    empty
        .update_batch(&[nulls, Arc::new(UInt64Array::from(ids(0..n)))])
        .unwrap();
    assert!(
        empty.evaluate().unwrap().is_null(),
        "no patterns at all: NULL"
    );
    let empty_state = empty.state().unwrap();

    let mut acc = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
    update(&mut acc, patterns.view(), &ids(0..n));
    let full_state = acc.state().unwrap();
    let mut merged = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
    merged
        .merge_batch(&stacked(&[empty_state.clone(), full_state, empty_state]))
        .unwrap();
    let want = core(patterns.view(), &ids(0..n), &queries, &options);
    assert_close(&evaluate(&mut merged), &want, "empty, full, empty (k > N)");
}

#[test]
fn null_embeddings_are_skipped() {
    let mut rng = common::rng("null_embeddings_are_skipped");
    let (n, d) = (13, 5);
    let rows = common::normal(&mut rng, n, d, 1.0);
    let valid: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
    let kept: Vec<usize> = (0..n).filter(|&i| valid[i]).collect();
    let patterns = rows.select(ndarray::Axis(0), &kept);
    let all_ids = ids(0..n);
    let kept_ids: Vec<u64> = kept.iter().map(|&i| all_ids[i]).collect();
    let queries = common::normal(&mut rng, 1, d, 1.0) + patterns.slice(s![..1, ..]);
    let options = RetrieveOptions::new(8.0).with_top_k(3);
    let mut acc = RetrieveAccumulator::new(config(&queries, options.clone())).unwrap();
    // The ids of null embeddings may be null too: they are never read.
    let id_column: ArrayRef = Arc::new(UInt64Array::from_iter(
        (0..n).map(|i| valid[i].then_some(all_ids[i])),
    ));
    acc.update_batch(&[embeddings(rows.view(), Some(valid)), id_column])
        .unwrap();
    let want = core(patterns.view(), &kept_ids, &queries, &options);
    assert_close(&evaluate(&mut acc), &want, "nulls skipped");
}

#[test]
fn bad_rows_are_errors_that_name_them() {
    let mut rng = common::rng("bad_rows_are_errors_that_name_them");
    let queries = common::normal(&mut rng, 1, 3, 1.0);
    let options = RetrieveOptions::new(8.0).with_top_k(1);
    let mut acc = RetrieveAccumulator::new(config(&queries, options)).unwrap();
    let item = Arc::new(Field::new_list_field(DataType::Float32, true));
    let values = Float32Array::from(vec![
        Some(1.0),
        Some(2.0),
        Some(3.0),
        Some(4.0),
        Some(5.0),
        Some(6.0),
        None,
        Some(8.0),
        Some(9.0),
        Some(0.0),
    ]);
    // Row 1 has 4 values.
    let wrong = ListArray::new(
        item.clone(),
        OffsetBuffer::from_lengths([3, 4]),
        Arc::new(values.slice(0, 7)),
        None,
    );
    let ids2: ArrayRef = Arc::new(UInt64Array::from(vec![10, 11]));
    let err = acc
        .update_batch(&[Arc::new(wrong), ids2.clone()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 1 of an input batch (id 11) has 4 values; the queries have d = 3"),
        "{err}"
    );
    // Row 1 holds a null value.
    let holed = ListArray::new(
        item.clone(),
        OffsetBuffer::from_lengths([3, 3]),
        Arc::new(values.slice(1, 6)),
        None,
    );
    let err = acc
        .update_batch(&[Arc::new(holed), ids2])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 1 of an input batch (id 11) holds a null value"),
        "{err}"
    );
    // A null id beside an embedding.
    let fine = ListArray::new(
        item,
        OffsetBuffer::from_lengths([3, 3]),
        Arc::new(values.slice(0, 6)),
        None,
    );
    let ids: ArrayRef = Arc::new(UInt64Array::from(vec![Some(10), None]));
    let err = acc
        .update_batch(&[Arc::new(fine), ids])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the id in row 1 of an input batch is null"),
        "{err}"
    );
    assert_eq!(
        acc.partial.patterns, 0,
        "a refused batch leaves nothing behind"
    );
}

#[test]
fn the_bound_form_survives_its_codec() {
    let mut rng = common::rng("the_bound_form_survives_its_codec");
    let queries = common::normal(&mut rng, 3, 7, 1.0);
    let bound = crate::BoundRetrieve::new(queries, 2.5)
        .unwrap()
        .with_separation(Separation::Softmax1)
        .unwrap()
        .with_top_k(9)
        .unwrap();
    let mut buf = Vec::new();
    crate::codec::encode(&bound, &mut buf).unwrap();
    assert_eq!(crate::codec::decode(&buf).unwrap(), bound);
    let err = crate::codec::decode(&buf[..buf.len() - 1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("bytes for 3×7 queries"), "{err}");
    assert!(crate::codec::decode(b"nonsense").is_err());
}
