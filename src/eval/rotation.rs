//! A self-supervised task for the feature network when the real set has no labels:
//! which way up each image is (rotation prediction, Gidaris et al. 2018, "Unsupervised
//! representation learning by predicting image rotations"). Telling an upright face from
//! a turned one takes the features that place eyes, hair and chin, which is what the
//! distances between real and generated sets should see.
//!
//! The classifier's batches mirror images left-right at random, which turns a quarter
//! turn clockwise into one anticlockwise; so the task has three classes (upright,
//! sideways either way, upside down), each image giving four views.

use crate::labels::classifier::{Pixels, Sample};

/// Classes of the task: upright, sideways, upside down.
pub const CLASSES: usize = 3;

/// The class of each of the four quarter turns (0, 90, 180 and 270 degrees).
const CLASS_OF_TURN: [usize; 4] = [0, 1, 2, 1];

/// Images the task trains on at most (four views each): the cost of the feature network
/// stays that of a labeled set of a few thousand images, whatever the real set's size.
pub const MAX_IMAGES: usize = 1024;

/// Every image of `px` in its four quarter turns, and one sample per view whose only
/// target is the turn's class.
pub fn views(px: &Pixels) -> (Pixels, Vec<Sample>) {
    let s = px.size;
    let image_len = 3 * s * s;
    let mut data = Vec::with_capacity(px.data.len() * 4);
    let mut samples = Vec::with_capacity(px.len() * 4);
    for (i, img) in px.data.chunks_exact(image_len).enumerate() {
        for (turn, &class) in CLASS_OF_TURN.iter().enumerate() {
            for plane in img.chunks_exact(s * s) {
                data.extend(turned(plane, s, turn));
            }
            samples.push(Sample::new(4 * i + turn, vec![Some(class)], 1.0));
        }
    }
    (Pixels { size: s, data }, samples)
}

/// One `s` x `s` plane turned clockwise by `turns` quarter turns.
fn turned(plane: &[f32], s: usize, turns: usize) -> impl Iterator<Item = f32> + '_ {
    (0..s * s).map(move |k| {
        let (y, x) = (k / s, k % s);
        // The pixel that lands at (y, x).
        let (sy, sx) = match turns % 4 {
            0 => (y, x),
            1 => (s - 1 - x, y),
            2 => (s - 1 - y, s - 1 - x),
            _ => (x, s - 1 - y),
        };
        plane[sy * s + sx]
    })
}

/// Up to `max` of `idx`, spread evenly over it.
pub fn spread(idx: &[usize], max: usize) -> Vec<usize> {
    if idx.len() <= max {
        return idx.to_vec();
    }
    (0..max).map(|k| idx[k * idx.len() / max]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_turns_move_pixels_clockwise() {
        // 2x2: a b / c d; clockwise: c a / d b.
        let plane = [1.0, 2.0, 3.0, 4.0];
        let t = |k| turned(&plane, 2, k).collect::<Vec<_>>();
        assert_eq!(t(0), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t(1), vec![3.0, 1.0, 4.0, 2.0]);
        assert_eq!(t(2), vec![4.0, 3.0, 2.0, 1.0]);
        assert_eq!(t(3), vec![2.0, 4.0, 1.0, 3.0]);
        // Four views per image, in turn order, with the sideways class twice.
        let px = Pixels {
            size: 2,
            data: [plane, plane, plane].concat(),
        };
        let (v, samples) = views(&px);
        assert_eq!(v.len(), 4);
        let classes: Vec<usize> = samples.iter().map(|s| s.targets[0].unwrap()).collect();
        assert_eq!(classes, vec![0, 1, 2, 1]);
        assert_eq!(&v.data[12..16], &[3.0, 1.0, 4.0, 2.0]);
        assert_eq!(spread(&[5, 6, 7, 8], 2), vec![5, 7]);
    }
}
