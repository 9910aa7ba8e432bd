//! Which images a person is asked about next: a random warm-up, then the strategy's
//! most uncertain, spread over the embedding.

use super::RoundSpec;
use crate::labels::active::{self, Strategy};
use crate::labels::index::DatasetIndex;
use crate::labels::session::RoundInfo;
use crate::labels::store::{LabelStore, Source};
use crate::labels::{Paths, Schema};
use std::collections::HashSet;

/// Where one question of one image stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A person's label.
    Answered,
    /// Skipped by a person: not asked again.
    Skipped,
    /// Neither.
    Open,
}

/// The candidates (images `keep` allows with a question still open), each scored by the
/// strategy's uncertainty over its open questions alone (an answered or skipped one is
/// not asked, so its uncertainty chose queries that asked something else), and the
/// diversity's centres: images with no open question and some answer (requiring every
/// question answered, a person who skips eye colour, or a truth file of hair alone,
/// left k-center greedy with no centre at all).
fn pool(
    state: &[Vec<Slot>],
    probs: &[Vec<Vec<f32>>],
    spec: &RoundSpec,
    keep: impl Fn(usize) -> bool,
) -> (Vec<(usize, f32)>, Vec<usize>) {
    let mut candidates = Vec::new();
    let mut centres = Vec::new();
    for (i, slots) in state.iter().enumerate() {
        if !slots.contains(&Slot::Open) {
            if slots.contains(&Slot::Answered) {
                centres.push(i);
            }
            continue;
        }
        if !keep(i) {
            continue;
        }
        let open = (0..probs.len()).filter(|&a| slots[a] == Slot::Open);
        let u = spec
            .combine
            .apply(open.map(|a| active::uncertainty(&probs[a][i], spec.strategy)));
        candidates.push((i, u));
    }
    (candidates, centres)
}

/// The images to ask a person about next: those with an attribute no person has
/// labeled, drawn at random during the warm-up, then the most uncertain spread out over
/// `emb` (the strategy needs a trained network: random without one).
#[allow(clippy::too_many_arguments)]
pub(super) fn choose_queries(
    paths: &Paths,
    schema: &Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    probs: &[Vec<Vec<f32>>],
    emb: Option<&[Vec<f32>]>,
    spec: &RoundSpec,
    round_no: u32,
    info: &mut RoundInfo,
) -> Result<Vec<usize>, crate::labels::LabelError> {
    // Per image and attribute: answered by a person, skipped ("cannot tell", kept in
    // skipped.csv, as Prodigy keeps its ignores), or still open.
    let skipped = crate::labels::queue::read_skipped(paths)?;
    let state: Vec<Vec<Slot>> = (0..index.len())
        .map(|i| {
            let file = &index.images[i];
            schema
                .attributes
                .iter()
                .map(|a| {
                    let human = store
                        .get(file, &a.name)
                        .is_some_and(|l| l.source == Source::Human);
                    match (human, skipped.contains(&(file.clone(), a.name.clone()))) {
                        (true, _) => Slot::Answered,
                        (false, true) => Slot::Skipped,
                        (false, false) => Slot::Open,
                    }
                })
                .collect()
        })
        .collect();
    // The warm-up counts images with any answer: counting only wholly answered ones, a
    // person who skips eye colour (or a truth file of hair alone) never ended it, and
    // every round was random whatever the strategy.
    let answered = state.iter().filter(|s| s.contains(&Slot::Answered)).count();
    let keep = |i: usize| {
        !spec.exclude.contains(&i) && spec.askable.as_ref().is_none_or(|a| a.contains(&i))
    };
    let (candidates, labeled) = pool(&state, probs, spec, keep);
    let strategy = if emb.is_none() {
        Strategy::Random
    } else {
        spec.strategy
    };
    let seed = spec.train.seed ^ round_no as u64;
    // Warm-up: the first `warmup` people's labels are a random sample. Drawn from the same
    // shuffle as the random strategy's, so a warm-up round queues what `random` would.
    let warm = if strategy == Strategy::Random {
        spec.queue
    } else {
        spec.warmup.saturating_sub(answered).min(spec.queue)
    };
    let mut queued = if warm > 0 {
        active::select(
            &candidates,
            None,
            &labeled,
            warm,
            Strategy::Random,
            spec.diversity,
            seed,
        )
    } else {
        Vec::new()
    };
    info.queued_random = queued.len();
    if queued.len() < spec.queue {
        let taken: HashSet<usize> = queued.iter().copied().collect();
        let rest: Vec<(usize, f32)> = candidates
            .iter()
            .filter(|c| !taken.contains(&c.0))
            .copied()
            .collect();
        let centres: Vec<usize> = labeled.iter().chain(&queued).copied().collect();
        let more = spec.queue - queued.len();
        queued.extend(active::select(
            &rest,
            emb,
            &centres,
            more,
            strategy,
            spec.diversity,
            seed,
        ));
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Slot::{Answered, Open, Skipped};

    /// Regression: an image with one question answered and the other skipped was neither
    /// a candidate nor a centre (centres needed every question answered), and a skipped
    /// question's uncertainty still scored an image whose other question was open.
    #[test]
    fn skipped_questions_neither_score_nor_keep_an_image_from_the_centres() {
        let spec = RoundSpec {
            strategy: Strategy::Margin,
            combine: active::Combine::Max,
            ..RoundSpec::default()
        };
        let state = vec![
            vec![Answered, Skipped], // 0: settled, a centre
            vec![Skipped, Open],     // 1: hair skipped (unsure), eye open (sure)
            vec![Open, Open],        // 2: both open, moderately unsure
            vec![Skipped, Skipped],  // 3: settled, nothing answered: no centre
            vec![Answered, Answered],
        ];
        let unsure = vec![0.5, 0.5];
        let sure = vec![0.95, 0.05];
        let some = vec![0.7, 0.3];
        let probs = vec![
            vec![
                sure.clone(),
                unsure.clone(),
                some.clone(),
                unsure.clone(),
                sure.clone(),
            ],
            vec![
                sure.clone(),
                sure.clone(),
                some.clone(),
                sure.clone(),
                sure.clone(),
            ],
        ];
        let (candidates, centres) = pool(&state, &probs, &spec, |_| true);
        assert_eq!(centres, [0, 4]);
        let ids: Vec<usize> = candidates.iter().map(|c| c.0).collect();
        assert_eq!(ids, [1, 2]);
        // Image 1 is scored by its open eye question alone (margin 0.9: 0.1), not by the
        // skipped hair (1.0); image 2 by its open ones (0.6).
        assert!((candidates[0].1 - 0.1).abs() < 1e-5, "{candidates:?}");
        assert!((candidates[1].1 - 0.6).abs() < 1e-5, "{candidates:?}");
        let (kept, _) = pool(&state, &probs, &spec, |i| i != 2);
        assert_eq!(kept.iter().map(|c| c.0).collect::<Vec<_>>(), [1]);
    }
}
