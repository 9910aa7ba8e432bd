//! The MNIST quality judge of the GAN benchmark: a classifier that did not train the GAN.
//!
//! Trains `labels::classifier`'s CNN (no flips) on the first 8,000 images of an MNIST IDX
//! set, reports its accuracy on the other 2,000, then classifies folders written by
//! `facesynth generate --per-class N` (`DIR/<value>/*.png`):
//! - `--cond NAME=DIR`: conditional runs (values are digits): the share of images classified
//!   as the digit asked for, overall and per digit;
//! - `--info NAME=DIR`: InfoGAN (values `code0`...): agreement of the categorical code with
//!   the judge's digits under the best one-to-one code-digit matching (exact, by dynamic
//!   programming over digit subsets, the Hungarian method's answer);
//! - `--uncond NAME=DIR`: unconditional samples: how the judge's digits are spread.
//!
//! ```text
//! cargo run --release --example mnist_judge -- --mnist ../shared/data/mnist \
//!     --cond acgan=gen/acgan --info infogan=gen/infogan --out judge.json
//! ```

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::activation::log_softmax;
use facesynth::gan::data::load_mnist;
use facesynth::labels::classifier::Net;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type T = Autodiff<Flex>;
type I = Flex;
type Res<X> = Result<X, Box<dyn std::error::Error>>;

const TRAIN: usize = 8000;
const CHANNELS: [usize; 4] = [32, 64, 64, 128];

/// Grey 28x28 `u8` images -> `[n, 3, 28, 28]` in [-1, 1].
fn tensor<B: Backend>(px: &[u8], n: usize, dev: &B::Device) -> Tensor<B, 4> {
    let mut v = Vec::with_capacity(n * 3 * 784);
    for img in px.chunks(784).take(n) {
        for _ in 0..3 {
            v.extend(img.iter().map(|&p| p as f32 / 127.5 - 1.0));
        }
    }
    Tensor::from_data(TensorData::new(v, [n, 3, 28, 28]), dev)
}

fn train(px: &[u8], labels: &[u32], steps: usize, dev: &burn::tensor::Device<T>) -> Net<T> {
    T::seed(dev, 7);
    let mut net = Net::<T>::new(&[10], CHANNELS, dev);
    let mut opt = AdamConfig::new().init::<T, Net<T>>();
    let mut rng = StdRng::seed_from_u64(11);
    let b = 64;
    for step in 0..steps {
        let idx: Vec<usize> = (0..b).map(|_| rng.random_range(0..TRAIN)).collect();
        let mut batch = Vec::with_capacity(b * 784);
        let mut onehot = vec![0f32; b * 10];
        for (r, &i) in idx.iter().enumerate() {
            batch.extend_from_slice(&px[i * 784..(i + 1) * 784]);
            onehot[r * 10 + labels[i] as usize] = 1.0;
        }
        let (_, logits) = net.forward(tensor::<T>(&batch, b, dev));
        let target = Tensor::<T, 2>::from_data(TensorData::new(onehot, [b, 10]), dev);
        let loss = (log_softmax(logits[0].clone(), 1) * target)
            .sum()
            .neg()
            .div_scalar(b as f32);
        let lr = if step < steps * 2 / 3 { 2e-3 } else { 3e-4 };
        if step % 200 == 0 {
            eprintln!("judge step {step}: loss {:.4}", loss.clone().into_scalar());
        }
        let g = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(lr, net, g);
    }
    net
}

fn classify(net: &Net<I>, px: &[u8], n: usize, dev: &burn::tensor::Device<I>) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    for s in (0..n).step_by(500) {
        let e = (s + 500).min(n);
        let (_, lg) = net.forward(tensor::<I>(&px[s * 784..e * 784], e - s, dev));
        let v: Vec<f32> = lg[0].clone().into_data().to_vec().unwrap_or_default();
        out.extend(
            v.chunks(10)
                .map(|c| (0..10).max_by(|&a, &b| c[a].total_cmp(&c[b])).unwrap_or(0)),
        );
    }
    out
}

/// Grey 28x28 pixels of every `*.png` in `dir` but `grid.png`.
fn read_pngs(dir: &Path) -> Res<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "png"))
        .filter(|f| f.file_name().is_some_and(|n| n != "grid.png"))
        .collect();
    files.sort();
    let mut px = Vec::new();
    for f in files {
        let img = image::open(&f)?.to_luma8();
        let img = image::imageops::resize(&img, 28, 28, image::imageops::FilterType::Triangle);
        px.extend_from_slice(img.as_raw());
    }
    Ok(px)
}

/// `DIR/<value>/*.png` -> value -> grey 28x28 pixels of every image.
fn read_generated(dir: &Path) -> Res<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            out.insert(name, read_pngs(&p)?);
        }
    }
    Ok(out)
}

/// Best one-to-one matching of rows (codes) to columns (digits) maximizing the matched
/// count: DP over the subsets of digits used so far (exact for up to 10 rows).
fn best_matching(conf: &[[usize; 10]]) -> (usize, Vec<usize>) {
    let k = conf.len().min(10);
    let full = 1usize << 10;
    let mut best = vec![vec![None::<(usize, usize)>; full]; k + 1]; // (score, prev digit)
    best[0][0] = Some((0, usize::MAX));
    for r in 0..k {
        for mask in 0..full {
            let Some((s, _)) = best[r][mask] else {
                continue;
            };
            for (d, &c) in conf[r].iter().enumerate().take(10) {
                if mask & (1 << d) == 0 {
                    let m2 = mask | (1 << d);
                    let cand = s + c;
                    if best[r + 1][m2].is_none_or(|(b, _)| cand > b) {
                        best[r + 1][m2] = Some((cand, d));
                    }
                }
            }
        }
    }
    let (mut mask, mut score) = (0, 0);
    for (m, v) in best[k].iter().enumerate() {
        if let Some((s, _)) = v {
            if *s >= score {
                (mask, score) = (m, *s);
            }
        }
    }
    let mut assign = vec![0; k];
    for r in (0..k).rev() {
        let d = best[r + 1][mask].map(|(_, d)| d).unwrap_or(0);
        assign[r] = d;
        mask &= !(1 << d);
    }
    (score, assign)
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut mnist = PathBuf::from("../shared/data/mnist");
    let (mut conds, mut infos, mut unconds) = (vec![], vec![], vec![]);
    let mut out: Option<PathBuf> = None;
    let mut cache: Option<PathBuf> = None;
    let mut steps = 1500;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        let named = |v: String| -> Res<(String, PathBuf)> {
            let (n, d) = v.split_once('=').ok_or(format!("{v}: expected NAME=DIR"))?;
            Ok((n.to_string(), PathBuf::from(d)))
        };
        match a.as_str() {
            "--mnist" => mnist = PathBuf::from(val()?),
            "--cond" => conds.push(named(val()?)?),
            "--info" => infos.push(named(val()?)?),
            "--uncond" => unconds.push(named(val()?)?),
            "--out" => out = Some(PathBuf::from(val()?)),
            "--cache" => cache = Some(PathBuf::from(val()?)),
            "--steps" => steps = val()?.parse()?,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let ds = load_mnist(&mnist, 28)?;
    let n = ds.len();
    if n <= TRAIN {
        return Err(format!("{n} MNIST images: need more than {TRAIN}").into());
    }
    let dev = Default::default();
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let t0 = std::time::Instant::now();
    let net: Net<I> = match cache.as_ref().filter(|c| c.with_extension("mpk").exists()) {
        Some(c) => Net::<I>::new(&[10], CHANNELS, &dev).load_file(c.clone(), &recorder, &dev)?,
        None => {
            let net = train(&ds.pixels, &ds.labels, steps, &dev).valid();
            if let Some(c) = &cache {
                net.clone().save_file(c.clone(), &recorder)?;
            }
            net
        }
    };
    let train_secs = t0.elapsed().as_secs_f64();
    let test = &ds.pixels[TRAIN * 784..];
    let pred = classify(&net, test, n - TRAIN, &dev);
    let right = (0..n - TRAIN)
        .filter(|&i| pred[i] == ds.labels[TRAIN + i] as usize)
        .count();
    let judge_acc = pct(right, n - TRAIN);
    println!(
        "judge: trained on {TRAIN} real images ({steps} steps, {train_secs:.0} s), \
         accuracy on {} held-out real images: {judge_acc:.2}%",
        n - TRAIN
    );
    let mut report = serde_json::json!({
        "judge": {"train_images": TRAIN, "test_images": n - TRAIN, "steps": steps,
                  "test_accuracy": judge_acc},
    });
    for (name, dir) in &conds {
        let gen = read_generated(dir)?;
        let (mut ok, mut all) = (0, 0);
        let mut per = serde_json::Map::new();
        let mut line = Vec::new();
        for (value, px) in &gen {
            let want: usize = value.parse().map_err(|_| format!("{value}: not a digit"))?;
            let m = px.len() / 784;
            let p = classify(&net, px, m, &dev);
            let k = p.iter().filter(|&&d| d == want).count();
            (ok, all) = (ok + k, all + m);
            per.insert(value.clone(), serde_json::json!(pct(k, m)));
            line.push(format!("{value}: {:.1}", pct(k, m)));
        }
        println!(
            "{name}: {:.2}% of {all} generated digits classified as asked ({})",
            pct(ok, all),
            line.join(", ")
        );
        report[name] = serde_json::json!({"kind": "conditional", "images": all,
            "accuracy": pct(ok, all), "per_digit": per});
    }
    for (name, dir) in &infos {
        let gen = read_generated(dir)?;
        let mut conf = Vec::new();
        let mut all = 0;
        for px in gen.values() {
            let m = px.len() / 784;
            let mut row = [0usize; 10];
            for d in classify(&net, px, m, &dev) {
                row[d] += 1;
            }
            conf.push(row);
            all += m;
        }
        let (score, assign) = best_matching(&conf);
        let codes: Vec<&String> = gen.keys().collect();
        let map: Vec<String> = codes
            .iter()
            .zip(&assign)
            .map(|(c, d)| format!("{c}->{d}"))
            .collect();
        println!(
            "{name}: code/digit agreement {:.2}% of {all} (best matching {})",
            pct(score, all),
            map.join(" ")
        );
        report[name] = serde_json::json!({"kind": "infogan", "images": all,
            "agreement": pct(score, all), "matching": map, "confusion": conf});
    }
    for (name, dir) in &unconds {
        let mut px = read_pngs(dir)?;
        px.extend(read_generated(dir)?.values().flatten());
        let m = px.len() / 784;
        let mut hist = [0usize; 10];
        for d in classify(&net, &px, m, &dev) {
            hist[d] += 1;
        }
        println!("{name}: judge's digits of {m} samples: {hist:?}");
        report[name] = serde_json::json!({"kind": "unconditional", "images": m,
            "digit_histogram": hist});
    }
    if let Some(o) = out {
        std::fs::write(&o, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn matching_finds_the_permutation() {
        let mut conf = vec![[0usize; 10]; 10];
        for (r, row) in conf.iter_mut().enumerate() {
            row[(r * 3) % 10] = 9;
            row[(r + 1) % 10] = 5;
        }
        let (s, a) = super::best_matching(&conf);
        assert_eq!(s, 90);
        assert_eq!(a[1], 3);
    }
}
