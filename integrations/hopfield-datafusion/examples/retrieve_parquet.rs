//! One retrieval step of a batch of queries over patterns stored as Parquet, on DataFusion in
//! this process, on an in-process Ballista cluster (`--ballista`) or on a running one
//! (`--scheduler df://host:50050`). The Parquet files hold an `id` UInt64 column and an
//! `embedding` column of f32 lists of length d; the queries are a B×d f32 .npy.
//!
//! ```text
//! cargo run --release --example retrieve_parquet -- --patterns-dir DIR --queries Q.npy \
//!     --beta 8 --out O.npy [--topk K --topk-ids-out I.npy] [--ballista]
//! ```

use std::path::PathBuf;

use ballista::prelude::*;
use clap::Parser;
use datafusion::arrow::array::{
    Array, ArrayRef, Float32Array, ListArray, StructArray, UInt64Array,
};
use datafusion::prelude::*;
use hopfield_datafusion::{register, session_state, BoundRetrieve};
use ndarray::Array2;
use ndarray_npy::{read_npy, write_npy};

#[derive(Parser)]
struct Args {
    /// A directory of Parquet files (`id` UInt64, `embedding` list of f32).
    #[arg(long)]
    patterns_dir: PathBuf,
    /// B×d queries, f32 .npy.
    #[arg(long)]
    queries: PathBuf,
    /// Inverse temperature β.
    #[arg(long)]
    beta: f32,
    /// Where the B×d retrieved states go (f32 .npy).
    #[arg(long)]
    out: PathBuf,
    /// Also find each query's k strongest patterns.
    #[arg(long, requires = "topk_ids_out")]
    topk: Option<usize>,
    /// Where their B×k ids go (u64 .npy), strongest first.
    #[arg(long, requires = "topk")]
    topk_ids_out: Option<PathBuf>,
    /// Run on a Ballista cluster started in this process.
    #[arg(long, conflicts_with = "scheduler")]
    ballista: bool,
    /// Run on the Ballista cluster whose scheduler is at this URL (df://host:port).
    #[arg(long)]
    scheduler: Option<String>,
}

type Error = Box<dyn std::error::Error>;

async fn context(args: &Args) -> Result<SessionContext, Error> {
    if args.ballista || args.scheduler.is_some() {
        let state = session_state(SessionConfig::new_with_ballista())?;
        let ctx = match &args.scheduler {
            Some(url) => SessionContext::remote_with_state(url, state).await?,
            None => SessionContext::standalone_with_state(state).await?,
        };
        // Ballista 55 replaces the client session's aggregate functions with its defaults.
        register(&ctx);
        return Ok(ctx);
    }
    Ok(SessionContext::new_with_state(session_state(
        SessionConfig::new(),
    )?))
}

/// Row 0 of a List<List<T>> column as a B×k matrix (k the longest row; all rows are as long).
fn matrix<T: Clone + Default>(
    column: &ArrayRef,
    read: impl Fn(&ArrayRef) -> Vec<T>,
) -> Result<Array2<T>, Error> {
    let outer = column
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or("expected a list of lists")?;
    let inner = outer.value(0);
    let inner = inner
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or("expected inner lists")?;
    let rows: Vec<Vec<T>> = (0..inner.len()).map(|i| read(&inner.value(i))).collect();
    let cols = rows.first().map_or(0, Vec::len);
    Ok(Array2::from_shape_vec((rows.len(), cols), rows.concat())?)
}

fn f32s(array: &ArrayRef) -> Vec<f32> {
    array
        .as_any()
        .downcast_ref::<Float32Array>()
        .map_or(vec![], |a| a.values().to_vec())
}

fn u64s(array: &ArrayRef) -> Vec<u64> {
    array
        .as_any()
        .downcast_ref::<UInt64Array>()
        .map_or(vec![], |a| a.values().to_vec())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let queries: Array2<f32> = read_npy(&args.queries)?;
    let mut bound = BoundRetrieve::new(queries, args.beta)?;
    let mut call = vec![col("embedding")];
    if let Some(k) = args.topk {
        bound = bound.with_top_k(k)?;
        call.push(col("id"));
    }
    let ctx = context(&args).await?;
    let dir = args
        .patterns_dir
        .to_str()
        .ok_or("the patterns directory must be UTF-8")?;
    ctx.register_parquet("memories", dir, ParquetReadOptions::default())
        .await?;
    let started = std::time::Instant::now();
    let batches = ctx
        .table("memories")
        .await?
        .aggregate(vec![], vec![bound.udaf().call(call)])?
        .collect()
        .await?;
    let column = batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .ok_or("no result row")?
        .column(0);
    let result = column
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or("expected a struct")?;
    if result.is_null(0) {
        return Err(format!("no patterns in {dir}").into());
    }
    let states = matrix(result.column_by_name("states").ok_or("no states")?, f32s)?;
    write_npy(&args.out, &states)?;
    if let Some(path) = &args.topk_ids_out {
        let ids = matrix(result.column_by_name("ids").ok_or("no ids")?, u64s)?;
        write_npy(path, &ids)?;
    }
    eprintln!(
        "{} queries × d = {} in {:.2?}",
        states.nrows(),
        states.ncols(),
        started.elapsed()
    );
    Ok(())
}
