//! The series key: the one stored copy of a series' identity.
//!
//! A key is the tenant's two `u32`s (little-endian) followed by the labels' canonical
//! bytes, `name 0xff value 0xff ...` in label order. It is unambiguous because 0xff
//! never occurs in UTF-8, and it is what ingest lookups hash and compare, so the
//! registry keeps nothing else per series and decodes [`Labels`] only when asked.

use tidemark_model::{Label, Labels, Tenant};

/// Bytes of the tenant prefix.
const TENANT_LEN: usize = 8;
const SEPARATOR: u8 = 0xff;

/// Writes into `key` (cleared first) the key of `tenant` and `pairs`, which must be in
/// the [`Labels`] form (sorted by name, unique names, no empty values).
pub(crate) fn write<'a>(
    key: &mut Vec<u8>,
    tenant: Tenant,
    pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) {
    key.clear();
    key.extend_from_slice(&tenant.account_id.to_le_bytes());
    key.extend_from_slice(&tenant.project_id.to_le_bytes());
    for (name, value) in pairs {
        key.extend_from_slice(name);
        key.push(SEPARATOR);
        key.extend_from_slice(value);
        key.push(SEPARATOR);
    }
}

/// Writes the key of `(tenant, labels)` into `key` (cleared first).
pub(crate) fn write_labels(key: &mut Vec<u8>, tenant: Tenant, labels: &Labels) {
    write(
        key,
        tenant,
        labels
            .iter()
            .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
    );
}

/// The tenant of `key` (the default tenant for a key too short to hold one, which
/// [`write`] never produces).
pub(crate) fn tenant(key: &[u8]) -> Tenant {
    let word = |i: usize| {
        key.get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    Tenant::new(word(0), word(4))
}

/// The tenant prefix of `key`, for grouping keys by tenant without decoding it.
pub(crate) fn tenant_bytes(key: &[u8]) -> &[u8] {
    &key[..TENANT_LEN.min(key.len())]
}

/// The `(name, value)` pairs of `key`, as UTF-8 bytes, in label order.
pub(crate) fn pairs(key: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut parts = key
        .get(TENANT_LEN..)
        .unwrap_or_default()
        .split(|&b| b == SEPARATOR);
    std::iter::from_fn(move || {
        let name = parts.next().filter(|n| !n.is_empty())?;
        Some((name, parts.next().unwrap_or_default()))
    })
}

/// The labels of `key`.
pub(crate) fn labels(key: &[u8]) -> Labels {
    // Keys built at runtime come from `&str`s, but keys loaded from a registry snapshot
    // are not re-validated there, so the text is still checked here (lossily: a damaged
    // key decodes to replacement characters instead of failing the query).
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // Each label ends its name and its value with a separator; sizing the vector
    // up front saves its regrowth (one count pass is far cheaper than a reallocation).
    let body = key.get(TENANT_LEN..).unwrap_or_default();
    let count = body.iter().filter(|&&b| b == SEPARATOR).count() / 2;
    let mut labels = Vec::with_capacity(count);
    labels.extend(pairs(key).map(|(name, value)| Label::new(text(name), text(value))));
    Labels::from_vec(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_tenant_and_labels() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "é x"), ("zone", "a")]);
        let tenant = Tenant::new(7, u32::MAX);
        let mut key = Vec::new();
        write_labels(&mut key, tenant, &labels);
        assert_eq!(self::tenant(&key), tenant);
        assert_eq!(self::labels(&key), labels);
        assert_eq!(pairs(&key).count(), 3);
        assert_eq!(tenant_bytes(&key).len(), TENANT_LEN);
    }

    #[test]
    fn empty_label_sets_and_short_keys_decode_without_panicking() {
        let mut key = Vec::new();
        write_labels(&mut key, Tenant::DEFAULT, &Labels::empty());
        assert_eq!(key.len(), TENANT_LEN);
        assert!(labels(&key).is_empty());
        assert_eq!(tenant(&key[..3]), Tenant::new(0, 0));
        assert!(labels(&key[..3]).is_empty());
    }

    #[test]
    fn pairs_and_labels_give_the_same_key() {
        let labels = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let (mut from_labels, mut from_pairs) = (Vec::new(), Vec::new());
        write_labels(&mut from_labels, Tenant::new(1, 2), &labels);
        write(
            &mut from_pairs,
            Tenant::new(1, 2),
            [(&b"a"[..], &b"1"[..]), (b"b", b"2")],
        );
        assert_eq!(from_labels, from_pairs);
    }
}
