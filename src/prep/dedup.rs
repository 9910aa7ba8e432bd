//! Dedup: exact duplicates (same file bytes, or same decoded pixels in another container)
//! and near duplicates (pHash within a Hamming radius, confirmed by dHash, the chroma
//! layout and the aligned luma layout), grouped with union-find; in each group one image
//! is kept by a fixed rule (largest source resolution, then largest file, then path
//! order). Near pairs come from [`super::hamming`]'s multi-index search. Without the luma
//! layout the hashes joined different faces (people photographed under one light, anime
//! drawings aligned by their crop) and chains of them grouped dozens of people under one
//! keeper (BENCHMARKS.md, prep, session 35).

use super::hamming::MultiIndex;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Near-duplicate settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DedupSpec {
    /// Find exact duplicates (default true).
    pub exact: bool,
    /// Find near duplicates (default true).
    pub near: bool,
    /// Largest pHash distance of a near pair (default 10).
    pub phash_max: u32,
    /// Largest dHash distance that confirms a near pair (default 10; 64 turns it off).
    pub dhash_max: u32,
    /// Largest mean chroma-layout difference that confirms a near pair, 0-255 scale
    /// (default 6; 255 turns it off). See [`super::hash::chroma_grid`].
    pub chroma_max: f32,
    /// Least aligned luma-layout correlation that confirms a near pair (default 0.95; 0
    /// turns it off). See [`super::hash::luma_similarity`].
    pub luma_min: f32,
    /// Largest one-cell difference, in standard units, at the alignment that reaches
    /// `luma_min` (default 1.0; infinity turns it off). See
    /// [`super::hash::LumaMatch::spot`].
    #[serde(default = "default_spot_max")]
    pub luma_spot_max: f32,
    /// Also match each image's mirror image (default false).
    pub flip: bool,
}

fn default_spot_max() -> f32 {
    DedupSpec::default().luma_spot_max
}

impl Default for DedupSpec {
    fn default() -> Self {
        DedupSpec {
            exact: true,
            near: true,
            phash_max: 10,
            dhash_max: 10,
            chroma_max: 6.0,
            luma_min: 0.95,
            // Planted copies of 60 images from each of four shared sets stay together
            // (98-99% of their pairs) while no two different people of Yale or ORL merge
            // (1 and 5 pairs at 0.95 alone, centre and detector crops); BENCHMARKS.md,
            // prep, session 36.
            luma_spot_max: 1.0,
            flip: false,
        }
    }
}

/// What dedup needs to know of one candidate image.
///
/// One is held per input until the run ends, so it is kept small (40 bytes). The pixel
/// hash, which groups exact copies, is the low 64 bits of the journal's 128-bit one (two
/// different images of a million share it with odds of about 3e-8). Identical file bytes
/// decode to identical pixels, so the file hash only tells which reason an exact copy
/// gets, and 32 bits of it do. The chroma and luma layouts, read only to confirm a near
/// pair, are looked up when needed; a 32-bit hash of them stands in for equality among
/// items whose pHash and dHash already match. The mirror hashes live apart ([`Mirror`]),
/// held only when flip matching is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupItem {
    /// Hash of the decoded pixels (low 64 bits).
    pub pixel_hash: u64,
    /// pHash of the output image.
    pub phash: u64,
    /// dHash of the output image.
    pub dhash: u64,
    /// Hash of the file's bytes (low 32 bits): among copies with the same pixels, which
    /// are the same file.
    pub file_hash: u32,
    /// Hash of the output image's layouts ([`layout_key`]); the layouts themselves are
    /// passed to [`dedup`] as a lookup.
    pub layout_key: u32,
    /// Source pixels in the crop box (width x height; the whole source without one), for
    /// the keep rule (saturating).
    pub area: u32,
    /// Source file size, for the keep rule (saturating at 4 GiB).
    pub bytes: u32,
}

/// The perceptual hashes of an item's mirror image, for flip-aware matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mirror {
    /// pHash of the mirrored output image.
    pub phash: u64,
    /// dHash of the mirrored output image.
    pub dhash: u64,
}

/// Why an item is a duplicate of its group's kept item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DupKind {
    /// Same file bytes.
    ExactFile,
    /// Same decoded pixels.
    ExactPixels,
    /// Perceptually near.
    Near,
}

impl DupKind {
    /// The manifest's reason text.
    pub fn reason(self) -> &'static str {
        match self {
            DupKind::ExactFile => "exact_file",
            DupKind::ExactPixels => "exact_pixels",
            DupKind::Near => "near",
        }
    }
}

/// The [`DedupItem::layout_key`] of an image's layouts: items whose hashes and layouts
/// are all equal are joined without a lookup.
pub fn layout_key(l: &Layouts) -> u32 {
    let mut bytes = [0u8; 32 + 256];
    bytes[..32].copy_from_slice(&l.chroma);
    bytes[32..].copy_from_slice(&l.luma);
    xxhash_rust::xxh3::xxh3_64(&bytes) as u32
}

/// For each item: `None` if kept, else the index of the kept item and why.
pub type Assignment = Vec<Option<(u32, DupKind)>>;

/// The layouts that confirm a near pair, read from the journal only for items the
/// hashes put near another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layouts {
    /// [`super::hash::chroma_grid`].
    pub chroma: [u8; 32],
    /// [`super::hash::luma_grid`].
    pub luma: [u8; super::hash::LUMA_SIDE * super::hash::LUMA_SIDE],
}

impl Layouts {
    /// All zero: what a failed lookup gives, and layouts that confirm every pair the
    /// hashes put near (one grey level everywhere, no chroma).
    pub const BLANK: Layouts = Layouts {
        chroma: [0; 32],
        luma: [0; super::hash::LUMA_SIDE * super::hash::LUMA_SIDE],
    };
}

/// Whether items `i` and `j` (`i` mirrored when `flipped`) are a near pair by every check.
struct Near<'a, L> {
    items: &'a [DedupItem],
    mirrors: &'a [Mirror],
    layouts: L,
    spec: &'a DedupSpec,
}

impl<L: Fn(usize) -> Layouts> Near<'_, L> {
    /// The hashes' distances within their limits: the check that needs no layout.
    fn hashes(&self, i: usize, j: usize, flipped: bool) -> bool {
        let (p, d) = match flipped {
            true => (self.mirrors[i].phash, self.mirrors[i].dhash),
            false => (self.items[i].phash, self.items[i].dhash),
        };
        use super::hash::distance;
        distance(p, self.items[j].phash) <= self.spec.phash_max
            && distance(d, self.items[j].dhash) <= self.spec.dhash_max
    }

    /// The layouts' checks, given the hashes' passed.
    fn layouts_agree(&self, i: usize, j: usize, flipped: bool) -> bool {
        let (chroma_on, luma_on) = (self.spec.chroma_max < 255.0, self.spec.luma_min > 0.0);
        if !chroma_on && !luma_on {
            return true; // no need to look the layouts up
        }
        let (a, b) = ((self.layouts)(i), (self.layouts)(j));
        // Mirroring leaves the grids' rows alone but swaps their columns.
        let (ca, la) = match flipped {
            true => (mirror_grid(&a.chroma), super::hash::mirror_luma(&a.luma)),
            false => (a.chroma, a.luma),
        };
        (!chroma_on || super::hash::chroma_distance(&ca, &b.chroma) <= self.spec.chroma_max)
            && (!luma_on
                || super::hash::luma_similar(
                    &la,
                    &b.luma,
                    self.spec.luma_min,
                    self.spec.luma_spot_max,
                ))
    }

    fn pair(&self, i: usize, j: usize, flipped: bool) -> bool {
        self.hashes(i, j, flipped) && self.layouts_agree(i, j, flipped)
    }
}

/// Groups `items` (in path order: the index breaks ties) and picks the kept ones.
/// `mirrors` holds one [`Mirror`] per item when `spec.flip` and is not read otherwise;
/// `layouts(k)` is item k's [`Layouts`], asked for only to confirm near pairs (a few per
/// near-duplicate group), so that they need not be held.
pub fn dedup(
    items: &[DedupItem],
    mirrors: &[Mirror],
    layouts: impl Fn(usize) -> Layouts + Sync,
    spec: &DedupSpec,
) -> Assignment {
    let n = items.len();
    assert!(n < u32::MAX as usize, "dedup indexes items with u32");
    let mirrors = if spec.flip {
        assert_eq!(mirrors.len(), n, "flip matching needs one mirror per item");
        mirrors
    } else {
        &[]
    };
    let near = Near {
        items,
        mirrors,
        layouts,
        spec,
    };
    let mut uf = UnionFind::new(n);
    if spec.exact {
        // Same file bytes means same pixels: the pixel hash groups both kinds.
        union_equal(&mut uf, items.iter().map(|i| i.pixel_hash));
    }
    if spec.near {
        // Items with the same perceptual hashes and layouts are at distance 0 from each
        // other: they are joined here and only one of them enters the index, so exact
        // copies cost the near search nothing. The groups are candidates: each member is
        // checked against its keeper below.
        let reps = join_identical(&mut uf, items, mirrors);
        let hashes: Vec<u64> = reps.iter().map(|&i| items[i].phash).collect();
        let index = MultiIndex::new(&hashes, spec.phash_max);
        let confirm = |a: usize, b: usize, flipped: bool| near.pair(reps[a], reps[b], flipped);
        let mut pairs = index.pairs(|a, b| confirm(a, b, false));
        if spec.flip {
            let flips: Vec<u64> = reps.iter().map(|&i| mirrors[i].phash).collect();
            pairs.extend(index.query_all(&flips, |a, b| a != b && confirm(a, b, true)));
        }
        for (a, b) in pairs {
            uf.union(reps[a] as u32, reps[b] as u32);
        }
    }
    // Near pairs chain (A~B, B~C with A and C far apart: a slow pan, a series of re-crops),
    // so a connected group is split greedily: its best item keeps every member that is
    // an exact copy of it or passes the near checks against it, and the rest are grouped
    // again among themselves (czkawka and imagededup likewise report duplicates of one
    // reference image). The best: largest area, then largest file, then first in path
    // order.
    let mut groups: HashMap<u32, Vec<u32>> = HashMap::new();
    for i in 0..n as u32 {
        groups.entry(uf.find(i)).or_default().push(i);
    }
    let mut assigned: Vec<Option<(u32, DupKind)>> = vec![None; n];
    for (_, mut members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        let rank = |&i: &u32| {
            let it = &items[i as usize];
            (std::cmp::Reverse((it.area, it.bytes)), i)
        };
        members.sort_unstable_by_key(rank);
        while let Some((&keep, rest)) = members.split_first() {
            let b = &items[keep as usize];
            let mut left = Vec::new();
            for &i in rest {
                let a = &items[i as usize];
                let same = a.pixel_hash == b.pixel_hash;
                let (x, k) = (i as usize, keep as usize);
                let joins = (spec.exact && same)
                    || (spec.near
                        && (near.pair(x, k, false) || (spec.flip && near.pair(x, k, true))));
                if !joins {
                    left.push(i);
                    continue;
                }
                assigned[x] = Some((
                    keep,
                    match () {
                        _ if same && a.file_hash == b.file_hash => DupKind::ExactFile,
                        _ if same => DupKind::ExactPixels,
                        _ => DupKind::Near,
                    },
                ));
            }
            members = left;
        }
    }
    assigned
}

fn mirror_grid(g: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for row in 0..4 {
        for col in 0..4 {
            let (src, dst) = (2 * (row * 4 + col), 2 * (row * 4 + 3 - col));
            out[dst] = g[src];
            out[dst + 1] = g[src + 1];
        }
    }
    out
}

/// Joins items whose perceptual hashes (pHash, dHash, their mirrors when given, chroma
/// and luma layouts) are all equal; returns one representative per distinct value, in index order.
fn join_identical(uf: &mut UnionFind, items: &[DedupItem], mirrors: &[Mirror]) -> Vec<usize> {
    let key = |i: u32| {
        let it = &items[i as usize];
        let m = mirrors.get(i as usize).copied().unwrap_or_default();
        (it.phash, it.dhash, m.phash, m.dhash, it.layout_key)
    };
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.par_sort_unstable_by_key(|&i| (key(i), i));
    let mut reps = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        match k.checked_sub(1).map(|p| order[p]) {
            Some(prev) if key(prev) == key(i) => uf.union(prev, i),
            _ => reps.push(i as usize),
        }
    }
    reps.sort_unstable();
    reps
}

fn union_equal(uf: &mut UnionFind, keys: impl Iterator<Item = u64>) {
    let mut first: HashMap<u64, u32> = HashMap::new();
    for (i, k) in (0u32..).zip(keys) {
        let f = *first.entry(k).or_insert(i);
        if f != i {
            uf.union(f, i);
        }
    }
}

/// Disjoint sets with path halving and union by size; indices are `u32` (8 bytes per
/// element instead of 16).
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    /// The representative of `x`'s set.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            self.parent[x as usize] = self.parent[self.parent[x as usize] as usize];
            x = self.parent[x as usize];
        }
        x
    }

    /// Joins the sets of `a` and `b`.
    pub fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// One file's item with these hashes: the fields a test does not set.
    fn item(phash: u64, dhash: u64) -> DedupItem {
        DedupItem {
            file_hash: 1,
            pixel_hash: 1,
            phash,
            dhash,
            layout_key: 0,
            area: 1,
            bytes: 1,
        }
    }

    /// The luma layouts split a group whose hashes agree: different faces that only the
    /// coarse hashes call near.
    #[test]
    fn the_luma_layout_confirms_near_pairs() {
        let base = DedupItem {
            area: 10,
            ..item(0x1234, 0x99)
        };
        let stripes: [u8; 256] = std::array::from_fn(|k| if k % 2 == 0 { 200 } else { 20 });
        let rings: [u8; 256] = std::array::from_fn(|k| if (k / 16) % 2 == 0 { 200 } else { 20 });
        let grids = [stripes, rings];
        let layouts = |k: usize| Layouts {
            luma: grids[k],
            ..Layouts::BLANK
        };
        let items = [
            DedupItem {
                layout_key: layout_key(&layouts(0)),
                ..base
            },
            DedupItem {
                file_hash: 2,
                pixel_hash: 2,
                layout_key: layout_key(&layouts(1)),
                ..base
            },
        ];
        assert_eq!(
            dedup(&items, &[], layouts, &DedupSpec::default()),
            vec![None, None]
        );
        let off = DedupSpec {
            luma_min: 0.0,
            ..DedupSpec::default()
        };
        assert_eq!(
            dedup(&items, &[], layouts, &off),
            vec![None, Some((0, DupKind::Near))]
        );
    }

    #[test]
    fn keep_rule_prefers_resolution_then_size_then_order() {
        let base = DedupItem {
            area: 100,
            bytes: 10,
            ..item(0, 0)
        };
        let items = [
            base,
            DedupItem {
                file_hash: 2,
                pixel_hash: 2,
                phash: 1,
                area: 400,
                ..base
            },
            DedupItem {
                file_hash: 3,
                pixel_hash: 3,
                phash: 3,
                area: 400,
                bytes: 20,
                ..base
            },
            DedupItem {
                file_hash: 1,
                ..base
            },
            DedupItem {
                file_hash: 9,
                pixel_hash: 9,
                phash: u64::MAX,
                dhash: u64::MAX,
                ..base
            },
        ];
        let a = dedup(&items, &[], |_| Layouts::BLANK, &DedupSpec::default());
        assert_eq!(a[2], None);
        assert_eq!(a[0], Some((2, DupKind::Near)));
        assert_eq!(a[1], Some((2, DupKind::Near)));
        assert_eq!(a[3], Some((2, DupKind::Near)));
        assert_eq!(a[4], None);
        let exact_only = dedup(
            &items,
            &[],
            |_| Layouts::BLANK,
            &DedupSpec {
                near: false,
                ..Default::default()
            },
        );
        assert_eq!(exact_only[3], Some((0, DupKind::ExactFile)));
        assert_eq!(exact_only[1], None);
    }

    /// Regression: near pairs joined transitively, so in a chain A~B~C (A and C 16 bits
    /// apart, over the limit of 10) C was dropped as a near duplicate of A.
    #[test]
    fn a_chain_of_near_pairs_is_split_at_its_keeper() {
        let base = DedupItem {
            area: 300,
            ..item(0, 0)
        };
        let items = [
            base,
            DedupItem {
                file_hash: 2,
                pixel_hash: 2,
                phash: 0xFF,
                area: 200,
                ..base
            },
            DedupItem {
                file_hash: 3,
                pixel_hash: 3,
                phash: 0xFFFF,
                area: 100,
                ..base
            },
            DedupItem {
                file_hash: 4,
                pixel_hash: 3,
                phash: 0xFFFF,
                area: 100,
                ..base
            },
        ];
        let a = dedup(&items, &[], |_| Layouts::BLANK, &DedupSpec::default());
        assert_eq!(a[0], None);
        assert_eq!(a[1], Some((0, DupKind::Near)));
        assert_eq!(a[2], None, "16 bits from the keeper: not its duplicate");
        assert_eq!(a[3], Some((2, DupKind::ExactPixels)), "{a:?}");
    }

    #[test]
    fn flip_matching_is_optional() {
        let base = item(0xF0F0, 0xAA);
        let mirrored = DedupItem {
            file_hash: 2,
            pixel_hash: 2,
            phash: 0x0F0F_0000_0000,
            dhash: 0x55,
            ..base
        };
        let items = [base, mirrored];
        let mirrors = [
            Mirror {
                phash: 0x0F0F_0000_0000,
                dhash: 0x55,
            },
            Mirror {
                phash: 0xF0F0,
                dhash: 0xAA,
            },
        ];
        let no_chroma = |_| Layouts::BLANK;
        let plain = dedup(&items, &mirrors, no_chroma, &DedupSpec::default());
        assert_eq!(plain, vec![None, None]);
        let a = dedup(
            &items,
            &mirrors,
            no_chroma,
            &DedupSpec {
                flip: true,
                ..Default::default()
            },
        );
        assert_eq!(a, vec![None, Some((0, DupKind::Near))]);
    }

    /// Same grey structure, other colours (a recoloured copy): the chroma lookup keeps them
    /// apart; a slight colour shift still groups.
    #[test]
    fn chroma_lookup_separates_recoloured_copies() {
        let base = item(0xABCD, 0x1234);
        let layouts = [[100u8; 32], [140u8; 32], [102u8; 32]];
        let items: Vec<DedupItem> = (0..3)
            .map(|k| DedupItem {
                file_hash: k as u32 + 1,
                pixel_hash: k + 1,
                layout_key: layout_key(&Layouts {
                    chroma: layouts[k as usize],
                    ..Layouts::BLANK
                }),
                ..base
            })
            .collect();
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let a = dedup(
            &items,
            &[],
            |k| {
                asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Layouts {
                    chroma: layouts[k],
                    ..Layouts::BLANK
                }
            },
            &DedupSpec::default(),
        );
        assert_eq!(a, vec![None, None, Some((0, DupKind::Near))]);
        assert!(asked.into_inner() > 0);
    }

    /// Joining identical hashes before the search gives the groups that a brute-force
    /// comparison of every pair gives, exact copies and their near neighbours included.
    #[test]
    fn identical_copies_group_like_brute_force() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut items: Vec<DedupItem> = Vec::new();
        let mut chroma: Vec<[u8; 32]> = Vec::new();
        for k in 0..80u64 {
            let phash: u64 = rng.random();
            let base = DedupItem {
                file_hash: k as u32 * 100,
                pixel_hash: k * 100,
                phash,
                dhash: phash.rotate_left(7),
                layout_key: layout_key(&Layouts {
                    chroma: [(k % 7) as u8 * 30; 32],
                    ..Layouts::BLANK
                }),
                area: 100,
                bytes: 10,
            };
            for c in 0..rng.random_range(1..5u64) {
                // Copies: same perceptual hashes, another file; some moved a few bits.
                let mut it = DedupItem {
                    file_hash: (k * 100 + c) as u32,
                    ..base
                };
                if rng.random_range(0..3) == 0 {
                    it.phash ^= 1 << rng.random_range(0..64);
                    it.dhash ^= 3 << rng.random_range(0..60);
                }
                items.push(it);
                chroma.push([(k % 7) as u8 * 30; 32]);
            }
        }
        let spec = DedupSpec::default();
        let mut uf = UnionFind::new(items.len());
        for i in 0..items.len() {
            for j in i + 1..items.len() {
                let (a, b) = (&items[i], &items[j]);
                if a.pixel_hash == b.pixel_hash
                    || super::super::hash::distance(a.phash, b.phash) <= spec.phash_max
                        && super::super::hash::distance(a.dhash, b.dhash) <= spec.dhash_max
                        && super::super::hash::chroma_distance(&chroma[i], &chroma[j])
                            <= spec.chroma_max
                {
                    uf.union(i as u32, j as u32);
                }
            }
        }
        let layouts = |k: usize| Layouts {
            chroma: chroma[k],
            ..Layouts::BLANK
        };
        let got = dedup(&items, &[], layouts, &spec);
        let group = |i: usize| got[i].map_or(i, |(k, _)| k as usize);
        for i in 0..items.len() {
            for j in i + 1..items.len() {
                let same = uf.find(i as u32) == uf.find(j as u32);
                assert_eq!(same, group(i) == group(j), "{i} {j}");
            }
        }
        assert!(got.iter().filter(|a| a.is_some()).count() > 80);
    }
}
