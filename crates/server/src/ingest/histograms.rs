//! Native histogram ingestion for remote write 1.0 and 2.0: decoded histograms get
//! the `extra_label`s and are appended to storage next to the float samples.
//!
//! A request is decoded (and its histograms validated) completely before anything
//! is appended, so an inconsistent histogram rejects the whole request with 400.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use tidemark_model::{HistogramSample, Tenant};
use tidemark_protocols::apply_extra_labels;
use tidemark_protocols::remote_write::{decode_v2, HistogramSeries};
use tidemark_storage::{AppendStats, Storage};

use super::{Ingested, Stored};
use crate::api::response::ApiError;

/// Converts decoded histogram series to storage's form, applying `extra` labels
/// (an empty value removes the label, as for float series).
pub fn to_storage(
    series: Vec<HistogramSeries>,
    extra: &[(String, String)],
) -> Vec<tidemark_storage::HistogramSeries> {
    series
        .into_iter()
        .map(|hs| {
            let labels = if extra.is_empty() {
                hs.labels
            } else {
                let mut b = hs.labels.builder();
                for (name, value) in extra {
                    b.set(name, value);
                }
                b.build()
            };
            tidemark_storage::HistogramSeries {
                labels,
                samples: hs
                    .samples
                    .into_iter()
                    .map(|(timestamp, histogram)| HistogramSample {
                        timestamp,
                        histogram,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Appends histogram series (none is a no-op).
pub fn append(
    storage: &Storage,
    series: &[tidemark_storage::HistogramSeries],
) -> Result<AppendStats, ApiError> {
    if series.is_empty() {
        return Ok(AppendStats::default());
    }
    Ok(storage.append_histograms(Tenant::DEFAULT, series)?)
}

/// Adds histogram append stats to the float ones (ingestion metrics count both).
pub fn add_stats(a: AppendStats, b: AppendStats) -> AppendStats {
    AppendStats {
        series: a.series + b.series,
        samples: a.samples + b.samples,
        rejected: a.rejected + b.rejected,
    }
}

/// The remote write 2.0 store step: floats and histograms appended; the number of
/// histogram samples stored goes to `histograms_written` for the response header.
pub fn store_v2(
    body: Bytes,
    limit: usize,
    storage: &Storage,
    extra: &[(String, String)],
    histograms_written: &AtomicU64,
) -> Result<Stored, ApiError> {
    let mut decoded = decode_v2(&body, limit)?;
    drop(body);
    apply_extra_labels(&mut decoded.request.series, extra);
    let histograms = to_storage(std::mem::take(&mut decoded.histograms), extra);
    let floats = if decoded.request.series.is_empty() {
        AppendStats::default()
    } else {
        storage.append(Tenant::DEFAULT, &decoded.request.series)?
    };
    let hist = append(storage, &histograms)?;
    histograms_written.store(hist.samples, Ordering::Relaxed);
    Ok(Stored {
        ingested: Ingested {
            stats: add_stats(floats, hist),
            histograms_dropped: 0,
            exemplars_dropped: decoded.exemplars,
        },
        metadata: decoded.request.metadata,
    })
}
