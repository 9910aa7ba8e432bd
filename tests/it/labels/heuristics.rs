//! The colour heuristics on synthetic faces, and how far people's answers let their votes
//! train, stand or stand in.

use super::*;

#[test]
fn heuristics_name_synthetic_hair_colours() {
    let schema = Schema::load(&anime()).unwrap();
    let hair = schema.attribute("hair_color").unwrap();
    let spec = SynthSpec {
        n: 360,
        seed: 7,
        ..SynthSpec::default()
    };
    let spec_h = facesynth::labels::heuristics::HeuristicSpec::default();
    let (mut right, mut n) = (0, 0);
    let mut wrong = Vec::new();
    for i in 0..spec.n {
        let (row, img) = synth::synth_one(&spec, i);
        n += 1;
        match labels::heuristics::vote(&img, hair, &spec_h) {
            Some(v) if hair.values[v.value] == row.hair_color => right += 1,
            other => wrong.push((row.hair_color, other.map(|v| hair.values[v.value].clone()))),
        }
    }
    let acc = right as f32 / n as f32;
    assert!(
        acc >= 0.95,
        "hair right on {acc:.3} of synthetic faces; wrong: {wrong:?}"
    );
}

/// The eye heuristic reads the irises of synthetic faces once the hair's colour is left
/// out of the eye band (`exclude = "hair_color"` in the anime schema). Dark skin is left
/// out of the count: in Lab it sits where brown eyes do, and the heuristic keeps only
/// light-to-mid skin out of its regions.
#[test]
fn heuristics_name_synthetic_eye_colours_with_the_hair_excluded() {
    let schema = Schema::load(&anime()).unwrap();
    let eye = schema.attribute("eye_color").unwrap();
    assert_eq!(eye.exclude.as_deref(), Some("hair_color"));
    let spec = SynthSpec {
        n: 240,
        seed: 11,
        ..SynthSpec::default()
    };
    let spec_h = facesynth::labels::heuristics::HeuristicSpec::default();
    // The same schema with its attributes in the other order: the eye vote comes before
    // the hair vote whose colour it leaves out.
    let mut reversed = schema.clone();
    reversed.attributes.reverse();
    let (mut with, mut without, mut n) = (0, 0, 0);
    for i in 0..spec.n {
        let (row, img) = synth::synth_one(&spec, i);
        // All attributes at once (each region clustered once) vote as one at a time do.
        let one_by_one: Vec<_> = schema
            .attributes
            .iter()
            .map(|a| labels::heuristics::vote_in_schema(&img, &schema, a, &spec_h))
            .collect();
        let all = labels::heuristics::votes_in_schema(&img, &schema, &spec_h);
        assert_eq!(all, one_by_one, "face {i}");
        let mut all_reversed = labels::heuristics::votes_in_schema(&img, &reversed, &spec_h);
        all_reversed.reverse();
        assert_eq!(all_reversed, one_by_one, "face {i}, attributes reversed");
        if row.skin_tone == "dark" {
            continue;
        }
        n += 1;
        let right = |v: Option<labels::heuristics::Vote>| {
            v.is_some_and(|v| eye.values[v.value] == row.eye_color) as usize
        };
        with += right(labels::heuristics::vote_in_schema(
            &img, &schema, eye, &spec_h,
        ));
        without += right(labels::heuristics::vote(&img, eye, &spec_h));
    }
    let (with, without) = (with as f32 / n as f32, without as f32 / n as f32);
    eprintln!("eye right on {with:.3} of {n} faces with the hair excluded, {without:.3} without");
    assert!(
        with >= 0.7 && with >= without + 0.2,
        "{with:.3} vs {without:.3}"
    );
}

/// Heuristic labels that people contradict stop training the CNN; ones people confirm
/// keep training it.
#[test]
fn heuristic_labels_train_only_while_people_agree() {
    let schema = Schema::load(&anime()).unwrap();
    for agree in [false, true] {
        let d = synth_data(80, 5);
        labels::init(&anime(), d.path(), Q).unwrap();
        let votes =
            labels::LabelStore::load(&d.path().join("labels/heuristics.csv"), &schema).unwrap();
        let hair = &schema.attributes[schema.attribute_index("hair_color").unwrap()];
        let confident: Vec<&labels::Label> = votes
            .iter()
            .filter(|l| l.attribute == "hair_color" && l.confidence >= 0.5)
            .take(labels::trust::MIN_OVERLAP + 5)
            .collect();
        assert!(
            confident.len() > labels::trust::MIN_OVERLAP,
            "only {} confident hair votes on the synthetic faces",
            confident.len()
        );
        let mut csv = String::from("file,attribute,value\n");
        for l in &confident {
            let value = if agree {
                l.value.clone()
            } else {
                hair.values.iter().find(|v| **v != l.value).unwrap().clone()
            };
            csv += &format!("{},hair_color,{value}\n", l.file);
        }
        import_answers(d.path(), &csv);
        let spec = RoundSpec {
            queue: 2,
            size: 16,
            train: tiny_train(),
            ..RoundSpec::default()
        };
        // Two rounds: the first one's votes and training stand for the second. Neither
        // is calibrated (under 40 people's labels: nothing held out), so neither
        // accepts a model label even at threshold 0.
        let spec = RoundSpec {
            threshold: 0.0,
            ..spec
        };
        labels::round(d.path(), &spec, Q).unwrap();
        let r = labels::round(d.path(), &spec, Q).unwrap();
        let store = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
        assert!(
            store.iter().all(|l| l.source != Source::Model),
            "uncalibrated rounds accept no model label"
        );
        let (share, n, trusted) = r.info.heuristic_agreement["hair_color"];
        assert_eq!(n, confident.len());
        assert_eq!(share, if agree { 1.0 } else { 0.0 });
        assert_eq!(trusted, agree);
        // Under 40 human labels nothing is held out for calibration: the people's images
        // train, with every confident eye vote (no person contradicted those) and, only
        // when trusted, the other confident hair votes.
        let expected: std::collections::BTreeSet<&str> = votes
            .iter()
            .filter(|l| l.confidence >= 0.5 && (agree || l.attribute == "eye_color"))
            .chain(confident.iter().copied())
            .map(|l| l.file.as_str())
            .collect();
        assert_eq!(r.info.train_samples, expected.len(), "{:?}", r.info);
        // A round that accepts no model label: the store's hair labels are the votes
        // again where trusted (those the first round's model labels displaced are back),
        // and none where people contradicted the heuristic.
        let none = RoundSpec {
            threshold: 1.1,
            ..spec
        };
        labels::round(d.path(), &none, Q).unwrap();
        let store = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
        let hair_votes = |src: Source| {
            store
                .iter()
                .filter(|l| l.source == src && l.attribute == "hair_color")
                .count()
        };
        let people = hair_votes(Source::Human);
        let expected_votes = if agree {
            votes
                .iter()
                .filter(|v| v.attribute == "hair_color")
                .filter(|v| store.get(&v.file, "hair_color").unwrap().source != Source::Human)
                .count()
        } else {
            0
        };
        assert_eq!(
            hair_votes(Source::Heuristic),
            expected_votes,
            "{people} people's"
        );
        assert_eq!(hair_votes(Source::Model), 0);
    }
}

/// A heuristic whose votes never train (all under the training threshold here) is still
/// judged by people before its votes stand as labels: contradicted, they leave the store.
#[test]
fn contradicted_votes_leave_the_store_even_when_none_trains() {
    let schema = Schema::load(&anime()).unwrap();
    let d = synth_data(60, 7);
    labels::init(&anime(), d.path(), Q).unwrap();
    let votes = labels::LabelStore::load(&d.path().join("labels/heuristics.csv"), &schema).unwrap();
    let eye = &schema.attributes[schema.attribute_index("eye_color").unwrap()];
    let eye_votes: Vec<&labels::Label> = votes
        .iter()
        .filter(|l| l.attribute == "eye_color")
        .take(labels::trust::MIN_OVERLAP + 5)
        .collect();
    assert!(eye_votes.len() > labels::trust::MIN_OVERLAP);
    let mut csv = String::from("file,attribute,value\n");
    for l in &eye_votes {
        let other = eye.values.iter().find(|v| **v != l.value).unwrap();
        csv += &format!("{},eye_color,{other}\n", l.file);
    }
    import_answers(d.path(), &csv);
    let spec = RoundSpec {
        queue: 0,
        size: 16,
        threshold: 1.1,           // no model label
        heuristic_threshold: 1.1, // no vote trains, so none is measured for training
        train: tiny_train(),
        ..RoundSpec::default()
    };
    let r = labels::round(d.path(), &spec, Q).unwrap();
    assert!(!r.info.heuristic_agreement.contains_key("eye_color"));
    let (share, n, stands) = r.info.heuristic_labels["eye_color"];
    assert_eq!((share, n, stands), (0.0, eye_votes.len(), false));
    let store = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
    let left = |attr: &str| {
        store
            .iter()
            .filter(|l| l.source == Source::Heuristic && l.attribute == attr)
            .count()
    };
    assert_eq!(left("eye_color"), 0, "contradicted eye votes withdrawn");
    assert!(
        left("hair_color") > 0,
        "hair votes, never contradicted, stay"
    );
}

/// A network that has learned next to nothing (two steps) loses to the eye heuristic on
/// the held-out answers, so the votes stand in for its predictions: in the store, in
/// `predictions.csv` and in the reported accuracy, which then follows the heuristic's.
#[test]
fn a_heuristic_that_beats_the_network_on_held_out_answers_stands_in() {
    let d = synth_data(160, 12);
    let spec = tiny_simulate(d.path(), 80, 2, 0.25, RoundSpec::default());
    labels::init(&anime(), d.path(), Q).unwrap();
    let r = labels::simulate(d.path(), &spec, Q).unwrap();
    let schema = Schema::load(&anime()).unwrap();
    let rounds = labels::session::read_rounds(&labels::Paths::new(d.path())).unwrap();
    let (duel, leads) = rounds.last().unwrap().heuristic_duel["eye_color"];
    assert!(leads && duel.heuristic > duel.network, "{duel:?}");
    let last = r.curve.last().unwrap();
    let eye = last.accuracy["eye_color"];
    assert!(
        eye >= 0.5 && eye >= r.heuristic["eye_color"].accuracy - 0.1,
        "eye {eye} after the votes stood in; heuristic alone {:?}",
        r.heuristic["eye_color"]
    );
    // The votes are the eye labels of the images nobody answered, and the predictions.
    let store = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
    let votes = labels::LabelStore::load(&d.path().join("labels/heuristics.csv"), &schema).unwrap();
    let predictions = std::fs::read_to_string(d.path().join("labels/predictions.csv")).unwrap();
    let mut checked = 0;
    for v in votes.iter().filter(|v| v.attribute == "eye_color") {
        let l = store.get(&v.file, "eye_color").unwrap();
        if l.source != Source::Human {
            assert_eq!((l.source, &l.value), (Source::Heuristic, &v.value));
            let row = format!("{},eye_color,{},", v.file, v.value);
            assert!(predictions.contains(&row), "{row}");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}
