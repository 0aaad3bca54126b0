//! What the examples share: the command line every one of them takes, and progress bars.

// Each example compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use hopfield::Device;
use indicatif::{ProgressBar, ProgressStyle};

/// Options every example takes.
#[derive(clap::Args)]
pub struct RunArgs {
    /// A small run that finishes in a moment (for CI).
    #[arg(long)]
    pub quick: bool,
    /// Where to write the example's files.
    #[arg(long, default_value = "target/examples-out")]
    pub out: PathBuf,
    /// auto (a hardware GPU, else the CPU path), cpu, or gpu (any adapter, software included).
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl RunArgs {
    /// The device `--device` names.
    pub fn device(&self) -> hopfield::Result<Device> {
        match self.device.as_str() {
            "cpu" => Ok(Device::cpu()),
            "gpu" => Device::gpu(),
            _ => Device::auto(),
        }
    }

    /// A bar counting `len` `units`, hidden in quick runs (they finish before it would help).
    pub fn progress(&self, len: usize, units: &str) -> ProgressBar {
        if self.quick {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len as u64);
        let template = format!("{{bar:40}} {{pos}}/{{len}} {units} {{msg}} {{elapsed}}");
        bar.set_style(ProgressStyle::with_template(&template).expect("a valid template"));
        bar
    }
}
