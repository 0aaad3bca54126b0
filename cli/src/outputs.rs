//! Output files that cannot lie or be lost.
//!
//! Every output path is checked before anything is computed: its directory exists and takes a
//! new file, it is not a directory, and it names a file distinct from every other output and
//! every input (after resolving `..` and symbolic links, and on Unix hard links too). A path
//! the user got wrong is exit code 2, naming the flag.
//!
//! Each output is then written to a temporary file beside its target, reserved by the check
//! itself, and all of them are renamed into place only once every one was written: a run that
//! fails leaves no partial output and never overwrites an input. A run killed by a signal may
//! leave a `.NAME.PID.partial` file behind; never a damaged target.

use std::cell::Cell;
use std::fs::{self, File};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use ndarray::Array2;
use ndarray_npy::{WritableElement, WriteNpyExt};

use crate::Failure;

/// One output: the flag that named it, the path as given, and its temporary file.
struct Pending {
    flag: &'static str,
    target: PathBuf,
    temp: PathBuf,
    /// Whether the output was written: an empty reservation must never reach the target.
    written: Cell<bool>,
}

/// The outputs of one run; dropping it without [`commit`](Self::commit) removes every
/// temporary file, so an error return anywhere leaves nothing behind.
pub struct Outputs {
    pending: Vec<Pending>,
}

/// A flag and the path it was given.
pub type Named<'a> = (&'static str, &'a Path);

impl Outputs {
    /// Checks `outputs` (the flags given; absent ones left out) against each other and
    /// against `inputs`, and reserves a temporary file for each.
    pub fn reserve(outputs: &[Named], inputs: &[Named]) -> Result<Outputs, Failure> {
        let mut keys: Vec<(&'static str, &Path, PathBuf)> = Vec::new();
        for &(flag, path) in inputs {
            // A missing input is reported when it is read; it cannot collide with anything.
            if let Ok(key) = fs::canonicalize(path) {
                keys.push((flag, path, key));
            }
        }
        let mut reserved = Outputs {
            pending: Vec::new(),
        };
        for &(flag, path) in outputs {
            let key = output_key(flag, path)?;
            if let Some((other, other_path, _)) = keys.iter().find(|k| same_file(&k.2, &key)) {
                return Err(Failure(
                    2,
                    format!(
                        "{flag} {} is the same file as {other} {}: give each output a path of its own, distinct from the inputs",
                        path.display(),
                        other_path.display()
                    ),
                ));
            }
            reserved.pending.push(reserve(flag, path)?);
            keys.push((flag, path, key));
        }
        Ok(reserved)
    }

    fn find(&self, flag: &str) -> &Pending {
        self.pending
            .iter()
            .find(|p| p.flag == flag)
            .unwrap_or_else(|| panic!("{flag} was not reserved"))
    }

    /// The temporary file standing in for `flag`'s output, for writers that take a path;
    /// say [`written`](Self::written) once they are done.
    pub fn temp(&self, flag: &str) -> &Path {
        &self.find(flag).temp
    }

    /// Marks `flag`'s temporary file as complete.
    pub fn written(&self, flag: &str) {
        self.find(flag).written.set(true);
    }

    /// Writes `array` as `.npy` to `flag`'s temporary file, synced to disk.
    pub fn npy<A: WritableElement>(&self, flag: &str, array: &Array2<A>) -> Result<(), Failure> {
        let p = self.find(flag);
        let written = File::create(&p.temp)
            .map_err(|e| e.to_string())
            .and_then(|file| {
                let mut w = BufWriter::new(file);
                array.write_npy(&mut w).map_err(|e| e.to_string())?;
                let file = w.into_inner().map_err(|e| e.to_string())?;
                file.sync_all().map_err(|e| e.to_string())
            });
        written.map_err(|e| Failure(1, format!("writing {}: {e}", p.target.display())))?;
        p.written.set(true);
        Ok(())
    }

    /// Writes `bytes` to `flag`'s temporary file, synced to disk.
    pub fn bytes(&self, flag: &str, bytes: &[u8]) -> Result<(), Failure> {
        let p = self.find(flag);
        File::create(&p.temp)
            .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
            .map_err(|e| Failure(1, format!("writing {}: {e}", p.target.display())))?;
        p.written.set(true);
        Ok(())
    }

    /// Moves every temporary file onto its target. Call only once everything succeeded.
    pub fn commit(mut self) -> Result<(), Failure> {
        if let Some(p) = self.pending.iter().find(|p| !p.written.get()) {
            return Err(Failure(
                1,
                format!(
                    "nothing was computed for {} {} (a bug in hopfield): no output written",
                    p.flag,
                    p.target.display()
                ),
            ));
        }
        // Dropping `self` on an error removes the temporary files not yet moved.
        while let Some(p) = self.pending.first() {
            if let Err(e) = fs::rename(&p.temp, &p.target) {
                return Err(Failure(
                    1,
                    format!("moving the output {} into place: {e}", p.target.display()),
                ));
            }
            self.pending.remove(0);
        }
        Ok(())
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        for p in &self.pending {
            let _ = fs::remove_file(&p.temp);
        }
    }
}

/// The directory an output goes into: its parent, or the working directory.
fn directory(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The file `path` names once `..` and links are resolved, for comparing outputs and inputs.
fn output_key(flag: &str, path: &Path) -> Result<PathBuf, Failure> {
    let wrong = |why: String| Failure(2, format!("{flag} {}: {why}", path.display()));
    let name = path
        .file_name()
        .ok_or_else(|| wrong("not a file name".into()))?;
    let dir = directory(path);
    let dir = fs::canonicalize(dir).map_err(|e| match e.kind() {
        ErrorKind::NotFound => wrong(format!("no such directory {}", dir.display())),
        _ => wrong(format!("cannot open the directory {}: {e}", dir.display())),
    })?;
    if !dir.is_dir() {
        return Err(wrong(format!("{} is not a directory", dir.display())));
    }
    let key = dir.join(name);
    match fs::metadata(&key) {
        Ok(meta) if meta.is_dir() => Err(wrong("is a directory; give a file name".into())),
        Ok(_) => fs::canonicalize(&key).map_err(|e| wrong(e.to_string())),
        Err(_) => Ok(key),
    }
}

/// Whether two resolved paths name one file: equal, or (on Unix) hard links to one inode.
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (fs::metadata(a), fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

/// Creates the temporary file beside `path`: proof that the directory takes a new file.
fn reserve(flag: &'static str, path: &Path) -> Result<Pending, Failure> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for attempt in 0..100 {
        let temp =
            directory(path).join(format!(".{name}.{}-{attempt}.partial", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
        {
            Ok(_) => {
                return Ok(Pending {
                    flag,
                    target: path.to_owned(),
                    temp,
                    written: Cell::new(false),
                })
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Failure(
                    2,
                    format!(
                        "{flag} {}: cannot create a file in {}: {e}",
                        path.display(),
                        directory(path).display()
                    ),
                ))
            }
        }
    }
    Err(Failure(
        1,
        format!(
            "{flag} {}: no free temporary file name beside it",
            path.display()
        ),
    ))
}
