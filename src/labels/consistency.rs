//! Consistency training on unlabeled images, after FixMatch (Sohn et al., NeurIPS 2020):
//! the network's prediction on a lightly augmented view of an unlabeled image, where it
//! is confident, becomes the target for a strongly augmented view of the same image.
//! The thousands of images no person labeled then shape the network, not only the few
//! hundred that were. Colour is the label here, so the strong views change geometry only
//! (larger shifts, a cut-out square; DeVries & Taylor 2017), never colour.

/// Settings of the consistency loss ([`crate::labels::classifier::TrainSpec::consistency`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Consistency {
    /// Unlabeled images per step (0: off, the default).
    pub batch: usize,
    /// Softmax probability the weak view's prediction needs to become a target
    /// (FixMatch's 0.95).
    pub threshold: f32,
    /// Weight of the consistency loss against the supervised one (FixMatch's 1).
    pub weight: f32,
    /// Shifts of the strong view, in pixels each way.
    pub shift: usize,
    /// Side of the cut-out square of the strong view, in pixels (0: none).
    pub cutout: usize,
    /// Distribution alignment (ReMixMatch, Berthelot et al., ICLR 2020): before the
    /// threshold, each weak prediction is multiplied by the labeled images' value
    /// frequencies over a running mean of the network's predictions on unlabeled images
    /// and renormalized, so that values the network under-predicts on unlabeled images
    /// still become targets (default off).
    pub align: bool,
}

impl Default for Consistency {
    fn default() -> Self {
        Consistency {
            batch: 0,
            threshold: 0.95,
            weight: 1.0,
            shift: 8,
            cutout: 12,
            align: false,
        }
    }
}

impl Consistency {
    /// Whether the loss is on.
    pub fn on(&self) -> bool {
        self.batch > 0 && self.weight > 0.0
    }
}

/// Per row of `probs` (`rows * k` softmax probabilities), the most likely value when its
/// probability reaches `threshold`.
pub fn pseudo_labels(probs: &[f32], k: usize, threshold: f32) -> Vec<Option<usize>> {
    probs
        .chunks(k)
        .map(|row| {
            let (best, &p) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
            (p >= threshold).then_some(best)
        })
        .collect()
}

/// Distribution alignment's state for one attribute: the labeled frequencies and a
/// running mean of the predictions on unlabeled images.
#[derive(Debug, Clone)]
pub struct Alignment {
    labeled: Vec<f32>,
    predicted: Vec<f32>,
}

/// Weight of the newest batch in the running mean: about the last 100 batches count
/// (ReMixMatch keeps the last 128).
const ALIGN_RATE: f32 = 0.01;

impl Alignment {
    /// From the labeled images' value counts (weights allowed); one pseudo-count per value
    /// keeps a value no label has from a zero frequency. The running mean starts equal,
    /// so the first steps are not moved.
    pub fn new(counts: &[f32]) -> Self {
        let total: f32 = counts.iter().sum::<f32>() + counts.len() as f32;
        let labeled: Vec<f32> = counts.iter().map(|c| (c + 1.0) / total).collect();
        Alignment {
            predicted: labeled.clone(),
            labeled,
        }
    }

    /// Updates the running mean with `probs` (`rows * k`) and aligns them in place.
    pub fn apply(&mut self, probs: &mut [f32]) {
        let k = self.labeled.len();
        let rows = probs.len() / k;
        if rows == 0 {
            return;
        }
        for (c, m) in self.predicted.iter_mut().enumerate() {
            let mean = probs.iter().skip(c).step_by(k).sum::<f32>() / rows as f32;
            *m += ALIGN_RATE * (mean - *m);
        }
        for row in probs.chunks_mut(k) {
            for ((p, l), m) in row.iter_mut().zip(&self.labeled).zip(&self.predicted) {
                *p *= l / m.max(1e-6);
            }
            let sum: f32 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|p| *p /= sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confident_rows_become_targets() {
        let probs = [0.96, 0.02, 0.02, 0.5, 0.3, 0.2, 0.01, 0.01, 0.98];
        assert_eq!(pseudo_labels(&probs, 3, 0.95), vec![Some(0), None, Some(2)]);
        assert_eq!(
            pseudo_labels(&probs, 3, 0.4),
            vec![Some(0), Some(0), Some(2)]
        );
        assert!(!Consistency::default().on());
    }

    #[test]
    fn alignment_lifts_a_value_the_network_under_predicts() {
        // Labels say half and half; the network leans to value 0 on unlabeled images.
        let mut align = Alignment::new(&[50.0, 50.0]);
        let mut last = Vec::new();
        for _ in 0..500 {
            let mut probs = vec![0.8, 0.2, 0.6, 0.4];
            align.apply(&mut probs);
            last = probs;
        }
        // The running mean converges to (0.7, 0.3): each row is reweighted by
        // (0.5 / 0.7, 0.5 / 0.3), and the second row now favours value 1.
        assert!((last[0] + last[1] - 1.0).abs() < 1e-5);
        assert!(last[0] < 0.8 && last[0] > 0.6, "{last:?}");
        assert!(last[3] > last[2], "{last:?}");
    }
}
