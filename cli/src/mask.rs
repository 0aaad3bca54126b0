//! `retrieve --known MASK.npy`: a partial cue's mask, from whichever element type numpy wrote
//! it in — bool, or 0/1 as integers or floats — with a reason a user can act on otherwise.

use std::io::ErrorKind;
use std::path::Path;

use ndarray::Array2;
use ndarray_npy::{read_npy, ReadNpyError, ReadableElement};

use crate::Failure;

/// The mask in `path`: a 2-D array of bool, or of 0 and 1 in any integer or float type.
pub fn load(path: &Path) -> Result<Array2<bool>, Failure> {
    let fail = |why: String| Failure(2, format!("--known {}: {why}", path.display()));
    match read_npy::<_, Array2<bool>>(path) {
        Ok(mask) => return Ok(mask),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(fail(reason(e))),
    }
    let numbers = read_as::<u8>(path, f64::from)
        .or_else(|| read_as::<i8>(path, f64::from))
        .or_else(|| read_as::<i32>(path, f64::from))
        // Exact for the 0 and 1 a mask may hold; anything else is refused below.
        .or_else(|| read_as(path, |v: i64| v as f64))
        .or_else(|| read_as::<f32>(path, f64::from))
        .or_else(|| read_as(path, |v: f64| v))
        .ok_or_else(|| {
            fail(
                "has an element type that is not bool, an integer or a float: write the \
                  mask as bool (numpy: m.astype(bool))"
                    .into(),
            )
        })??;
    if let Some(((r, c), v)) = numbers.indexed_iter().find(|(_, &v)| v != 0.0 && v != 1.0) {
        return Err(fail(format!(
            "holds {v} at [{r}, {c}]; a mask holds 0 (unknown) and 1 (known) only"
        )));
    }
    Ok(numbers.mapv(|v| v == 1.0))
}

/// The array as f64 if its element type is `T`; `None` for another element type.
fn read_as<T: ReadableElement + Copy>(
    path: &Path,
    to_f64: impl Fn(T) -> f64,
) -> Option<Result<Array2<f64>, Failure>> {
    match read_npy::<_, Array2<T>>(path) {
        Ok(a) => Some(Ok(a.mapv(to_f64))),
        Err(ReadNpyError::WrongDescriptor(_)) => None,
        Err(e) => Some(Err(Failure(
            2,
            format!("--known {}: {}", path.display(), reason(e)),
        ))),
    }
}

fn reason(e: ReadNpyError) -> String {
    match e {
        ReadNpyError::Io(e) if e.kind() == ErrorKind::NotFound => "no such file".into(),
        ReadNpyError::WrongNdim(_, ndim) => {
            format!("holds a {ndim}-D array; expected (B, d) or (1, d)")
        }
        e => format!("not a readable .npy file ({e})"),
    }
}
