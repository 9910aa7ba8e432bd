//! A truth or answers file checked against the colour heuristics' votes before any loop
//! learns from it: answers that follow another attribute's colours (two columns
//! swapped) or the right colours under other names (values renamed).
//! anime-faces-96-raw's `labels.csv` does both: its `eye_color` column holds hair colours,
//! each under another value's name (BENCHMARKS.md, label, session 42).
//!
//! Two measures per answered attribute and voting attribute: the mutual information
//! between the answers and the votes, which no renaming changes (the plug-in estimate
//! less the Miller-Madow bias, Paninski 2003, "Estimation of Entropy and Mutual
//! Information"), and the renaming of values that matches them best (a greedy
//! one-to-one assignment on the confusion counts, as clustering accuracy matches
//! clusters to classes), against the names as given.

use super::import::Answer;
use super::index::DatasetIndex;
use super::store::{LabelStore, Source};
use super::Schema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Images with both an answer and a vote below which nothing is judged: the plug-in
/// information of two unrelated 12-value labels on 100 images is about 0.9 bits before
/// the bias correction, which is itself an estimate.
pub const MIN_IMAGES: usize = 100;

/// Bits by which another attribute's votes must tell more about the answers than their
/// own attribute's (and at least twice as many) for the answers to be said to follow
/// them. On anime-faces-64 hair answers carry 1.96 bits of the hair votes and 0.21 of the
/// eye votes, eye answers 0.28 and 0.08; anime-faces-96-raw's `eye_color` column 0.20
/// of the eye votes and 1.18 of the hair votes.
pub const MIN_EXTRA_BITS: f64 = 0.3;

/// Share of the images by which a renaming must match the votes more often than the names
/// as given (and at least twice as often) for the values to be said to be renamed.
/// anime-faces-64: 0.666 either way for hair, eye 0.189 named and 0.204 renamed;
/// anime-faces-96-raw's `eye_color` against the hair votes 0.037 and 0.491.
pub const MIN_RENAMED_GAIN: f64 = 0.15;

/// Answers of one attribute that look swapped with another attribute's or renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The answers' attribute.
    pub attribute: String,
    /// The attribute whose heuristic votes the answers follow: another one where the
    /// columns look swapped, else `attribute` itself.
    pub follows: String,
    /// Images with an answer and a vote of `follows`.
    pub images: usize,
    /// Bits of information the votes of `follows` carry about the answers.
    pub bits: f64,
    /// Bits the votes of the answers' own attribute carry about them.
    pub own_bits: f64,
    /// Share of the images whose answer is the vote's value as named.
    pub agreement: f64,
    /// Share of the images whose answer is the vote's value under `renaming`.
    pub renamed_agreement: f64,
    /// Answer value -> vote value of the best matching renaming, where the values look
    /// renamed (empty otherwise).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub renaming: BTreeMap<String, String>,
}

impl Finding {
    /// What a person should check, in a sentence or two.
    pub fn message(&self) -> String {
        let pct = |x: f64| format!("{:.0}%", 100.0 * x);
        let mut s = format!("{}: ", self.attribute);
        if self.follows != self.attribute {
            s += &format!(
                "these answers follow the {} heuristic's colours ({:.2} bits) far more than \
                 the {} heuristic's ({:.2} bits): are two columns swapped?",
                self.follows, self.bits, self.attribute, self.own_bits
            );
        }
        if !self.renaming.is_empty() {
            let changed: Vec<String> = self
                .renaming
                .iter()
                .filter(|(a, v)| a != v)
                .map(|(a, v)| format!("{a} -> {v}"))
                .collect();
            if self.follows != self.attribute {
                s += " ";
            }
            s += &format!(
                "Renamed as {} values ({}), they match the {} heuristic's votes on {} of {} \
                 images, against {} as named: are the values renamed?",
                self.follows,
                changed.join(", "),
                self.follows,
                pct(self.renamed_agreement),
                self.images,
                pct(self.agreement)
            );
        }
        s
    }
}

/// The findings for `answers` (images of `index`) against the heuristic labels of `votes`
/// (`heuristics.csv`), in the schema's attribute order; none where the answers agree
/// with their own attribute's votes as named, or where too few images have both.
pub fn audit(
    schema: &Schema,
    index: &DatasetIndex,
    answers: &[Answer],
    votes: &LabelStore,
) -> Vec<Finding> {
    let attrs = &schema.attributes;
    let mut findings = Vec::new();
    for (a, attr) in attrs.iter().enumerate() {
        // (answer value, vote value) per voting attribute.
        let pairs: Vec<Vec<(&str, &str)>> = attrs
            .iter()
            .map(|b| {
                answers
                    .iter()
                    .filter(|x| x.attribute == a)
                    .filter_map(|x| {
                        let v = votes
                            .get(&index.images[x.image], &b.name)
                            .filter(|v| v.source == Source::Heuristic)?;
                        Some((attr.values[x.value].as_str(), v.value.as_str()))
                    })
                    .collect()
            })
            .collect();
        if pairs[a].len() < MIN_IMAGES {
            continue;
        }
        let bits: Vec<Option<f64>> = pairs
            .iter()
            .map(|p| (p.len() >= MIN_IMAGES).then(|| information(p)))
            .collect();
        let own = bits[a].unwrap_or(0.0);
        let other = (0..attrs.len())
            .filter(|&b| b != a)
            .filter_map(|b| Some((b, bits[b]?)))
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .filter(|&(_, mi)| mi >= 2.0 * own && mi - own >= MIN_EXTRA_BITS);
        let (follows, mi) = other.unwrap_or((a, own));
        let p = &pairs[follows];
        let agreement = p.iter().filter(|(x, v)| x == v).count() as f64 / p.len() as f64;
        let (renamed_agreement, renaming) = best_renaming(p);
        let renamed = renamed_agreement >= 2.0 * agreement
            && renamed_agreement - agreement >= MIN_RENAMED_GAIN;
        if follows == a && !renamed {
            continue;
        }
        findings.push(Finding {
            attribute: attr.name.clone(),
            follows: attrs[follows].name.clone(),
            images: p.len(),
            bits: mi,
            own_bits: own,
            agreement,
            renamed_agreement,
            renaming: match renamed {
                true => renaming,
                false => BTreeMap::new(),
            },
        });
    }
    findings
}

/// Mutual information in bits of the pairs' two values: the plug-in estimate with the
/// Miller-Madow correction of its three entropies (each biased low by (k - 1) / 2n nats
/// for k observed values), at least 0.
pub fn information(pairs: &[(&str, &str)]) -> f64 {
    let n = pairs.len() as f64;
    if pairs.is_empty() {
        return 0.0;
    }
    let mut joint: HashMap<(&str, &str), f64> = HashMap::new();
    let mut left: HashMap<&str, f64> = HashMap::new();
    let mut right: HashMap<&str, f64> = HashMap::new();
    for &(x, y) in pairs {
        *joint.entry((x, y)).or_default() += 1.0;
        *left.entry(x).or_default() += 1.0;
        *right.entry(y).or_default() += 1.0;
    }
    let plug_in: f64 = joint
        .iter()
        .map(|((x, y), &c)| c / n * (c * n / (left[x] * right[y])).log2())
        .sum();
    let k = (left.len() + right.len()) as f64 - joint.len() as f64 - 1.0;
    (plug_in + k / (2.0 * n * std::f64::consts::LN_2)).max(0.0)
}

/// The one-to-one renaming of the first values to the second that matches the most
/// pairs, greedily from the largest confusion count (ties by name, so the result is
/// the same on every run), and the share of pairs it matches.
pub fn best_renaming(pairs: &[(&str, &str)]) -> (f64, BTreeMap<String, String>) {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for &p in pairs {
        *counts.entry(p).or_default() += 1;
    }
    let mut cells: Vec<((&str, &str), usize)> = counts.into_iter().collect();
    cells.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut renaming = BTreeMap::new();
    let mut taken = std::collections::HashSet::new();
    let mut matched = 0;
    for ((x, y), c) in cells {
        if !renaming.contains_key(x) && taken.insert(y) {
            renaming.insert(x.to_string(), y.to_string());
            matched += c;
        }
    }
    (matched as f64 / pairs.len().max(1) as f64, renaming)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_is_high_for_a_renaming_and_near_zero_for_unrelated_values() {
        let names = ["a", "b", "c", "d"];
        let renamed: Vec<(&str, &str)> = (0..400)
            .map(|i| (names[i % 4], names[(i + 1) % 4]))
            .collect();
        assert!((information(&renamed) - 2.0).abs() < 0.05);
        // Independent: the second value cycles on a period prime to the first's.
        let unrelated: Vec<(&str, &str)> = (0..400)
            .map(|i| (names[i % 4], names[(i / 4) % 4]))
            .collect();
        assert!(information(&unrelated) < 0.05);
        let (share, map) = best_renaming(&renamed);
        assert_eq!(share, 1.0);
        assert_eq!(map["a"], "b");
        assert_eq!(map["d"], "a");
    }
}
