//! Per-query memo of series-derived keys.
//!
//! A range query evaluates the whole expression once per step, but the series
//! flowing into an aggregation or a vector match are mostly the same `Arc<Labels>`
//! at every step (selector data is fetched once per query). Computing a series'
//! grouping/matching signature — label lookups, byte copies, hashing — once per
//! series instead of once per step per series was the bulk of aggregation cost.
//!
//! Entries are keyed by the `Arc`'s address and keep the `Arc` alive, so an
//! address cannot be reused by another label set while it is cached. Only
//! shared `Arc`s (strong count > 1) are memoized: a label set owned by a single
//! element was built for this step alone and will not be seen again.

use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;
use tidemark_model::Labels;

use super::labels_util::Signature;

/// Identifies one grouping/matching site of the query (an AST node's address).
pub(crate) type SiteId = usize;

/// The address of an AST node, as a [`SiteId`]: stable for the evaluation.
pub(crate) fn site_of<T>(node: &T) -> SiteId {
    node as *const T as usize
}

/// Dense per-site key ids: two series get the same id at a site exactly when
/// their signatures there are equal.
#[derive(Default)]
pub(crate) struct SeriesKeys {
    inner: RwLock<KeyTables>,
}

#[derive(Default)]
struct KeyTables {
    by_series: FxHashMap<(SiteId, usize), (Arc<Labels>, u32)>,
    by_signature: FxHashMap<SiteId, FxHashMap<Signature, u32>>,
}

fn address(labels: &Arc<Labels>) -> usize {
    Arc::as_ptr(labels) as usize
}

fn memoizable(labels: &Arc<Labels>) -> bool {
    Arc::strong_count(labels) > 1
}

const UNKNOWN: u32 = u32::MAX;

impl SeriesKeys {
    /// The key id of each of `series` at `site`, in order. `sign` appends a
    /// series' signature to the buffer; it runs only for series not seen before.
    pub(crate) fn ids(
        &self,
        site: SiteId,
        series: &[&Arc<Labels>],
        sign: impl Fn(&Labels, &mut Signature),
    ) -> Vec<u32> {
        let mut ids = vec![UNKNOWN; series.len()];
        // Series missing from the memo, with their signatures when already interned.
        let mut pending: Vec<(usize, Signature)> = Vec::new();
        {
            let tables = self.inner.read().expect("series key lock");
            let interned = tables.by_signature.get(&site);
            for (i, labels) in series.iter().enumerate() {
                if memoizable(labels) {
                    if let Some((_, id)) = tables.by_series.get(&(site, address(labels))) {
                        ids[i] = *id;
                        continue;
                    }
                }
                let mut sig = Signature::new();
                sign(labels, &mut sig);
                match interned.and_then(|m| m.get(&sig)) {
                    Some(&id) if !memoizable(labels) => ids[i] = id,
                    _ => pending.push((i, sig)),
                }
            }
        }
        if pending.is_empty() {
            return ids;
        }
        let mut tables = self.inner.write().expect("series key lock");
        let KeyTables {
            by_series,
            by_signature,
        } = &mut *tables;
        let interned = by_signature.entry(site).or_default();
        for (i, sig) in pending {
            let next = interned.len() as u32;
            let id = *interned.entry(sig).or_insert(next);
            ids[i] = id;
            let labels = series[i];
            if memoizable(labels) {
                by_series.insert((site, address(labels)), (labels.clone(), id));
            }
        }
        ids
    }
}

/// Memoized output labels per input series at a site, for operations whose
/// output labels depend on one input series only (one-to-one vector matching).
/// Returning the same `Arc` at every step lets later aggregations memoize too.
#[derive(Default)]
pub(crate) struct DerivedLabels {
    inner: RwLock<FxHashMap<(SiteId, usize), (Arc<Labels>, Arc<Labels>)>>,
}

impl DerivedLabels {
    /// The derived labels of `source` at `site`, computed by `derive` on first use.
    /// `None` when `source` is not shared (see the module docs).
    pub(crate) fn get_or_derive(
        &self,
        site: SiteId,
        source: &Arc<Labels>,
        derive: impl FnOnce(&Labels) -> Labels,
    ) -> Option<Arc<Labels>> {
        if !memoizable(source) {
            return None;
        }
        let key = (site, address(source));
        if let Some((_, out)) = self.inner.read().expect("derived labels lock").get(&key) {
            return Some(out.clone());
        }
        let out = Arc::new(derive(source));
        let mut map = self.inner.write().expect("derived labels lock");
        let (_, out) = map.entry(key).or_insert((source.clone(), out));
        Some(out.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Arc<Labels> {
        Arc::new(Labels::from_pairs(pairs.iter().copied()))
    }

    fn sign_by_instance(l: &Labels, sig: &mut Signature) {
        sig.extend_from_slice(l.get("instance").unwrap_or("").as_bytes());
    }

    #[test]
    fn equal_signatures_share_an_id_and_memo_survives_steps() {
        let a = labels(&[("instance", "a"), ("cpu", "0")]);
        let b = labels(&[("instance", "a"), ("cpu", "1")]);
        let c = labels(&[("instance", "c"), ("cpu", "0")]);
        let (a2, b2, c2) = (a.clone(), b.clone(), c.clone());
        let keys = SeriesKeys::default();
        let first = keys.ids(1, &[&a, &b, &c], sign_by_instance);
        assert_eq!(first[0], first[1]);
        assert_ne!(first[0], first[2]);
        // Second step: memoized, so the signer must not run.
        let again = keys.ids(1, &[&c2, &a2, &b2], |_, _| panic!("signed twice"));
        assert_eq!(again, vec![first[2], first[0], first[1]]);
    }

    #[test]
    fn unshared_series_are_signed_every_time_but_reuse_ids() {
        let keys = SeriesKeys::default();
        let x = labels(&[("instance", "x")]);
        let first = keys.ids(7, &[&x], sign_by_instance);
        let y = labels(&[("instance", "x"), ("cpu", "3")]);
        let second = keys.ids(7, &[&y], sign_by_instance);
        assert_eq!(first, second);
        // A different site has its own id space and memo.
        let other = keys.ids(8, &[&y], |_, sig| sig.push(1));
        assert_eq!(other, vec![0]);
    }

    #[test]
    fn derived_labels_are_shared_across_calls() {
        let d = DerivedLabels::default();
        let src = labels(&[("__name__", "m"), ("instance", "a")]);
        let _keep = src.clone();
        let one = d.get_or_derive(3, &src, |l| l.clone()).unwrap();
        let two = d
            .get_or_derive(3, &src, |_| panic!("derived twice"))
            .unwrap();
        assert!(Arc::ptr_eq(&one, &two));
        let lone = labels(&[("instance", "b")]);
        assert!(d.get_or_derive(3, &lone, |l| l.clone()).is_none());
    }
}
