//! Supervised check of the label CNN against the PyTorch reference figures
//! (/work/shared/notes/label-anchors.md): train on N random labels of a tagged folder,
//! report accuracy on the held-out 20% (the same stable hash split as `label simulate`).
//!
//! `cargo run --release --example label_fit -- DIR N [steps] [size] [seed] [self_train]`
//! where DIR holds `images/` and `tags.csv` (`file,hair_color,eye_color`); `self_train`
//! (0 or 1) adds pseudo-labels (softmax >= 0.9) on the unlabeled training images and
//! trains on for half as many steps, as `label round` does. Env: `SHIFT=N` (shift
//! augmentation, default 4), `LR_SCHEDULE=constant` (no decay of the learning rate),
//! `PRETEXT=steps` (colour-presence pre-training of the body on every training image,
//! `labels::pretext`), `SMOOTH` (label smoothing), `MIXUP` (mixup's Beta alpha), `WD`
//! (AdamW weight decay), `EMA` (decay of a moving average of the weights, reported beside
//! the last weights), `BATCH`, `LR` (the peak
//! learning rate, default 2e-3), `CHANNELS=a,b,c,d`
//! (the four conv blocks' widths, default 32,64,128,128), `FIXMATCH` (unlabeled
//! images per step of the consistency loss, `labels::consistency`; `FM_TAU`, `FM_W`,
//! `FM_SHIFT`, `FM_CUT` its threshold, weight, strong shift and cut-out side; `FM_ALIGN`
//! distribution alignment), `ENSEMBLE=S`
//! (a second network from seed S on the same labels; the two networks' mirrored logits
//! averaged are scored too), `TTA` (also score shifted views at test: crosses, diagonals
//! and a grid of 1-3 px; and the 1 px cross only where the mirrored top probability is
//! under 0.9 or 0.99, `classifier::refine_uncertain`; `TTA=selective`: only the 1 px
//! cross, in full and where unsure), `INPUT=rgb|lab` (the input planes' colour
//! space), `HOLDOUT` (the test split's share, default `label simulate`'s 0.2;
//! anime-faces-96-raw's figures use 0.5). Every network is also scored with mirrored
//! test-time views.
use facesynth::labels::classifier::{self, Sample, TrainSpec};
use facesynth::labels::simulate::{in_test, DEFAULT_HOLDOUT};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::time::Instant;

type B = burn::backend::Autodiff<burn::backend::Flex>;

fn main() {
    facesynth::heap::keep_freed_memory();
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&a[1]);
    let n: usize = a[2].parse().unwrap();
    let arg = |i: usize, d: usize| a.get(i).map_or(d, |x| x.parse().unwrap());
    let spec = TrainSpec {
        steps: arg(3, 300),
        seed: arg(5, 0) as u64,
        shift: std::env::var("SHIFT").map_or(TrainSpec::default().shift, |v| v.parse().unwrap()),
        schedule: match std::env::var("LR_SCHEDULE").as_deref() {
            Ok("constant") => facesynth::labels::classifier::LrSchedule::Constant,
            _ => facesynth::labels::classifier::LrSchedule::Cosine,
        },
        smoothing: env_or("SMOOTH", 0.0),
        mixup: env_or("MIXUP", 0.0),
        weight_decay: env_or("WD", 0.0),
        ema: env_or("EMA", 0.0),
        batch: env_or("BATCH", TrainSpec::default().batch),
        lr: env_or("LR", TrainSpec::default().lr),
        channels: std::env::var("CHANNELS").map_or(TrainSpec::default().channels, |v| {
            let c: Vec<usize> = v.split(',').map(|x| x.parse().unwrap()).collect();
            c.try_into().expect("CHANNELS: four widths, a,b,c,d")
        }),
        consistency: facesynth::labels::consistency::Consistency {
            batch: env_or("FIXMATCH", 0),
            threshold: env_or("FM_TAU", 0.95),
            weight: env_or("FM_W", 1.0),
            shift: env_or("FM_SHIFT", 8),
            cutout: env_or("FM_CUT", 12),
            align: std::env::var_os("FM_ALIGN").is_some(),
        },
        mirror: true,
    };
    let size = arg(4, 48);
    let self_train = arg(6, 0) == 1;

    let mut rdr = csv::Reader::from_path(dir.join("tags.csv")).unwrap();
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let n_attr = rows[0].len() - 1;
    let values: Vec<Vec<String>> = (0..n_attr)
        .map(|k| {
            let set: std::collections::BTreeSet<&String> = rows.iter().map(|r| &r[k + 1]).collect();
            set.into_iter().cloned().collect()
        })
        .collect();
    let classes: Vec<usize> = values.iter().map(Vec::len).collect();
    let idx: Vec<BTreeMap<&str, usize>> = values
        .iter()
        .map(|v| v.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect())
        .collect();
    let t0 = Instant::now();
    let images: Vec<Option<image::RgbImage>> = rows
        .iter()
        .map(|r| image::open(dir.join(&r[0])).ok().map(|i| i.to_rgb8()))
        .collect();
    let colour = match std::env::var("INPUT").as_deref() {
        Ok("lab") => facesynth::labels::session::InputColour::Lab,
        Ok("rgb") => facesynth::labels::session::InputColour::Rgb,
        _ => Default::default(),
    };
    let pixels = facesynth::labels::session::to_pixels(&images, size, colour);
    eprintln!(
        "decoded {} in {:.1}s",
        rows.len(),
        t0.elapsed().as_secs_f64()
    );
    let y: Vec<Vec<usize>> = rows
        .iter()
        .map(|r| (0..n_attr).map(|k| idx[k][r[k + 1].as_str()]).collect())
        .collect();
    let holdout = env_or("HOLDOUT", DEFAULT_HOLDOUT);
    let test: Vec<usize> = (0..rows.len())
        .filter(|&i| in_test(&rows[i][0], holdout))
        .collect();
    let mut pool: Vec<usize> = (0..rows.len())
        .filter(|&i| !in_test(&rows[i][0], holdout))
        .collect();
    pool.shuffle(&mut rand::rngs::StdRng::seed_from_u64(spec.seed));
    let train: Vec<usize> = pool.iter().copied().take(n).collect();
    let mut samples: Vec<Sample> = train
        .iter()
        .map(|&i| Sample::new(i, y[i].iter().map(|&v| Some(v)).collect(), 1.0))
        .collect();
    if spec.consistency.on() {
        // The rest of the training split, unlabeled, for the consistency loss.
        samples.extend(pool.iter().skip(n).map(|&i| Sample::unlabeled(i, n_attr)));
    }
    let device = burn::backend::flex::FlexDevice;
    let acc = |out: &classifier::Outputs| -> Vec<f32> {
        (0..n_attr)
            .map(|k| {
                let ok = test
                    .iter()
                    .filter(|&&i| argmax(&out.logits[k][i]).0 == y[i][k])
                    .count();
                ok as f32 / test.len() as f32
            })
            .collect()
    };
    let report = |model: &classifier::Net<B>, what: &str, secs: f64| {
        let mirrored = classifier::predict_mirrored(model, &pixels, &device);
        println!("{what} + mirrored at test: acc {:?}", acc(&mirrored));
        if std::env::var_os("TTA").is_some() {
            // Shifted views at test beside the mirror (training shifts up to `spec.shift`).
            let cross = |d: i32| vec![(0, 0), (d, 0), (-d, 0), (0, d), (0, -d)];
            let diag = |d: i32| vec![(0, 0), (d, d), (-d, -d), (d, -d), (-d, d)];
            let grid = |d: i32| {
                (-1..=1)
                    .flat_map(|y| (-1..=1).map(move |x| (x * d, y * d)))
                    .collect::<Vec<_>>()
            };
            // `TTA=selective`: only the 1 px cross, in full and where unsure.
            let only_cross1 = std::env::var("TTA").as_deref() == Ok("selective");
            for (name, shifts) in [
                ("cross 1", cross(1)),
                ("cross 2", cross(2)),
                ("diagonal 2", diag(2)),
                ("grid 2", grid(2)),
                ("cross 3", cross(3)),
            ]
            .into_iter()
            .take(if only_cross1 { 1 } else { 5 })
            {
                let t = Instant::now();
                let o = classifier::predict_shifted(model, &pixels, &device, &shifts);
                println!(
                    "{what} + mirrored, shifts {name} ({} views, {:.1}s): acc {:?}",
                    2 * shifts.len(),
                    t.elapsed().as_secs_f64(),
                    acc(&o)
                );
            }
            // The 1 px cross only where the mirrored prediction is unsure.
            for below in [0.9f32, 0.99] {
                let t = Instant::now();
                let mut o = mirrored.clone();
                let k = classifier::refine_uncertain(
                    model,
                    &pixels,
                    &device,
                    &mut o,
                    &classifier::CROSS_1PX,
                    below,
                );
                println!(
                    "{what} + mirrored, cross 1 where top p < {below} ({k} images, {:.1}s): acc {:?}",
                    t.elapsed().as_secs_f64(),
                    acc(&o)
                );
            }
        }
        let out = classifier::predict(model, &pixels, &device);
        println!(
            "{what}: labels {n} steps {} size {size} test {} acc {:?} train {secs:.1}s",
            spec.steps,
            test.len(),
            acc(&out)
        );
        out
    };
    let t = Instant::now();
    let pretext: usize = env_or("PRETEXT", 0);
    let (model, averaged) = if pretext > 0 {
        // The body first learns which colours each cell holds, on every training image.
        let _rng = facesynth::backend_rng::lock();
        <B as burn::tensor::backend::Backend>::seed(&device, spec.seed);
        let fresh = classifier::Net::<B>::new(&classes, spec.channels, &device);
        let t = Instant::now();
        let (net, loss) =
            facesynth::labels::pretext::pretrain(fresh, &pixels, &pool, pretext, &spec, &device);
        eprintln!(
            "pretext {pretext} steps: loss {loss:.4} in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        classifier::train_more(net, &pixels, &samples, &classes, &spec, &device, |_, _| {})
    } else {
        classifier::train::<B>(&pixels, &samples, &classes, &spec, &device, |_, _| {})
    };
    let out = report(&model, "supervised", t.elapsed().as_secs_f64());
    if let Some(seed) = std::env::var("ENSEMBLE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        // A second network, from other initial weights and batches, on the same labels.
        let t = Instant::now();
        let other = TrainSpec {
            seed,
            ..spec.clone()
        };
        let (second, _) =
            classifier::train::<B>(&pixels, &samples, &classes, &other, &device, |_, _| {});
        report(
            &second,
            &format!("second network (seed {seed})"),
            t.elapsed().as_secs_f64(),
        );
        let both = classifier::average_outputs(
            [&model, &second].map(|m| classifier::predict_mirrored(m, &pixels, &device)),
        );
        println!("ensemble of two, mirrored: acc {:?}", acc(&both));
    }
    if let Some(m) = &averaged {
        report(m, &format!("moving average {}", spec.ema), 0.0);
    }
    if self_train {
        let labeled: std::collections::HashSet<usize> = train.iter().copied().collect();
        for &i in pool.iter().filter(|i| !labeled.contains(i)) {
            let targets: Vec<Option<usize>> = (0..n_attr)
                .map(|k| {
                    let p = classifier::softmax_t(&out.logits[k][i], 1.0);
                    let (b, c) = argmax(&p);
                    (c >= 0.9).then_some(b)
                })
                .collect();
            if targets.iter().any(Option::is_some) {
                samples.push(Sample::new(i, targets, 0.5));
            }
        }
        let t = Instant::now();
        let more = TrainSpec {
            steps: spec.steps / 2,
            ..spec.clone()
        };
        let (model, _) = classifier::train_more::<B>(
            model,
            &pixels,
            &samples,
            &classes,
            &more,
            &device,
            |_, _| {},
        );
        report(&model, "self-trained (+steps/2)", t.elapsed().as_secs_f64());
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn argmax(v: &[f32]) -> (usize, f32) {
    v.iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}
