//! A Ballista executor that runs `hopfield_retrieve` (and the bound form) on this machine's
//! GPU when it has one, else on the CPU path.
//!
//! ```text
//! cargo run --release --example executor -- --scheduler-host SCHEDULER --port 50051
//! ```

use std::sync::Arc;

use ballista_core::utils::default_config_producer;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use clap::Parser;
use hopfield_datafusion::{
    executor_device, function_registry, with_codecs, HopfieldLogicalCodec, HopfieldPhysicalCodec,
};

#[derive(Parser)]
struct Args {
    /// The scheduler's host.
    #[arg(long, default_value = "localhost")]
    scheduler_host: String,
    /// The scheduler's port.
    #[arg(long, default_value_t = 50050)]
    scheduler_port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_host: String,
    /// The host name other executors fetch shuffle data from (this machine's, by default).
    #[arg(long)]
    external_host: Option<String>,
    /// Arrow Flight port (shuffle data is served here).
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// gRPC port.
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Concurrent tasks (each retrieves on the one shared device).
    #[arg(long)]
    vcores: Option<usize>,
    /// Where shuffle files go.
    #[arg(long)]
    work_dir: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    // Open the device now, so a machine that cannot says so at start rather than mid-query.
    executor_device()?;
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        scheduler_host: args.scheduler_host,
        scheduler_port: args.scheduler_port,
        bind_host: args.bind_host,
        external_host: args.external_host,
        port: args.port,
        grpc_port: args.grpc_port,
        vcores: args.vcores.unwrap_or(defaults.vcores),
        work_dir: args.work_dir,
        override_function_registry: Some(Arc::new(function_registry())),
        override_logical_codec: Some(Arc::new(HopfieldLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(HopfieldPhysicalCodec::default())),
        override_config_producer: Some(Arc::new(|| with_codecs(default_config_producer()))),
        ..defaults
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
