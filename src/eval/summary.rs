//! What `facesynth eval` measured for one run, as written to `RUN/eval/metrics.json` and
//! read back by the report pages and `eval compare`.
//!
//! The types are plain data (serde) so the metrics code and the report code can evolve
//! apart: the metrics side fills them, the report side only reads them.

use serde::{Deserialize, Serialize};

/// Every number `eval` reports for one run (or one class model of a split run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
    /// The run folder, as given.
    pub run: String,
    /// The real dataset folder, as given.
    pub data: String,
    /// The model family of the run (dcgan, cgan, acgan, infogan), or `split:<attr>`.
    pub model: String,
    /// Training steps of the evaluated checkpoint.
    pub step: u64,
    /// Seed that drew the latent points (same seed, same numbers).
    pub seed: u64,
    /// Generated images evaluated.
    pub n_generated: usize,
    /// Real images the generated ones were compared with.
    pub n_real: usize,
    /// The feature network every distance is measured in.
    pub features: FeatureNetInfo,
    /// Fidelity and diversity over all images.
    pub overall: Fidelity,
    /// The same per class of the conditioning attribute (intra-class FID etc.).
    pub per_class: Vec<ClassFidelity>,
    /// Conditional accuracy and confusion, for conditional runs (and InfoGAN's code):
    /// of the attribute the images were spread over evenly (the first conditioning
    /// attribute, the split attribute, InfoGAN's code).
    pub conditioning: Option<Conditioning>,
    /// The same for the run's other conditioning attributes (a run conditioned on
    /// `hair_color,eye_color`: `eye_color`; a split run's class models' attributes), each
    /// image asking for a value drawn uniformly at random. Added by the metrics helper.
    #[serde(default)]
    pub more_conditioning: Vec<Conditioning>,
    /// Attribute distribution of the generated images against the real set's, for every
    /// attribute the images were not asked for (conditioning attributes have none: their
    /// distribution is the one asked for).
    pub distributions: Vec<AttrDistribution>,
    /// Nearest training images and near duplicates.
    pub memorization: Memorization,
    /// Wall time of the evaluation in seconds.
    pub seconds: f64,
    /// Wall time per stage in seconds (`load`, `features`, `generate`, `embed`, `fidelity`,
    /// `per_class`, `memorization`), in order. Added by the metrics helper.
    #[serde(default)]
    pub timings: Vec<(String, f64)>,
    /// Things the reader should know (a conditioning attribute the feature network
    /// cannot classify, undecodable real images, ...). Added by the metrics helper.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The feature network: which, trained on what, and how good it is on held-out images.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureNetInfo {
    /// What it is, in words, e.g. "facesynth label CNN trained on the real set (not Inception)".
    pub description: String,
    /// Hash of the dataset it was trained on (the cache key).
    pub dataset_hash: String,
    /// Feature dimension.
    pub dim: usize,
    /// Held-out accuracy per attribute it classifies.
    pub heldout_accuracy: Vec<(String, f64)>,
}

/// A number that may be NaN: JSON has no NaN, serde_json writes it as `null`, and this
/// reads `null` back as NaN (an empty cell on the pages).
fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// [`nan_from_null`] for each number of a list.
fn nans_from_nulls<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|x| x.unwrap_or(f64::NAN))
        .collect())
}

/// The fewest images on each side for precision, recall, density and coverage with `k`
/// neighbours: a point's k-NN radius needs k other points of its set; with fewer the
/// radius is infinite and the metrics read 1.0 whatever the images are, so they are left
/// out (NaN, `null` in metrics.json).
pub fn prdc_min_count(k: usize) -> usize {
    k.max(1) + 1
}

/// Fidelity and diversity of one set of generated images against real ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Fréchet distance of Gaussians fitted to the features (FID on our features).
    #[serde(deserialize_with = "nan_from_null")]
    pub fid: f64,
    /// Kernel inception distance (unbiased MMD², cubic kernel), on our features.
    #[serde(deserialize_with = "nan_from_null")]
    pub kid: f64,
    /// Standard error of `kid` over subsets.
    #[serde(deserialize_with = "nan_from_null")]
    pub kid_se: f64,
    /// Precision (Kynkäänniemi et al. 2019; k-NN manifold of the real set). This and
    /// `recall`, `density`, `coverage` are NaN (`null`) when either side has fewer than
    /// [`prdc_min_count`] images.
    #[serde(deserialize_with = "nan_from_null")]
    pub precision: f64,
    /// Recall.
    #[serde(deserialize_with = "nan_from_null")]
    pub recall: f64,
    /// Density (Naeem et al. 2020).
    #[serde(deserialize_with = "nan_from_null")]
    pub density: f64,
    /// Coverage (Naeem et al. 2020).
    #[serde(deserialize_with = "nan_from_null")]
    pub coverage: f64,
    /// k of the nearest-neighbour metrics (5).
    pub k: usize,
}

/// Fidelity within one class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassFidelity {
    /// The attribute.
    pub attribute: String,
    /// The value (class).
    pub value: String,
    /// Generated images asked for this class.
    pub n_generated: usize,
    /// Real images of this class.
    pub n_real: usize,
    /// The metrics within the class.
    pub fidelity: Fidelity,
}

/// How well the generator obeys the asked attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conditioning {
    /// The attribute (InfoGAN: "code" matched to the classifier's attribute).
    pub attribute: String,
    /// Its values, in class-index order.
    pub values: Vec<String>,
    /// Share of images generated for class c that the classifier puts in c.
    #[serde(deserialize_with = "nan_from_null")]
    pub accuracy: f64,
    /// Per-class accuracy, in `values` order.
    #[serde(deserialize_with = "nans_from_nulls")]
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[asked][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// InfoGAN: the best one-to-one matching code value -> class index (Hungarian), if used.
    pub matching: Option<Vec<usize>>,
}

/// Attribute distribution of generated images against the real set's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttrDistribution {
    /// The attribute.
    pub attribute: String,
    /// Its values.
    pub values: Vec<String>,
    /// Share of real images per value.
    #[serde(deserialize_with = "nans_from_nulls")]
    pub real: Vec<f64>,
    /// Share of generated images per value (by the classifier).
    #[serde(deserialize_with = "nans_from_nulls")]
    pub generated: Vec<f64>,
    /// Jensen-Shannon divergence (base 2, in 0..1).
    #[serde(deserialize_with = "nan_from_null")]
    pub js: f64,
}

/// Memorization and uniqueness.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memorization {
    /// Mean over generated images of the feature distance to the nearest training image.
    #[serde(deserialize_with = "nan_from_null")]
    pub mean_feature_nn: f64,
    /// The same, as a ratio to the real set's own leave-one-out nearest-neighbour distance.
    #[serde(deserialize_with = "nan_from_null")]
    pub feature_nn_ratio: f64,
    /// Mean pixel RMSE (0..1 scale) to the nearest training image.
    #[serde(deserialize_with = "nan_from_null")]
    pub mean_pixel_nn: f64,
    /// Share of generated images that are near duplicates (prep's hashes) of a training image.
    #[serde(deserialize_with = "nan_from_null")]
    pub near_dup_train: f64,
    /// Share of generated images that are near duplicates of another generated image.
    #[serde(deserialize_with = "nan_from_null")]
    pub near_dup_self: f64,
    /// The baseline for both: share of real images that are near duplicates of another
    /// real image (small digits or flat images are often "near" by pHash even when
    /// distinct). Added by the metrics helper.
    #[serde(default, deserialize_with = "nan_from_null")]
    pub near_dup_real: f64,
    /// The closest pairs, closest first.
    pub closest: Vec<NearestPair>,
}

/// One generated image and its nearest training image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NearestPair {
    /// The generated image's file, relative to the run's eval folder.
    pub generated: String,
    /// The training image's file, relative to the data folder.
    pub train: String,
    /// Distance in feature space.
    #[serde(deserialize_with = "nan_from_null")]
    pub feature_distance: f64,
    /// Pixel RMSE (0..1 scale).
    #[serde(deserialize_with = "nan_from_null")]
    pub pixel_distance: f64,
    /// The training image as compared (at the run's size), relative to the run's eval
    /// folder; always present, also for MNIST IDX data where `train` names no file.
    /// Added by the metrics helper.
    #[serde(default)]
    pub train_image: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a NaN outside `Fidelity` (a diverged feature network's distances, a
    /// class nothing was generated for) was written `null` and could not be read back:
    /// `report` and `eval compare` refused the file.
    #[test]
    fn every_nan_reads_back() {
        let m = Memorization {
            mean_feature_nn: f64::NAN,
            feature_nn_ratio: f64::INFINITY,
            closest: vec![NearestPair {
                feature_distance: f64::NAN,
                ..Default::default()
            }],
            ..Default::default()
        };
        let back: Memorization = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(back.mean_feature_nn.is_nan() && back.feature_nn_ratio.is_nan());
        assert!(back.closest[0].feature_distance.is_nan());
        let d = AttrDistribution {
            real: vec![0.5, f64::NAN],
            js: f64::NAN,
            ..Default::default()
        };
        let back: AttrDistribution =
            serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
        assert_eq!(back.real[0], 0.5);
        assert!(back.real[1].is_nan() && back.js.is_nan());
    }
}
