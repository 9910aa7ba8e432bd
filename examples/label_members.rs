//! Every network of a cross-fitted round (`label round --cross-fit K`: `model.mpk`, the
//! split network, and `model-fold-K.mpk`), each one's logits on every image, to compare
//! ways of pooling them offline (`scripts/label-pool.py`).
//!
//! `cargo run --release --example label_members -- RUN_DIR TRUTH.csv OUT.csv` where RUN_DIR
//! is a `label simulate` folder after a cross-fitted round (RGB input at 48 px, the
//! defaults) and TRUTH.csv its wide truth file. Env `HOLDOUT` as `label simulate
//! --holdout` (default its default). One row per image and attribute:
//! `kind,image,attribute,truth,fold,logits` where kind is `test` (simulate's test split),
//! `answered` (a person's label: `truth` is it, `fold` the cross-fitting fold that held
//! it out, so member `fold` never saw it) or `pool` (neither); `logits` holds each
//! member's logits, members split by `|` (member 0 the split network, K model-fold-K),
//! values by spaces.
use facesynth::labels::{
    calibrate, classifier, import, index::DatasetIndex, session, simulate, LabelStore, Paths,
    Source,
};
use facesynth::progress::Verbosity;
use std::io::Write;
type B = burn::backend::Autodiff<burn::backend::Flex>;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (data, truth_path, out_path) = (
        std::path::PathBuf::from(&a[1]),
        std::path::Path::new(&a[2]),
        &a[3],
    );
    let holdout = std::env::var("HOLDOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(simulate::DEFAULT_HOLDOUT);
    let paths = Paths::new(&data);
    let schema = paths.load_schema().unwrap();
    let index = DatasetIndex::open(&data).unwrap();
    let store = LabelStore::load(&paths.labels(), &schema).unwrap();
    let last = session::read_rounds(&paths)
        .expect("rounds.json")
        .pop()
        .expect("a round on record");
    let every = last.calibration_every;
    let device = Default::default();
    let channels = classifier::TrainSpec::default().channels;
    let mut files = vec![paths.model()];
    files.extend(
        (1..)
            .map(|k| paths.fold_model(k))
            .take_while(|f| f.is_file()),
    );
    eprintln!("{} networks, calibration one in {every}", files.len());
    // Decoded once for all the networks (`session::predict_saved` decodes per call).
    let images = session::decode_all(&index, "decode", Verbosity::Quiet);
    let pixels = session::to_pixels(&images, 48, session::InputColour::default());
    drop(images);
    let outs: Vec<classifier::Outputs> = files
        .iter()
        .map(|f| {
            session::predict_saved_on::<B>(f, &schema, &pixels, channels, &device)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let truth = import::read_wide(truth_path, &schema, &index).unwrap();
    let pos = index.positions();
    // (attribute, image) -> (kind, truth, fold)
    let mut rows = std::collections::BTreeMap::new();
    for t in &truth.answers {
        if simulate::in_test(&index.images[t.image], holdout) {
            rows.insert((t.attribute, t.image), ("test", t.value as i64, -1i64));
        }
    }
    for l in store.iter().filter(|l| l.source == Source::Human) {
        let ai = schema.attribute_index(&l.attribute).unwrap();
        let y = schema.attributes[ai].index_of(&l.value).unwrap();
        let fold = calibrate::calibration_fold(&l.file, every) as i64;
        rows.insert((ai, pos[l.file.as_str()]), ("answered", y as i64, fold));
    }
    let human = store.human_files();
    for ai in 0..schema.attributes.len() {
        for (i, name) in index.images.iter().enumerate() {
            if !human.contains(name.as_str()) && !simulate::in_test(name, holdout) {
                rows.entry((ai, i)).or_insert(("pool", -1, -1));
            }
        }
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out_path).unwrap());
    writeln!(w, "kind,image,attribute,truth,fold,logits").unwrap();
    for ((ai, i), (kind, y, fold)) in rows {
        let members: Vec<String> = outs
            .iter()
            .map(|o| {
                let l: Vec<String> = o.logits[ai][i].iter().map(|x| format!("{x:.4}")).collect();
                l.join(" ")
            })
            .collect();
        let name = &schema.attributes[ai].name;
        writeln!(w, "{kind},{i},{name},{y},{fold},{}", members.join("|")).unwrap();
    }
}
