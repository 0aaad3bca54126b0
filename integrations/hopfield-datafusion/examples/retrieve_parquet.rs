//! One retrieval step of a batch of queries over patterns stored as Parquet, on DataFusion in
//! this process, on an in-process Ballista cluster (`--ballista`) or on a running one
//! (`--scheduler df://host:50050`). The Parquet files hold an `id` UInt64 column and an
//! `embedding` column of f32 lists of length d; the queries are a B×d f32 .npy.
//!
//! ```text
//! cargo run --release --example retrieve_parquet -- --patterns-dir DIR --queries Q.npy \
//!     --beta 8 --out O.npy [--topk K --topk-ids-out I.npy] [--ballista | --scheduler URL] [--sql]
//! ```

use std::path::PathBuf;

use ballista::prelude::*;
use clap::Parser;
use datafusion::arrow::array::{
    Array, ArrayRef, Float32Array, ListArray, RecordBatch, StructArray, UInt64Array,
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
    /// One SQL call per query (`hopfield_retrieve`, B scans) instead of the bound form (one scan).
    #[arg(long)]
    sql: bool,
}

type Error = Box<dyn std::error::Error>;
/// The B×d states and, with top-k, the B×k ids.
type Answer = (Array2<f32>, Option<Array2<u64>>);

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
fn matrix<T: Clone>(
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
    stack((0..inner.len()).map(|i| read(&inner.value(i))).collect())
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

/// Rows of equal length as a matrix.
fn stack<T: Clone>(rows: Vec<Vec<T>>) -> Result<Array2<T>, Error> {
    let cols = rows.first().map_or(0, Vec::len);
    Ok(Array2::from_shape_vec((rows.len(), cols), rows.concat())?)
}

/// The first row's value of a one-row result.
fn one_row(batches: &[RecordBatch]) -> Result<ArrayRef, Error> {
    let batch = batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .ok_or("no result row")?;
    Ok(batch.column(0).clone())
}

/// All queries in one scan: the bound form.
async fn bound(ctx: &SessionContext, args: &Args, queries: Array2<f32>) -> Result<Answer, Error> {
    let mut bound = BoundRetrieve::new(queries, args.beta)?;
    let mut call = vec![col("embedding")];
    if let Some(k) = args.topk {
        bound = bound.with_top_k(k)?;
        call.push(col("id"));
    }
    let table = ctx.table("memories").await?;
    let batches = table
        .aggregate(vec![], vec![bound.udaf().call(call)])?
        .collect()
        .await?;
    let column = one_row(&batches)?;
    let result = column
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or("expected a struct")?;
    if result.is_null(0) {
        return Err("no patterns in the table".into());
    }
    let states = matrix(result.column_by_name("states").ok_or("no states")?, f32s)?;
    let ids = match args.topk {
        Some(_) => Some(matrix(result.column_by_name("ids").ok_or("no ids")?, u64s)?),
        None => None,
    };
    Ok((states, ids))
}

/// One SQL call, one scan, per query: the SQL form.
async fn by_sql(ctx: &SessionContext, args: &Args, queries: Array2<f32>) -> Result<Answer, Error> {
    let (mut states, mut ids) = (Vec::new(), Vec::new());
    for query in queries.rows() {
        let list: Vec<String> = query.iter().map(|v| format!("{v:e}")).collect();
        let (list, beta) = (list.join(", "), args.beta);
        let sql = match args.topk {
            Some(k) => format!(
                "SELECT hopfield_retrieve(embedding, [{list}], {beta:e}, id, {k}) FROM memories"
            ),
            None => {
                format!("SELECT hopfield_retrieve(embedding, [{list}], {beta:e}) FROM memories")
            }
        };
        let column = one_row(&ctx.sql(&sql).await?.collect().await?)?;
        if column.is_null(0) {
            return Err("no patterns in the table".into());
        }
        let state = match column.as_any().downcast_ref::<StructArray>() {
            Some(result) => {
                let top = result.column_by_name("ids").ok_or("no ids")?;
                let top = top
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .ok_or("ids: a list")?;
                ids.push(u64s(&top.value(0)));
                result.column_by_name("state").ok_or("no state")?.clone()
            }
            None => column,
        };
        let state = state
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or("state: a list")?;
        states.push(f32s(&state.value(0)));
    }
    let ids = match args.topk {
        Some(_) => Some(stack(ids)?),
        None => None,
    };
    Ok((stack(states)?, ids))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let queries: Array2<f32> = read_npy(&args.queries)?;
    let ctx = context(&args).await?;
    let dir = args
        .patterns_dir
        .to_str()
        .ok_or("the patterns directory must be UTF-8")?;
    ctx.register_parquet("memories", dir, ParquetReadOptions::default())
        .await?;
    let started = std::time::Instant::now();
    let (states, ids) = match args.sql {
        true => by_sql(&ctx, &args, queries).await?,
        false => bound(&ctx, &args, queries).await?,
    };
    write_npy(&args.out, &states)?;
    if let (Some(path), Some(ids)) = (&args.topk_ids_out, ids) {
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
