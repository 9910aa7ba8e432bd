//! Schemas and their validation, the store ("human wins"), `label status`, export and import.

use super::*;

#[test]
fn every_shipped_schema_parses() {
    for e in std::fs::read_dir(root().join("labels")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            Schema::load(&p).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// `label status` prints a table to read, `--json` the report as JSON, `-q` nothing.
#[test]
fn status_prints_a_summary_or_json() {
    let d = synth_data(12, 3);
    labels::init(&anime(), d.path(), Q).unwrap();
    let data = d.path().to_str().unwrap();
    let status = |extra: &[&str]| {
        let args: Vec<&str> = ["label", "status", "--data", data]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        String::from_utf8(run_ok(&args).stdout).unwrap()
    };
    let text = status(&[]);
    assert!(text.starts_with("12 images, 0 questions pending"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("hair_color ")), "{text}");
    assert!(text.contains("no round yet"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&status(&["--json"])).unwrap();
    assert_eq!(json["images"], 12);
    assert!(status(&["-q"]).is_empty());
}

#[test]
fn bad_values_and_headers_are_rejected_naming_file_line_value() {
    let d = synth_data(12, 1);
    labels::init(&anime(), d.path(), Q).unwrap();
    let bad = d.path().join("answers.csv");
    std::fs::write(
        &bad,
        "file,hair_color\nimages/00000.png,red\nimages/00001.png,chartreuse\n",
    )
    .unwrap();
    let e = labels::import(d.path(), &bad, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("answers.csv") && e.contains("line 3") && e.contains("chartreuse"),
        "{e}"
    );
    std::fs::write(&bad, "path,colour\nimages/00000.png,red\n").unwrap();
    let e = labels::import(d.path(), &bad, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("header"), "{e}");
    // The same through the binary: a non-zero exit and the message on stderr.
    let out = bin()
        .args(["label", "import"])
        .arg(&bad)
        .arg("--data")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("answers.csv"));
    // The store itself is checked on load.
    let store = d.path().join("labels/labels.csv");
    let mut text = std::fs::read_to_string(&store).unwrap();
    text.push_str("images/00003.png,eye_color,mauve,1,human,0\n");
    std::fs::write(&store, text).unwrap();
    let e = labels::status(d.path()).unwrap_err().to_string();
    assert!(e.contains("labels.csv") && e.contains("mauve"), "{e}");
}

/// Regression: with labels.csv deleted (schema.toml still there) `label status` showed
/// zeros and a round went on as if no person had answered.
#[test]
fn a_missing_store_is_an_error_not_an_empty_one() {
    let d = synth_data(8, 2);
    labels::init(&anime(), d.path(), Q).unwrap();
    std::fs::remove_file(d.path().join("labels/labels.csv")).unwrap();
    let e = labels::status(d.path()).unwrap_err().to_string();
    assert!(e.contains("labels.csv") && e.contains("missing"), "{e}");
    // `label init` starts over.
    labels::init(&anime(), d.path(), Q).unwrap();
    labels::status(d.path()).unwrap();
}

/// Regression: a wide tags file of a larger set reported every row's empty cells as
/// skipped, those of images the dataset does not have among them.
#[test]
fn import_counts_the_empty_cells_of_the_datasets_images_only() {
    let d = synth_data(12, 2);
    labels::init(&anime(), d.path(), Q).unwrap();
    let wide = d.path().join("tags.csv");
    std::fs::write(
        &wide,
        "file,hair_color,eye_color\nimages/00000.png,red,\nimages/00001.png,,\n\
         elsewhere/1.png,,\nelsewhere/2.png,blue,\n",
    )
    .unwrap();
    let r = labels::import(d.path(), &wide, None).unwrap();
    assert_eq!((r.answers, r.unmatched, r.skipped), (1, 2, 3));
    let answers = d.path().join("answers.csv");
    std::fs::write(
        &answers,
        "file,attribute,value\nimages/00002.png,eye_color,skip\nelsewhere/1.png,eye_color,skip\n",
    )
    .unwrap();
    let r = labels::import(d.path(), &answers, None).unwrap();
    assert_eq!(r.skipped, 1);
}

#[test]
fn human_labels_win_over_init_and_rounds() {
    let d = synth_data(40, 2);
    labels::init(&anime(), d.path(), Q).unwrap();
    let answers = d.path().join("a.csv");
    // A deliberately "wrong" human answer must survive re-init and a round.
    std::fs::write(&answers, "file,attribute,value\nimages/00000.png,hair_color,white\nimages/00001.png,eye_color,skip\n").unwrap();
    let r = labels::import(d.path(), &answers, None).unwrap();
    assert_eq!(
        (r.layout.as_str(), r.imported, r.skipped),
        ("answers", 1, 1)
    );
    // Regression: `skip` typed into an answers file left the question pending (the page
    // asked it again); it is recorded as the page's skip is.
    let paths = labels::Paths::new(d.path());
    assert!(labels::queue::read_skipped(&paths)
        .unwrap()
        .contains(&("images/00001.png".to_string(), "eye_color".to_string())));
    // The same file again: one answer, one image, nothing changed.
    let r = labels::import(d.path(), &answers, None).unwrap();
    assert_eq!((r.answers, r.images, r.imported), (1, 1, 0));
    labels::init(&anime(), d.path(), Q).unwrap();
    let spec = RoundSpec {
        queue: 5,
        size: 16,
        train: TrainSpec {
            steps: 3,
            batch: 8,
            channels: [4, 8, 8, 8],
            ..TrainSpec::default()
        },
        threshold: 0.0,
        // Two networks: the ensemble's path through the round.
        ensemble: 2,
        ..RoundSpec::default()
    };
    // Regression: with nothing held out to calibrate it, the first round accepted the
    // network's own confidences as labels (on 400 anime faces, 375 hair labels, 54% right).
    let r = labels::round(d.path(), &spec, Q).unwrap();
    assert_eq!(r.info.accepted["hair_color"], 0, "{}", r.info);
    assert!(r.info.to_string().contains("none until"), "{}", r.info);
    // People answer the other images: a held-out split calibrates the next round.
    let truth = std::fs::read_to_string(d.path().join("truth.csv")).unwrap();
    let rest: String = truth
        .lines()
        .filter(|l| !l.starts_with("images/00000.png") && !l.starts_with("images/00001.png"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&answers, rest).unwrap();
    labels::import(d.path(), &answers, None).unwrap();
    let r = labels::round(d.path(), &spec, Q).unwrap();
    assert!(r.info.train_seconds > 0.0 && r.info.predict_seconds > 0.0);
    assert!(r.info.train_seconds + r.info.predict_seconds <= r.info.seconds);
    let store = labels::LabelStore::load(
        &d.path().join("labels/labels.csv"),
        &Schema::load(&anime()).unwrap(),
    )
    .unwrap();
    let l = store.get("images/00000.png", "hair_color").unwrap();
    assert_eq!((l.value.as_str(), l.source), ("white", Source::Human));
    // Regression: the same answers again, a round later, counted as imported and took
    // the new round's number.
    let again = labels::import(d.path(), &answers, None).unwrap();
    assert_eq!((again.imported, again.images), (0, 38), "{again:?}");
    // Calibrated now, the round labels what people left open (on synthetic faces the
    // colour rule beats a 3-step network, so its votes stand in), never over a person.
    assert!(
        store.iter().any(|l| l.source != Source::Human),
        "the round labels what people did not: {}",
        r.info
    );
    // Regression: `init` again put its votes over the rounds' model labels.
    let schema = Schema::load(&anime()).unwrap();
    let mut store = store;
    let vote = store
        .iter()
        .find(|l| l.source == Source::Heuristic)
        .cloned()
        .unwrap();
    let (file, attr) = (vote.file.clone(), vote.attribute.clone());
    let (file, attr) = (file.as_str(), attr.as_str());
    let other = schema.attributes[schema.attribute_index(attr).unwrap()]
        .values
        .iter()
        .find(|v| **v != vote.value)
        .unwrap()
        .clone();
    store.set(labels::Label {
        value: other.clone(),
        confidence: 0.97,
        source: Source::Model,
        round: 2,
        ..vote
    });
    store.save(&d.path().join("labels/labels.csv")).unwrap();
    labels::init(&anime(), d.path(), Q).unwrap();
    let again = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
    let l = again.get(file, attr).unwrap();
    assert_eq!(
        (&l.value, l.source),
        (&other, Source::Model),
        "init kept the model label"
    );
    // No temporary file is left next to the store.
    let left: Vec<_> = std::fs::read_dir(d.path().join("labels"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty());
    let st = labels::status(d.path()).unwrap();
    assert_eq!(st.images, 40);
    assert!(st.pending > 0);
}

/// Regression: importing a dataset's own export stored every label it held, heuristic
/// and model ones too, as a person's, which no round replaces.
#[test]
fn a_datasets_own_export_reads_back_only_what_a_person_changed() {
    let d = synth_data(30, 3);
    labels::init(&anime(), d.path(), Q).unwrap();
    let schema = Schema::load(&d.path().join("labels/schema.toml")).unwrap();
    let humans = || {
        labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema)
            .unwrap()
            .iter()
            .filter(|l| l.source == Source::Human)
            .count()
    };
    labels::export(d.path(), false, 0.0).unwrap();
    let wide = d.path().join("labels_wide.csv");
    let r = labels::import(d.path(), &wide, None).unwrap();
    assert_eq!(r.imported, 0, "{r:?}");
    assert!(r.own_export_unchanged > 0, "{r:?}");
    assert_eq!(humans(), 0);
    // One cell changed by a person: that one is an answer.
    let text = std::fs::read_to_string(&wide).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    cells[1] = if cells[1] == "red" {
        "blue".into()
    } else {
        "red".into()
    };
    lines[1] = cells.join(",");
    std::fs::write(&wide, lines.join("\n") + "\n").unwrap();
    let r = labels::import(d.path(), &wide, None).unwrap();
    assert_eq!(r.imported, 1, "{r:?}");
    assert_eq!(humans(), 1);
}

/// Regression: a file answering one question two ways (two rows naming one image, an
/// image copied into two value folders) was applied in order: the last won silently.
#[test]
fn one_question_answered_two_ways_in_one_file_is_refused() {
    let d = synth_data(30, 3);
    labels::init(&anime(), d.path(), Q).unwrap();
    let wide = d.path().join("answers.csv");
    std::fs::write(
        &wide,
        "file,hair_color\nimages/00000.png,red\nimages/00001.png,red\n00000.png,blue\n",
    )
    .unwrap();
    let e = labels::import(d.path(), &wide, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2") && e.contains("line 4") && e.contains("answers.csv"),
        "{e}"
    );
    // The same answer twice is no conflict.
    std::fs::write(
        &wide,
        "file,hair_color\nimages/00000.png,red\n00000.png,red\n",
    )
    .unwrap();
    let r = labels::import(d.path(), &wide, None).unwrap();
    assert_eq!(r.imported, 1, "{r:?}");
    let tree = d.path().join("tree");
    for v in ["blue", "green"] {
        std::fs::create_dir_all(tree.join(v)).unwrap();
        std::fs::copy(
            d.path().join("images/00002.png"),
            tree.join(v).join("00002.png"),
        )
        .unwrap();
    }
    let e = labels::import(d.path(), &tree, Some("hair_color"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("blue/00002.png") && e.contains("green/00002.png"),
        "{e}"
    );
}

/// Regression: an answer typed into a cell the export left empty (or one it filled
/// otherwise) was dropped when it equalled the store's label under the export's floor or
/// an unaccepted prediction the export never showed.
#[test]
fn an_own_export_answer_is_read_against_what_the_export_wrote() {
    let d = synth_data(30, 3);
    labels::init(&anime(), d.path(), Q).unwrap();
    let schema = Schema::load(&d.path().join("labels/schema.toml")).unwrap();
    let store = || labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
    let file = "images/00000.png";
    // The model's unaccepted guess for the image's hair, which the export does not show.
    let guess = match store().get(file, "hair_color").map(|l| l.value.clone()) {
        Some(v) if v == "blue" => "red",
        _ => "blue",
    };
    std::fs::write(
        d.path().join("labels/predictions.csv"),
        format!("file,attribute,value,confidence\n{file},hair_color,{guess},0.4\n"),
    )
    .unwrap();
    // A floor over every vote: the export's hair cells are all empty.
    labels::export(d.path(), false, 1.0).unwrap();
    let wide = d.path().join("labels_wide.csv");
    let mut rdr = csv::Reader::from_path(&wide).unwrap();
    let header = rdr.headers().unwrap().clone();
    let hair = header.iter().position(|h| h == "hair_color").unwrap();
    let mut rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let row = rows.iter_mut().find(|r| r[0] == file).unwrap();
    assert_eq!(row[hair], "", "the export left it empty");
    // The person types the guess, and in another row the stored vote itself.
    row[hair] = guess.to_string();
    let other = rows
        .iter_mut()
        .find(|r| r[0] != file && store().get(&r[0], "hair_color").is_some())
        .unwrap();
    let voted = store().get(&other[0], "hair_color").unwrap().value.clone();
    other[hair] = voted.clone();
    let other_file = other[0].clone();
    let mut wtr = csv::Writer::from_path(&wide).unwrap();
    wtr.write_record(&header).unwrap();
    for r in &rows {
        wtr.write_record(r).unwrap();
    }
    wtr.flush().unwrap();
    drop(wtr);
    let r = labels::import(d.path(), &wide, None).unwrap();
    assert_eq!(r.imported, 2, "{r:?}");
    let s = store();
    for (f, v) in [(file, guess), (other_file.as_str(), voted.as_str())] {
        let l = s.get(f, "hair_color").unwrap();
        assert_eq!((l.value.as_str(), l.source), (v, Source::Human), "{f}");
    }
}

#[test]
fn export_then_import_image_folder_and_wide() {
    let d = synth_data(30, 3);
    labels::init(&anime(), d.path(), Q).unwrap();
    let truth = d.path().join("truth.csv");
    let r = labels::import(d.path(), &truth, None).unwrap();
    assert_eq!((r.layout.as_str(), r.imported), ("wide", 60));
    let e = labels::export(d.path(), false, 0.0).unwrap();
    assert_eq!(e.rows, 30);
    let wide = std::fs::read_to_string(d.path().join("labels_wide.csv")).unwrap();
    assert!(wide.starts_with("file,hair_color,eye_color\nimages/00000.png,"));
    // A fresh dataset of the same images takes the ImageFolder back, past a notebook's
    // hidden folder and a zip's __MACOSX (they refused the whole import).
    let d2 = synth_data(30, 3);
    labels::init(&anime(), d2.path(), Q).unwrap();
    for junk in [".ipynb_checkpoints", "__MACOSX"] {
        std::fs::create_dir_all(d.path().join("imagefolder/hair_color").join(junk)).unwrap();
    }
    let r = labels::import(
        d2.path(),
        &d.path().join("imagefolder/hair_color"),
        Some("hair_color"),
    )
    .unwrap();
    assert_eq!(
        (r.layout.as_str(), r.imported, r.unmatched),
        ("imagefolder", 30, 0)
    );
    let q = labels::queue::queue(d2.path(), 8).unwrap();
    assert_eq!(q.images, 8);
    assert!(q.contact_sheet.is_file());
    // Regression: a second export removed the whole tree, a person's notes in it too.
    let root = d.path().join("imagefolder");
    let value_dir = std::fs::read_dir(root.join("hair_color"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::create_dir_all(root.join("notes")).unwrap();
    std::fs::write(root.join("notes/README.txt"), "mine").unwrap();
    std::fs::write(value_dir.join("mine.txt"), "mine").unwrap();
    // One answer changes: its link moves to the new value's folder.
    let moved = std::fs::read_dir(&value_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".png"))
        .unwrap();
    let old_value = value_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let new_value = if old_value == "pink" { "red" } else { "pink" };
    import_answers(
        d.path(),
        &format!("file,attribute,value\nimages/{moved},hair_color,{new_value}\n"),
    );
    labels::export(d.path(), false, 0.0).unwrap();
    assert!(root.join("notes/README.txt").is_file());
    assert!(value_dir.join("mine.txt").is_file());
    assert!(!value_dir.join(&moved).exists());
    assert!(root
        .join("hair_color")
        .join(new_value)
        .join(&moved)
        .is_file());
    // An image taken out of the folder (no manifest here: the index no longer lists it):
    // the next export removes its links too (they once stayed, and `train` took them).
    let pngs = || {
        walkdir::WalkDir::new(&root)
            .into_iter()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
            .count()
    };
    assert_eq!(pngs(), 60);
    std::fs::remove_file(d.path().join("images").join(&moved)).unwrap();
    let e = labels::export(d.path(), false, 0.0).unwrap();
    assert_eq!((e.rows, pngs()), (29, 58));
    assert!(!root
        .join("hair_color")
        .join(new_value)
        .join(&moved)
        .exists());
    // A manifest that still lists it: reported missing, every other image written.
    let mut manifest = "source,output,status,reason,dup_of,crop_x,crop_y,crop_w,crop_h,\
                        src_w,src_h,bytes,phash,dhash\n"
        .to_string();
    for k in 0..30 {
        manifest += &format!("raw/{k:05}.png,images/{k:05}.png,kept{}\n", ",".repeat(11));
    }
    std::fs::write(d.path().join("manifest.csv"), manifest).unwrap();
    let e = labels::export(d.path(), false, 0.0).unwrap();
    assert_eq!((e.rows, pngs()), (30, 58));
    assert!(
        e.missing.len() == 1 && e.missing[0].contains(&moved),
        "{:?}",
        e.missing
    );
}

/// Regression: `label queue --k 5000` drew every face on one 982 x 49,002 px sheet that
/// viewers refuse; the sheet shows the first `SHEET_MAX`, the queue keeps them all.
#[test]
fn a_long_queue_draws_a_sheet_of_bounded_size() {
    let max = labels::queue::SHEET_MAX;
    let d = synth_data(max + 5, 6);
    labels::init(&anime(), d.path(), Q).unwrap();
    let q = labels::queue::queue(d.path(), max + 5).unwrap();
    assert_eq!((q.images, q.on_sheet), (max + 5, max));
    let sheet = image::open(&q.contact_sheet).unwrap();
    assert_eq!(sheet.height(), (max as u32 / 10) * 98 + 2);
}

/// Regression: `a.jpg` and `a.png` (two different images) share the source name `a`, and a
/// label file naming `a` went silently to whichever row came last; it now matches neither,
/// while `a.jpg` and `a.png` find their own.
#[test]
fn a_source_name_two_images_share_names_neither() {
    let synth = synth_data(2, 8);
    let raw = synth.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for (k, ext) in [(0, "jpg"), (1, "png")] {
        let img = image::open(synth.path().join(format!("images/0000{k}.png"))).unwrap();
        img.save(raw.join(format!("a.{ext}"))).unwrap();
    }
    let out = synth.path().join("out");
    facesynth::prep::run(&raw, &out, &Default::default(), Q).unwrap();
    labels::init(&anime(), &out, Q).unwrap();
    let index = facesynth::labels::index::DatasetIndex::open(&out).unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(index.resolve("a"), None);
    let (jpg, png) = (
        index.resolve("a.jpg").unwrap(),
        index.resolve("a.png").unwrap(),
    );
    assert_ne!(jpg, png);
    let f = synth.path().join("t.csv");
    std::fs::write(&f, "file,hair_color\na,red\n").unwrap();
    let e = labels::import(&out, &f, None).unwrap_err().to_string();
    assert!(
        e.contains("none of its 1 names") && e.contains("a (names several images"),
        "{e}"
    );
    assert!(index.is_ambiguous("a") && !index.is_ambiguous("a.jpg"));
}

/// What a person meets with files from elsewhere: a truth file keyed by the raw folder's
/// names (`images/5.jpg` where prep wrote `images/5.png`) still matches; one matching
/// nothing is an error naming what failed; Excel's byte-order mark and blank lines are
/// read as an editor shows them; a re-init with another schema changes nothing; a cause
/// is printed once.
#[test]
fn files_from_elsewhere_match_or_fail_naming_why() {
    let d = synth_data(12, 4);
    labels::init(&anime(), d.path(), Q).unwrap();
    let f = d.path().join("tags.csv");
    std::fs::write(&f, "file,hair_color\nimages/00003.jpg,red\n").unwrap();
    assert_eq!(labels::import(d.path(), &f, None).unwrap().imported, 1);
    std::fs::write(&f, "file,hair_color\nraw/a.jpg,red\nraw/b.jpg,blue\n").unwrap();
    let e = labels::import(d.path(), &f, None).unwrap_err().to_string();
    assert!(
        e.contains("tags.csv") && e.contains("none of its 2 names") && e.contains("raw/a.jpg"),
        "{e}"
    );
    // A blank line before the bad row: the line an editor shows.
    std::fs::write(
        &f,
        "file,hair_color\nimages/00000.png,red\n\nimages/00001.png,mauve\n",
    )
    .unwrap();
    let e = labels::import(d.path(), &f, None).unwrap_err().to_string();
    assert!(e.contains("line 4") && e.contains("mauve"), "{e}");
    // A byte-order mark before labels.csv's header.
    let store = d.path().join("labels/labels.csv");
    let text = std::fs::read(&store).unwrap();
    std::fs::write(&store, [&b"\xef\xbb\xbf"[..], &text].concat()).unwrap();
    let status = labels::status(d.path()).unwrap();
    assert_eq!(status.images, 12);
    // A label of an image a re-prep removed: kept in the store, not counted.
    let mut text = std::fs::read_to_string(&store).unwrap();
    text += "images/gone.png,hair_color,red,1.0000,human,0\n";
    std::fs::write(&store, &text).unwrap();
    let again = labels::status(d.path()).unwrap();
    assert_eq!(again.elsewhere, 1);
    assert_eq!(again.by_source, status.by_source);
    // A re-init with a schema the store does not fit: an error, the old copy kept.
    let copy = d.path().join("labels/schema.toml");
    let before = std::fs::read(&copy).unwrap();
    let photo = root().join("labels/photo.toml");
    assert!(labels::init(&photo, d.path(), Q).is_err());
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    labels::status(d.path()).unwrap();
    // A hand-edited queue with a misspelt attribute: `label serve` says where.
    let queue = d.path().join("labels/queue.csv");
    std::fs::write(
        &queue,
        "file,attribute,value,suggestion,confidence,round\n\
         images/00000.png,hair_color,,red,0.5,1\nimages/00001.png,hair_colour,,red,0.5,1\n",
    )
    .unwrap();
    let e = labels::serve::start(d.path(), 0).err().unwrap().to_string();
    assert!(
        e.contains("queue.csv") && e.contains("line 3") && e.contains("hair_colour"),
        "{e}"
    );
    // A row naming its image otherwise than by its path: the page showed no image and
    // took no answer for it; now refused with the path to write.
    std::fs::write(
        &queue,
        "file,attribute,value,suggestion,confidence,round
00001.png,hair_color,,red,0.5,1
",
    )
    .unwrap();
    let e = labels::serve::start(d.path(), 0).err().unwrap().to_string();
    assert!(
        e.contains("line 2") && e.contains("write it as \"images/00001.png\""),
        "{e}"
    );
    std::fs::remove_file(&queue).unwrap();
    // A missing file's cause once, not twice.
    let o = bin()
        .args([
            "label",
            "import",
            "--data",
            d.path().to_str().unwrap(),
            "nothere.csv",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    // Out-of-range settings are a bad command line.
    for bad in [
        ["--threshold", "1.5"],
        ["--threshold", "NaN"],
        ["--size", "4"],
        ["--steps", "0"],
    ] {
        let o = bin()
            .args(["label", "round", "--data", d.path().to_str().unwrap()])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
}

/// Second review: `label queue` leaves an existing queue (and the answers typed into it)
/// as it is; neither a round nor `label queue` asks again about an image whose every
/// question was skipped; out-of-range simulation settings are refused.
#[test]
fn the_queue_keeps_typed_answers_and_skipped_images_are_not_asked_again() {
    let d = synth_data(16, 5);
    labels::init(&anime(), d.path(), Q).unwrap();
    let paths = labels::Paths::new(d.path());
    let queue = d.path().join("labels/queue.csv");
    let typed = "file,attribute,value,suggestion,confidence,round\n\
                 images/00000.png,hair_color,red,red,0.5,1\n\
                 images/00001.png,hair_color,,blue,0.4,1\n";
    std::fs::write(&queue, typed).unwrap();
    let q = labels::queue::queue(d.path(), 5).unwrap();
    assert_eq!(std::fs::read_to_string(&queue).unwrap(), typed);
    // The report says the pending queue was kept (and k unused).
    assert!(!q.drawn && q.items == 2, "{q:?}");
    // Once every question is answered, a new queue of k images takes its place.
    import_answers(
        d.path(),
        "file,hair_color\nimages/00000.png,red\nimages/00001.png,blue\n",
    );
    assert!(labels::queue::queue(d.path(), 5).unwrap().drawn);
    let fresh = labels::queue::read_queue(&paths).unwrap();
    let images: std::collections::HashSet<&str> = fresh.iter().map(|it| it.file.as_str()).collect();
    assert_eq!(images.len(), 5, "{fresh:?}");
    std::fs::remove_file(&queue).unwrap();
    // Every question of all images but two skipped: the round queues only those two.
    let index = labels::index::DatasetIndex::open(d.path()).unwrap();
    let open = ["images/00003.png", "images/00007.png"];
    for f in &index.images {
        if !open.contains(&f.as_str()) {
            for a in ["hair_color", "eye_color"] {
                labels::queue::add_skip(&paths, f, a).unwrap();
            }
        }
    }
    let spec = RoundSpec {
        queue: 6,
        strategy: Strategy::Random,
        size: 16,
        train: tiny_train(),
        ..RoundSpec::default()
    };
    let rep = labels::round(d.path(), &spec, Q).unwrap();
    let mut queued: Vec<&str> = rep
        .queued
        .iter()
        .map(|&i| index.images[i].as_str())
        .collect();
    queued.sort();
    assert_eq!(queued, open);
    // Nor does `label queue`: a queue built afresh asks about those two only (it once
    // chose skipped images first, the least confident, and had nothing pending).
    std::fs::remove_file(&queue).unwrap();
    let q = labels::queue::queue(d.path(), 6).unwrap();
    let mut fresh: Vec<String> = labels::queue::read_queue(&paths)
        .unwrap()
        .into_iter()
        .map(|it| it.file)
        .collect();
    fresh.sort();
    fresh.dedup();
    assert_eq!((q.images, fresh), (2, open.map(String::from).to_vec()));
    // Settings that would measure nothing or diverge: a bad command line.
    let data = d.path().to_str().unwrap();
    for bad in [
        ["--holdout", "0"],
        ["--holdout", "1"],
        ["--refit-lr", "nan"],
    ] {
        let o = bin()
            .args(["label", "simulate", "--data", data, "--oracle", "x.csv"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    let o = bin()
        .args(["label", "simulate", "--data", data, "--oracle", "x.csv"])
        .args(["--budget", "10", "--schedule", "20,40"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // Flags that contradict each other are a bad command line (they exited 1).
    assert!(
        o.status.code() == Some(2) && err.contains("above --budget 10"),
        "{err}"
    );
    // A queue size simulate would ignore, a schedule that does not rise, and (regression:
    // they exited 0 and did nothing) rounds beside a schedule, refit settings without a
    // refit.
    for (bad, says) in [
        (&["--queue", "10"][..], "--queue does not apply"),
        (&["--schedule", "40,20"], "must rise (20 after 40)"),
        (&["--schedule", "10,20", "--rounds", "3"], "give one"),
        (
            &["--refit", "false", "--refit-steps", "100"],
            "--refit false",
        ),
        (&["--refit", "false", "--refit-lr", "0.1"], "--refit false"),
    ] {
        let o = bin()
            .args(["label", "simulate", "--data", data, "--oracle", "x.csv"])
            .args(bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.code() == Some(2) && err.contains(says), "{err}");
    }
}

/// Regression: with nothing pending (the page skipped a question, the rest answered),
/// `label queue` drew a new queue over an answer typed into the skipped row.
#[test]
fn a_new_queue_waits_for_answers_typed_into_skipped_rows() {
    let d = synth_data(12, 4);
    labels::init(&anime(), d.path(), Q).unwrap();
    let paths = labels::Paths::new(d.path());
    labels::queue::queue(d.path(), 1).unwrap();
    let items = labels::queue::read_queue(&paths).unwrap();
    let file = items[0].file.clone();
    labels::queue::add_skip(&paths, &file, "hair_color").unwrap();
    import_answers(d.path(), &format!("file,eye_color\n{file},blue\n"));
    // The person types into the skipped row after all.
    let queue = paths.queue();
    let mut rdr = csv::Reader::from_path(&queue).unwrap();
    let header = rdr.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let mut wtr = csv::Writer::from_path(&queue).unwrap();
    wtr.write_record(&header).unwrap();
    for r in &rows {
        let mut r: Vec<String> = r.iter().map(String::from).collect();
        if r[0] == file && r[1] == "hair_color" {
            r[2] = "red".into();
        }
        wtr.write_record(&r).unwrap();
    }
    drop(wtr);
    let typed = std::fs::read(&queue).unwrap();
    let e = labels::queue::queue(d.path(), 1).unwrap_err().to_string();
    assert!(e.contains("queue.csv") && e.contains("label import"), "{e}");
    assert_eq!(
        std::fs::read(&queue).unwrap(),
        typed,
        "the typed answer is kept"
    );
}

/// A first round with nothing to learn from (a schema without heuristics, no answers)
/// queues questions without suggestions: Enter on the page must not take a guess.
#[test]
fn a_round_that_learned_nothing_suggests_nothing() {
    let d = synth_data(10, 6);
    labels::init(&root().join("labels/photo.toml"), d.path(), Q).unwrap();
    let spec = tiny_round(4);
    labels::round(d.path(), &spec, Q).unwrap();
    let items = labels::queue::read_queue(&labels::Paths::new(d.path())).unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|it| it.suggestion.is_empty()), "{items:?}");
}

/// Regression: two `label round`s on one dataset both ran and one round's record and
/// queue vanished; while one holds the dataset, another round, simulate or init is
/// refused, and it is free again after.
#[test]
fn a_second_round_on_a_busy_dataset_is_refused() {
    let d = synth_data(12, 9);
    labels::init(&anime(), d.path(), Q).unwrap();
    let paths = labels::Paths::new(d.path());
    let held = paths.hold().unwrap();
    let spec = tiny_round(RoundSpec::default().queue);
    let e = labels::round(d.path(), &spec, Q).unwrap_err().to_string();
    assert!(
        e.contains("another `label init`, `round`, `simulate` or `queue`"),
        "{e}"
    );
    let e = labels::init(&anime(), d.path(), Q).unwrap_err().to_string();
    assert!(e.contains("wait for it to end"), "{e}");
    drop(held);
    labels::round(d.path(), &spec, Q).unwrap();
}

/// Regression: `label queue` wrote a fresh queue without the dataset's lock, so a round
/// running meanwhile overwrote it at its end (or it overwrote the round's). It is refused
/// while a round holds the dataset, but drawing the sheet of a pending queue is not.
#[test]
fn a_fresh_queue_waits_for_a_running_round() {
    let d = synth_data(12, 9);
    labels::init(&anime(), d.path(), Q).unwrap();
    let paths = labels::Paths::new(d.path());
    let held = paths.hold().unwrap();
    let e = labels::queue::queue(d.path(), 3).unwrap_err().to_string();
    assert!(e.contains("wait for it to end"), "{e}");
    assert!(!paths.queue().exists());
    drop(held);
    let first = labels::queue::queue(d.path(), 3).unwrap();
    assert_eq!(first.images, 3);
    let held = paths.hold().unwrap();
    let again = labels::queue::queue(d.path(), 3).unwrap();
    assert_eq!(
        again.items, first.items,
        "the pending queue is drawn as it is"
    );
    drop(held);
}

/// Regression: `label queue` with nothing pending took a slot without a label as
/// confidence 0 with no suggestion, so it queued the first images by name and the page's
/// Enter had nothing to take; the last round's predictions now fill those slots.
#[test]
fn a_fresh_queue_suggests_the_last_rounds_predictions() {
    let d = synth_data(30, 4);
    labels::init(&anime(), d.path(), Q).unwrap();
    // No votes in the store: every slot is open, as after a round withdrew a heuristic.
    let schema = Schema::load(&anime()).unwrap();
    let store_path = d.path().join("labels/labels.csv");
    let mut store = labels::LabelStore::load(&store_path, &schema).unwrap();
    store.clear_source(Source::Heuristic);
    store.save(&store_path).unwrap();
    labels::round(d.path(), &tiny_round(0), Q).unwrap();
    let mut store = labels::LabelStore::load(&store_path, &schema).unwrap();
    store.clear_source(Source::Heuristic);
    store.save(&store_path).unwrap();
    let _ = std::fs::remove_file(d.path().join("labels/queue.csv"));
    let q = labels::queue::queue(d.path(), 5).unwrap();
    assert_eq!(q.images, 5);
    let text = std::fs::read_to_string(d.path().join("labels/queue.csv")).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 10, "{text}");
    assert!(
        rows.iter().all(|r| !r[3].is_empty()),
        "a suggestion on every row: {text}"
    );
    // The least sure images: each queued one's least confident slot is no surer than
    // any image left out.
    let preds = std::fs::read_to_string(d.path().join("labels/predictions.csv")).unwrap();
    let mut least: std::collections::BTreeMap<&str, f32> = Default::default();
    for l in preds.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let c: f32 = f[3].parse().unwrap();
        let e = least.entry(f[0]).or_insert(f32::MAX);
        *e = e.min(c);
    }
    let queued: std::collections::HashSet<&str> = rows.iter().map(|r| r[0]).collect();
    let worst_in = queued.iter().map(|f| least[f]).fold(0.0, f32::max);
    let best_out = least
        .iter()
        .filter(|(f, _)| !queued.contains(*f))
        .map(|(_, c)| *c)
        .fold(f32::MAX, f32::min);
    assert!(worst_in <= best_out, "{worst_in} > {best_out}");
}

/// A round writes its new queue over neither answers typed into `queue.csv` and never
/// imported nor a new history over a `rounds.json` it cannot read (it once lost the
/// first silently and restarted the second at round 1): both stop it before any work,
/// naming the file, and leave the file as it was.
#[test]
fn a_round_keeps_typed_answers_and_an_unreadable_history() {
    let d = synth_data(16, 5);
    labels::init(&anime(), d.path(), Q).unwrap();
    labels::round(d.path(), &tiny_round(4), Q).unwrap();
    let queue = d.path().join("labels/queue.csv");
    let text = std::fs::read_to_string(&queue).unwrap();
    // "red" is a value of both attributes: typed into the first question's value cell.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    cells[2] = "red".into();
    lines[1] = cells.join(",");
    let typed = lines.join("\n") + "\n";
    std::fs::write(&queue, &typed).unwrap();
    let err = labels::round(d.path(), &tiny_round(4), Q)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("queue.csv") && err.contains("1 answer(s)") && err.contains("label import"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&queue).unwrap(), typed);
    // Imported, the answer is in the store and the round goes on.
    labels::import(d.path(), &queue, None).unwrap();
    // Regression: answered again since (on the page: "black"), the typed "red" still
    // counted as not imported, and the advice to import it would undo the later answer.
    let labels_csv = d.path().join("labels/labels.csv");
    let schema = Schema::load(&anime()).unwrap();
    let mut store = labels::LabelStore::load(&labels_csv, &schema).unwrap();
    let mut later = store.get(&cells[0], &cells[1]).unwrap().clone();
    later.value = "black".into();
    store.set(later);
    store.save(&labels_csv).unwrap();
    labels::round(d.path(), &tiny_round(4), Q).unwrap();
    let store = labels::LabelStore::load(&labels_csv, &schema).unwrap();
    let answer = store.get(&cells[0], &cells[1]).unwrap();
    assert_eq!(
        (answer.value.as_str(), answer.source),
        ("black", Source::Human)
    );
    // A history that does not parse stops the round and `label status` (exit 1).
    let rounds = d.path().join("labels/rounds.json");
    let history = std::fs::read_to_string(&rounds).unwrap();
    let broken = history.trim_end().trim_end_matches(']').to_string() + ",]";
    std::fs::write(&rounds, &broken).unwrap();
    let err = labels::round(d.path(), &tiny_round(4), Q)
        .unwrap_err()
        .to_string();
    assert!(err.contains("rounds.json") && err.contains("line"), "{err}");
    assert_eq!(std::fs::read_to_string(&rounds).unwrap(), broken);
    let o = bin()
        .args(["label", "status", "--data", d.path().to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rounds.json"), "{stderr}");
}

/// Regression: a `skipped.csv` that does not read was taken as no skips: the skipped
/// questions came back, and the next skip rewrote the file without the rows.
#[test]
fn a_skips_file_that_does_not_read_is_named() {
    let d = synth_data(6, 4);
    labels::init(&root().join("labels/photo.toml"), d.path(), Q).unwrap();
    let paths = labels::Paths::new(d.path());
    let bad = "file,attribute\nimages/a.png,glasses,extra\n";
    std::fs::write(paths.skipped(), bad).unwrap();
    let e = labels::queue::read_skipped(&paths).unwrap_err().to_string();
    assert!(e.contains("skipped.csv") && e.contains("line 2"), "{e}");
    let e = labels::queue::add_skip(&paths, "images/b.png", "glasses")
        .unwrap_err()
        .to_string();
    assert!(e.contains("skipped.csv"), "{e}");
    assert_eq!(std::fs::read_to_string(paths.skipped()).unwrap(), bad);
}

/// Regression: answers typed into queue.csv while a round trained were lost when the
/// round wrote its new queue (the check for them ran only at its start). They are kept
/// beside it, named in the report, and import from there.
#[test]
fn answers_typed_during_a_round_are_kept() {
    let d = synth_data(24, 5);
    labels::init(&anime(), d.path(), Q).unwrap();
    let spec = tiny_round(4);
    labels::round(d.path(), &spec, Q).unwrap();
    let paths = labels::Paths::new(d.path());
    let items = labels::queue::read_queue(&paths).unwrap();
    // The person types an answer; the next round has started (its start check passed).
    let text = std::fs::read_to_string(paths.queue()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let first = &items[0];
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("{},{},", first.file, first.attribute)))
        .unwrap();
    let mut cols: Vec<String> = lines[at].split(',').map(String::from).collect();
    let schema = Schema::load(&anime()).unwrap();
    let value = schema.attribute(&first.attribute).unwrap().values[0].clone();
    cols[2] = value.clone();
    lines[at] = cols.join(",");
    std::fs::write(paths.queue(), lines.join("\n") + "\n").unwrap();
    let index = labels::index::DatasetIndex::open(d.path()).unwrap();
    let images = labels::session::decode_all(&index, "decode", Q);
    let pixels = labels::session::to_pixels(&images, spec.size, spec.colour);
    let mut store = labels::LabelStore::load(&paths.labels(), &schema).unwrap();
    let r =
        labels::round::round_with(&paths, &schema, &index, &pixels, &mut store, &spec, Q).unwrap();
    let (kept, n) = r.kept_answers.clone().expect("the typed answer kept");
    assert_eq!(n, 1);
    assert!(kept.is_file());
    // The command the summary gives runs as it is.
    let text = r.to_string();
    let cmd = text
        .split("`facesynth ")
        .nth(1)
        .and_then(|t| t.split('`').next())
        .unwrap_or_else(|| panic!("{text}"));
    run_ok(&cmd.split(' ').collect::<Vec<_>>());
    let store = labels::LabelStore::load(&paths.labels(), &schema).unwrap();
    let l = store.get(&first.file, &first.attribute).unwrap();
    assert_eq!(
        (l.value.as_str(), l.source),
        (value.as_str(), Source::Human)
    );
}

/// Regression: images that no longer decode were predicted from a blank input; the guess
/// went to predictions.csv, could become a model label, and the image was queued (a
/// question with no face). A round now leaves them out, and says so.
#[test]
fn unreadable_images_are_not_predicted_labeled_or_queued() {
    let d = synth_data(24, 7);
    labels::init(&anime(), d.path(), Q).unwrap();
    let index = labels::index::DatasetIndex::open(d.path()).unwrap();
    let broken: Vec<String> = index.images[..3].to_vec();
    for f in &broken {
        std::fs::write(d.path().join(f), "not a png").unwrap();
    }
    let spec = RoundSpec {
        threshold: 0.0,
        ..tiny_round(30)
    };
    let r = labels::round(d.path(), &spec, Q).unwrap();
    assert_eq!(r.info.unreadable, broken);
    assert!(
        r.to_string().contains("3 image(s) could not be decoded"),
        "{r}"
    );
    let paths = labels::Paths::new(d.path());
    let predictions = std::fs::read_to_string(paths.predictions()).unwrap();
    let queued = labels::queue::read_queue(&paths).unwrap();
    assert!(!queued.is_empty());
    let schema = Schema::load(&anime()).unwrap();
    let store = labels::LabelStore::load(&paths.labels(), &schema).unwrap();
    for f in &broken {
        assert!(!predictions.contains(f.as_str()), "{f} predicted");
        assert!(queued.iter().all(|q| &q.file != f), "{f} queued");
        assert!(store
            .iter()
            .all(|l| &l.file != f || l.source != Source::Model));
    }
    // A fresh `label queue` passes them over too (the round's record names them), and
    // not the images without a prediction (one added since, or no predictions.csv).
    std::fs::remove_file(paths.queue()).unwrap();
    std::fs::remove_file(paths.predictions()).unwrap();
    labels::queue::queue(d.path(), 30).unwrap();
    let queued = labels::queue::read_queue(&paths).unwrap();
    assert!(
        queued.iter().all(|q| !broken.contains(&q.file)),
        "{queued:?}"
    );
    let files: std::collections::HashSet<&str> = queued.iter().map(|q| q.file.as_str()).collect();
    assert_eq!(files.len(), 21, "every readable image: {queued:?}");
}

/// Flags that would do nothing are a bad command line (exit 2): `--attribute` with a CSV
/// file (its columns name the attributes; a wide file imported every column), and
/// `--refine-below` without mirrored predictions.
#[test]
fn flags_that_would_do_nothing_are_refused() {
    let d = synth_data(6, 2);
    labels::init(&anime(), d.path(), Q).unwrap();
    let data = d.path().to_str().unwrap();
    let truth = d.path().join("truth.csv");
    let t = truth.to_str().unwrap();
    for (args, says) in [
        (
            vec![
                "label",
                "import",
                t,
                "--data",
                data,
                "--attribute",
                "hair_color",
            ],
            "--attribute names",
        ),
        (
            vec![
                "label",
                "round",
                "--data",
                data,
                "--mirror",
                "false",
                "--refine-below",
                "0.5",
            ],
            "--refine-below",
        ),
        // Regression: an ImageFolder without --attribute under a schema of two, and a
        // dataset's pages with --out, exited 1 as if a file had failed.
        (
            vec!["label", "import", data, "--data", data],
            "give --attribute",
        ),
        (vec!["report", data, "--out", "x.html"], "leave --out out"),
    ] {
        let o = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{err}");
    }
    let schema = Schema::load(&anime()).unwrap();
    let store = labels::LabelStore::load(&d.path().join("labels/labels.csv"), &schema).unwrap();
    assert!(
        store.iter().all(|l| l.source != Source::Human),
        "nothing imported"
    );
}

/// `label export --min-confidence`: synthesized labels under it are left out, people's
/// always go (the heuristics' eye votes at 0.26-0.29 went to training as truth).
#[test]
fn export_leaves_out_synthesized_labels_under_the_floor() {
    let d = synth_data(12, 4);
    labels::init(&anime(), d.path(), Q).unwrap();
    let schema = Schema::load(&anime()).unwrap();
    let store_path = d.path().join("labels/labels.csv");
    let mut store = labels::LabelStore::load(&store_path, &schema).unwrap();
    let first = labels::index::DatasetIndex::open(d.path()).unwrap().images[0].clone();
    store.set(labels::Label {
        file: first.clone(),
        attribute: "eye_color".into(),
        value: "blue".into(),
        confidence: 1.0,
        source: Source::Human,
        round: 0,
    });
    store.save(&store_path).unwrap();
    let votes = store
        .iter()
        .filter(|l| l.source == Source::Heuristic)
        .count();
    assert!(votes > 0);
    let cells = |p: f32| {
        let e = labels::export(d.path(), false, p).unwrap();
        e.filled.values().sum::<usize>()
    };
    let all = cells(0.0);
    assert_eq!(cells(1.0), 1, "only the person's label");
    assert!(all > 1);
    let wide = std::fs::read_to_string(d.path().join("labels_wide.csv")).unwrap();
    assert!(wide.contains(&format!("{first},,blue")), "{wide}");
}
