//! Named f32 tensors, read from a safetensors file whose names are hflayers' `state_dict()`
//! keys, and checked against what a configuration needs.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, FileOp, Result};

/// One tensor: its shape and its elements, row-major.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A layer's parameters by name, as PyTorch's `state_dict()` names them.
///
/// Read from a file written with
/// `safetensors.torch.save_file(layer.state_dict(), "layer.safetensors")`; f32, f64, f16 and
/// bf16 tensors are read as f32.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
}

impl Weights {
    /// No tensors (a layer whose patterns are all static and unnormalised needs none).
    pub fn new() -> Weights {
        Weights::default()
    }

    /// Reads every tensor of a safetensors file. A file the system cannot read is
    /// [`Error::Io`] (its `source()` the `std::io::Error`); one that is not safetensors of
    /// floating-point tensors is [`Error::TensorFile`].
    pub fn load(path: impl AsRef<Path>) -> Result<Weights> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            op: FileOp::Read,
            path: path.to_owned(),
            source: e.into(),
        })?;
        Weights::from_safetensors(&bytes, "")
    }

    /// Reads the tensors of safetensors `bytes` whose names start with `prefix`, under their
    /// names with the prefix removed (`""` takes every tensor).
    pub fn from_safetensors(bytes: &[u8], prefix: &str) -> Result<Weights> {
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::TensorFile(format!("not a safetensors file: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.tensors() {
            let Some(short) = name.strip_prefix(prefix) else {
                continue;
            };
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F64 => raw
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                    .collect(),
                Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                other => {
                    return Err(Error::TensorFile(format!(
                        "tensor {name:?} has dtype {other:?}; layer weights must be floating point"
                    )))
                }
            };
            tensors.insert(
                short.to_string(),
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Weights { tensors })
    }

    /// Adds (or replaces) a tensor; fails if `data` does not have `shape`'s element count.
    pub fn insert(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> Result<()> {
        let want: usize = shape.iter().product();
        if want != data.len() {
            return Err(Error::TensorShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                got: vec![data.len()],
            });
        }
        self.tensors.insert(
            name.to_string(),
            Tensor {
                shape: shape.to_vec(),
                data,
            },
        );
        Ok(())
    }

    /// The shape and elements of a tensor.
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors
            .get(name)
            .map(|t| (t.shape.as_slice(), t.data.as_slice()))
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Fails at the first tensor of `expected` that is missing, of another shape or not
    /// finite, then at the first tensor that `expected` does not name.
    pub(crate) fn check(&self, expected: &[(String, Vec<usize>)]) -> Result<()> {
        for (name, shape) in expected {
            match self.tensors.get(name) {
                None => {
                    return Err(Error::MissingTensor {
                        name: name.clone(),
                        expected: shape.clone(),
                    })
                }
                Some(t) if &t.shape != shape => {
                    return Err(Error::TensorShape {
                        name: name.clone(),
                        expected: shape.clone(),
                        got: t.shape.clone(),
                    })
                }
                Some(t) => {
                    if let Some((i, v)) = t.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                        return Err(Error::TensorFile(format!(
                            "tensor {name:?} holds a non-finite value ({v}) at flat index {i}"
                        )));
                    }
                }
            }
        }
        if let Some(extra) = self
            .tensors
            .keys()
            .find(|k| !expected.iter().any(|(n, _)| n == *k))
        {
            return Err(Error::UnexpectedTensor {
                name: extra.clone(),
                known: expected.iter().map(|(n, _)| n.clone()).collect(),
            });
        }
        Ok(())
    }

    /// A checked tensor's elements.
    pub(crate) fn data(&self, name: &str) -> Vec<f32> {
        self.tensors
            .get(name)
            .map(|t| t.data.clone())
            .unwrap_or_default()
    }
}
