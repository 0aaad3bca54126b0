//! The one error type of the crate.
//!
//! Every fallible call returns [`Result<T>`](Result). Errors caused by the caller's input are
//! detected before anything on the device changes, so a failed call leaves a
//! [`Memory`](crate::Memory) exactly as it was.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input's feature dimension differs from the memory's.
    #[error("dimension mismatch: {what} has dimension {got}, but the memory stores patterns of dimension {expected}")]
    DimensionMismatch {
        /// Which input was wrong ("queries", "pattern", …).
        what: &'static str,
        /// The memory's dimension.
        expected: usize,
        /// The input's dimension.
        got: usize,
    },
    /// A flat row-major slice whose length is not a whole number of rows.
    #[error("{what}: a row-major slice of length {len} is not a whole number of rows of dimension {dim}")]
    RaggedRows {
        /// Which input was wrong.
        what: &'static str,
        /// The slice's length.
        len: usize,
        /// The row length it should be a multiple of.
        dim: usize,
    },
    /// A pattern dimension of zero.
    #[error("pattern dimension must be at least 1")]
    ZeroDimension,
    /// Partials that cannot be merged: of other queries, options or shapes
    /// (see [`Partial::absorb`](crate::Partial::absorb)).
    #[error("incompatible partials: {0}")]
    IncompatiblePartials(String),
    /// Retrieval from a memory that holds no pattern.
    #[error("the memory is empty: store at least one pattern before retrieving")]
    EmptyMemory,
    /// NaN or ±Inf in user data.
    #[error("{what} contain a non-finite value ({value}) at row {row}, column {col}")]
    NonFinite {
        /// "patterns" or "queries".
        what: &'static str,
        /// Row of the first offending value.
        row: usize,
        /// Column of the first offending value.
        col: usize,
        /// The value itself (NaN or ±Inf).
        value: f32,
    },
    /// β not finite or not positive.
    #[error("beta must be finite and > 0, got {0}")]
    InvalidBeta(f32),
    /// ε negative or not finite.
    #[error("eps must be finite and >= 0, got {0}")]
    InvalidEps(f32),
    /// A step count of zero.
    #[error("the number of update steps must be at least 1, got {0}")]
    InvalidSteps(usize),
    /// Top-k with k = 0 or k larger than the number of stored patterns.
    #[error("top-k needs 1 <= k <= N, got k = {k} with N = {n} stored patterns")]
    InvalidTopK {
        /// The requested k.
        k: usize,
        /// Number of stored patterns.
        n: usize,
    },
    /// Options that cannot go together, or a setting out of its range.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A row index past the end of the memory.
    #[error("row index {index} is out of range for a memory of {len} patterns")]
    IndexOutOfRange {
        /// The offending index.
        index: usize,
        /// Number of stored patterns.
        len: usize,
    },
    /// β·‖ξ‖·‖x‖ could exceed the f32 range, so the scores would overflow.
    #[error("scores would overflow f32: beta ({beta}) x largest query/state norm ({query_norm}) x largest pattern norm ({pattern_norm}) exceeds {limit:e}")]
    ScoreOverflow {
        /// The inverse temperature.
        beta: f32,
        /// Largest norm of a query (or of a state it can reach).
        query_norm: f64,
        /// Largest norm of a stored pattern.
        pattern_norm: f64,
        /// The bound that was exceeded.
        limit: f64,
    },
    /// No adapter matched the request.
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    /// The adapter was found but no device could be opened on it.
    #[error("could not open a device on adapter {adapter}: {reason}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// wgpu's reason.
        reason: String,
    },
    /// The GPU device was lost (driver reset, device removed, destroyed).
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    /// The device ran out of memory.
    #[error("out of device memory while {0}")]
    OutOfDeviceMemory(String),
    /// A size beyond what the device can hold in one binding or buffer, that this
    /// operation cannot split.
    #[error("{what} needs {needed} bytes, over the device's {limit_name} of {limit} bytes")]
    OverLimit {
        /// What did not fit.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// The device's limit.
        limit: u64,
        /// The name of the limit in wgpu's `Limits`.
        limit_name: &'static str,
    },
    /// A layer's weights are not safetensors, or hold a tensor of a type or value the layer
    /// cannot use (a file the system could not read is [`Error::Io`]).
    #[error("layer weights: {0}")]
    TensorFile(String),
    /// A tensor the layer's configuration needs is not among the weights.
    #[error("layer weights: missing tensor {name:?} (expected shape {expected:?})")]
    MissingTensor {
        /// The state_dict key.
        name: String,
        /// The shape the configuration needs.
        expected: Vec<usize>,
    },
    /// A tensor whose shape is not what the configuration needs.
    #[error("layer weights: tensor {name:?} has shape {got:?}, expected {expected:?}")]
    TensorShape {
        /// The state_dict key.
        name: String,
        /// The shape the configuration needs.
        expected: Vec<usize>,
        /// The shape found.
        got: Vec<usize>,
    },
    /// A tensor the configuration has no use for (a different configuration's weights?).
    #[error("layer weights: unexpected tensor {name:?}; this configuration uses {known:?}")]
    UnexpectedTensor {
        /// The state_dict key.
        name: String,
        /// The names the configuration uses.
        known: Vec<String>,
    },
    /// A layer input whose shape does not fit the layer or the other inputs.
    #[error("{what} has shape {got:?}, expected {expected}")]
    InputShape {
        /// Which input.
        what: &'static str,
        /// What fits, in words.
        expected: String,
        /// The shape given.
        got: Vec<usize>,
    },
    /// A binary network was given an entry other than −1 or +1.
    #[error(
        "{what} of a binary network must be -1 or +1, found {value} at row {row}, column {col}"
    )]
    NotBinary {
        /// "patterns" or "queries".
        what: &'static str,
        /// Row of the first offending value.
        row: usize,
        /// Column of the first offending value.
        col: usize,
        /// The value itself.
        value: f32,
    },
    /// A blocking call that would have to wait for the device where nothing may block: in a
    /// browser (wasm32) the device answers only once control returns to the event loop.
    #[error("{0} would wait for the GPU, which a browser cannot do inside a call: use its `_async` form where it has one, or the CPU device")]
    WouldBlock(&'static str),
    /// An application's buffer given to
    /// [`Memory::record_retrieval`](crate::Memory::record_retrieval) that the retrieval cannot
    /// use: too small, without the usage it needs, or (reported by wgpu) of another device.
    #[error("the {what} buffer: {reason}")]
    InvalidBuffer {
        /// Which buffer: "queries" or "states".
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A wgpu validation or internal error. This is a bug in this crate: please report it.
    #[error("GPU error (a bug in hopfield, please report it): {0}")]
    Gpu(String),
    /// A pattern id that is already in the memory, or given twice in one call.
    #[error("pattern id {0} is already taken")]
    DuplicateId(u64),
    /// A list of ids whose length differs from the number of patterns it names.
    #[error("{ids} ids given for {patterns} patterns: give one id per pattern")]
    IdCount {
        /// Number of ids given.
        ids: usize,
        /// Number of patterns.
        patterns: usize,
    },
    /// A pattern id that the memory does not hold.
    #[error("no pattern has id {0}")]
    UnknownId(u64),
    /// The operating system refused a file operation; `source` is its `std::io::Error`, so
    /// `source.kind()` tells a missing file from a full disk or a denied permission.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done when it failed.
        op: FileOp,
        /// The file asked for (for a failed write, the target, not the temporary file).
        path: std::path::PathBuf,
        /// The system's error.
        #[source]
        source: IoCause,
    },
    /// A file that is not what it should be: truncated, corrupted, of another format or
    /// version, or holding data a memory cannot take.
    #[error("{}: {reason}", path.display())]
    InvalidFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The read error that showed it, where one did (a file ending too early).
        #[source]
        source: Option<IoCause>,
    },
}

/// The file operation an [`Error::Io`] failed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOp {
    /// Opening or reading the file.
    Read,
    /// Creating the temporary file that a save writes beside its target.
    CreateTemp,
    /// Writing the new content and syncing it to disk.
    Write,
    /// Renaming the written temporary file onto the target.
    Rename,
}

impl std::fmt::Display for FileOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileOp::Read => "reading",
            FileOp::CreateTemp => "creating a temporary file beside",
            FileOp::Write => "writing",
            FileOp::Rename => "renaming the written file onto",
        })
    }
}

/// The `std::io::Error` behind an [`Error::Io`] or [`Error::InvalidFile`]. It is shared, so that
/// [`Error`] stays `Clone`, and two are equal when their kind and message are (`std::io::Error`
/// itself has no equality).
#[derive(Clone, Debug)]
pub struct IoCause(std::sync::Arc<std::io::Error>);

impl IoCause {
    /// The kind of the error (`NotFound`, `PermissionDenied`, `StorageFull`, …).
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }

    /// The error itself.
    pub fn get_ref(&self) -> &std::io::Error {
        &self.0
    }
}

impl From<std::io::Error> for IoCause {
    fn from(e: std::io::Error) -> Self {
        IoCause(std::sync::Arc::new(e))
    }
}

impl PartialEq for IoCause {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl std::fmt::Display for IoCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Fails with [`Error::NonFinite`] at the first NaN or ±Inf of a row-major matrix.
pub(crate) fn check_finite(what: &'static str, data: &[f32], dim: usize) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            what,
            row: i / dim,
            col: i % dim,
            value: data[i],
        }),
    }
}
