//! Where one prepared image's time goes: each stage of `prep::process_file` timed
//! separately on one thread over the same files (read, decode, crop + resize, quality,
//! hashes, channel sums, PNG encode, atomic write), in microseconds per image.
//!
//! `cargo run --release --example prep_stages -- DIR OUT [N]`; `MICRO=1` times only the
//! small kernels (grey, quality, hashes, sums), each many times on the first image.

use facesynth::dataset::walk;
use facesynth::prep::crop::Cropper;
use facesynth::prep::{encode, hash, normalize, quality, resize, scan, PrepSpec};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() >= 3, "usage: prep_stages DIR OUT [N]");
    let mut files = walk::files(std::path::Path::new(&args[1]))?;
    if let Some(n) = args.get(3) {
        files.truncate(n.parse()?);
    }
    let out = std::path::Path::new(&args[2]).join(format!("stages-{}", std::process::id()));
    std::fs::create_dir_all(&out)?;
    let spec = PrepSpec::default();
    let names = [
        "read", "decode", "resize", "luma", "quality", "phash", "dhash", "chroma", "sums",
        "encode", "write",
    ];
    let mut t = vec![Duration::ZERO; names.len()];
    let mut lap = |k: usize, since: &mut Instant| {
        let now = Instant::now();
        t[k] += now - *since;
        *since = now;
    };
    if std::env::var("MICRO").is_ok() {
        let d = scan::decode_file(&files[0], &spec.decode).map_err(anyhow::Error::msg)?;
        let (w, h) = d.rgb.dimensions();
        let img = resize::resize_crop(&d.rgb, (0, 0, w, h), &spec.resize);
        micro(&img);
        return Ok(());
    }
    let mut sink = 0u64;
    let mut bytes = 0usize;
    let cropper = Cropper::new(spec.crop.clone())?;
    for (i, p) in files.iter().enumerate() {
        let mut at = Instant::now();
        let (data, _) = scan::read_file(p, u64::MAX)?;
        lap(0, &mut at);
        let Ok(d) = scan::decode_bytes(&data, &spec.decode) else {
            continue;
        };
        lap(1, &mut at);
        let Some(b) = cropper
            .boxes("", &d.rgb)
            .ok()
            .and_then(|b| b.first().copied())
        else {
            continue;
        };
        let img = resize::resize_crop(&d.rgb, (b.x, b.y, b.w, b.h), &spec.resize);
        lap(2, &mut at);
        let grey = quality::luma(&img);
        lap(3, &mut at);
        let q = quality::scores(&grey);
        lap(4, &mut at);
        sink ^= hash::phash_of_luma(&grey);
        lap(5, &mut at);
        sink ^= hash::dhash_of_luma(&grey);
        lap(6, &mut at);
        sink ^= hash::chroma_grid(&img)[0] as u64;
        lap(7, &mut at);
        let sums = normalize::ChannelSums::of(&img);
        lap(8, &mut at);
        let buf = encode::encode(&img, spec.format)?;
        lap(9, &mut at);
        bytes += buf.len();
        facesynth::atomic::write(&out.join(format!("{i}.png")), &buf)?;
        lap(10, &mut at);
        sink ^= (q.laplacian_var as u64) ^ format!("{sums:?}").len() as u64;
    }
    let n = files.len() as f64;
    let total: Duration = t.iter().sum();
    for (name, d) in names.iter().zip(&t) {
        println!(
            "{name:>8} {:7.1} us  {:5.1}%",
            d.as_secs_f64() * 1e6 / n,
            100.0 * d.as_secs_f64() / total.as_secs_f64()
        );
    }
    println!(
        "   total {:7.1} us per image; PNG {:.0} bytes per image ({sink:x})",
        total.as_secs_f64() * 1e6 / n,
        bytes as f64 / n
    );
    Ok(())
}

/// The small per-image kernels, each run 20,000 times on one face.
fn micro(img: &image::RgbImage) {
    const N: u32 = 20_000;
    let time = |name: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..N {
            f();
        }
        println!(
            "{name:>10} {:6.2} us",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(N)
        );
    };
    let g = quality::luma(img);
    let (w, h) = (g.width() as usize, g.height() as usize);
    let g32 = image::GrayImage::from_raw(
        32,
        32,
        facesynth::prep::pillow_resize::resize_grey_pillow(g.as_raw(), w, h, 32, 32),
    )
    .expect("32 x 32 bytes");
    use std::hint::black_box as b;
    time("luma", &mut || {
        b(quality::luma(b(img)));
    });
    time("sums", &mut || {
        b(normalize::ChannelSums::of(b(img)));
    });
    time("quality", &mut || {
        b(quality::scores(b(&g)));
    });
    time("laplacian", &mut || {
        b(quality::laplacian_variance(b(&g)));
    });
    time("phash", &mut || {
        b(hash::phash_of_luma(b(&g)));
    });
    time("phash dct", &mut || {
        b(hash::phash_grey(b(&g32)));
    });
    time("dhash", &mut || {
        b(hash::dhash_of_luma(b(&g)));
    });
    time("chroma", &mut || {
        b(hash::chroma_grid(b(img)));
    });
}
