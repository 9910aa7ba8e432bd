//! Whether the colour heuristics' votes, weighed by how often they agree with people,
//! improve a `label simulate` run's last network on its test split: each vote is read as
//! a noisy labeler (Dawid & Skene 1979) whose likelihood multiplies the network's
//! temperature-scaled softmax (a product of experts under conditional independence).
//!
//! `cargo run --release --example label_fusion -- RUN_DIR TRUTH.csv HEURISTICS.csv`
//! where RUN_DIR is a simulate folder (`images/`, `labels/` with `model.mpk`), TRUTH.csv
//! the wide truth file and HEURISTICS.csv a store of heuristic votes (`label init`'s
//! `labels.csv`, or a run's `labels/heuristics.csv`). Env: `SIZE` (input side, default
//! 48), `CHANNELS=a,b,c,d` (default 32,64,128,128), `M` (pseudo-count of the shrinkage
//! towards the one-coin model, default 4). Prints, per attribute, the network alone and
//! three noise models of the votes: one accuracy (one coin), one per tercile of the
//! vote's confidence, and a confusion matrix shrunk towards the one-coin model; and the
//! round's own rule, `trust::duel`: whether the heuristic beats the network on the
//! held-out people's labels, where its votes would stand in for the network's.
use facesynth::labels::{
    calibrate, classifier, import, index::DatasetIndex, session, simulate, trust, LabelStore,
    Paths, Source,
};
type B = burn::backend::Autodiff<burn::backend::Flex>;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = std::path::PathBuf::from(&a[1]);
    let size: usize = std::env::var("SIZE").map_or(48, |s| s.parse().unwrap());
    let m: f32 = std::env::var("M").map_or(4.0, |s| s.parse().unwrap());
    let channels: [usize; 4] =
        std::env::var("CHANNELS").map_or(classifier::TrainSpec::default().channels, |s| {
            let v: Vec<usize> = s.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        });
    let paths = Paths::new(&data);
    let schema = paths.load_schema().unwrap();
    let index = DatasetIndex::open(&data).unwrap();
    let store = LabelStore::load(&paths.labels(), &schema).unwrap();
    let votes = LabelStore::load(std::path::Path::new(&a[3]), &schema).unwrap();
    let rounds = session::read_rounds(&paths).expect("rounds.json");
    let last = rounds.last().unwrap();
    let classes: Vec<usize> = schema.attributes.iter().map(|a| a.values.len()).collect();
    let device = Default::default();
    let out = session::predict_saved::<B>(&paths.model(), &schema, &index, size, channels, &device)
        .unwrap_or_else(|e| panic!("{e}"));
    let truth = import::read_wide(std::path::Path::new(&a[2]), &schema, &index).unwrap();
    let pos = index.positions();
    let holdout = simulate::DEFAULT_HOLDOUT;
    // The round's own rule (`trust::duel`): the heuristic against the network on the
    // held-out people's labels.
    let mut calib: Vec<Vec<(usize, usize)>> = vec![Vec::new(); classes.len()];
    for l in store.iter().filter(|l| l.source == Source::Human) {
        if calibrate::is_calibration(&l.file, last.calibration_every) {
            let ai = schema.attribute_index(&l.attribute).unwrap();
            calib[ai].push((
                pos[l.file.as_str()],
                schema.attributes[ai].index_of(&l.value).unwrap(),
            ));
        }
    }
    // The round's temperatures.
    let temps: Vec<f32> = schema
        .attributes
        .iter()
        .map(|attr| last.temperature.get(&attr.name).copied().unwrap_or(1.0))
        .collect();
    let probs: Vec<Vec<Vec<f32>>> = (0..temps.len())
        .map(|ai| {
            out.logits[ai]
                .iter()
                .map(|z| classifier::softmax_t(z, temps[ai]))
                .collect()
        })
        .collect();
    let duels = trust::duel(&votes, &schema, &index.images, &calib, &probs);
    for (ai, attr) in schema.attributes.iter().enumerate() {
        let d = duels[ai];
        println!(
            "duel,{},{},{},{},{}",
            attr.name,
            last.human,
            d.heuristic,
            d.network,
            d.heuristic_leads()
        );
    }
    for (ai, attr) in schema.attributes.iter().enumerate() {
        let k = attr.values.len();
        let t = temps[ai];
        // Each image's vote: (value, confidence).
        let mut vote: Vec<Option<(usize, f32)>> = vec![None; index.len()];
        for l in votes
            .iter()
            .filter(|l| l.attribute == attr.name && l.source == Source::Heuristic)
        {
            if let (Some(&i), Some(v)) = (pos.get(l.file.as_str()), attr.index_of(&l.value)) {
                vote[i] = Some((v, l.confidence));
            }
        }
        // Terciles of the vote confidence.
        let mut confs: Vec<f32> = vote.iter().flatten().map(|v| v.1).collect();
        confs.sort_by(f32::total_cmp);
        let cut = |q: f32| {
            confs
                .get((q * confs.len() as f32) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        let (c1, c2) = (cut(1.0 / 3.0), cut(2.0 / 3.0));
        let bin = |c: f32| (c >= c1) as usize + (c >= c2) as usize;
        // People's labels that carry a vote: the noise model's evidence.
        let mut agree = [(0usize, 0usize); 3];
        let mut conf_mat = vec![vec![0f32; k]; k];
        for l in store
            .iter()
            .filter(|l| l.attribute == attr.name && l.source == Source::Human)
        {
            let (Some(&i), Some(c)) = (pos.get(l.file.as_str()), attr.index_of(&l.value)) else {
                continue;
            };
            if let Some((v, conf)) = vote[i] {
                let b = bin(conf);
                agree[b].0 += (v == c) as usize;
                agree[b].1 += 1;
                conf_mat[c][v] += 1.0;
            }
        }
        let (ok, n) = agree.iter().fold((0, 0), |(o, n), &(a, b)| (o + a, n + b));
        let coin = (ok as f32 + 1.0) / (n as f32 + 2.0);
        let binned: Vec<f32> = agree
            .iter()
            .map(|&(o, b)| (o as f32 + m * coin) / (b as f32 + m))
            .collect();
        let off = |acc: f32| (1.0 - acc) / (k as f32 - 1.0);
        // Likelihood of vote `v` given value `c` under each model.
        let like = |model: usize, v: usize, conf: f32, c: usize| -> f32 {
            match model {
                0 => 1.0,
                1 => {
                    if v == c {
                        coin
                    } else {
                        off(coin)
                    }
                }
                2 => {
                    let acc = binned[bin(conf)];
                    if v == c {
                        acc
                    } else {
                        off(acc)
                    }
                }
                _ => {
                    let row: f32 = conf_mat[c].iter().sum();
                    let q = if v == c { coin } else { off(coin) };
                    (conf_mat[c][v] + m * q) / (row + m)
                }
            }
        };
        let names = ["network", "one-coin", "terciles", "confusion"];
        let test: Vec<(usize, usize)> = truth
            .answers
            .iter()
            .filter(|t| t.attribute == ai && simulate::in_test(&index.images[t.image], holdout))
            .map(|t| (t.image, t.value))
            .collect();
        println!(
            "{}: {} test images, T {t:.2}; votes agree with {ok} of {n} people's labels (one coin {coin:.3}; terciles {:.3} / {:.3} / {:.3})",
            attr.name,
            test.len(),
            binned[0],
            binned[1],
            binned[2]
        );
        for (model, name) in names.iter().enumerate() {
            let pairs: Vec<(f32, bool)> = test
                .iter()
                .map(|&(i, truth)| {
                    let mut p = probs[ai][i].clone();
                    if let Some((v, conf)) = vote[i] {
                        for (c, pc) in p.iter_mut().enumerate() {
                            *pc *= like(model, v, conf, c);
                        }
                        let s: f32 = p.iter().sum();
                        p.iter_mut().for_each(|x| *x /= s);
                    }
                    let (best, &pb) = p
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .unwrap();
                    (pb, best == truth)
                })
                .collect();
            let acc = pairs.iter().filter(|p| p.1).count() as f32 / pairs.len() as f32;
            println!(
                "row,{},{},{name},{acc:.4},{:.4}",
                attr.name,
                last.human,
                calibrate::ece(&pairs)
            );
        }
    }
}
