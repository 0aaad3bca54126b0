//! What `hopfield bench` (the CLI) and the web page's benchmark share: the workloads' data
//! ([`data`]), one workload's measurement ([`measure()`]), and the JSON report ([`report`]), so
//! that both write the same document from the same numbers. Builds for native targets and
//! for wasm32 in a browser.

pub mod data;
pub mod measure;
pub mod report;
pub mod shape;
pub mod stats;

pub use data::{REFERENCE_ROWS, SEED};
pub use measure::{
    is_per_workload, kernels, measure, Config, Measured, PerCall, Row, SERIES_BUDGET,
};
pub use report::{adapter_json, json_report, workload_json};
pub use shape::{Shape, ShapeError};
pub use stats::{sig3, Stats};
