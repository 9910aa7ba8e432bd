//! The metrics' known answers and their reference check: embeds a real set with the
//! cached feature network, writes feature sets as .npy with facesynth's numbers beside
//! them (for `scripts/eval_ref.py`), and times the whole metric pipeline on 10,000
//! "generated" images (the real images mirrored). Run by `scripts/bench-eval.sh`:
//! `cargo run --release --example eval_reference -- DATA OUT [SIZE]`.

use facesynth::eval::memorize::{self, Images};
use facesynth::eval::metrics::{fid::fid, kid, prdc::prdc, Feats};
use facesynth::eval::{load_reference, realset, EvalSpec, KidSpec};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn npy(path: &Path, f: &Feats) {
    let head = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        f.len(),
        f.d
    );
    let pad = 64 - (10 + head.len() + 1) % 64;
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend(((head.len() + pad + 1) as u16).to_le_bytes());
    b.extend(
        head.bytes()
            .chain(std::iter::repeat_n(b' ', pad))
            .chain([b'\n']),
    );
    b.extend(f.data.iter().flat_map(|x| x.to_le_bytes()));
    std::fs::write(path, b).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (data, out) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let size: u32 = args.get(3).map_or(28, |s| s.parse().unwrap());
    let channels = if realset::is_mnist(&data) { 1 } else { 3 };
    std::fs::create_dir_all(&out).unwrap();
    let spec = EvalSpec {
        cache: Some(out.join("featnet")),
        ..EvalSpec::default()
    };
    let t = Instant::now();
    let (real, net) = load_reference(&spec, &data, size, channels).unwrap();
    println!(
        "load + feature net: {:.1} s {:?}",
        t.elapsed().as_secs_f64(),
        net.info.heldout_accuracy
    );
    let er = net.embed_all(&real.pixels, channels, size);
    let (n, d) = (real.len(), er.feats.d);
    let even: Vec<usize> = (0..n).step_by(2).collect();
    let odd: Vec<usize> = (1..n).step_by(2).collect();
    let (a, b) = (
        er.feats.select(&even),
        er.feats.select(&odd[..even.len().min(odd.len())]),
    );
    let mut x = 99u64;
    let noise_px: Vec<u8> = (0..even.len() * real.image_len())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let noise = net.embed_all(&noise_px, channels, size).feats;
    let one = Feats::new(d, a.row(0).repeat(a.len()));
    let mut json = serde_json::Map::new();
    for (name, f) in [
        ("real_b", &b),
        ("noise", &noise),
        ("repeated", &one),
        ("real_a", &a),
    ] {
        npy(&out.join(format!("{name}.npy")), f);
        let p = prdc(&a, f, 5);
        let m = a.len().min(f.len());
        let k = kid::mmd2_unbiased(
            &a.select(&(0..m).collect::<Vec<_>>()),
            &f.select(&(0..m).collect::<Vec<_>>()),
        );
        println!(
            "A vs {name}: FID {:.4} KID {:.5} P {:.4} R {:.4} D {:.4} C {:.4}",
            fid(&a, f),
            k,
            p.precision,
            p.recall,
            p.density,
            p.coverage
        );
        json.insert(
            name.into(),
            serde_json::json!({"fid": fid(&a, f), "kid": k, "precision": p.precision,
            "recall": p.recall, "density": p.density, "coverage": p.coverage}),
        );
    }
    // The pipeline on 10,000 "generated" images: the real ones mirrored.
    let g = 10_000.min(n);
    let (il, s) = (real.image_len(), size as usize);
    let gen: Vec<u8> = (0..g)
        .flat_map(|i| {
            real.image(i)
                .chunks(s)
                .flat_map(|r| r.iter().rev().copied())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut times = serde_json::Map::new();
    let mut lap = |what: &str, t: Instant| {
        println!("{what}: {:.2} s", t.elapsed().as_secs_f64());
        times.insert(what.into(), t.elapsed().as_secs_f64().into());
    };
    let t = Instant::now();
    let eg = net.embed_all(&gen, channels, size).feats;
    lap("embed_10k", t);
    let t = Instant::now();
    let _ = fid(&er.feats, &eg);
    lap("fid", t);
    let t = Instant::now();
    let _ = kid::kid(&er.feats, &eg, &KidSpec::default(), 0);
    lap("kid_100x1000", t);
    let t = Instant::now();
    let _ = prdc(&er.feats, &eg, 5);
    lap("prdc", t);
    let t = Instant::now();
    let (gi, ri) = (
        Images {
            px: &gen,
            channels,
            size,
        },
        Images {
            px: &real.pixels,
            channels,
            size,
        },
    );
    let _ = memorize::pixel_nearest(gi, ri);
    let _ = memorize::near_duplicates(&memorize::hashes(gi), &memorize::hashes(ri));
    lap("memorization", t);
    json.insert("timings".into(), times.into());
    json.insert("n_real".into(), n.into());
    json.insert("n_generated".into(), (gen.len() / il).into());
    std::fs::write(
        out.join("rust.json"),
        serde_json::to_vec_pretty(&json).unwrap(),
    )
    .unwrap();
    npy(&out.join("real_all.npy"), &er.feats);
    npy(&out.join("gen_10k.npy"), &eg);
}
