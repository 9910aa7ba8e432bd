//! How a `label simulate` run's last network is calibrated on its test split, under the
//! temperature the round fitted and under others: the one pooled over the attributes,
//! the one fitted on the held-out labels that were drawn at random (round 1, the
//! warm-up), and the best the test split itself would fit (a bound, not a method).
//!
//! `cargo run --release --example label_calibration -- RUN_DIR TRUTH.csv` where RUN_DIR is
//! a simulate folder (`images/`, `labels/` with `model.mpk`; RGB input at 48 px, the
//! defaults) and TRUTH.csv the wide truth file (`file,<attribute>...`); the test split is
//! simulate's (by a hash of the file name; its default share, or `HOLDOUT=0.5` as
//! `--holdout 0.5`). Env: `SIZE` (input side, default 48) and `CHANNELS=a,b,c,d` (default
//! 32,64,128,128) for other networks (the demo's: 32 and 16,32,64,64).
//!
//! Where the round refitted (`labels/model-split.mpk` beside `model.mpk`), also the split
//! network's temperatures had by other fits of its held-out labels, each carried to the
//! refit network as the round carries its own (the mean confidence on the unanswered
//! images matched), with the test ECE of both networks: one `split,...` line each
//! (`split,ATTRIBUTE,HELD_OUT,FIT,T,SPLIT_ECE,REFIT_T,REFIT_ECE,SCALED_T,SCALED_ECE`, the
//! last two carried instead by the ratio of the two networks' logit scales, which a
//! `refit,ATTRIBUTE,SCALE,TEST_BEST_T,ECE` line gives with the refit's own best; FIT `mle` is each
//! attribute's own maximum-likelihood fit, `rounds` today's `calibrate::temperatures`,
//! `pooled` one for all, `shrink-S` each drawn towards the pooled one under a prior of sd
//! S, `prior-C-S` towards C, `boot` a bootstrap mean, `iwB-mle` / `iwB-rounds` each held-out
//! label weighted by its confidence bin's share of the pool over its share of the split,
//! B bins, without and with the rounds' pooling, `votes` the heuristics' votes on the
//! pool where the rounds' rule lets them fit (`labels::vote_temperature`), `votes-any`
//! wherever they exist, `split-test-best` a bound), one `refit-votes,ATTRIBUTE,RATIO,T,ECE`
//! line per attribute (the refit's own vote fit where the votes qualify, elsewhere the
//! split's `toward-votes` temperature times the ratio of the two networks' vote fits), and
//! one `ens,...` line per attribute for the two networks together
//! (`ens,ATTRIBUTE,SPLIT_ACC,REFIT_ACC,LOGITS_AVERAGED_ACC,PROBABILITIES_AVERAGED_ACC,ECE`,
//! on the test split; the probabilities at the rounds' temperatures), and one `range,...`
//! line per attribute: the bootstrap range the rounds report (`temperature_range`) with
//! the test's own best temperature and whether the range holds it. `DUMP=FILE` also
//! writes every image's logits of both networks with its splits and truth, for
//! `scripts/calibration-shapes.py`.
use facesynth::labels::temperature_range;
use facesynth::labels::trust::Trust;
use facesynth::labels::vote_temperature;
use facesynth::labels::{
    calibrate, classifier, import, index::DatasetIndex, session, simulate, Label, LabelStore,
    Paths, Source,
};
use facesynth::progress::Verbosity;
type B = burn::backend::Autodiff<burn::backend::Flex>;

/// simulate's test split share: `HOLDOUT` (as `label simulate --holdout`), else its default.
fn holdout() -> f32 {
    std::env::var("HOLDOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(simulate::DEFAULT_HOLDOUT)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = std::path::PathBuf::from(&a[1]);
    let truth_path = &a[2];
    let paths = Paths::new(&data);
    let schema = paths.load_schema().unwrap();
    let index = DatasetIndex::open(&data).unwrap();
    let store = LabelStore::load(&paths.labels(), &schema).unwrap();
    let rounds = session::read_rounds(&paths).expect("rounds.json");
    let every = rounds.last().unwrap().calibration_every;
    let classes: Vec<usize> = schema.attributes.iter().map(|a| a.values.len()).collect();
    let device = Default::default();
    let size: usize = std::env::var("SIZE").map_or(48, |s| s.parse().unwrap());
    let channels: [usize; 4] =
        std::env::var("CHANNELS").map_or(classifier::TrainSpec::default().channels, |s| {
            let v: Vec<usize> = s.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        });
    // Decoded once for both saved networks.
    let images = session::decode_all(&index, "decode", Verbosity::Quiet);
    let pixels = session::to_pixels(&images, size, session::InputColour::default());
    drop(images);
    let predict = |model: &std::path::Path| {
        session::predict_saved_on::<B>(model, &schema, &pixels, channels, &device)
    };
    let out = predict(&paths.model()).unwrap_or_else(|e| panic!("{e}"));
    let truth = import::read_wide(std::path::Path::new(truth_path), &schema, &index).unwrap();
    let pos = index.positions();
    // The held-out split of people's labels that `keep` admits, per attribute.
    let held_out = |keep: &dyn Fn(&Label) -> bool| {
        let mut calib: Vec<Vec<(usize, usize)>> = vec![Vec::new(); classes.len()];
        for l in store
            .iter()
            .filter(|l| l.source == Source::Human && keep(l))
        {
            if calibrate::is_calibration(&l.file, every) {
                let ai = schema.attribute_index(&l.attribute).unwrap();
                calib[ai].push((
                    pos[l.file.as_str()],
                    schema.attributes[ai].index_of(&l.value).unwrap(),
                ));
            }
        }
        calib
    };
    let calib = held_out(&|_| true);
    // Round 1 queues the warm-up, drawn at random.
    let calib_random = held_out(&|l| l.round == 1);
    let own = calibrate::temperatures(&calib, &out);
    let rand_t = calibrate::temperatures(&calib_random, &out);
    let pooled = calibrate::pooled_temperature(&calib, &out);
    // Posterior modes under log-normal priors (`calibrate::Prior`): centre, sd of ln T.
    let priors: Vec<(f32, f32)> = [1.0f32, 1.25, 1.5]
        .iter()
        .flat_map(|&c| [0.2f32, 0.3, 0.5].map(|s| (c, s)))
        .collect();
    let map_t: Vec<Vec<f32>> = priors
        .iter()
        .map(|&(center, log_sd)| {
            calibrate::own_temperatures_with(&calib, &out, calibrate::Prior { center, log_sd })
        })
        .collect();
    let holdout = holdout();
    for (ai, attr) in schema.attributes.iter().enumerate() {
        // simulate's test split: the truth's images in the hash split.
        let (lg, tg): (Vec<Vec<f32>>, Vec<usize>) = truth
            .answers
            .iter()
            .filter(|t| t.attribute == ai && simulate::in_test(&index.images[t.image], holdout))
            .map(|t| (out.logits[ai][t.image].clone(), t.value))
            .unzip();
        let best = calibrate::fit_temperature(&lg, &tg);
        let e = |t: f32| calibrate::ece(&calibrate::pairs(&lg, &tg, t));
        println!(
            "{}: {} test images | fitted on {} held-out: T {:.2}, ECE {:.3} | pooled: T {:.2}, ECE {:.3} | random-drawn only ({}): T {:.2}, ECE {:.3} | test's own best: T {:.2}, ECE {:.3}",
            attr.name,
            tg.len(),
            calib[ai].len(),
            own[ai],
            e(own[ai]),
            pooled,
            e(pooled),
            calib_random[ai].len(),
            rand_t[ai],
            e(rand_t[ai]),
            best,
            e(best)
        );
        // One line per temperature, to gather over runs: attribute, held-out labels, how
        // the temperature was had, T, test ECE.
        let row = |how: String, t: f32| {
            println!(
                "row,{},{},{how},{t:.3},{:.4}",
                attr.name,
                calib[ai].len(),
                e(t)
            )
        };
        row("mle".into(), own[ai]);
        row("best".into(), best);
        for (p, &(c, s)) in priors.iter().enumerate() {
            row(format!("map-{c}-{s}"), map_t[p][ai]);
        }
    }
    if let Ok(path) = std::env::var("DUMP") {
        dump(
            &path,
            &schema,
            &index,
            &store,
            &truth,
            every,
            &predict(&paths.split_model()).ok(),
            &out,
            &paths,
        );
    }
    if let Ok(split) = predict(&paths.split_model()) {
        let spec = facesynth::labels::round::RoundSpec::default();
        let (threshold, trust) = (spec.heuristic_threshold, spec.trust);
        let trust = Trust::judge(&paths, &schema, &store, threshold, trust);
        split_variants(
            &schema, &index, &store, &truth, &calib, &split, &out, &trust,
        );
    }
}

/// The `split,...` lines: per attribute and way of fitting the split network's
/// temperature, that temperature, the split network's test ECE under it, the refit
/// network's matched temperature and its test ECE.
#[allow(clippy::too_many_arguments)]
fn split_variants(
    schema: &facesynth::labels::Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    truth: &import::Imported,
    calib: &[Vec<(usize, usize)>],
    split: &classifier::Outputs,
    refit: &classifier::Outputs,
    trust: &Trust,
) {
    use calibrate::Prior;
    let holdout = holdout();
    let human = store.human_files();
    let pool: Vec<usize> = (0..index.len())
        .filter(|&i| {
            !simulate::in_test(&index.images[i], holdout)
                && !human.contains(index.images[i].as_str())
        })
        .collect();
    let pooled = calibrate::pooled_temperature(calib, split);
    let rounds = calibrate::temperatures(calib, split);
    let mut variants: Vec<(String, Vec<f32>)> = vec![
        (
            "mle".into(),
            calibrate::own_temperatures_with(calib, split, Prior::FLAT),
        ),
        ("rounds".into(), rounds.clone()),
        ("pooled".into(), vec![pooled; calib.len()]),
    ];
    // Log-normal priors (`calibrate::Prior`): towards the pooled temperature (partial
    // pooling) and towards a fixed centre.
    let priors = [0.2f32, 0.35, 0.5]
        .map(|sd| (format!("shrink-{sd}"), pooled, sd))
        .into_iter()
        .chain([0.3f32, 0.5].map(|sd| (format!("prior-1.3-{sd}"), 1.3, sd)));
    for (name, center, log_sd) in priors {
        let prior = Prior { center, log_sd };
        variants.push((name, calibrate::own_temperatures_with(calib, split, prior)));
    }
    // Bootstrap: the geometric mean of the maximum-likelihood temperatures of 200
    // resamples of each attribute's held-out labels.
    let boot: Vec<f32> = calib
        .iter()
        .enumerate()
        .map(|(a, pairs)| {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::StdRng::seed_from_u64(a as u64);
            let draws = 200;
            let sum: f32 = (0..draws)
                .map(|_| {
                    let (l, t): (Vec<Vec<f32>>, Vec<usize>) = (0..pairs.len())
                        .map(|_| {
                            let (i, y) = pairs[rng.random_range(0..pairs.len())];
                            (split.logits[a][i].clone(), y)
                        })
                        .unzip();
                    calibrate::fit_temperature(&l, &t).ln()
                })
                .sum();
            (sum / draws as f32).exp()
        })
        .collect();
    variants.push(("boot".into(), boot));
    // Importance-weighted fits: each held-out label weighted by how much more of the
    // pool than of the held-out split sits in its bin of the split network's own top
    // probability (B quantile bins of the pool), the covariate-shift correction for a
    // split that active queries filled with unsure images.
    for bins in [3usize, 5] {
        let w: Vec<Vec<f64>> = (0..calib.len())
            .map(|a| confidence_weights(&calib[a], &pool, &split.logits[a], bins))
            .collect();
        let mle: Vec<f32> = (0..calib.len())
            .map(|a| weighted_fit(&calib[a], &w[a], &split.logits[a], Prior::FLAT))
            .collect();
        variants.push((format!("iw{bins}-mle"), mle));
        // The rounds' partial pooling with the weights: the pooled weighted fit, then each
        // attribute drawn towards it.
        let (pl, pt, pw) = calib.iter().zip(&w).enumerate().fold(
            (Vec::new(), Vec::new(), Vec::new()),
            |(mut l, mut t, mut ww), (a, (pairs, wa))| {
                for (&(i, y), &x) in pairs.iter().zip(wa) {
                    l.push(split.logits[a][i].clone());
                    t.push(y);
                    ww.push(x);
                }
                (l, t, ww)
            },
        );
        let pooled_w = weighted_grid(&pl, &pt, &pw, Prior::FLAT);
        let prior = Prior {
            center: pooled_w,
            log_sd: calibrate::ATTRIBUTE_LOG_SD,
        };
        let rounds_w: Vec<f32> = (0..calib.len())
            .map(|a| weighted_fit(&calib[a], &w[a], &split.logits[a], prior))
            .collect();
        variants.push((format!("iw{bins}-rounds"), rounds_w));
    }
    let test = |out: &classifier::Outputs, a: usize| -> (Vec<Vec<f32>>, Vec<usize>) {
        truth
            .answers
            .iter()
            .filter(|t| t.attribute == a && simulate::in_test(&index.images[t.image], holdout))
            .map(|t| (out.logits[a][t.image].clone(), t.value))
            .unzip()
    };
    let best: Vec<f32> = (0..calib.len())
        .map(|a| {
            let (l, t) = test(split, a);
            calibrate::fit_temperature(&l, &t)
        })
        .collect();
    // The bootstrap range the rounds report (`temperature_range`), against the test's
    // own best: `range,ATTRIBUTE,HELD_OUT,LOW,HIGH,ROUNDS_T,TEST_BEST_T,INSIDE`.
    let ranges = temperature_range::temperature_ranges(calib, split, &vec![false; calib.len()]);
    for (a, attr) in schema.attributes.iter().enumerate() {
        if let Some((lo, hi)) = ranges[a] {
            println!(
                "range,{},{},{lo:.3},{hi:.3},{:.3},{:.3},{}",
                attr.name,
                calib[a].len(),
                rounds[a],
                best[a],
                (lo..=hi).contains(&best[a])
            );
        }
    }
    variants.push(("split-test-best".into(), best));
    // The heuristics' votes on the pool as noisy labels (`vote_temperature`, what the
    // rounds use where the heuristic qualifies): `votes` where it qualifies, the rounds'
    // fit elsewhere; `votes-any` fitted whether or not it qualifies.
    let none = vec![false; calib.len()];
    let qualified =
        vote_temperature::temperatures(schema, index, store, trust, split, &pool, &none);
    let votes = qualified.iter().zip(&rounds).map(|(v, &r)| v.unwrap_or(r));
    variants.push(("votes".into(), votes.collect()));
    // The other attributes drawn towards the votes' temperature (the geometric mean of
    // those fitted) instead of the pooled one: `toward-votes`.
    let toward_votes: Option<Vec<f32>> = vote_temperature::centre(&qualified).map(|centre| {
        let toward =
            calibrate::own_temperatures_with(calib, split, vote_temperature::prior(centre));
        qualified
            .iter()
            .zip(toward)
            .map(|(v, t)| v.unwrap_or(t))
            .collect()
    });
    if let Some(t) = &toward_votes {
        variants.push(("toward-votes".into(), t.clone()));
    }
    let forced = (0..calib.len()).map(|a| {
        vote_temperature::fit_attribute(schema, a, index, store, &trust.votes, split, &pool)
            .unwrap_or(1.0)
    });
    variants.push(("votes-any".into(), forced.collect()));
    // The refit fitted by the votes itself (it never saw the pool either), and the other
    // attributes carried from `toward-votes` by the ratio the votes measured between the
    // two networks, as the rounds do (`vote_temperature::carried_to_refit`):
    // `refit-votes,ATTRIBUTE,RATIO,T,ECE`.
    let refit_voted =
        vote_temperature::temperatures(schema, index, store, trust, refit, &pool, &none);
    let refit_votes = toward_votes
        .as_ref()
        .and_then(|t| vote_temperature::carried_to_refit(&qualified, &refit_voted, t));
    for (a, attr) in schema.attributes.iter().enumerate() {
        let on = |out: &classifier::Outputs| -> Vec<Vec<f32>> {
            pool.iter().map(|&i| out.logits[a][i].clone()).collect()
        };
        let (sp, rp) = (on(split), on(refit));
        let sp: Vec<&[f32]> = sp.iter().map(Vec::as_slice).collect();
        let rp: Vec<&[f32]> = rp.iter().map(Vec::as_slice).collect();
        let (sl, st) = test(split, a);
        let (rl, rt) = test(refit, a);
        // The split and refit networks together (both already predicted every image):
        // test accuracy of each, of their logits averaged, and of their probabilities
        // averaged at the rounds' temperatures (`calibrate::temperatures` for the split,
        // matched for the refit), with the pair's test ECE.
        let t_split = rounds[a];
        let t_refit = calibrate::matched_temperature(&sp, t_split, &rp);
        let acc = |pred: &dyn Fn(usize) -> Vec<f32>| -> f32 {
            let ok = (0..st.len()).filter(|&k| argmax(&pred(k)) == st[k]).count();
            ok as f32 / st.len().max(1) as f32
        };
        let avg_p = |k: usize| -> Vec<f32> {
            let (ps, pr) = (
                classifier::softmax_t(&sl[k], t_split),
                classifier::softmax_t(&rl[k], t_refit),
            );
            ps.iter().zip(&pr).map(|(x, y)| 0.5 * (x + y)).collect()
        };
        let ens_pairs: Vec<(f32, bool)> = (0..st.len())
            .map(|k| {
                let p = avg_p(k);
                let y = argmax(&p);
                (p[y], y == st[k])
            })
            .collect();
        println!(
            "ens,{},{:.4},{:.4},{:.4},{:.4},{:.4}",
            attr.name,
            acc(&|k| sl[k].clone()),
            acc(&|k| rl[k].clone()),
            acc(&|k| sl[k].iter().zip(&rl[k]).map(|(x, y)| x + y).collect()),
            acc(&avg_p),
            calibrate::ece(&ens_pairs),
        );
        // Another carry: the temperature scaled by how much larger the refit's logits
        // are than the split network's (root mean square of the logits centred per
        // image, over the pool), as if the refit were the split network with its logits
        // stretched; it leaves the refit's accuracy gain its own confidence, where
        // matching the mean confidence does not.
        let scale = logit_scale(&rp) / logit_scale(&sp).max(1e-12);
        let refit_best = calibrate::fit_temperature(&rl, &rt);
        println!(
            "refit,{},{scale:.4},{refit_best:.3},{:.4}",
            attr.name,
            calibrate::ece(&calibrate::pairs(&rl, &rt, refit_best)),
        );
        if let Some((temps, ratio)) = &refit_votes {
            let t = temps[a];
            println!(
                "refit-votes,{},{ratio:.4},{t:.3},{:.4}",
                attr.name,
                calibrate::ece(&calibrate::pairs(&rl, &rt, t)),
            );
        }
        for (name, temps) in &variants {
            let t = temps[a];
            let matched = calibrate::matched_temperature(&sp, t, &rp);
            let scaled = t * scale;
            println!(
                "split,{},{},{name},{t:.3},{:.4},{matched:.3},{:.4},{scaled:.3},{:.4}",
                attr.name,
                calib[a].len(),
                calibrate::ece(&calibrate::pairs(&sl, &st, t)),
                calibrate::ece(&calibrate::pairs(&rl, &rt, matched)),
                calibrate::ece(&calibrate::pairs(&rl, &rt, scaled)),
            );
        }
    }
}

/// Root mean square of the logits, each image's centred on its mean.
fn logit_scale(logits: &[&[f32]]) -> f32 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for z in logits {
        let m = z.iter().sum::<f32>() / z.len().max(1) as f32;
        sum += z.iter().map(|&x| f64::from((x - m) * (x - m))).sum::<f64>();
        n += z.len();
    }
    (sum / n.max(1) as f64).sqrt() as f32
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len())
        .max_by(|&i, &j| v[i].total_cmp(&v[j]))
        .unwrap_or(0)
}

/// Per held-out pair, the pool's share of its bin over the held-out split's share, the
/// bins being `bins` quantiles of the pool's top probability at temperature 1; weights
/// normalized to mean 1 over the held-out pairs.
fn confidence_weights(
    pairs: &[(usize, usize)],
    pool: &[usize],
    logits: &[Vec<f32>],
    bins: usize,
) -> Vec<f64> {
    let top = |i: usize| {
        classifier::softmax_t(&logits[i], 1.0)
            .into_iter()
            .fold(0.0f32, f32::max)
    };
    let mut p: Vec<f32> = pool.iter().map(|&i| top(i)).collect();
    p.sort_by(f32::total_cmp);
    if p.is_empty() || pairs.is_empty() {
        return vec![1.0; pairs.len()];
    }
    let edges: Vec<f32> = (1..bins).map(|k| p[k * p.len() / bins]).collect();
    let bin = |c: f32| edges.iter().filter(|&&e| c >= e).count();
    let held: Vec<usize> = pairs.iter().map(|&(i, _)| bin(top(i))).collect();
    let mut count = vec![0usize; bins];
    for &b in &held {
        count[b] += 1;
    }
    let w: Vec<f64> = held
        .iter()
        .map(|&b| (1.0 / bins as f64) / (count[b] as f64 / held.len() as f64))
        .collect();
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    w.into_iter().map(|x| x / mean).collect()
}

fn weighted_fit(
    pairs: &[(usize, usize)],
    w: &[f64],
    logits: &[Vec<f32>],
    prior: calibrate::Prior,
) -> f32 {
    let (l, t): (Vec<Vec<f32>>, Vec<usize>) =
        pairs.iter().map(|&(i, y)| (logits[i].clone(), y)).unzip();
    weighted_grid(&l, &t, w, prior)
}

/// `calibrate::fit_temperature_with` with a weight per label (the weights sum to the
/// number of labels, so the prior weighs as much as unweighted).
fn weighted_grid(l: &[Vec<f32>], t: &[usize], w: &[f64], prior: calibrate::Prior) -> f32 {
    if l.is_empty() {
        return prior.center;
    }
    let nll = |temp: f32| -> f64 {
        let s: f64 = l
            .iter()
            .zip(t)
            .zip(w)
            .map(|((l, &y), &w)| -w * (classifier::softmax_t(l, temp)[y].max(1e-12) as f64).ln())
            .sum();
        let pen = if prior.log_sd.is_finite() {
            let z = ((temp / prior.center).ln() / prior.log_sd) as f64;
            0.5 * z * z
        } else {
            0.0
        };
        s + pen
    };
    let grid = |lo: f32, hi: f32, k: usize| {
        (0..k).map(move |i| lo * (hi / lo).powf(i as f32 / (k - 1) as f32))
    };
    let best = |it: &mut dyn Iterator<Item = f32>| {
        it.map(|x| (x, nll(x)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|x| x.0)
            .unwrap_or(1.0)
    };
    let t0 = best(&mut grid(0.25, 20.0, 40));
    best(&mut grid(t0 / 1.15, t0 * 1.15, 15))
}

/// `DUMP=FILE`: one CSV row per image and attribute, for calibration experiments off line:
/// `attribute,image,test,human,calibration,queued,truth,split_logits,refit_logits` (truth
/// -1 where the truth file has none; logits `;`-joined, the split network's empty where
/// the round did not refit).
#[allow(clippy::too_many_arguments)]
fn dump(
    path: &str,
    schema: &facesynth::labels::Schema,
    index: &DatasetIndex,
    store: &LabelStore,
    truth: &import::Imported,
    every: u64,
    split: &Option<classifier::Outputs>,
    refit: &classifier::Outputs,
    paths: &Paths,
) {
    use std::io::Write;
    let queued: std::collections::HashSet<(String, String)> =
        facesynth::labels::queue::read_queue(paths)
            .unwrap_or_default()
            .into_iter()
            .map(|q| (q.file, q.attribute))
            .collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "attribute,image,test,human,calibration,queued,truth,split,refit"
    )
    .unwrap();
    let holdout = holdout();
    for (ai, attr) in schema.attributes.iter().enumerate() {
        let mut t = vec![-1i64; index.len()];
        for a in truth.answers.iter().filter(|a| a.attribute == ai) {
            t[a.image] = a.value as i64;
        }
        for (i, file) in index.images.iter().enumerate() {
            let human = store
                .get(file, &attr.name)
                .is_some_and(|l| l.source == Source::Human);
            let j = |o: &classifier::Outputs| {
                o.logits[ai][i]
                    .iter()
                    .map(|v| format!("{v:.5}"))
                    .collect::<Vec<_>>()
                    .join(";")
            };
            writeln!(
                f,
                "{},{},{},{},{},{},{},{},{}",
                attr.name,
                i,
                u8::from(simulate::in_test(file, holdout)),
                u8::from(human),
                u8::from(human && calibrate::is_calibration(file, every)),
                u8::from(queued.contains(&(file.clone(), attr.name.clone()))),
                t[i],
                split.as_ref().map(j).unwrap_or_default(),
                j(refit)
            )
            .unwrap();
        }
    }
}
