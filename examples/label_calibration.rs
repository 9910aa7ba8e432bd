//! How a `label simulate` run's last network is calibrated on its test split, under the
//! temperature the round fitted and under others: the one pooled over the attributes,
//! the one fitted on the held-out labels that were drawn at random (round 1, the
//! warm-up), and the best the test split itself would fit (a bound, not a method).
//!
//! `cargo run --release --example label_calibration -- RUN_DIR TRUTH.csv` where RUN_DIR is
//! a simulate folder (`images/`, `labels/` with `model.mpk`; RGB input at 48 px, the
//! defaults) and TRUTH.csv the wide truth file (`file,<attribute>...`); the test split is
//! simulate's (20% by a hash of the file name), less any image a person labeled.
use facesynth::labels::{
    calibrate, classifier, index::DatasetIndex, session, LabelStore, Paths, Source,
};
use std::collections::HashMap;
type B = burn::backend::Autodiff<burn::backend::Flex>;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = std::path::PathBuf::from(&a[1]);
    let truth_path = &a[2];
    let paths = Paths::new(&data);
    let schema = paths.load_schema().unwrap();
    let index = DatasetIndex::open(&data).unwrap();
    let store = LabelStore::load(&paths.labels(), &schema).unwrap();
    let rounds = session::read_rounds(&paths);
    let every = rounds.last().unwrap().calibration_every;
    let classes: Vec<usize> = schema.attributes.iter().map(|a| a.values.len()).collect();
    let device = Default::default();
    let rec = facesynth::gan::checkpoint::read_record::<B, _>(
        &paths.model().with_extension("mpk"),
        &device,
    )
    .unwrap();
    let net = burn::module::Module::load_record(
        classifier::Net::<B>::new(
            &classes,
            facesynth::labels::classifier::TrainSpec::default().channels,
            &device,
        ),
        rec,
    );
    let images = session::decode_all(&index, "decode", facesynth::progress::Verbosity::Quiet);
    let pixels = session::to_pixels(&images, 48, Default::default());
    let out = classifier::predict_mirrored(&net, &pixels, &device);
    let mut truth: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut rdr = csv::Reader::from_path(truth_path).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    for r in rdr.records() {
        let r = r.unwrap();
        let row = header.iter().zip(r.iter()).skip(1);
        truth.insert(
            r[0].to_string(),
            row.map(|(h, v)| (h.clone(), v.to_string())).collect(),
        );
    }
    let pos: HashMap<&str, usize> = index
        .images
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let n_attr = classes.len();
    let mut calib: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_attr];
    let human: std::collections::HashSet<&str> = store
        .iter()
        .filter(|l| l.source == Source::Human)
        .map(|l| l.file.as_str())
        .collect();
    for l in store.iter().filter(|l| l.source == Source::Human) {
        if facesynth::labels::calibrate::is_calibration(&l.file, every) {
            let ai = schema.attribute_index(&l.attribute).unwrap();
            calib[ai].push((
                pos[l.file.as_str()],
                schema.attributes[ai].index_of(&l.value).unwrap(),
            ));
        }
    }
    let mut calib_random: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_attr];
    for l in store
        .iter()
        .filter(|l| l.source == Source::Human && l.round == 1)
    {
        if facesynth::labels::calibrate::is_calibration(&l.file, every) {
            let ai = schema.attribute_index(&l.attribute).unwrap();
            calib_random[ai].push((
                pos[l.file.as_str()],
                schema.attributes[ai].index_of(&l.value).unwrap(),
            ));
        }
    }
    let rand_t = calibrate::temperatures(&calib_random, &out);
    let own = calibrate::temperatures(&calib, &out);
    let all: Vec<(usize, usize, usize)> = calib
        .iter()
        .enumerate()
        .flat_map(|(a, p)| p.iter().map(move |&(i, y)| (a, i, y)))
        .collect();
    let (lg, tg): (Vec<Vec<f32>>, Vec<usize>) = all
        .iter()
        .map(|&(a, i, y)| (out.logits[a][i].clone(), y))
        .unzip();
    let pooled = calibrate::fit_temperature(&lg, &tg);
    // The test split: simulate's 20% by hash, less what people labeled.
    let test: Vec<usize> = (0..index.len())
        .filter(|&i| {
            let f = &index.images[i];
            !human.contains(f.as_str())
                && (xxhash_rust::xxh3::xxh3_64(f.as_bytes()) % 10_000) as f32 / 10_000.0 < 0.2
        })
        .collect();
    for (ai, attr) in schema.attributes.iter().enumerate() {
        let (lg, tg): (Vec<Vec<f32>>, Vec<usize>) = test
            .iter()
            .filter_map(|&i| {
                let t = truth.get(&index.images[i])?.get(&attr.name)?;
                Some((out.logits[ai][i].clone(), attr.index_of(t)?))
            })
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
    }
}
