//! Detect faces with an OpenCV cascade file and print the boxes, or draw them.
//!
//! `cargo run --release --example detect_faces -- CASCADE.xml IMAGE [OUT.png]`
//!
//! Uses OpenCV's usual settings for anime faces (scale factor 1.1, 5 neighbours,
//! 24 px minimum, equalized); prints `x y width height neighbours` per face.

use facesynth::detect::{gray_from_dynamic, Cascade, DetectSpec};
use image::Rgb;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cascade, input, rest @ ..] = &args[..] else {
        eprintln!("usage: detect_faces CASCADE.xml IMAGE [OUT.png]");
        std::process::exit(2);
    };
    let cascade = Cascade::load(cascade)?;
    let img = image::open(input)?;
    let spec = DetectSpec {
        min_neighbors: 5,
        min_size: (24, 24),
        equalize: true,
        ..DetectSpec::default()
    };
    let start = std::time::Instant::now();
    let faces = cascade.detect(&gray_from_dynamic(&img), &spec);
    eprintln!(
        "{} face(s) in {:.1} ms",
        faces.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    for f in &faces {
        println!("{} {} {} {} {}", f.x, f.y, f.width, f.height, f.neighbors);
    }
    if let Some(out) = rest.first() {
        let mut rgb = img.to_rgb8();
        for f in &faces {
            let rect = imageproc::rect::Rect::at(f.x as i32, f.y as i32).of_size(f.width, f.height);
            imageproc::drawing::draw_hollow_rect_mut(&mut rgb, rect, Rgb([255, 0, 0]));
        }
        rgb.save(out)?;
    }
    Ok(())
}
