//! Which saved network a round continues from ([`RoundSpec::warm_start`]): the last
//! round's, when it learned from people and never saw the answers this round holds out.

use super::RoundSpec;
use crate::labels::session::RoundInfo;
use crate::labels::Paths;
use std::path::{Path, PathBuf};

/// The network the round continues from, or `None` for fresh weights.
///
/// Continued only when the last round (`last`, from `rounds.json`) fitted its temperatures
/// on a held-out split that contains this round's: the splits nest when this round holds
/// out one label in `every` and the last one in a divisor of it (5, 10, 20...: a label
/// hashed into one in 10 is in one in 5 too), so the network continued never trained
/// on a label this round calibrates on. After a refit that is the split network
/// (`model-split.mpk`), since the refit learned from the held-out answers; without one,
/// `model.mpk`. A round with no split (under 40 people's labels) or with none of
/// people's labels starts fresh: continuing the heuristics' round, whose network learned
/// only from their votes, left the 200-answer round level but cost eye 1.5 points at 500
/// on three draws (BENCHMARKS.md, label, session 33). So does a network with another
/// input (size, colour planes or widths: the record of rounds before it was kept has
/// none), and one trained under another test split (it may have learned images now in
/// the test split).
pub(super) fn warm_source(
    paths: &Paths,
    last: Option<&RoundInfo>,
    spec: &RoundSpec,
    every: u64,
) -> Option<PathBuf> {
    let last = last.filter(|_| spec.warm_start)?;
    let held_out = last.calibration_size.values().any(|&n| n > 0);
    let nested = last.calibration_every > 0 && every.is_multiple_of(last.calibration_every);
    let same_split = last.test_split == spec.exclude_key();
    if last.human == 0 || !held_out || !nested || !same_split || last.input != spec.input_tag() {
        return None;
    }
    let file = match last.refit {
        true => paths.split_model(),
        false => paths.model(),
    };
    file.is_file().then_some(file)
}

/// With cross-fitting, the network fold `fold`'s continues: the last round's network
/// of the fold that holds this one (fold `fold` of one in `every` is within fold `fold %
/// last_every` of the last round's, as the splits nest), when the round's own first
/// network continues `split` (the nesting rule above held). Fold 0's is `split` itself;
/// the others are the last round's cross-fitting networks ([`Paths::fold_model`]), so
/// every fold's network follows the split network's course (continued, then the same
/// steps) instead of starting fresh beside a continued one. `None`: fresh weights.
pub(super) fn fold_source(
    paths: &Paths,
    last: Option<&RoundInfo>,
    split: Option<&Path>,
    fold: u64,
) -> Option<PathBuf> {
    let (split, last) = (split?, last?);
    match fold % last.calibration_every.max(1) {
        0 => Some(split.to_path_buf()),
        j => Some(paths.fold_model(j)).filter(|f| f.is_file()),
    }
}

/// How `rounds.json` names the file a round continued (`model-split.mpk`).
pub(super) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last round of a refitting loop at 200 answers, as `rounds.json` records it.
    fn refit_round(spec: &RoundSpec) -> RoundInfo {
        RoundInfo {
            round: 2,
            human: 400,
            calibration_every: 5,
            calibration_size: [("hair_color".to_owned(), 39)].into(),
            refit: true,
            input: spec.input_tag(),
            ..Default::default()
        }
    }

    /// A dataset folder whose `labels/` holds `model.mpk` (and `model-split.mpk` with
    /// `split`); the rule reads only whether they exist.
    fn folder(split: bool) -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.model().parent().unwrap()).unwrap();
        std::fs::write(paths.model(), b"m").unwrap();
        if split {
            std::fs::write(paths.split_model(), b"s").unwrap();
        }
        (dir, paths)
    }

    #[test]
    fn continues_the_split_network_only_while_the_splits_nest() {
        let (_dir, paths) = folder(false);
        let spec = RoundSpec::default();
        let last = refit_round(&spec);
        // The split network, not the refit that learned from the held-out answers.
        assert_eq!(
            warm_source(&paths, Some(&last), &spec, 10),
            None,
            "no split file"
        );
        std::fs::write(paths.split_model(), b"split").unwrap();
        assert_eq!(
            warm_source(&paths, Some(&last), &spec, 10),
            Some(paths.split_model())
        );
        assert!(warm_source(&paths, Some(&last), &spec, 5).is_some());
        // One in 3 is not within one in 5: the network saw some of those labels.
        assert_eq!(warm_source(&paths, Some(&last), &spec, 3), None);
        // Off, no earlier round, or a fresh one by the setting.
        let off = RoundSpec {
            warm_start: false,
            ..RoundSpec::default()
        };
        assert_eq!(warm_source(&paths, Some(&last), &off, 10), None);
        assert_eq!(warm_source(&paths, None, &spec, 10), None);
        // Without a refit the round's own network never saw its held-out labels.
        let plain = RoundInfo {
            refit: false,
            ..last.clone()
        };
        assert_eq!(
            warm_source(&paths, Some(&plain), &spec, 10),
            Some(paths.model())
        );
        // Under another test split (a larger `--holdout`), the network may have learned
        // images the new split scores: fresh weights. The same split, or unreadable
        // images beside it, continue.
        let split = |exclude: &[usize], unreadable: &[usize]| RoundSpec {
            exclude: exclude.iter().copied().collect(),
            unreadable: unreadable.iter().copied().collect(),
            ..RoundSpec::default()
        };
        let tested = RoundInfo {
            test_split: split(&[1, 2], &[]).exclude_key(),
            ..last.clone()
        };
        assert!(warm_source(&paths, Some(&tested), &split(&[2, 1], &[]), 10).is_some());
        assert!(warm_source(&paths, Some(&tested), &split(&[1, 2, 7], &[7]), 10).is_some());
        assert_eq!(
            warm_source(&paths, Some(&tested), &split(&[1, 2, 3], &[]), 10),
            None
        );
        assert_eq!(
            warm_source(&paths, Some(&last), &split(&[1, 2], &[]), 10),
            None
        );
    }

    #[test]
    fn a_fold_continues_the_last_rounds_network_of_the_fold_that_holds_it() {
        let (_dir, paths) = folder(true);
        let last = refit_round(&RoundSpec::default());
        let split = paths.split_model();
        // Without the last round's fold networks, or when the round itself starts fresh.
        assert_eq!(fold_source(&paths, Some(&last), Some(&split), 2), None);
        std::fs::write(paths.fold_model(2), b"f").unwrap();
        assert_eq!(
            fold_source(&paths, Some(&last), Some(&split), 2),
            Some(paths.fold_model(2))
        );
        assert_eq!(fold_source(&paths, Some(&last), None, 2), None);
        assert_eq!(fold_source(&paths, None, Some(&split), 2), None);
        // One in 10 within the last round's one in 5: fold 7 is within fold 2, and
        // fold 5 within fold 0, the split network's.
        assert_eq!(
            fold_source(&paths, Some(&last), Some(&split), 7),
            Some(paths.fold_model(2))
        );
        assert_eq!(
            fold_source(&paths, Some(&last), Some(&split), 5),
            Some(split.clone())
        );
    }

    #[test]
    fn starts_fresh_after_the_heuristics_round_or_another_input() {
        let (_dir, paths) = folder(true);
        let spec = RoundSpec::default();
        let last = refit_round(&spec);
        let heuristics = RoundInfo {
            human: 0,
            calibration_size: Default::default(),
            refit: false,
            ..last.clone()
        };
        assert_eq!(warm_source(&paths, Some(&heuristics), &spec, 5), None);
        let unsplit = RoundInfo {
            calibration_size: [("hair_color".to_owned(), 0)].into(),
            ..last.clone()
        };
        assert_eq!(warm_source(&paths, Some(&unsplit), &spec, 5), None);
        let lab = RoundSpec {
            colour: crate::labels::session::InputColour::Lab,
            ..RoundSpec::default()
        };
        assert_eq!(warm_source(&paths, Some(&last), &lab, 10), None);
        let old = RoundInfo {
            input: String::new(),
            ..last
        };
        assert_eq!(warm_source(&paths, Some(&old), &spec, 10), None);
    }
}
