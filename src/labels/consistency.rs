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
}

impl Default for Consistency {
    fn default() -> Self {
        Consistency {
            batch: 0,
            threshold: 0.95,
            weight: 1.0,
            shift: 8,
            cutout: 12,
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
}
