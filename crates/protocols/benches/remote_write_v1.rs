//! Remote write 1.0 decoding: prost into owned types versus the borrowed decoder the
//! ingestion hot path uses. The request imitates one node_exporter scrape as the
//! benchmark tool sends it: 1,000 series of 9 labels with one sample each.
//!
//! `cargo bench -p tidemark-protocols --bench remote_write_v1`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use tidemark_model::{Labels, Sample, TimeSeries};
use tidemark_protocols::remote_write::{
    decode_v1, decode_v1_borrowed, decompress_into, encode_v1, proto_v1,
};

const SERIES: usize = 1000;

fn scrape() -> Vec<TimeSeries> {
    let metrics = [
        "node_cpu_seconds_total",
        "node_network_receive_bytes_total",
        "node_filesystem_avail_bytes",
        "node_disk_io_time_seconds_total",
        "node_memory_MemAvailable_bytes",
    ];
    (0..SERIES)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", metrics[i % metrics.len()].to_string()),
                ("cluster", "c03".to_string()),
                ("cpu", (i % 64).to_string()),
                ("device", format!("nvme{}n1", i % 4)),
                ("instance", "node-00017.c03.example.net:9100".to_string()),
                ("job", "node".to_string()),
                (
                    "mode",
                    ["idle", "user", "system", "iowait"][i % 4].to_string(),
                ),
                ("mountpoint", "/var/lib/data".to_string()),
                ("fstype", "ext4".to_string()),
            ]);
            TimeSeries::new(
                labels,
                vec![Sample::new(1_795_259_055_000, 12345.67 + i as f64)],
            )
        })
        .collect()
}

fn decode(c: &mut Criterion) {
    let body = encode_v1(&scrape());
    let mut raw = Vec::new();
    decompress_into(&body, usize::MAX, &mut raw).unwrap();

    let mut group = c.benchmark_group("remote_write_v1");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("prost_owned_no_validation", |b| {
        b.iter(|| proto_v1::WriteRequest::decode(black_box(raw.as_slice())).unwrap())
    });
    group.bench_function("decode_v1_owned_validated", |b| {
        b.iter(|| decode_v1(black_box(&body), usize::MAX).unwrap())
    });
    group.bench_function("decode_v1_borrowed_validated", |b| {
        b.iter(|| {
            let mut raw = Vec::new();
            decompress_into(black_box(&body), usize::MAX, &mut raw).unwrap();
            decode_v1_borrowed(&raw).unwrap().sample_count()
        })
    });
    group.bench_function("decode_v1_borrowed_reused_buffer", |b| {
        let mut raw = Vec::new();
        b.iter(|| {
            decompress_into(black_box(&body), usize::MAX, &mut raw).unwrap();
            decode_v1_borrowed(&raw).unwrap().sample_count()
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
