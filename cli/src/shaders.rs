//! `hopfield shaders`: every WGSL program the library would build, one file each, for checking
//! with another shader compiler (tools/tint-check feeds them to Tint).
//!
//! All or nothing: the files are written to a temporary folder beside DIR, which replaces DIR
//! only once every file is written. DIR may be new, or a folder of .wgsl files (an earlier
//! export, replaced whole so no program the library no longer builds lingers); anything else
//! is refused before anything is computed.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use hopfield::shaders::{adapter_limits, programs, Dialect, Shader};
use hopfield::GpuOptions;

use crate::Failure;

#[derive(Args)]
pub struct ShadersArgs {
    /// The folder to write, one NAME.wgsl per program and variant: a new folder, or one that
    /// holds only .wgsl files (an earlier export, replaced whole).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The device the programs are for: `webgpu` (WebGPU's default limits, what a browser
    /// grants; no adapter needed) or `adapter` (the limits of the adapter `--device gpu` opens).
    #[arg(long, value_enum, default_value = "adapter")]
    limits: Limits,
    /// Also the programs that reduce with subgroup operations (for devices with subgroups).
    #[arg(long)]
    subgroups: bool,
    /// `webgpu`: standard WGSL, as browsers and Tint take it (subgroup programs begin with
    /// `enable subgroups;`); `naga`: what the library hands wgpu's native backends, whose
    /// compiler (naga) refuses that directive.
    #[arg(long, value_enum, default_value = "webgpu")]
    dialect: DialectArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum Limits {
    Webgpu,
    Adapter,
}

#[derive(Clone, Copy, ValueEnum)]
enum DialectArg {
    Webgpu,
    Naga,
}

pub fn shaders(args: &ShadersArgs) -> Result<(), Failure> {
    let (parent, name) = check_out(&args.out)?;
    let (limits, which) = match args.limits {
        Limits::Webgpu => (
            wgpu::Limits::default(),
            "WebGPU's default limits".to_string(),
        ),
        Limits::Adapter => {
            let limits = adapter_limits(&GpuOptions::default())?;
            (limits, "the default adapter's limits".to_string())
        }
    };
    let dialect = match args.dialect {
        DialectArg::Webgpu => Dialect::WebGpu,
        DialectArg::Naga => Dialect::Naga,
    };
    let shaders = programs(dialect, &limits, args.subgroups);
    let staging = Staging::new(&parent, &name)?;
    for shader in &shaders {
        staging.write(shader)?;
    }
    staging.replace(&args.out)?;
    let _ = writeln!(
        std::io::stderr(),
        "wrote {} programs ({dialect:?} dialect, {which}, {}) to {}",
        shaders.len(),
        if args.subgroups {
            "with subgroups"
        } else {
            "without subgroups"
        },
        args.out.display()
    );
    Ok(())
}

/// The folder `out` lies in and its name, once `out` is known to be new or an earlier export.
fn check_out(out: &Path) -> Result<(PathBuf, String), Failure> {
    let bad = |why: String| Failure(2, format!("--out {}: {why}", out.display()));
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("name a folder, such as target/shaders".into()))?
        .to_string();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(bad(format!("{} is not a folder", parent.display())));
    }
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(bad(e.to_string())),
        Ok(meta) if !meta.is_dir() => {
            return Err(bad("exists and is not a folder".into()));
        }
        Ok(_) => {
            let entries = fs::read_dir(out).map_err(|e| bad(e.to_string()))?;
            for entry in entries {
                let entry = entry.map_err(|e| bad(e.to_string()))?;
                let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
                if !is_file || entry.path().extension().is_none_or(|x| x != "wgsl") {
                    return Err(bad(format!(
                        "holds {}, which no export writes: give a new folder, or one an \
                         earlier `hopfield shaders` wrote",
                        entry.file_name().to_string_lossy()
                    )));
                }
            }
        }
    }
    Ok((parent, name))
}

/// A temporary folder beside the target, removed unless it replaced the target.
struct Staging {
    dir: PathBuf,
    parent: PathBuf,
    name: String,
    done: bool,
}

impl Staging {
    fn new(parent: &Path, name: &str) -> Result<Staging, Failure> {
        let dir = parent.join(format!(".{name}.{}.partial", std::process::id()));
        fs::create_dir(&dir).map_err(|e| Failure(1, format!("creating {}: {e}", dir.display())))?;
        Ok(Staging {
            dir,
            parent: parent.to_path_buf(),
            name: name.to_string(),
            done: false,
        })
    }

    fn write(&self, shader: &Shader) -> Result<(), Failure> {
        let path = self.dir.join(format!("{}.wgsl", shader.name));
        fs::File::create(&path)
            .and_then(|mut f| {
                f.write_all(shader.wgsl.as_bytes())
                    .and_then(|()| f.sync_all())
            })
            .map_err(|e| Failure(1, format!("writing {}: {e}", path.display())))
    }

    /// Puts the staged folder at `out`, and the earlier export, if any, away.
    fn replace(mut self, out: &Path) -> Result<(), Failure> {
        let fail = |e: std::io::Error| Failure(1, format!("replacing {}: {e}", out.display()));
        let old = self
            .parent
            .join(format!(".{}.{}.old", self.name, std::process::id()));
        let had_old = out.exists();
        if had_old {
            fs::rename(out, &old).map_err(fail)?;
        }
        if let Err(e) = fs::rename(&self.dir, out) {
            if had_old {
                let _ = fs::rename(&old, out);
            }
            return Err(fail(e));
        }
        self.done = true;
        if had_old {
            fs::remove_dir_all(&old).map_err(fail)?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
