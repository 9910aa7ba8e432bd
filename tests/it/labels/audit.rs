//! A truth file checked against the heuristics' votes on import and in a simulation:
//! columns swapped and values renamed are reported, a right file is not.

use super::*;
use facesynth::labels::audit::Finding;

/// `truth.csv` of a synthetic folder rewritten by `row` (hair, eye -> hair, eye).
fn rewrite(
    d: &std::path::Path,
    name: &str,
    row: impl Fn(&str, &str) -> (String, String),
) -> PathBuf {
    let text = std::fs::read_to_string(d.join("truth.csv")).unwrap();
    let mut out = String::from("file,hair_color,eye_color\n");
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (hair, eye) = row(f[1], f[2]);
        out += &format!("{},{hair},{eye}\n", f[0]);
    }
    let p = d.join(name);
    std::fs::write(&p, out).unwrap();
    p
}

fn audit_of(d: &std::path::Path, truth: &std::path::Path) -> Vec<Finding> {
    // A fresh store each time: an import changes it.
    let _ = std::fs::remove_dir_all(d.join("labels"));
    labels::init(&anime(), d, Q).unwrap();
    labels::import(d, truth, None).unwrap().audit
}

#[test]
fn swapped_and_renamed_truth_columns_are_reported() {
    let d = synth_data(240, 21);
    let schema = Schema::load(&anime()).unwrap();
    let hair = schema.attribute("hair_color").unwrap().values.clone();
    let eye = schema.attribute("eye_color").unwrap().values.clone();
    // The truth as drawn: nothing to report.
    let right = d.path().join("truth.csv");
    assert_eq!(audit_of(d.path(), &right), vec![]);

    // Hair colours renamed one value on, columns kept.
    let next = |v: &str| hair[(hair.iter().position(|h| h == v).unwrap() + 1) % hair.len()].clone();
    let renamed = rewrite(d.path(), "renamed.csv", |h, e| (next(h), e.to_string()));
    let found = audit_of(d.path(), &renamed);
    let f = found
        .iter()
        .find(|f| f.attribute == "hair_color")
        .expect("hair reported");
    assert_eq!(f.follows, "hair_color");
    assert!(f.renamed_agreement >= 0.8 && f.agreement < 0.2, "{f:?}");
    assert_eq!(f.renaming["blue"], "blonde", "{f:?}");
    assert!(f.message().contains("renamed"), "{}", f.message());

    // anime-faces-96-raw's fault: the eye column holds the hair colours under eye names
    // (hair value i -> eye value i mod 10), the hair column the eye colours.
    let swapped = rewrite(d.path(), "swapped.csv", |h, e| {
        let hi = hair.iter().position(|x| x == h).unwrap();
        let ei = eye.iter().position(|x| x == e).unwrap();
        (hair[ei].clone(), eye[hi % eye.len()].clone())
    });
    let found = audit_of(d.path(), &swapped);
    let f = found
        .iter()
        .find(|f| f.attribute == "eye_color")
        .expect("eye reported");
    assert_eq!(f.follows, "hair_color", "{f:?}");
    assert!(f.bits > f.own_bits + 0.3, "{f:?}");
    assert!(f.message().contains("columns swapped"), "{}", f.message());

    // A simulation with that oracle reports it too, before any round learns from it.
    let _ = std::fs::remove_dir_all(d.path().join("labels"));
    labels::init(&anime(), d.path(), Q).unwrap();
    let spec = labels::SimulateSpec {
        oracle: swapped,
        ..tiny_simulate(d.path(), 10, 1, 0.2, RoundSpec::default())
    };
    let r = labels::simulate(d.path(), &spec, Q).unwrap();
    assert!(
        r.audit
            .iter()
            .any(|f| f.attribute == "eye_color" && f.follows == "hair_color"),
        "{:?}",
        r.audit
    );
}

/// anime-faces-96-raw's shipped `labels.csv` (600 of its labeled images): its
/// `eye_color` column follows the hair heuristic, renamed (`blue` for blonde).
#[test]
fn anime_faces_96_raw_eye_column_is_reported_as_renamed_hair() {
    let Some((d, t)) = shared_subset_of("anime-faces-96-raw", "labels.csv", 600, 1) else {
        return;
    };
    labels::init(&root().join("labels/anime-mlds.toml"), d.path(), Q).unwrap();
    let found = labels::import(d.path(), &t, None).unwrap().audit;
    let f = found
        .iter()
        .find(|f| f.attribute == "eye_color")
        .expect("eye reported");
    assert_eq!(f.follows, "hair_color", "{f:?}");
    assert!(f.renamed_agreement > 0.35 && f.agreement < 0.1, "{f:?}");
    assert_eq!(
        f.renaming.get("blue").map(String::as_str),
        Some("blonde"),
        "{f:?}"
    );
}
