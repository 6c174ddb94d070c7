//! Automatic, explainable cluster names from the centroids.
//!
//! Each cluster is described by the z-scores of its centroid on recency, frequency and monetary
//! value (for the default features the standardised centers are exactly these z-scores, in log
//! space). The first matching rule names it (|z| >= 0.5 counts as high or low):
//!
//! | name | rule |
//! | --- | --- |
//! | High-Value Frequent | frequency and monetary high, recency not high |
//! | At-Risk High-Value | recency high (long ago) and frequency or monetary >= 0.25 |
//! | Lapsed Low-Value | recency high |
//! | New / High-Spend | recency low (recent), frequency <= 0, monetary > 0 |
//! | New / Low-Spend | recency low, frequency <= 0 |
//! | Recent Regulars | recency low |
//! | Big Spenders | monetary high |
//! | Frequent Buyers | frequency high |
//! | Moderate | otherwise |
//!
//! Each base name carries a marketing action ([`action_for`]).
//!
//! Names are made unique by adding the feature that most distinguishes clusters with the same
//! name ("Moderate (more recent)"), then a number. Names follow the data, not the cluster index.

use serde::{Deserialize, Serialize};

/// The name of one cluster and the evidence for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterName {
    /// The cluster's index.
    pub cluster: usize,
    /// Its name (e.g. `Champions`).
    pub name: String,
    /// z-scores of the centroid: recency (days since the last purchase), frequency, monetary.
    pub z_recency: f64,
    /// Mean z-score of log frequency in the cluster.
    pub z_frequency: f64,
    /// Mean z-score of log monetary value in the cluster.
    pub z_monetary: f64,
    /// The rule's name before it was made unique ("Moderate" for "Moderate (more recent)").
    pub base: String,
    /// What marketing should do with these customers (from the base name).
    pub action: String,
}

/// The marketing action for a base name.
pub fn action_for(base: &str) -> &'static str {
    match base {
        "High-Value Frequent" => {
            "Reward and retain: VIP perks, early access, referral asks; no discounts needed"
        }
        "At-Risk High-Value" => {
            "Win back now: personal outreach and a tailored offer before they lapse for good"
        }
        "Lapsed Low-Value" => "Low-cost reactivation email; stop paid spend if they do not respond",
        "New / High-Spend" => "Onboard and drive the second purchase: welcome series, cross-sell",
        "New / Low-Spend" => "Nurture: welcome series and a small incentive for a second order",
        "Recent Regulars" => {
            "Keep engaged: loyalty points, recommendations, bundles to raise basket"
        }
        "Big Spenders" => "Upsell premium items and service; invite to the loyalty tier",
        "Frequent Buyers" => "Raise basket size: bundles, free-shipping thresholds, subscriptions",
        _ => "Test offers to move them up: personalised recommendations, seasonal campaigns",
    }
}

fn base_name(zr: f64, zf: f64, zm: f64) -> &'static str {
    const HI: f64 = 0.5;
    if zf >= HI && zm >= HI && zr < HI {
        "High-Value Frequent"
    } else if zr >= HI && (zf >= 0.25 || zm >= 0.25) {
        "At-Risk High-Value"
    } else if zr >= HI {
        "Lapsed Low-Value"
    } else if zr <= -HI && zf <= 0.0 && zm > 0.0 {
        "New / High-Spend"
    } else if zr <= -HI && zf <= 0.0 {
        "New / Low-Spend"
    } else if zr <= -HI {
        "Recent Regulars"
    } else if zm >= HI {
        "Big Spenders"
    } else if zf >= HI {
        "Frequent Buyers"
    } else {
        "Moderate"
    }
}

/// Names the clusters whose centroids have the given (recency, frequency, monetary) z-scores.
pub fn name_clusters(z: &[[f64; 3]]) -> Vec<ClusterName> {
    let mut names: Vec<ClusterName> = z
        .iter()
        .enumerate()
        .map(|(c, &[zr, zf, zm])| ClusterName {
            cluster: c,
            name: base_name(zr, zf, zm).to_string(),
            z_recency: zr,
            z_frequency: zf,
            z_monetary: zm,
            base: base_name(zr, zf, zm).to_string(),
            action: action_for(base_name(zr, zf, zm)).to_string(),
        })
        .collect();
    // disambiguate equal names by the feature on which those clusters differ most
    let base: Vec<String> = names.iter().map(|n| n.name.clone()).collect();
    for b in base.iter().collect::<std::collections::BTreeSet<_>>() {
        let same: Vec<usize> = (0..names.len()).filter(|&i| &base[i] == b).collect();
        if same.len() < 2 {
            continue;
        }
        let spread = |f: usize| {
            let v: Vec<f64> = same.iter().map(|&i| z[i][f]).collect();
            v.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                - v.iter().cloned().fold(f64::INFINITY, f64::min)
        };
        let f = (0..3)
            .max_by(|&a, &b| spread(a).total_cmp(&spread(b)))
            .expect("three features");
        let mean = same.iter().map(|&i| z[i][f]).sum::<f64>() / same.len() as f64;
        for &i in &same {
            let above = z[i][f] > mean;
            let q = match (f, above) {
                (0, true) => "less recent",
                (0, false) => "more recent",
                (1, true) => "more frequent",
                (1, false) => "less frequent",
                (_, true) => "higher spend",
                (_, false) => "lower spend",
            };
            names[i].name = format!("{b} ({q})");
        }
    }
    // still equal (more than two alike): number them in cluster order
    number_duplicates(&mut names);
    names
}

/// Names still equal are numbered in cluster order ("Moderate", "Moderate 2").
fn number_duplicates(names: &mut [ClusterName]) {
    for i in 0..names.len() {
        let dup: Vec<usize> = (i + 1..names.len())
            .filter(|&j| names[j].name == names[i].name)
            .collect();
        for (n, j) in dup.into_iter().enumerate() {
            names[j].name = format!("{} {}", names[j].name, n + 2);
        }
    }
}

/// Per cluster, the mean of each standardised column of `columns` (population standard
/// deviation; a constant column scores 0) over the rows labelled with it.
pub fn z_means(columns: &[Vec<f64>], labels: &[u32], k: usize) -> Vec<Vec<f64>> {
    let mut sums = vec![vec![0.0; columns.len()]; k];
    let mut counts = vec![0usize; k];
    let standard: Vec<(f64, f64)> = columns
        .iter()
        .map(|c| {
            let n = c.len().max(1) as f64;
            let m = c.iter().sum::<f64>() / n;
            let sd = (c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n).sqrt();
            (
                m,
                if sd > 0.0 && sd.is_finite() {
                    sd
                } else {
                    f64::INFINITY
                },
            )
        })
        .collect();
    for (i, &l) in labels.iter().enumerate() {
        if (l as usize) < k {
            counts[l as usize] += 1;
            for (j, (c, (m, sd))) in columns.iter().zip(&standard).enumerate() {
                sums[l as usize][j] += (c[i] - m) / sd;
            }
        }
    }
    sums.into_iter()
        .zip(counts)
        .map(|(s, c)| s.into_iter().map(|v| v / c.max(1) as f64).collect())
        .collect()
}

/// Names of clusters of any features: the (at most two) features whose cluster mean lies
/// furthest from the overall mean, at least half a standard deviation away ("high monetary,
/// low recency_days"), else "average"; equal names are numbered. `z[c][j]` is cluster c's
/// mean z-score of feature `features[j]` ([`z_means`]). There is no marketing action for
/// arbitrary features: `action` is empty; [`name_clusters`] names RFM clusters.
pub fn describe_clusters(features: &[String], z: &[Vec<f64>]) -> Vec<ClusterName> {
    let mut names: Vec<ClusterName> = z
        .iter()
        .enumerate()
        .map(|(c, zs)| {
            let mut order: Vec<usize> = (0..zs.len()).filter(|&j| zs[j].abs() >= 0.5).collect();
            order.sort_by(|&a, &b| zs[b].abs().total_cmp(&zs[a].abs()).then(a.cmp(&b)));
            let parts: Vec<String> = order
                .iter()
                .take(2)
                .map(|&j| {
                    let side = if zs[j] > 0.0 { "high" } else { "low" };
                    format!("{side} {}", features[j])
                })
                .collect();
            let base = if parts.is_empty() {
                "average".to_string()
            } else {
                parts.join(", ")
            };
            let at = |name: &str| {
                features
                    .iter()
                    .position(|f| f == name)
                    .map_or(f64::NAN, |j| zs[j])
            };
            ClusterName {
                cluster: c,
                name: base.clone(),
                z_recency: at("recency_days"),
                z_frequency: at("frequency"),
                z_monetary: at("monetary"),
                base,
                action: String::new(),
            }
        })
        .collect();
    number_duplicates(&mut names);
    names
}

/// Names of the clusters of a feature table by its column names: with `recency_days`,
/// `frequency` and `monetary` columns (raw mart values), the RFM names of [`name_clusters`]
/// from their standardised ln(1 + x) (as `segmint cluster` names clusters); otherwise
/// [`describe_clusters`] of the columns as given.
pub fn names_for_table(x: &crate::table::Table, labels: &[u32], k: usize) -> Vec<ClusterName> {
    let column = |j: usize| -> Vec<f64> { (0..x.rows).map(|i| x.row(i)[j]).collect() };
    let find = |name: &str| x.names.iter().position(|n| n == name);
    match (find("recency_days"), find("frequency"), find("monetary")) {
        (Some(r), Some(f), Some(m)) => {
            let log: Vec<Vec<f64>> = [r, f, m]
                .iter()
                .map(|&j| column(j).iter().map(|v| v.max(0.0).ln_1p()).collect())
                .collect();
            let z: Vec<[f64; 3]> = z_means(&log, labels, k)
                .iter()
                .map(|v| [v[0], v[1], v[2]])
                .collect();
            name_clusters(&z)
        }
        _ => {
            let cols: Vec<Vec<f64>> = (0..x.cols).map(column).collect();
            describe_clusters(&x.names, &z_means(&cols, labels, k))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_centroids_not_the_index() {
        let champions = [-0.6, 1.8, 1.9];
        let lapsed = [1.1, -0.7, -0.8];
        let newbies = [-1.3, -0.3, -0.4];
        let risk = [0.9, 0.6, 0.7];
        let a = name_clusters(&[champions, lapsed, newbies, risk]);
        let b = name_clusters(&[risk, newbies, lapsed, champions]);
        let by = |v: &[ClusterName], c: usize| v[c].name.clone();
        assert_eq!(by(&a, 0), "High-Value Frequent");
        assert_eq!(by(&a, 1), "Lapsed Low-Value");
        assert_eq!(by(&a, 2), "New / Low-Spend");
        assert_eq!(by(&a, 3), "At-Risk High-Value");
        assert_eq!(by(&b, 0), "At-Risk High-Value");
        assert_eq!(by(&b, 3), "High-Value Frequent");
        assert_eq!(a[0].z_monetary, 1.9);
    }

    #[test]
    fn equal_names_are_made_unique() {
        let n = name_clusters(&[[0.1, 0.0, 0.0], [-0.3, 0.1, 0.0], [0.2, 0.2, 0.1]]);
        let names: Vec<&str> = n.iter().map(|c| c.name.as_str()).collect();
        // all "Moderate"; recency differs most: above / below the mean recency z
        assert_eq!(
            names,
            [
                "Moderate (less recent)",
                "Moderate (more recent)",
                "Moderate (less recent) 2"
            ]
        );
        let set: std::collections::HashSet<&str> = names.iter().copied().collect();
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn clusters_of_any_features_are_described_by_their_extreme_features() {
        // cluster 0: high a (z +1), cluster 1: low a (z -1); b is constant
        let cols = vec![vec![2.0, 2.0, 0.0, 0.0], vec![5.0; 4]];
        let z = z_means(&cols, &[0, 0, 1, 1], 2);
        assert_eq!(z, vec![vec![1.0, 0.0], vec![-1.0, 0.0]]);
        let n = describe_clusters(&["a".into(), "b".into()], &z);
        assert_eq!(n[0].name, "high a");
        assert_eq!(n[1].name, "low a");
        let flat = describe_clusters(&["a".into()], &[vec![0.1], vec![-0.2]]);
        assert_eq!(flat[0].name, "average");
        assert_eq!(flat[1].name, "average 2");
    }

    #[test]
    fn rfm_columns_get_rfm_names() {
        // recent, frequent, big spenders vs lapsed one-timers
        let x = crate::table::Table::from_rows(
            vec!["recency_days".into(), "frequency".into(), "monetary".into()],
            &[
                vec![3.0, 20.0, 900.0],
                vec![5.0, 18.0, 800.0],
                vec![300.0, 1.0, 10.0],
                vec![280.0, 1.0, 12.0],
            ],
        );
        let n = names_for_table(&x, &[0, 0, 1, 1], 2);
        assert_eq!(n[0].name, "High-Value Frequent");
        assert_eq!(n[1].name, "Lapsed Low-Value");
    }
}
