//! `hopfield inspect`: what the stored patterns' geometry says about β (Ramsauer et al.'s
//! Theorems 3–5, through `hopfield::diagnostics::suggest_beta`).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use hopfield::diagnostics::{suggest_beta, BetaAdvice, Suggestion};
use hopfield::{Device, Memory};

use crate::Failure;

#[derive(Args)]
pub struct InspectArgs {
    /// Stored patterns: a 2-D float32 .npy of shape (N, d).
    #[arg(long, value_name = "X.npy", required_unless_present = "memory")]
    patterns: Option<PathBuf>,
    /// Stored patterns in a memory file written by `hopfield store`.
    #[arg(long, value_name = "MEM.safetensors", conflicts_with = "patterns")]
    memory: Option<PathBuf>,
    /// Largest error of one update from a stored pattern, relative to the largest pattern
    /// norm, that the suggested beta must guarantee (Theorem 5), in (0, 1).
    #[arg(long, value_name = "T", default_value_t = 1e-3)]
    tolerance: f64,
}

pub fn inspect(args: &InspectArgs) -> Result<(), Failure> {
    let patterns = match (&args.patterns, &args.memory) {
        (Some(path), _) => crate::load(path, "patterns")?,
        (None, Some(path)) => Memory::load(&Device::cpu(), path)
            .and_then(|m| m.patterns())
            .map_err(|e| {
                let Failure(code, why) = Failure::from(e);
                Failure(code, format!("memory {why}"))
            })?,
        (None, None) => unreachable!("clap requires one of them"),
    };
    let advice = suggest_beta(patterns.view(), args.tolerance)?;
    report(&advice, args.tolerance)
}

fn report(a: &BetaAdvice, tolerance: f64) -> Result<(), Failure> {
    say!("patterns: N = {}, d = {}", a.patterns, a.dim);
    say!(
        "norms |x_i|: min {:.6}, median {:.6}, max {:.6}",
        a.norms.min,
        a.norms.median,
        a.norms.max
    );
    say!(
        "separation D_i = x_i.x_i - max_(j!=i) x_i.x_j: min {:.6} (pattern {}), median {:.6}",
        a.separation.min,
        a.least_separated,
        a.separation.median
    );
    match &a.beta {
        Suggestion::Beta(beta) => {
            say!(
                "well separated: yes, every pattern from beta = {beta:.6} on; there one update \
                 from any stored pattern lands within {tolerance:e} x max norm of it (Theorem 5)"
            );
            say!("suggested beta: {beta:.6}");
        }
        Suggestion::NotSeparated {
            pattern,
            separation,
        } => {
            say!(
                "well separated: no. Pattern {pattern} scores {separation:.6} against itself \
                 relative to its strongest rival (another pattern scores at least as high \
                 against it), so no beta makes it a fixed point and retrieval near it ends at \
                 a mixture however large beta is; remove duplicates, or store the patterns at \
                 one norm"
            );
            say!("suggested beta: none");
        }
    }
    if let Some(c) = &a.capacity {
        say!(
            "capacity (Theorem 3, patterns uniform on a sphere of this dimension and the largest \
             norm, failure probability 0.001): at least {:.4e} patterns at the suggested beta{}",
            c.patterns,
            if c.assumption_holds {
                ""
            } else {
                " (the theorem's condition on c does not hold here: no guarantee)"
            }
        );
    }
    Ok(())
}
