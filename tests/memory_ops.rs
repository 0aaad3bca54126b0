//! Memory mutations against a plain `Vec` of rows and ids, and retrieval after them against a
//! memory built fresh from the same rows.

mod common;

use common::normal;
use hopfield::{Device, Error, Memory, MemoryOptions, Precision, RetrieveOptions};
use ndarray::{Array2, ArrayView2};
use rand::RngExt;

fn as_rows(a: ArrayView2<f32>) -> Vec<Vec<f32>> {
    a.rows().into_iter().map(|r| r.to_vec()).collect()
}

fn check(memory: &Memory, model: &[Vec<f32>], ids: &[u64], what: &str) {
    assert_eq!(memory.len(), model.len(), "{what}: len");
    assert_eq!(memory.ids(), ids, "{what}: ids");
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(memory.index_of(id), Some(i), "{what}: index of id {id}");
    }
    assert_eq!(
        as_rows(memory.patterns().unwrap().view()),
        model,
        "{what}: patterns"
    );
}

/// The rows as the memory holds them: f16 storage rounds to nearest.
fn stored(precision: Precision, rows: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    match precision {
        Precision::F32 => rows,
        _ => rows
            .into_iter()
            .map(|r| r.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect())
            .collect(),
    }
}

/// A random sequence of appends (growing past several capacities; fresh ids or the caller's),
/// replacements, removals (unordered, repeated indices; by index or by id) and clears. Ids
/// must follow the rows they were given to.
fn mutations_match_a_model(device: &Device) {
    mutations(device, MemoryOptions::default(), "one chunk");
}

/// The same with 13 patterns per chunk, so appends, removals and replacements cross chunk
/// boundaries, and with f16 rows of odd length (a padded half per row).
fn mutations_across_chunks(device: &Device) {
    let chunked = MemoryOptions::default().max_chunk_bytes(13 * Precision::F32.row_bytes(7));
    mutations(device, chunked, "f32 chunks of 13");
    let f16 = chunked
        .precision(Precision::F16)
        .max_chunk_bytes(13 * Precision::F16.row_bytes(7));
    mutations(device, f16, "f16 chunks of 13");
}

fn mutations(device: &Device, options: MemoryOptions, what: &str) {
    let mut rng = common::rng(what);
    let d = 7;
    let mut memory = Memory::with_options(device, d, options).unwrap();
    let mut model: Vec<Vec<f32>> = Vec::new();
    let mut ids: Vec<u64> = Vec::new();
    let mut next_id = 0;
    let p = options.precision;
    for op in 0..120 {
        match rng.random_range(0..11) {
            0..=3 => {
                let rows = rng.random_range(0..40);
                let x = normal(&mut rng, rows, d, 1.0);
                memory.append(x.view()).unwrap();
                model.extend(stored(p, as_rows(x.view())));
                ids.extend(next_id..next_id + rows as u64);
                next_id += rows as u64;
            }
            4 => {
                let rows = rng.random_range(0..5);
                let x = normal(&mut rng, rows, d, 1.0);
                let given: Vec<u64> = (0..rows as u64).map(|i| next_id + 7 + 2 * i).collect();
                memory.append_with_ids(x.view(), &given).unwrap();
                model.extend(stored(p, as_rows(x.view())));
                next_id = given.last().map_or(next_id, |&last| last + 1);
                ids.extend(given);
            }
            10 if !model.is_empty() => {
                let i = rng.random_range(0..model.len());
                memory.remove_ids(&[ids[i], ids[i]]).unwrap();
                model.remove(i);
                ids.remove(i);
            }
            5..=6 if !model.is_empty() => {
                let i = rng.random_range(0..model.len());
                let row = normal(&mut rng, 1, d, 1.0).into_raw_vec_and_offset().0;
                memory.replace(i, &row).unwrap();
                model[i] = stored(p, vec![row]).remove(0);
            }
            7..=8 if !model.is_empty() => {
                let k = rng.random_range(1..=model.len().min(6));
                let mut idx: Vec<usize> =
                    (0..k).map(|_| rng.random_range(0..model.len())).collect();
                idx.push(idx[0]);
                memory.remove(&idx).unwrap();
                idx.sort_unstable();
                idx.dedup();
                for &i in idx.iter().rev() {
                    model.remove(i);
                    ids.remove(i);
                }
            }
            9 => {
                memory.clear();
                model.clear();
                ids.clear();
            }
            _ => {}
        }
        check(&memory, &model, &ids, &format!("{what}: after op {op}"));
        if options.max_chunk_bytes.is_some() && device.is_gpu() {
            assert_eq!(memory.chunks(), model.len().div_ceil(13), "{what}: chunks");
        }
    }
    if !model.is_empty() {
        let flat: Vec<f32> = model.concat();
        let mut fresh = Memory::with_options(device, d, options).unwrap();
        fresh.append_rows(&flat).unwrap();
        let q = normal(&mut rng, 9, d, 1.0);
        let opts = RetrieveOptions::new(2.0).steps(2).with_weights();
        assert_eq!(
            memory.retrieve(q.view(), &opts).unwrap(),
            fresh.retrieve(q.view(), &opts).unwrap()
        );
    }
}

fn empty_batches_and_rows(device: &Device) {
    let mut memory = Memory::from_array(device, Array2::<f32>::eye(4).view()).unwrap();
    memory.append(Array2::<f32>::zeros((0, 4)).view()).unwrap();
    memory.remove(&[]).unwrap();
    assert_eq!(memory.len(), 4);
    let out = memory
        .retrieve(
            Array2::<f32>::zeros((0, 4)).view(),
            &RetrieveOptions::new(1.0).with_weights(),
        )
        .unwrap();
    assert_eq!(out.states.dim(), (0, 4));
    assert_eq!(out.weights.unwrap().dim(), (0, 4));
}

/// Bad ids are refused before anything changes; top-k and `reached_ids` answer with the ids
/// of the patterns at the reported indices; labels follow their patterns.
fn ids_and_labels(device: &Device) {
    let mut rng = common::rng("ids_and_labels");
    let d = 5;
    let mut memory = Memory::new(device, d).unwrap();
    memory
        .append_with_ids(normal(&mut rng, 4, d, 1.0).view(), &[50, 10, 30, 20])
        .unwrap();
    let before = (memory.patterns().unwrap(), memory.ids().to_vec());
    let x = normal(&mut rng, 2, d, 1.0);
    for (ids, err) in [
        (&[60, 30][..], Error::DuplicateId(30)),
        (&[60, 60], Error::DuplicateId(60)),
        (
            &[60],
            Error::IdCount {
                ids: 1,
                patterns: 2,
            },
        ),
    ] {
        assert_eq!(memory.append_with_ids(x.view(), ids), Err(err));
        assert_eq!((memory.patterns().unwrap(), memory.ids().to_vec()), before);
    }
    assert_eq!(memory.remove_ids(&[10, 99]), Err(Error::UnknownId(99)));
    assert_eq!(memory.ids(), &before.1[..]);
    assert_eq!(
        memory.set_label(4, Some("x".into())),
        Err(Error::IndexOutOfRange { index: 4, len: 4 })
    );

    memory.set_label(2, Some("thirty".into())).unwrap();
    memory.append(x.view()).unwrap();
    assert_eq!(memory.ids(), &[50, 10, 30, 20, 51, 52]);
    memory.remove_ids(&[10]).unwrap();
    assert_eq!(memory.label_of(1), Some("thirty"));
    assert_eq!(memory.id_of(1), Some(30));
    assert_eq!(memory.id_of(5), None);
    memory.replace(1, &[1.0; 5]).unwrap();
    assert_eq!(
        (memory.id_of(1), memory.label_of(1)),
        (Some(30), Some("thirty"))
    );

    let q = normal(&mut rng, 7, d, 1.0);
    let out = memory
        .retrieve(q.view(), &RetrieveOptions::new(2.0).with_top_k(3))
        .unwrap();
    let top = out.top_k.as_ref().unwrap();
    assert_eq!(top.ids, top.indices.mapv(|i| memory.ids()[i]));
    assert_eq!(out.reached_ids().unwrap(), top.ids.column(0).to_vec());
}

on_every_backend!(
    mutations_match_a_model,
    mutations_across_chunks,
    empty_batches_and_rows,
    ids_and_labels
);
