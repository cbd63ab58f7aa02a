//! Hostile input for every decoder: arbitrary bytes, truncation at every length, bit
//! flips, huge declared lengths, invalid label names and invalid UTF-8. Decoders must
//! return an error (or a valid result), never panic or allocate without bound.

mod common;

use common::{decode_with, seed_bodies, DECODERS, LIMIT};
use proptest::prelude::*;
use prost::Message;
use tidemark_protocols::remote_write::{self, proto_v1, proto_v2};

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

#[test]
fn seeds_decode() {
    for (decoder, body) in seed_bodies() {
        let n = decode_with(decoder, &body).unwrap_or_else(|e| panic!("{decoder}: {e}"));
        assert!(n > 0, "{decoder}");
    }
}

#[test]
fn every_truncation_is_handled() {
    for (decoder, body) in seed_bodies() {
        for len in 0..body.len() {
            let result = decode_with(decoder, &body[..len]);
            if decoder.starts_with("remote_write") && len > 0 {
                // The snappy header announces the full length, so any cut is detected.
                assert_eq!(
                    result.unwrap_err().reason(),
                    "bad_snappy",
                    "{decoder} cut at {len}"
                );
            }
        }
    }
}

/// An uncompressed `prometheus.WriteRequest` with one series `metric_name` and one sample.
fn raw_v1_one_sample(metric_name: &str) -> Vec<u8> {
    proto_v1::WriteRequest {
        timeseries: vec![proto_v1::TimeSeries {
            labels: vec![proto_v1::Label {
                name: "__name__".into(),
                value: metric_name.into(),
            }],
            samples: vec![proto_v1::Sample {
                value: 1.0,
                timestamp: 2,
            }],
        }],
        metadata: vec![],
    }
    .encode_to_vec()
}

#[test]
fn truncated_protobuf_inside_valid_snappy_is_an_error_or_a_prefix() {
    let raw = raw_v1_one_sample("up");
    for len in 0..raw.len() {
        if let Ok(r) = remote_write::decode_v1(&snappy(&raw[..len]), LIMIT) {
            assert!(
                r.series.is_empty(),
                "a cut message cannot yield the full series (len {len})"
            );
        }
    }
}

#[test]
fn huge_declared_lengths_are_rejected_without_allocating() {
    // Field 1 (timeseries), wire type 2, declared length 2^62.
    let mut raw = vec![0x0a];
    prost::encoding::encode_varint(1 << 62, &mut raw);
    raw.extend_from_slice(b"tiny");
    assert_eq!(
        remote_write::decode_v1(&snappy(&raw), LIMIT)
            .unwrap_err()
            .reason(),
        "bad_protobuf"
    );
    assert_eq!(
        remote_write::decode_v2(&snappy(&raw), LIMIT)
            .unwrap_err()
            .reason(),
        "bad_protobuf"
    );

    // A packed labels_refs field declaring far more bytes than present.
    let mut ts = vec![0x0a];
    prost::encoding::encode_varint(u32::MAX as u64, &mut ts);
    ts.extend_from_slice(&[1, 2]);
    let mut req = vec![0x2a];
    prost::encoding::encode_varint(ts.len() as u64, &mut req);
    req.extend_from_slice(&ts);
    assert_eq!(
        remote_write::decode_v2(&snappy(&req), LIMIT)
            .unwrap_err()
            .reason(),
        "bad_protobuf"
    );

    // A snappy header announcing ~4 GiB of output.
    let mut body = Vec::new();
    prost::encoding::encode_varint(u32::MAX as u64, &mut body);
    body.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        remote_write::decode_v1(&body, LIMIT).unwrap_err().reason(),
        "too_large"
    );

    // A symbol reference far past the table.
    let req = proto_v2::Request {
        symbols: vec!["".into(), "__name__".into(), "up".into()],
        timeseries: vec![proto_v2::TimeSeries {
            labels_refs: vec![1, u32::MAX],
            samples: vec![proto_v2::Sample {
                value: 1.0,
                timestamp: 1,
                start_timestamp: 0,
            }],
            ..Default::default()
        }],
    };
    assert_eq!(
        remote_write::decode_v2(&snappy(&req.encode_to_vec()), LIMIT)
            .unwrap_err()
            .reason(),
        "invalid_request"
    );
}

#[test]
fn invalid_label_names_are_rejected_by_every_format() {
    let v1 = proto_v1::WriteRequest {
        timeseries: vec![proto_v1::TimeSeries {
            labels: vec![
                proto_v1::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
                proto_v1::Label {
                    name: "".into(),
                    value: "x".into(),
                },
            ],
            samples: vec![proto_v1::Sample {
                value: 1.0,
                timestamp: 2,
            }],
        }],
        metadata: vec![],
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "remote_write_v1",
            snappy(&v1.encode_to_vec()),
            "invalid_label",
        ),
        ("text", b"up{0bad=\"x\"} 1\n".to_vec(), "parse"),
        ("text", b"up{\"\"=\"x\"} 1\n".to_vec(), "invalid_label"),
        ("influx", b"m,=x v=1\n".to_vec(), "parse"),
        (
            "opentsdb_http",
            br#"{"metric":"m","value":1,"tags":{"":"x"}}"#.to_vec(),
            "invalid_label",
        ),
        (
            "opentsdb_telnet",
            b"put m 1 1 =x\n".to_vec(),
            "invalid_label",
        ),
        (
            "jsonline",
            br#"{"metric":{"__name__":"m","":"x"},"values":[1],"timestamps":[1]}"#.to_vec(),
            "invalid_label",
        ),
    ];
    for (decoder, body, reason) in cases {
        let e = decode_with(decoder, &body).unwrap_err();
        assert_eq!(e.reason(), reason, "{decoder}: {e}");
    }
}

#[test]
fn invalid_utf8_is_rejected_by_every_format() {
    let mut v1 = raw_v1_one_sample("uX");
    let at = v1.iter().position(|&b| b == b'X').unwrap();
    v1[at] = 0xff;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("remote_write_v1", snappy(&v1)),
        ("text", b"up{a=\"\xff\"} 1\n".to_vec()),
        ("influx", b"m,t=\xc3 v=1\n".to_vec()),
        (
            "opentsdb_http",
            b"{\"metric\":\"m\xff\",\"value\":1}".to_vec(),
        ),
        (
            "jsonline",
            b"{\"metric\":{\"__name__\":\"m\xfe\"},\"values\":[1],\"timestamps\":[1]}".to_vec(),
        ),
    ];
    for (decoder, body) in cases {
        assert!(decode_with(decoder, &body).is_err(), "{decoder}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        for decoder in DECODERS {
            let _ = decode_with(decoder, &bytes);
        }
        // The same bytes as a (valid-snappy) protobuf payload, to reach the protobuf layer.
        let _ = remote_write::decode_v1(&snappy(&bytes), LIMIT);
        let _ = remote_write::decode_v2(&snappy(&bytes), LIMIT);
    }

    #[test]
    fn bit_flips_in_valid_bodies_never_panic(
        seed in 0usize..8,
        flips in proptest::collection::vec((any::<usize>(), 0u8..8), 1..6),
    ) {
        let seeds = seed_bodies();
        let (decoder, body) = &seeds[seed % seeds.len()];
        let mut body = body.clone();
        for (pos, bit) in flips {
            let i = pos % body.len();
            body[i] ^= 1 << bit;
        }
        let _ = decode_with(decoder, &body);
    }

    #[test]
    fn bit_flips_in_raw_protobuf_never_panic(
        flips in proptest::collection::vec((any::<usize>(), 0u8..8), 1..6),
    ) {
        let series = common::seed_series();
        for raw in [
            snap::raw::Decoder::new().decompress_vec(&remote_write::encode_v1(&series)).unwrap(),
            snap::raw::Decoder::new().decompress_vec(&remote_write::encode_v2(&series, &common::seed_metadata())).unwrap(),
        ] {
            let mut raw = raw;
            for &(pos, bit) in &flips {
                let i = pos % raw.len();
                raw[i] ^= 1 << bit;
            }
            let _ = remote_write::decode_v1(&snappy(&raw), LIMIT);
            let _ = remote_write::decode_v2(&snappy(&raw), LIMIT);
        }
    }
}
