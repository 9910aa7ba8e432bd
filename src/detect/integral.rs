//! Integral images as `cv::integral` makes them: `(w + 1) x (h + 1)`, first row and
//! column zero, row-major with stride `w + 1`.
//!
//! Sums are 32-bit and wrap like OpenCV's `CV_32S` buffers: a window's value is a
//! difference of four corners, which wrapping arithmetic gets exactly right as long as
//! the window's own sum fits (it always does for cascade windows).

/// Plain sums: `s[y][x]` = sum of `img[0..y][0..x]`.
pub fn integral(img: &[u8], w: usize, h: usize) -> Vec<i32> {
    integral_strided(img, w, h, w + 1)
}

/// [`integral`] with rows `stride >= w + 1` apart (the tail of each row is unused).
pub(crate) fn integral_strided(img: &[u8], w: usize, h: usize, stride: usize) -> Vec<i32> {
    let mut s = vec![0i32; stride * (h + 1)];
    for y in 0..h {
        let row = &img[y * w..(y + 1) * w];
        let (prev, cur) = s[y * stride..(y + 2) * stride].split_at_mut(stride);
        let mut acc = 0i32;
        for x in 0..w {
            acc = acc.wrapping_add(i32::from(row[x]));
            cur[x + 1] = prev[x + 1].wrapping_add(acc);
        }
    }
    s
}

/// Sums of squares, 32-bit wrapping (OpenCV 4 keeps `sqsum` as `CV_32S` for cascades).
pub fn squared_integral(img: &[u8], w: usize, h: usize) -> Vec<u32> {
    squared_integral_strided(img, w, h, w + 1)
}

/// [`squared_integral`] with rows `stride >= w + 1` apart.
pub(crate) fn squared_integral_strided(img: &[u8], w: usize, h: usize, stride: usize) -> Vec<u32> {
    let mut s = vec![0u32; stride * (h + 1)];
    for y in 0..h {
        let row = &img[y * w..(y + 1) * w];
        let (prev, cur) = s[y * stride..(y + 2) * stride].split_at_mut(stride);
        let mut acc = 0u32;
        for x in 0..w {
            let v = u32::from(row[x]);
            acc = acc.wrapping_add(v * v);
            cur[x + 1] = prev[x + 1].wrapping_add(acc);
        }
    }
    s
}

/// The 45°-rotated integral: `t[Y][X]` = sum of `img[y][x]` over `y < Y` and
/// `|x - X + 1| <= Y - y - 1` (OpenCV's `tilted` output of `cv::integral`).
///
/// Computed with the recurrence `T(X,Y) = T(X-1,Y-1) + T(X+1,Y-1) - T(X,Y-2) +
/// I(X-1,Y-1) + I(X-1,Y-2)` on rows padded by `h + 1` columns each side, where the
/// cone values are exactly zero, so no border case is needed.
pub fn tilted_integral(img: &[u8], w: usize, h: usize) -> Vec<i32> {
    tilted_integral_strided(img, w, h, w + 1)
}

/// [`tilted_integral`] with rows `stride >= w + 1` apart.
pub(crate) fn tilted_integral_strided(img: &[u8], w: usize, h: usize, stride: usize) -> Vec<i32> {
    let pad = h + 1;
    let pw = w + 1 + 2 * pad;
    let mut out = vec![0i32; stride * (h + 1)];
    // Rolling padded rows Y-2, Y-1, Y.
    let mut rows = [vec![0i32; pw], vec![0i32; pw], vec![0i32; pw]];
    let px = |i: usize, y: usize| -> i32 {
        // Pixel at padded column i (X = i - pad, pixel x = X - 1), image row y.
        let x = i as isize - pad as isize - 1;
        if x >= 0 && (x as usize) < w {
            i32::from(img[y * w + x as usize])
        } else {
            0
        }
    };
    for y in 1..=h {
        let (cur_i, m1, m2) = (y % 3, (y + 2) % 3, (y + 1) % 3);
        let mut cur = std::mem::take(&mut rows[cur_i]);
        {
            let (r1, r2) = (&rows[m1], &rows[m2]);
            for i in 0..pw {
                let left = if i > 0 { r1[i - 1] } else { 0 };
                let right = if i + 1 < pw { r1[i + 1] } else { 0 };
                let above2 = if y >= 2 { r2[i] } else { 0 };
                let mut v = left.wrapping_add(right).wrapping_sub(above2);
                v = v.wrapping_add(px(i, y - 1));
                if y >= 2 {
                    v = v.wrapping_add(px(i, y - 2));
                }
                cur[i] = v;
            }
        }
        out[y * stride..y * stride + w + 1].copy_from_slice(&cur[pad..pad + w + 1]);
        rows[cur_i] = cur;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..w * h)
            .map(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (s >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn tilted_matches_definition() {
        for (w, h) in [(1, 1), (5, 3), (3, 7), (9, 9), (12, 4)] {
            let img = image(w, h, (w * 31 + h) as u32);
            let t = tilted_integral(&img, w, h);
            for yy in 0..=h {
                for xx in 0..=w {
                    let mut want = 0i32;
                    for y in 0..yy {
                        for x in 0..w {
                            if (x as i64 - xx as i64 + 1).abs() <= (yy - y - 1) as i64 {
                                want += i32::from(img[y * w + x]);
                            }
                        }
                    }
                    assert_eq!(t[yy * (w + 1) + xx], want, "{w}x{h} at ({xx},{yy})");
                }
            }
        }
    }

    #[test]
    fn squares_match_definition() {
        let (w, h) = (7, 5);
        let img = image(w, h, 3);
        let s = squared_integral(&img, w, h);
        let want: u32 = img.iter().map(|&v| u32::from(v) * u32::from(v)).sum();
        assert_eq!(s[h * (w + 1) + w], want);
    }
}
