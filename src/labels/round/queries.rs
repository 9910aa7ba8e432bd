//! Which images a person is asked about next: a random warm-up, then the strategy's
//! most uncertain, spread over the embedding.

use super::RoundSpec;
use crate::labels::active::{self, Strategy};
use crate::labels::index::DatasetIndex;
use crate::labels::session::RoundInfo;
use crate::labels::store::{LabelStore, Source};
use crate::labels::{Paths, Schema};
use std::collections::HashSet;

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
    let human = |i: usize, a: &crate::labels::schema::Attribute| {
        store
            .get(&index.images[i], &a.name)
            .is_some_and(|l| l.source == Source::Human)
    };
    // The diversity's centres: images a person has wholly answered (one still open is a
    // candidate, and a centre would keep it from ever being drawn).
    let labeled: Vec<usize> = (0..index.len())
        .filter(|&i| schema.attributes.iter().all(|a| human(i, a)))
        .collect();
    // The warm-up counts images with any answer: counting only wholly answered ones, a
    // person who skips eye colour (or a truth file of hair alone) never ended it, and
    // every round was random whatever the strategy.
    let answered = (0..index.len())
        .filter(|&i| schema.attributes.iter().any(|a| human(i, a)))
        .count();
    // An image whose every attribute a person answered or skipped is not asked again (a
    // skip is "cannot tell", kept in skipped.csv, as Prodigy keeps its ignores).
    let skipped = crate::labels::queue::read_skipped(paths)?;
    let settled = |i: usize| {
        schema.attributes.iter().all(|a| {
            let file = &index.images[i];
            skipped.contains(&(file.clone(), a.name.clone()))
                || store
                    .get(file, &a.name)
                    .is_some_and(|l| l.source == Source::Human)
        })
    };
    let candidates: Vec<(usize, f32)> = (0..index.len())
        .filter(|&i| !settled(i) && !spec.exclude.contains(&i))
        .filter(|i| spec.askable.as_ref().is_none_or(|a| a.contains(i)))
        .map(|i| {
            let u = spec
                .combine
                .apply((0..probs.len()).map(|a| active::uncertainty(&probs[a][i], spec.strategy)));
            (i, u)
        })
        .collect();
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
