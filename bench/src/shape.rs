//! Shapes of the user's own (`hopfield bench --shape B,N,d`), benchmarked beside the named
//! workloads with the same data, measurement and report.

use std::fmt;
use std::str::FromStr;

use hopfield::workloads::{self, Workload};

/// One retrieval's shape: B queries against N patterns of dimension d, each at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub b: usize,
    pub n: usize,
    pub d: usize,
}

/// Why a `B,N,d` string is no shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError(String);

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShapeError {}

impl FromStr for Shape {
    type Err = ShapeError;

    fn from_str(s: &str) -> Result<Shape, ShapeError> {
        let fields: Vec<&str> = s.split(',').map(str::trim).collect();
        let [b, n, d] = fields[..] else {
            return Err(ShapeError(format!(
                "expected three comma-separated numbers B,N,d (queries, patterns, dimension), \
                 got {} field{} in {s:?}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            )));
        };
        let shape = Shape {
            b: field(b, "B (queries)")?,
            n: field(n, "N (patterns)")?,
            d: field(d, "d (dimension)")?,
        };
        shape.elements()?;
        Ok(shape)
    }
}

/// One field of a shape: a whole number of at least 1.
fn field(text: &str, what: &str) -> Result<usize, ShapeError> {
    let v: usize = text.parse().map_err(|_| {
        ShapeError(format!(
            "{what} must be a whole number of at least 1, got {text:?}"
        ))
    })?;
    if v == 0 {
        return Err(ShapeError(format!("{what} must be at least 1, got 0")));
    }
    Ok(v)
}

impl Shape {
    /// B·N·d, refused where it or the f64 copy the reference check makes of the data (8 bytes
    /// an element) would not fit the address space: such a shape could never be allocated.
    pub fn elements(&self) -> Result<usize, ShapeError> {
        self.b
            .checked_mul(self.n)
            .and_then(|v| v.checked_mul(self.d))
            .filter(|v| {
                v.checked_mul(8)
                    .is_some_and(|bytes| bytes <= isize::MAX as usize)
            })
            .ok_or_else(|| {
                ShapeError(format!(
                    "B*N*d = {}*{}*{} is too large: its f64 copy would not fit in {} bytes",
                    self.b,
                    self.n,
                    self.d,
                    isize::MAX
                ))
            })
    }

    /// The workload's name in the table and the report: `B{b}_N{n}_d{d}`.
    pub fn name(&self) -> String {
        format!("B{}_N{}_d{}", self.b, self.n, self.d)
    }

    /// The shape as a workload of the report. The library's table holds `'static` names and
    /// gives no constructor, so this is a copy of its first entry with the fields replaced and
    /// the name leaked (a few bytes, once per shape and process).
    pub fn workload(&self) -> Workload {
        let mut w = *workloads::all().next().expect("the table is not empty");
        w.name = Box::leak(self.name().into_boxed_str());
        w.what = "a shape of your own (--shape B,N,d)";
        (w.b, w.n, w.d) = (self.b, self.n, self.d);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<Shape>().unwrap_err().to_string()
    }

    #[test]
    fn parses_and_names() {
        let s: Shape = " 3, 37 ,5".parse().unwrap();
        assert_eq!(s, Shape { b: 3, n: 37, d: 5 });
        assert_eq!(s.name(), "B3_N37_d5");
        let w = s.workload();
        assert_eq!((w.name, w.b, w.n, w.d), ("B3_N37_d5", 3, 37, 5));
    }

    #[test]
    fn refuses_what_is_no_shape() {
        assert!(err("3,37").contains("got 2 fields"), "{}", err("3,37"));
        assert!(err("3,37,5,1").contains("got 4 fields"));
        assert!(err("0,37,5").contains("B (queries) must be at least 1"));
        assert!(err("3,x,5").contains("N (patterns) must be a whole number"));
        assert!(err("3,37,-5").contains("d (dimension) must be a whole number"));
        assert!(err("3,37,").contains("d (dimension)"));
        let huge = format!("{},{},2", usize::MAX / 2, 3);
        assert!(err(&huge).contains("too large"), "{}", err(&huge));
        // Each field fits, the product's f64 bytes do not.
        assert!(err("1048576,1048576,1048576").contains("too large"));
    }
}
