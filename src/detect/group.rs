//! OpenCV's `groupRectangles`: cluster raw window hits into objects.
//!
//! Hits are partitioned into equivalence classes of "similar" rectangles (every edge
//! within `eps * (min width + min height) / 2`), each class is averaged, classes with at
//! most `threshold` members are dropped, and so are small classes lying inside a larger,
//! better-supported one. Rounding follows OpenCV (f32 averaging, round half to even).

/// An axis-aligned rectangle in pixels (may extend past the image before clipping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: i32,
    /// Height.
    pub height: i32,
}

fn similar(a: &Rect, b: &Rect, eps: f64) -> bool {
    let delta = eps * f64::from(a.width.min(b.width) + a.height.min(b.height)) * 0.5;
    f64::from((a.x - b.x).abs()) <= delta
        && f64::from((a.y - b.y).abs()) <= delta
        && f64::from((a.x + a.width - b.x - b.width).abs()) <= delta
        && f64::from((a.y + a.height - b.y - b.height).abs()) <= delta
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Groups rectangles like `cv::groupRectangles(rects, weights, threshold, eps)`:
/// returns each kept group's averaged rectangle and its member count. With
/// `threshold <= 0` every input comes back with count 1.
pub fn group_rectangles(rects: &[Rect], threshold: i32, eps: f64) -> Vec<(Rect, i32)> {
    if threshold <= 0 || rects.is_empty() {
        return rects.iter().map(|r| (*r, 1)).collect();
    }
    let n = rects.len();
    let mut parent: Vec<usize> = (0..n).collect();
    for i in 0..n {
        for j in i + 1..n {
            if similar(&rects[i], &rects[j], eps) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[b.max(a)] = a.min(b);
                }
            }
        }
    }
    // Number the classes in order of first appearance.
    let mut class_of_root = vec![usize::MAX; n];
    let mut labels = Vec::with_capacity(n);
    let mut nclasses = 0;
    for i in 0..n {
        let root = find(&mut parent, i);
        if class_of_root[root] == usize::MAX {
            class_of_root[root] = nclasses;
            nclasses += 1;
        }
        labels.push(class_of_root[root]);
    }
    let mut sums = vec![[0i64; 4]; nclasses];
    let mut counts = vec![0i32; nclasses];
    for (r, &c) in rects.iter().zip(&labels) {
        let s = &mut sums[c];
        s[0] += i64::from(r.x);
        s[1] += i64::from(r.y);
        s[2] += i64::from(r.width);
        s[3] += i64::from(r.height);
        counts[c] += 1;
    }
    let avg: Vec<Rect> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &k)| {
            let f = 1.0f32 / k as f32;
            let r = |v: i64| (v as f32 * f).round_ties_even() as i32;
            Rect {
                x: r(s[0]),
                y: r(s[1]),
                width: r(s[2]),
                height: r(s[3]),
            }
        })
        .collect();

    let mut out = Vec::new();
    for i in 0..nclasses {
        let (r1, n1) = (avg[i], counts[i]);
        if n1 <= threshold {
            continue;
        }
        let swallowed = (0..nclasses).any(|j| {
            let n2 = counts[j];
            if j == i || n2 <= threshold {
                return false;
            }
            let r2 = avg[j];
            let dx = (f64::from(r2.width) * eps).round_ties_even() as i32;
            let dy = (f64::from(r2.height) * eps).round_ties_even() as i32;
            r1.x >= r2.x - dx
                && r1.y >= r2.y - dy
                && r1.x + r1.width <= r2.x + r2.width + dx
                && r1.y + r1.height <= r2.y + r2.height + dy
                && (n2 > 3.max(n1) || n1 < 3)
        });
        if !swallowed {
            out.push((r1, n1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: i32, y: i32, w: i32) -> Rect {
        Rect {
            x,
            y,
            width: w,
            height: w,
        }
    }

    #[test]
    fn groups_close_hits_and_drops_lonely_ones() {
        let rects = [r(10, 10, 24), r(11, 10, 24), r(10, 12, 26), r(100, 100, 24)];
        let g = group_rectangles(&rects, 2, 0.2);
        assert_eq!(
            g,
            vec![(
                Rect {
                    x: 10,
                    y: 11,
                    width: 25,
                    height: 25
                },
                3
            )]
        );
    }

    #[test]
    fn small_group_inside_big_one_is_removed() {
        let mut rects = vec![r(0, 0, 100); 6];
        rects.extend([r(40, 40, 20); 3]);
        let g = group_rectangles(&rects, 1, 0.2);
        assert_eq!(g, vec![(r(0, 0, 100), 6)]);
    }

    #[test]
    fn zero_threshold_returns_raw_hits() {
        let rects = [r(1, 2, 3), r(1, 2, 3)];
        assert_eq!(group_rectangles(&rects, 0, 0.2).len(), 2);
    }
}
