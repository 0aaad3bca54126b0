//! Running `retrieve --steps K` for any K (without `--known`): in slices, with progress on a
//! terminal and at `-v`,
//! stopping early at a fixed point, and a check that f32 could tell the two strongest patterns
//! of the last step apart.
//!
//! Multi-step retrieval is repeated one-step retrieval, so K steps run as calls of a few steps
//! each, every call starting from the states the previous one returned (exact: the states are
//! f32 on both sides). Between calls the tool can report progress and see each state's last
//! change; when no component of any state moved in a step, every further step would compute
//! the same states again, so the run skips to its last step. f32 iteration need not settle on
//! a fixed point: it can cycle through states that differ in the last bits. The run keeps the
//! states of a checkpoint whose step count doubles (Brent's cycle detection, at slice ends),
//! so a cycle of any period is found once the checkpoint is past the cycle's start and its
//! distance to the present is a multiple of the period; the run then skips ahead by whole
//! periods, landing on the same states K steps would. The last step is a call of its
//! own, carrying whatever the user asked for besides the states (weights, top-k, energies), so
//! that those describe the last step as they do in one call of K steps.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use hopfield::{Retrieval, RetrieveOptions, Separation, Stop};
use ndarray::{s, Array2, ArrayView2, Axis};

use crate::source::Source;
use crate::Failure;

/// Longest slice of steps between two looks at the states.
const MAX_SLICE: usize = 64;

/// f32's relative resolution, 2^-24: scores of magnitude S are known to about S·2^-24.
const F32_RESOLUTION: f64 = 1.0 / (1u64 << 24) as f64;

/// Below this bound on the scores' rounding (β·M·‖ξ‖·2^-24, in score units) two scores the
/// rounding confuses have weights within a factor e^(2^-10) ≈ 1.001 of each other: nothing a
/// user would act on, so the check (one top-2 of the last step) is not paid for.
const CHECK_FROM: f64 = 1.0 / 1024.0;

/// What [`run`] did.
pub struct Run {
    /// The retrieval as one call of the steps taken would have returned it.
    pub out: Retrieval,
    /// Why the run stopped before the steps asked for, if it did.
    pub early: Option<Early>,
    /// Queries whose two strongest scores in the last step lie within f32's rounding of
    /// each other, with that rounding bound (score units).
    pub unresolved: Vec<(usize, f64)>,
}

/// Why a run of slices skipped the rest of its steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Early {
    /// A step changed no state.
    FixedPoint,
    /// The states came back to where they were this many steps before: a cycle of f32
    /// rounding whose period divides it.
    Cycle(usize),
}

/// Runs `opts` on `queries`: a fixed number of steps in slices, or (until converged) one call.
pub fn run(
    memory: &Source,
    queries: ArrayView2<f32>,
    opts: &RetrieveOptions,
) -> Result<Run, Failure> {
    let total = match opts.stop {
        // A partial cue is one call: a later slice would start from the completed states,
        // which the mask would cut back to the known features.
        Stop::Steps(k) if opts.known.is_none() => k,
        _ => return run_once(memory, queries, opts),
    };
    if total == 0 {
        // The library says what is wrong with zero steps.
        return run_once(memory, queries, opts);
    }
    let mut progress = Progress::new(total);
    let plain = RetrieveOptions::new(opts.beta)
        .fusion(opts.fusion)
        .separation(opts.separation);
    let mut states = queries.to_owned();
    let mut before = None;
    let mut done = 0;
    let mut early = None;
    // The states at step `.0`; moved to the present each time the step count doubles.
    let mut checkpoint: Option<(usize, Array2<f32>)> = None;
    while done + 1 < total {
        let slice = done.clamp(1, MAX_SLICE).min(total - 1 - done);
        let mut step = plain.clone().steps(slice);
        // The energy "before" is that of the queries, which only the first call sees.
        step.energy = opts.energy && done == 0;
        let out = memory.retrieve(states.view(), &step)?;
        before = before.or(out.energy.map(|e| e.before));
        states = out.states;
        done += slice;
        progress.at(done);
        if out.max_change.iter().all(|&c| c == 0.0) {
            early = Some(Early::FixedPoint);
            break;
        }
        match &checkpoint {
            Some((at, seen)) if *seen == states => {
                // The states repeat every `period` steps (a multiple of the cycle's own), so
                // the state after total − 1 steps is the one (total − 1 − done) mod period on.
                let period = done - at;
                let rest = (total - 1 - done) % period;
                if rest > 0 {
                    let more = plain.clone().steps(rest);
                    states = memory.retrieve(states.view(), &more)?.states;
                    done += rest;
                }
                early = Some(Early::Cycle(period));
                break;
            }
            Some((at, _)) if done < 2 * at => {}
            _ => checkpoint = Some((done, states.clone())),
        }
    }
    progress.finish(done, early);
    let last = with_check(memory, states.view(), opts.clone().steps(1));
    let mut out = memory.retrieve(states.view(), &last.opts)?;
    done += 1;
    out.steps = vec![done; out.steps.len()];
    if let (Some(before), Some(energy)) = (before, out.energy.as_mut()) {
        energy.before = before;
    }
    let unresolved = last.unresolved(&mut out);
    Ok(Run {
        out,
        early,
        unresolved,
    })
}

/// One call as asked (until converged), with the top-2 check where it is due.
fn run_once(
    memory: &Source,
    queries: ArrayView2<f32>,
    opts: &RetrieveOptions,
) -> Result<Run, Failure> {
    let mut check = with_check(memory, queries, opts.clone());
    let mut out = memory.retrieve(queries, &check.opts)?;
    // After a first step every state is a convex combination of patterns, so M bounds the norm
    // of the last step's input; for one step it is the query's own.
    for (b, &steps) in out.steps.iter().enumerate() {
        if steps > 1 {
            check.norms[b] = memory.max_norm();
        }
    }
    let unresolved = check.unresolved(&mut out);
    Ok(Run {
        out,
        early: None,
        unresolved,
    })
}

/// The options of the last call, with top-2 added where the check needs it and the user did
/// not ask for it.
struct Check {
    opts: RetrieveOptions,
    /// Norm of each query's input to the last step.
    norms: Vec<f64>,
    /// The k the user asked for, when the check raised it to 2.
    asked_k: Option<Option<usize>>,
    beta: f64,
    max_norm: f64,
}

fn with_check(memory: &Source, input: ArrayView2<f32>, mut opts: RetrieveOptions) -> Check {
    let norms: Vec<f64> = input
        .axis_iter(Axis(0))
        .map(|r| r.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt())
        .collect();
    let (beta, max_norm) = (f64::from(opts.beta), memory.max_norm());
    let largest = norms.iter().copied().fold(max_norm, f64::max);
    // The check reads the score gap off two weights in the ratio e^gap, as the exponential
    // rules give them; sparsemax and entmax weights are not, and are not checked.
    let exponential = matches!(
        opts.separation,
        Separation::Softmax | Separation::Softmax1 | Separation::TopK(_)
    );
    let due = exponential
        && beta * max_norm * largest * F32_RESOLUTION >= CHECK_FROM
        && memory.len() >= 2;
    let mut asked_k = None;
    if due && opts.top_k.is_none_or(|k| k < 2) {
        asked_k = Some(opts.top_k);
        opts.top_k = Some(2);
    }
    Check {
        opts,
        norms,
        asked_k,
        beta,
        max_norm,
    }
}

impl Check {
    /// The queries whose top-2 gap is below the rounding bound; gives `out` back the top-k the
    /// user asked for.
    fn unresolved(&self, out: &mut Retrieval) -> Vec<(usize, f64)> {
        let mut found = Vec::new();
        if let Some(top) = out.top_k.as_ref().filter(|t| t.weights.ncols() >= 2) {
            for (b, w) in top.weights.axis_iter(Axis(0)).enumerate() {
                let bound = self.beta * self.max_norm * self.norms[b] * F32_RESOLUTION;
                // w1/w2 = e^(s1 - s2): the gap in score units, infinite once w2 underflows.
                let gap = (f64::from(w[0]) / f64::from(w[1])).ln();
                if bound >= CHECK_FROM && gap < bound {
                    found.push((b, bound));
                }
            }
        }
        match self.asked_k {
            Some(None) => out.top_k = None,
            Some(Some(k)) => {
                if let Some(top) = out.top_k.as_mut() {
                    top.indices = top.indices.slice(s![.., ..k]).to_owned();
                    top.ids = top.ids.slice(s![.., ..k]).to_owned();
                    top.weights = top.weights.slice(s![.., ..k]).to_owned();
                }
            }
            None => {}
        }
        found
    }
}

/// Steps done out of the total: a line on stderr that rewrites itself when stderr is a
/// terminal, and at `-v` a log line at most every few seconds.
struct Progress {
    total: usize,
    tty: bool,
    started: Instant,
    logged: Instant,
}

/// Time between two `-v` progress lines.
const LOG_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    fn new(total: usize) -> Progress {
        let now = Instant::now();
        Progress {
            total,
            tty: std::io::stderr().is_terminal(),
            started: now,
            logged: now,
        }
    }

    fn at(&mut self, done: usize) {
        let seconds = self.started.elapsed().as_secs_f64();
        if self.tty {
            let _ = write!(
                std::io::stderr(),
                "\rretrieve: step {done} of {} ({seconds:.1} s)",
                self.total
            );
        }
        if self.logged.elapsed() >= LOG_EVERY {
            self.logged = Instant::now();
            log::info!("step {done} of {} after {seconds:.1} s", self.total);
        }
    }

    /// Ends the slices, `done` steps in; the last step is still to run.
    fn finish(&self, done: usize, early: Option<Early>) {
        if self.tty && done > 0 {
            // Clears the progress line, so the summary starts on a clean one.
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
        let skipped = self.total - done - 1;
        if early == Some(Early::FixedPoint) {
            log::info!(
                "step {done} changed no state: a fixed point; one more step gives the outputs, {skipped} of {} steps skipped",
                self.total
            );
        } else if let Some(Early::Cycle(period)) = early {
            log::info!(
                "the states repeat every {period} steps (f32 rounding); one more step gives the outputs, {skipped} of {} steps skipped",
                self.total
            );
        } else if done > 0 {
            log::info!("{done} steps in slices, then the last one");
        }
    }
}

/// "3 steps", or "2-5 steps" when blocks of queries stopped at different counts.
pub fn steps_taken(out: &Retrieval) -> String {
    let lo = out.steps.iter().min().copied().unwrap_or(0);
    let hi = out.steps.iter().max().copied().unwrap_or(0);
    let unit = if hi == 1 { "step" } else { "steps" };
    if lo == hi {
        format!("{hi} {unit}")
    } else {
        format!("{lo}-{hi} {unit}")
    }
}
