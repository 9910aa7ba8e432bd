//! Near pairs in Hamming space: every pair of 64-bit hashes within a radius, for
//! dedup's perceptual hashes. They come from multi-index hashing (Norouzi, Punjani &
//! Fleet, "Fast search in Hamming space with multi-index hashing", CVPR 2012): the 64
//! bits are split into m chunks; two hashes within distance t agree to within floor(t/m) bits on at least one
//! chunk (pigeonhole), so each chunk's table is probed only for keys that near. With
//! m ~ 64/log2(n) the tables stay sparse. Each chunk is probed to at most
//! [`MAX_PROBE_FLIPS`] bits, which keeps the work per image constant as n grows (the
//! grouping grows about linearly); the search is exact up to radius
//! `m * (MAX_PROBE_FLIPS + 1) - 1` (14 below ~20k images, 11 below ~500k, 8 beyond),
//! and past that finds a pair unless its differing bits spread evenly over every chunk.

use rayon::prelude::*;

/// A multi-index hash table over 64-bit hashes for radius-`t` search.
pub struct MultiIndex<'a> {
    hashes: &'a [u64],
    radius: u32,
    chunks: Vec<Chunk>,
}

/// One chunk's table: ids sorted by chunk value, with dense offsets (counting sort).
struct Chunk {
    shift: u32,
    bits: u32,
    offsets: Vec<u32>,
    /// (id, full hash) sorted by chunk value: the hash sits beside the id so checking a
    /// candidate costs no second random memory access.
    ids: Vec<(u32, u64)>,
}

/// Most bits flipped when probing one chunk's table (see the module docs).
pub const MAX_PROBE_FLIPS: u32 = 2;

impl Chunk {
    fn key(&self, h: u64) -> u32 {
        ((h >> self.shift) & ((1u64 << self.bits) - 1)) as u32
    }

    fn bucket(&self, key: u32) -> &[(u32, u64)] {
        let k = key as usize;
        &self.ids[self.offsets[k] as usize..self.offsets[k + 1] as usize]
    }
}

impl<'a> MultiIndex<'a> {
    /// Builds the index. The chunk count is about 64 / log2(n) (at most `radius` + 1 and
    /// at least 2), keeping chunks of at most 24 bits so tables stay dense arrays.
    pub fn new(hashes: &'a [u64], radius: u32) -> Self {
        let n = hashes.len().max(2) as f64;
        let ideal = (64.0 / n.log2().max(1.0)).round() as u32;
        let m = ideal.clamp(3, 12).min(radius + 1).max(3);
        let mut chunks = Vec::with_capacity(m as usize);
        let mut shift = 0;
        for c in 0..m {
            let bits = 64 / m + u32::from(c < 64 % m);
            let mut counts = vec![0u32; (1usize << bits) + 1];
            let key = |h: u64| ((h >> shift) & ((1u64 << bits) - 1)) as usize;
            for &h in hashes {
                counts[key(h) + 1] += 1;
            }
            for i in 1..counts.len() {
                counts[i] += counts[i - 1];
            }
            let mut fill = counts.clone();
            let mut ids = vec![(0u32, 0u64); hashes.len()];
            for (i, &h) in hashes.iter().enumerate() {
                let k = key(h);
                ids[fill[k] as usize] = (i as u32, h);
                fill[k] += 1;
            }
            chunks.push(Chunk {
                shift,
                bits,
                offsets: counts,
                ids,
            });
            shift += bits;
        }
        MultiIndex {
            hashes,
            radius,
            chunks,
        }
    }

    /// Every pair `i < j` within the radius for which `accept(i, j)` holds.
    pub fn pairs(&self, accept: impl Fn(usize, usize) -> bool + Sync) -> Vec<(usize, usize)> {
        self.query_all(self.hashes, accept)
    }

    /// For each query `i`, every indexed `j` within the radius with `accept(i, j)`: by
    /// comparing all pairs when there are few, else by `MultiIndex::probe`.
    pub fn query_all(
        &self,
        queries: &[u64],
        accept: impl Fn(usize, usize) -> bool + Sync,
    ) -> Vec<(usize, usize)> {
        // A few thousand hashes: comparing every pair is exact and quicker than probing
        // (7,910 hashes: 31M comparisons, 7-9 ms on 2 threads with [`scanner`]; the
        // probes took 30 ms).
        if queries.len() * self.hashes.len() <= BRUTE_FORCE_PAIRS {
            let own = std::ptr::eq(queries, self.hashes);
            return brute_force(queries, self.hashes, own, self.radius)
                .into_par_iter()
                .filter(|&(i, j)| accept(i, j))
                .collect();
        }
        self.probe(queries, accept)
    }

    /// Probes every chunk's table for every query. Queries are visited in the order of the
    /// probed chunk's key, so consecutive queries probe neighbouring table entries: each
    /// of the few hundred flip patterns then walks its table almost sequentially instead
    /// of missing the cache on every probe (at 1M hashes the tables are ~10 MB each), which
    /// keeps the time per hash flat as n grows. Pairs found through several chunks are
    /// merged by one sort at the end.
    fn probe(
        &self,
        queries: &[u64],
        accept: impl Fn(usize, usize) -> bool + Sync,
    ) -> Vec<(usize, usize)> {
        let own = std::ptr::eq(queries, self.hashes);
        let m = self.chunks.len() as u32;
        let r = (self.radius / m).min(MAX_PROBE_FLIPS);
        const BLOCK: usize = 4096;
        let mut found: Vec<(u32, u32)> = Vec::new();
        for chunk in &self.chunks {
            // The indexed hashes are already sorted by this chunk's key; foreign queries
            // (mirrored hashes) are sorted here.
            let foreign: Vec<(u32, u64)>;
            let sorted: &[(u32, u64)] = if own {
                &chunk.ids
            } else {
                let mut v: Vec<(u32, u64)> = queries
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| (i as u32, q))
                    .collect();
                v.par_sort_unstable_by_key(|&(_, q)| chunk.key(q));
                foreign = v;
                &foreign
            };
            let part: Vec<(u32, u32)> = sorted
                .par_chunks(BLOCK)
                .flat_map_iter(|qs| {
                    let mut out = Vec::new();
                    let mut keys = Vec::new();
                    for &(i, q) in qs {
                        keys.clear();
                        flips_within(chunk.key(q), chunk.bits, r, &mut keys);
                        for &key in &keys {
                            for &(j, h) in chunk.bucket(key) {
                                if (!own || j > i) && super::hash::distance(q, h) <= self.radius {
                                    out.push((i, j));
                                }
                            }
                        }
                    }
                    out
                })
                .collect();
            found.extend(part);
        }
        found.par_sort_unstable();
        found.dedup();
        found
            .into_par_iter()
            .filter(|&(i, j)| accept(i as usize, j as usize))
            .map(|(i, j)| (i as usize, j as usize))
            .collect()
    }
}

/// Up to this many query-hash comparisons, [`MultiIndex`] compares every pair.
const BRUTE_FORCE_PAIRS: usize = 1 << 26;

/// Every pair (query `i`, hash `j`) within `radius` (for `own`, the queries are the
/// hashes and only `j > i` counts), in order.
fn brute_force(queries: &[u64], hashes: &[u64], own: bool, radius: u32) -> Vec<(usize, usize)> {
    /// Queries per parallel task: enough to amortize rayon's split, few enough that two
    /// threads share the triangle's uneven rows.
    const QUERIES: usize = 64;
    let scan = scanner();
    queries
        .par_chunks(QUERIES)
        .enumerate()
        .flat_map_iter(|(b, qs)| {
            let mut out = Vec::new();
            for (k, &q) in qs.iter().enumerate() {
                let i = b * QUERIES + k;
                let from = if own { i + 1 } else { 0 };
                scan(i, q, hashes, from, radius, &mut out);
            }
            out
        })
        .collect()
}

/// Appends `(i, k)` for every `k >= from` with `hashes[k]` within `radius` of `q`.
type Scan = fn(usize, u64, &[u64], usize, u32, &mut Vec<(usize, usize)>);

/// The widest [`scan_rows`] this CPU runs: AVX-512 with a vector popcount (8 distances
/// per instruction), AVX2 (the compiler's byte-table popcount), or plain x86-64, whose
/// baseline has no popcount instruction at all.
fn scanner() -> Scan {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
        fn avx512(i: usize, q: u64, h: &[u64], from: usize, r: u32, out: &mut Vec<(usize, usize)>) {
            scan_rows(i, q, h, from, r, out)
        }
        #[target_feature(enable = "avx2,popcnt")]
        fn avx2(i: usize, q: u64, h: &[u64], from: usize, r: u32, out: &mut Vec<(usize, usize)>) {
            scan_rows(i, q, h, from, r, out)
        }
        // `popcnt` is not implied by the AVX-512 flags: a VM may hide it.
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vpopcntdq")
            && is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has the features (checked just above).
            return |i, q, h, from, r, out| unsafe { avx512(i, q, h, from, r, out) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt") {
            // SAFETY: as above.
            return |i, q, h, from, r, out| unsafe { avx2(i, q, h, from, r, out) };
        }
    }
    scan_rows
}

/// [`Scan`] in chunks: near pairs are rare (1,039 among the 31M pairs of 7,910 prepared
/// anime faces), so each chunk of 32 distances is first tested as a whole by a branch-free
/// loop the compiler vectorizes, and only a chunk with a hit is walked again. About 10x
/// faster than testing each pair behind a branch.
#[inline(always)]
fn scan_rows(
    i: usize,
    q: u64,
    hashes: &[u64],
    from: usize,
    radius: u32,
    out: &mut Vec<(usize, usize)>,
) {
    const CHUNK: usize = 32;
    let tail = hashes.get(from..).unwrap_or(&[]);
    let chunks = tail.chunks_exact(CHUNK);
    let rest = chunks.remainder();
    let mut base = from;
    let walk = |base: usize, c: &[u64], out: &mut Vec<(usize, usize)>| {
        for (k, &h) in c.iter().enumerate() {
            if (q ^ h).count_ones() <= radius {
                out.push((i, base + k));
            }
        }
    };
    for c in chunks {
        let hits = c
            .iter()
            .fold(0u32, |n, &h| n + u32::from((q ^ h).count_ones() <= radius));
        if hits > 0 {
            walk(base, c, out);
        }
        base += CHUNK;
    }
    walk(base, rest, out);
}

/// Every `bits`-bit value within Hamming distance `r` of `key`.
fn flips_within(key: u32, bits: u32, r: u32, out: &mut Vec<u32>) {
    fn rec(v: u32, from: u32, bits: u32, left: u32, out: &mut Vec<u32>) {
        out.push(v);
        if left == 0 {
            return;
        }
        for b in from..bits {
            rec(v ^ (1 << b), b + 1, bits, left - 1, out);
        }
    }
    rec(key, 0, bits, r, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn brute_pairs(h: &[u64], t: u32) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for i in 0..h.len() {
            for j in i + 1..h.len() {
                if super::super::hash::distance(h[i], h[j]) <= t {
                    v.push((i, j));
                }
            }
        }
        v
    }

    #[test]
    fn every_pair_scanner_matches_the_plain_comparison() {
        let mut rng = StdRng::seed_from_u64(5);
        // 1,000 + a few: the chunked scan's remainder is not empty; near copies put hits
        // in some chunks and not others, and at the chunk edges.
        let mut h: Vec<u64> = (0..1003).map(|_| rng.random()).collect();
        for k in (0..1003).step_by(31) {
            h[(k + 1) % 1003] = h[k] ^ (1 << rng.random_range(0..64));
        }
        let mut want = Vec::new();
        let mut plain = Vec::new();
        let mut fast = Vec::new();
        let scan = scanner();
        for radius in [0, 1, 3, 20] {
            for (i, &q) in h.iter().enumerate().step_by(7) {
                for from in [0, i + 1] {
                    want.clear();
                    want.extend(
                        (from..h.len())
                            .filter(|&k| (q ^ h[k]).count_ones() <= radius)
                            .map(|k| (i, k)),
                    );
                    plain.clear();
                    scan_rows(i, q, &h, from, radius, &mut plain);
                    fast.clear();
                    scan(i, q, &h, from, radius, &mut fast);
                    assert_eq!(plain, want, "query {i} from {from}, radius {radius}");
                    assert_eq!(fast, want, "query {i} from {from}, radius {radius}");
                }
            }
        }
    }

    #[test]
    fn multi_index_finds_exactly_the_brute_force_pairs() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut h: Vec<u64> = (0..3000).map(|_| rng.random()).collect();
        // Plant near copies at distances 0..=12.
        for k in 0..400 {
            let src = h[k];
            let mut c = src;
            for _ in 0..rng.random_range(0..=12) {
                c ^= 1 << rng.random_range(0..64);
            }
            h.push(c);
        }
        // 3400 hashes: 5 chunks probed to 2 flips, exact up to radius 14.
        for t in [4, 8, 10, 12] {
            let idx = MultiIndex::new(&h, t);
            // The probing path (used from ~8,000 hashes up) and the all-pairs one (below).
            let mut probed = idx.probe(idx.hashes, |_, _| true);
            probed.sort();
            assert_eq!(probed, brute_pairs(&h, t), "radius {t}, probing");
            let mut got = idx.pairs(|_, _| true);
            got.sort();
            assert_eq!(got, brute_pairs(&h, t), "radius {t}");
            let q = &h[..50];
            let mut foreign = idx.query_all(q, |_, _| true);
            foreign.sort();
            let mut probed = idx.probe(q, |_, _| true);
            probed.sort();
            assert_eq!(foreign, probed, "radius {t}, foreign queries");
        }
    }
}
