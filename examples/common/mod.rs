//! What the examples share: the command line every one of them takes, progress bars, and
//! printing that stops quietly when the reader goes away.

// Each example compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::io::{ErrorKind, Write};
use std::path::PathBuf;

use hopfield::Device;
use indicatif::{ProgressBar, ProgressStyle};

/// `println!` that ends the program quietly when stdout is closed (`… | head -1`), as the
/// `hopfield` tool does, where `println!` would panic with "Broken pipe".
macro_rules! say {
    () => {
        $crate::common::say_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::common::say_line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout. Whoever reads it having stopped, nothing is left to say: the
/// program exits with success, the files written so far as they are.
pub fn say_line(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1)
        }
    }
}

/// Options every example takes.
#[derive(clap::Args)]
pub struct RunArgs {
    /// A small run that finishes in a moment (for CI).
    #[arg(long)]
    pub quick: bool,
    /// Where to write the example's files.
    #[arg(long, default_value = "target/examples-out")]
    pub out: PathBuf,
    /// Where the networks run.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// What `--device` takes.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DeviceChoice {
    /// A hardware GPU, else the CPU path.
    Auto,
    /// The CPU path.
    Cpu,
    /// Any GPU adapter, a software one (lavapipe) included.
    Gpu,
}

impl RunArgs {
    /// The device `--device` names.
    pub fn device(&self) -> hopfield::Result<Device> {
        match self.device {
            DeviceChoice::Auto => Device::auto(),
            DeviceChoice::Cpu => Ok(Device::cpu()),
            DeviceChoice::Gpu => Device::gpu(),
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
