//! A Ballista scheduler that knows `hopfield_retrieve` and the bound form's codec.
//!
//! ```text
//! cargo run --release --example scheduler -- --bind-host 0.0.0.0 --port 50050
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::utils::{default_config_producer, default_session_builder};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;
use datafusion::execution::FunctionRegistry;
use hopfield_datafusion::{sql_udaf, with_codecs, HopfieldLogicalCodec, HopfieldPhysicalCodec};

#[derive(Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// The port clients and executors connect to.
    #[arg(long, default_value_t = 50050)]
    port: u16,
    /// The host name executors and clients reach this scheduler by.
    #[arg(long, default_value = "localhost")]
    external_host: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let addr: SocketAddr = format!("{}:{}", args.bind_host, args.port).parse()?;
    let mut config = SchedulerConfig::default()
        .with_hostname(args.external_host)
        .with_port(args.port)
        // Every session the scheduler plans in has the SQL form and the codecs.
        .with_override_config_producer(Arc::new(|| with_codecs(default_config_producer())))
        .with_override_session_builder(Arc::new(|config| {
            let mut state = default_session_builder(with_codecs(config))?;
            state.register_udaf(sql_udaf())?;
            Ok(state)
        }));
    config.bind_host = args.bind_host;
    config.override_logical_codec = Some(Arc::new(HopfieldLogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(HopfieldPhysicalCodec::default()));
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, addr, Arc::new(config)).await?;
    Ok(())
}
