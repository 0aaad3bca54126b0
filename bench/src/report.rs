//! The JSON document of a benchmark run, as `hopfield bench --json` writes it and the web
//! page downloads it.

use hopfield::workloads::Workload;
use hopfield::DeviceInfo;
use serde_json::{json, Value};
use web_time::{SystemTime, UNIX_EPOCH};

use crate::data::{REFERENCE_ROWS, SEED};
use crate::measure::{Config, Row};
use crate::stats::Stats;

/// The results as one JSON document: the tool that ran them (`"hopfield bench"` or the web
/// page), the adapter, the settings, and one entry per workload.
pub fn json_report(
    tool: &str,
    info: &DeviceInfo,
    cfg: &Config,
    kernels: &str,
    set: &str,
    rows: &[Row],
) -> String {
    let (unix, date) = now();
    let workloads: Vec<Value> = rows.iter().map(|r| workload_json(r, cfg)).collect();
    let doc = json!({
        "tool": tool,
        "version": env!("CARGO_PKG_VERSION"),
        "date": date,
        "unix_time": unix,
        "adapter": adapter_json(info),
        "config": {
            "precision": cfg.precision.to_string(),
            "fusion": format!("{:?}", cfg.fusion).to_lowercase(),
            "kernels": kernels,
            "beta": cfg.beta,
            "steps": 1,
            "top_k": cfg.top_k,
            "separation": cfg.separation.to_string(),
            "max_chunk_bytes": cfg.max_chunk_bytes,
            "warmup": cfg.warmup,
            "reps": cfg.reps,
            "seed": SEED,
            "workload_set": set,
            "reference_rows": REFERENCE_ROWS,
        },
        "workloads": workloads,
    });
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    text + "\n"
}

/// The adapter's name, kind, limits and features, as the report records them.
pub fn adapter_json(info: &DeviceInfo) -> Value {
    let l = &info.limits;
    let f = &info.features;
    json!({
        "name": info.name,
        "backend": info.backend,
        "kind": format!("{:?}", info.kind),
        "driver": info.driver,
        "limits": {
            "max_storage_binding_bytes": l.max_storage_binding_bytes,
            "max_buffer_bytes": l.max_buffer_bytes,
            "max_workgroup_storage_bytes": l.max_workgroup_storage_bytes,
            "max_invocations_per_workgroup": l.max_invocations_per_workgroup,
            "max_workgroups_per_dimension": l.max_workgroups_per_dimension,
        },
        "features": {
            "shader_f16": f.shader_f16,
            "subgroups": f.subgroups,
            "subgroup_size": [f.subgroup_size.0, f.subgroup_size.1],
            "timestamps": f.timestamps,
        },
    })
}

/// One workload's shape and its measurements, or why it did not run.
pub fn workload_json(r: &Row, cfg: &Config) -> Value {
    let w: &Workload = r.workload;
    let mut v = json!({
        "name": w.name,
        "description": w.what,
        "b": w.b,
        "n": w.n,
        "d": w.d,
        "bytes_read": w.bytes_read(cfg.precision),
        "flop": w.flop(),
        "top_k": cfg.top_k,
    });
    let extra = match &r.outcome {
        Err(e) => json!({ "status": "not_run", "error": e.to_string() }),
        Ok(m) => {
            let (t, of) = m.basis();
            json!({
                "status": "ok",
                "chunks": m.chunks,
                "reps": m.reps,
                "reps_cut_by_time_budget": m.cut(cfg.reps),
                "device_time_ms": m.device.as_ref().map(Stats::json),
                "device_time_note": (m.device.is_none()).then_some(m.device_note),
                "end_to_end_ms": m.e2e.json(),
                "throughput_time": of,
                "throughput_time_ms": t,
                "gb_per_s": w.bytes_read(cfg.precision) as f64 / (t / 1e3) / 1e9,
                "tflop_per_s": w.flop() / (t / 1e3) / 1e12,
                "rel_err": m.rel_err,
                "rel_err_rows": m.rel_err_rows,
                "per_call": m.per_call.map(|c| json!({
                    "buffers_created": c.buffers_created,
                    "bind_groups_created": c.bind_groups_created,
                    "pipelines_created": c.pipelines_created,
                    "submissions": c.submissions,
                    "bytes_uploaded": c.bytes_uploaded,
                    "bytes_read_back": c.bytes_read_back,
                })),
            })
        }
    };
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

/// Seconds since the epoch and the UTC date-time in RFC 3339, without a date crate.
fn now() -> (u64, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs, rfc3339(secs))
}

/// `secs` since the epoch as `YYYY-MM-DDThh:mm:ssZ` (Howard Hinnant's days-to-civil).
fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_996_800), "2026-11-30T00:00:00Z");
    }
}
