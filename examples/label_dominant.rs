//! Prints the dominant Lab colour of a region for every image of a dataset folder:
//! `cargo run --example label_dominant -- DIR left top right bottom`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&a[1]);
    let r: Vec<f32> = a[2..6].iter().map(|x| x.parse().unwrap()).collect();
    let spec = facesynth::labels::heuristics::HeuristicSpec::default();
    let pick = if a.len() > 6 {
        facesynth::labels::schema::Pick::Chromatic
    } else {
        facesynth::labels::schema::Pick::Dominant
    };
    for f in facesynth::dataset::manifest::kept_images(dir).unwrap() {
        let img = image::open(dir.join(&f)).unwrap().to_rgb8();
        if let Some((c, s)) =
            facesynth::labels::heuristics::dominant(&img, [r[0], r[1], r[2], r[3]], pick, &spec)
        {
            println!(
                "{},{:.1},{:.1},{:.1},{:.2}",
                f.display(),
                c[0],
                c[1],
                c[2],
                s
            );
        }
    }
}
