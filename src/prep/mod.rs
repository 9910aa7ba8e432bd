//! `prep`: from a messy folder of images to a clean, deduplicated, training-ready dataset.
//!
//! Stages, each its own module: [`scan`] (decode), [`quality`], [`crop`], [`resize`],
//! [`normalize`], [`hash`] + [`dedup`], and [`output`] (images, manifest, stats, report).
//! Files are processed in parallel and streamed: each finished file is journaled, so an
//! interrupted run resumes, and only a small row per file (where its record is in the
//! journal, and its hashes for dedup) stays in memory until the manifest is written.

pub mod crop;
pub mod dedup;
pub mod encode;
pub mod hamming;
pub mod hash;
pub mod inputs;
pub mod normalize;
pub mod output;
pub mod pillow_resize;
pub mod quality;
pub mod record;
pub mod report;
pub mod resample;
pub mod resize;
pub mod scan;
pub mod settings;

pub use report::PrepReport;
pub use settings::{OutputFormat, PrepSection, PrepSpec, MAX_JOBS};

use crate::dataset::walk;
use crate::progress::{self, Verbosity};
use crop::Cropper;
use dedup::{DedupItem, Mirror};
use encode::face_output;
use image::imageops;
use inputs::InputList;
use output::Entry;
use record::{Hashes, Journal, JournalReader, LinePos, Record};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Why a prep run could not be done (per-file problems are not errors: they are
/// `rejected` rows in the manifest).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepError {
    /// INPUT cannot be read.
    #[error("cannot read input folder {path}")]
    Input {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Something in OUT cannot be written.
    #[error("cannot write {path}")]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// INPUT and OUT overlap in a way that would make prep read or delete its own input,
    /// or OUT's `images` folder holds files prep did not write.
    #[error("{path}: {reason}")]
    Layout {
        /// The folder or file in the way.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The crop stage cannot start (box CSV or cascade file unusable).
    #[error(transparent)]
    Crop(#[from] crop::CropError),
    /// The thread pool could not start.
    #[error("cannot start {jobs} worker threads: {message}")]
    Threads {
        /// Requested threads.
        jobs: usize,
        /// Why.
        message: String,
    },
}

/// Files processed between two merges of their records into the one list (big enough to
/// keep every thread busy, small enough that a block's records are a sliver of the run's).
const PREP_BLOCK: usize = 4096;

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> PrepError + '_ {
    move |source| PrepError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs prep on `input`, writing to `out`.
pub fn run(
    input: &Path,
    out: &Path,
    spec: &PrepSpec,
    verbosity: Verbosity,
) -> Result<PrepReport, PrepError> {
    let started = Instant::now();
    let in_err = |source| PrepError::Input {
        path: input.to_path_buf(),
        source,
    };
    walk::check_root(input).map_err(in_err)?;
    if out.exists() && !out.is_dir() {
        return Err(PrepError::Layout {
            path: out.to_path_buf(),
            reason: "OUT is a file, not a folder; give a new or existing folder".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(out_err(out))?;
    let out_abs = out.canonicalize().map_err(out_err(out))?;
    let in_abs = input.canonicalize().map_err(in_err)?;
    output::check_layout(&in_abs, out, &out_abs)?;
    let _writing = output::lock_out(out)?;
    // Temporaries a killed run left (a torn manifest's among them).
    crate::atomic::sweep_stale(out);
    crate::atomic::sweep_stale(&out.join(".facesynth"));
    output::check_same_input(out, &in_abs)?;
    // The box CSV and the cascade are read before the walk, so that a typo in their
    // names fails at once, not after a walk of the whole tree.
    let cropper = Cropper::new(spec.crop.clone())?;
    // The walk goes straight into the compact list (no `PathBuf` per file is held).
    let mut inputs = InputList::new(input);
    // Entries the walk cannot read go in too: opening them fails, and the manifest says
    // why. Never read back prep's outputs: OUT (reached directly or through a symlink)
    // and any folder holding an earlier run's journal (an OUT of other settings).
    let prep_output = |dir: &Path| {
        dir.join(".facesynth").is_dir() || dir.canonicalize().is_ok_and(|c| c == out_abs)
    };
    // INPUT itself a prep output (re-prepped at another size): its own manifest and
    // reports are not images.
    let input_is_prep = in_abs.join(".facesynth").is_dir();
    crate::dataset::manifest::refuse_unfinished(&in_abs).map_err(in_err)?;
    let own_file = |p: &Path| {
        input_is_prep
            && p.parent() == Some(input)
            && p.file_name().is_some_and(|n| {
                [
                    crate::dataset::manifest::MANIFEST_FILE,
                    "report.json",
                    "report.html",
                    "stats.json",
                ]
                .iter()
                .any(|f| n == *f)
            })
    };
    walk::for_each_file_or_failure(input, prep_output, |p| {
        if !own_file(&p) {
            inputs.push(&p);
        }
    })
    .map_err(in_err)?;
    let inputs = inputs.finish();

    let mut warnings = Vec::new();
    if spec.crop.mode == crop::CropMode::Bbox {
        let rels = (0..inputs.len()).map(|i| inputs.rel(i)).collect();
        let (n, first) = cropper.unmatched_boxes(&rels);
        if n > 0 {
            warnings.push(format!(
                "{n} file(s) of the box CSV are not under {} (first: {}); its paths must be \
                 relative to INPUT",
                input.display(),
                first.join(", ")
            ));
        }
    }
    let fingerprint = spec.fingerprint();
    let journal_path = Journal::path_in(out);
    let done = Journal::load(out, &fingerprint).map_err(out_err(&journal_path))?;
    if done.is_empty() {
        output::retract_manifest(out)?;
    }
    output::record_input(out, &in_abs)?;
    let journal = Journal::open(out, &fingerprint).map_err(out_err(&journal_path))?;
    let journal = Mutex::new(journal);

    // Which files still need work (new, changed, or renamed outputs), and which records
    // of an earlier run (indices into `done`) stand for the others, in path order. Both
    // hold only the files they name: a fresh run keeps no per-file slot for resumed ones.
    let mut todo: Vec<u32> = Vec::new();
    let mut earlier: Vec<(u32, u32)> = Vec::new();
    let mut renamed: Vec<u32> = Vec::new();
    // Files an earlier run did whose size or time changed since: their outputs are
    // remade from what may be another picture under the same name.
    let mut changed: Vec<u32> = Vec::new();
    for i in 0..inputs.len() {
        // Only files the journal knows need a stat here (a fresh run does none).
        let at = record::records_of(&done, record::path_key(&inputs.rel(i)));
        let recs = &done[at.clone()];
        if recs.is_empty() {
            todo.push(i as u32);
            continue;
        }
        let base = inputs.output_base(i);
        let stamp = record::file_stamp(&inputs.path(i)).map(record::stamp_key);
        let unchanged = stamp.is_ok_and(|s| recs.iter().all(|r| r.stamp == s));
        let same_names = recs.iter().all(|r| {
            r.output == 0
                || r.output == record::output_key(&face_output(&base, r.face, spec.format))
        });
        if unchanged && same_names {
            earlier.extend(at.map(|k| (i as u32, k as u32)));
        } else {
            match unchanged {
                true => renamed.push(i as u32),
                false => changed.push(i as u32),
            }
            todo.push(i as u32);
        }
    }
    let resumed = inputs.len() - todo.len();
    if let Some(&first) = renamed.first() {
        // An output's name depends on which other sources share its stem: a file added
        // beside it (or one removed) renames it, and what names the old output (labels,
        // exports) no longer finds it. Said, not silently done.
        let i = first as usize;
        warnings.push(format!(
            "{} unchanged file(s) got new output names: files added or removed since changed \
             which names are shared (first: {} is now {}.{}); labels and exports that name \
             the old outputs must be redone",
            renamed.len(),
            inputs.rel(i),
            inputs.output_base(i),
            encode::ext(spec.format)
        ));
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.jobs)
        .build()
        .map_err(|e| PrepError::Threads {
            jobs: spec.jobs,
            message: e.to_string(),
        })?;
    let bar = progress::bar(todo.len() as u64, "prep", verbosity);
    let journal_err: Mutex<Option<PrepError>> = Mutex::new(None);
    // Files go through in blocks, and each block's rows join the one ledger in path order
    // at once (resumed files' rows in their places). A row keeps where its record is in
    // the journal, not the record.
    let mut ledger = output::Ledger::with_capacity(inputs.len(), spec.dedup.flip);
    let mut earlier = earlier.into_iter().peekable();
    // Resumed rows' dedup hashes are read back from the journal, in nearly the order
    // their lines were written.
    let mut reader = match earlier.peek() {
        Some(_) => Some(JournalReader::open(out).map_err(out_err(&journal_path))?),
        None => None,
    };
    let mut line_buf = Vec::new();
    // Moves the resumed rows of the files before `upto` into the ledger.
    let mut take_resumed = |upto: u32, ledger: &mut output::Ledger| -> Result<(), PrepError> {
        while let Some((i, k)) = earlier.next_if(|(i, _)| *i < upto) {
            let e = done[k as usize];
            let item = match (&mut reader, e.rejected) {
                (Some(r), false) => r
                    .read(e.line, &mut line_buf)
                    .map_err(out_err(&journal_path))?
                    .dedup_item(),
                _ => None,
            };
            ledger.push(Entry::new(i, e.face, e.line, e.rejected, true), item);
        }
        Ok(())
    };
    for block in todo.chunks(PREP_BLOCK) {
        let fresh: Vec<Vec<Row>> = pool.install(|| {
            use rayon::prelude::*;
            block
                .par_iter()
                .map(|&i| {
                    let i = i as usize;
                    let recs = match process_input(&inputs, i, out, spec, &cropper) {
                        Ok(recs) => recs,
                        Err(e) => {
                            // Not journaled: a rerun after the disk is mended does the file.
                            journal_err
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                            bar.inc(1);
                            return Vec::new();
                        }
                    };
                    let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
                    let lines = j.append(&recs).unwrap_or_else(|e| {
                        let path = j.path().to_path_buf();
                        journal_err
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(PrepError::Output { path, source: e });
                        Vec::new()
                    });
                    drop(j);
                    bar.inc(1);
                    recs.iter()
                        .zip(lines)
                        .map(|(r, line)| (fresh_entry(i, r, line), r.dedup_item()))
                        .collect()
                })
                .collect()
        });
        let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = journal_err.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(e);
        }
        j.flush().map_err(out_err(&journal_path))?;
        drop(j);
        for (&i, rows) in block.iter().zip(fresh) {
            take_resumed(i, &mut ledger)?;
            for (entry, item) in rows {
                ledger.push(entry, item);
            }
        }
    }
    take_resumed(u32::MAX, &mut ledger)?;
    drop(done);
    bar.finish_and_clear();
    drop(todo);

    let mut journal = journal.into_inner().unwrap_or_else(|e| e.into_inner());
    let entries = output::finish(out, spec, &inputs, ledger, &mut journal, &cropper)?;
    let tally = output::write_manifest(out, &inputs, &entries)?;
    drop((entries, journal));
    let stats = tally.stats(spec.resize.size);
    let mut report = PrepReport::new(tally, inputs.len(), resumed, started.elapsed());
    // No kept image, no statistics: a std of 0 would be divided by.
    report.stats = (stats.images > 0).then_some(stats);
    // The INPUT resolved at the start (the path `check_same_input` compares with).
    report.input = Some(in_abs.clone());
    if report.rows > 0 && report.count(crate::dataset::manifest::Status::Kept) == 0 {
        // Exit 0 (every file has its row and reason), but an empty dataset is worth a word,
        // and the advice follows the commonest reason (it blamed the quality limits when
        // every row was `no_face` or `decode`).
        let top = report.by_reason.iter().max_by_key(|(_, &n)| n);
        let reason = top.map_or("", |(r, _)| r.as_str());
        let advice = match reason {
            "too_small" | "too_dark" | "too_light" | "blurry" | "low_information" => {
                "small or low-contrast images such as 28 px digits need lower \
                 [prep.quality] limits (pipelines/digits.toml)"
            }
            "no_face" => {
                "the detector found no face: try --min-neighbors 3, a smaller \
                 --min-face, or another cascade (docs/detect.md)"
            }
            "no_bbox" | "bbox_outside" => {
                "the box CSV's rows do not fit these files: \
                 its paths are relative to INPUT, boxes in source pixels"
            }
            _ => "see the manifest's reason column",
        };
        warnings.push(format!("no image was kept (most rows: {reason}); {advice}"));
    }
    if inputs.is_empty() {
        warnings.push(format!("{} holds no file", input.display()));
    }
    // The label store lives in OUT and refers to its images; its exports hold copies or
    // links of the images as they were (a re-prep at 32 px left 64 px faces there).
    let labeled = crate::labels::Paths::new(out).schema().is_file();
    if let (Some(&first), true) = (changed.first(), labeled) {
        // A person's labels name an output path, which now holds the changed file's
        // picture: said with the files, for the person to check.
        let i = first as usize;
        warnings.push(format!(
            "{} source file(s) changed since the label store here was made (first: {}, \
             images/{}.{}): the labels it holds for their images are of the old pictures; \
             check them, then run `facesynth label round` and `label export` again",
            changed.len(),
            inputs.rel(i),
            inputs.output_base(i),
            encode::ext(spec.format)
        ));
    } else if labeled && report.resumed < report.files {
        warnings.push(format!(
            "{} holds a label store made from the images as they were: run `facesynth label \
             round` and `label export` again so its predictions and exports match these",
            out.display()
        ));
    }
    report.warnings = warnings;
    report::write_reports(out, &report)?;
    // The page is a view of what was written; failing to draw it never fails the run.
    report.page = crate::report::write_prep_report(out).map_err(|e| e.to_string());
    Ok(report)
}

/// A ledger row and, when it passed every check, what dedup compares.
type Row = (Entry, Option<(DedupItem, Mirror)>);

/// [`process_file`] on input `i`.
fn process_input(
    inputs: &InputList,
    i: usize,
    out: &Path,
    spec: &PrepSpec,
    cropper: &Cropper,
) -> Result<Vec<Record>, PrepError> {
    let base = inputs.output_base(i);
    process_file(&inputs.path(i), &inputs.rel(i), &base, out, spec, cropper)
}

/// The ledger row of a record this run made.
fn fresh_entry(input: usize, r: &Record, line: LinePos) -> Entry {
    Entry::new(input as u32, r.face, line, !r.reject.is_empty(), false)
}

/// Decodes, checks, crops, resizes, normalizes, hashes and writes one source file;
/// returns its records (one per kept face; one rejected record when the file fails a
/// check). An output that cannot be written (a full disk) is the run's error, not the
/// file's: journaled as a rejection it would never be retried.
pub fn process_file(
    path: &Path,
    rel: &str,
    out_base: &str,
    out: &Path,
    spec: &PrepSpec,
    cropper: &Cropper,
) -> Result<Vec<Record>, PrepError> {
    let read = scan::read_file(path, spec.decode.max_alloc);
    let (size, mtime) = read
        .as_ref()
        .map_or((0, 0), |(_, meta)| record::stamp_of(meta));
    let blank = Record {
        file: rel.to_string(),
        face: None,
        size,
        mtime,
        output: String::new(),
        reject: String::new(),
        crop: None,
        src: None,
        hashes: None,
        sums: None,
        faces: 1,
    };
    let reject = |reason: String, r: &Record| {
        Ok(vec![Record {
            reject: reason,
            ..r.clone()
        }])
    };
    let decoded = match read {
        Ok((data, _)) => {
            match scan::decode_bytes_hinted(&data, scan::unsigned_format(path), &spec.decode) {
                Ok(d) => d,
                Err(reason) => return reject(reason, &blank),
            }
        }
        Err(e) => return reject(format!("read: {e}"), &blank),
    };
    let (w, h) = decoded.rgb.dimensions();
    let base = Record {
        src: Some((w, h)),
        ..blank
    };
    if let Some(reason) = quality::check_source(w, h, &spec.quality) {
        return reject(reason.into(), &base);
    }
    let boxes = match cropper.boxes(rel, &decoded.rgb) {
        Ok(b) => b,
        Err(reason) => return reject(reason.into(), &base),
    };
    let several = boxes.len() > 1;
    let mut out_recs = Vec::with_capacity(boxes.len());
    for (k, b) in boxes.into_iter().enumerate() {
        let face = several.then_some(k as u32);
        let rec = Record {
            face,
            crop: Some(b),
            ..base.clone()
        };
        let mut img = resize::resize_crop(&decoded.rgb, (b.x, b.y, b.w, b.h), &spec.resize);
        let mut grey = quality::luma(&img);
        let mut scores = quality::scores(&grey);
        if spec.quality.min_laplacian_var.is_some() && spec.resize.size != quality::BLUR_SIDE {
            // The Laplacian's variance falls as a crop is upscaled (and rises as it is
            // shrunk), so measured at `--size` it rejected sharp faces as blurry at 192 px
            // that passed at 64: it is measured on the crop at one fixed side.
            let at = resize::ResizeSpec {
                size: quality::BLUR_SIDE,
                ..spec.resize
            };
            // Above 64 px the output, shrunk, stands for the crop (one small resize, not
            // a second one of the whole source crop); below, the source is read again.
            let reference = match spec.resize.size > quality::BLUR_SIDE {
                true => resize::resize_crop(&img, (0, 0, img.width(), img.height()), &at),
                false => resize::resize_crop(&decoded.rgb, (b.x, b.y, b.w, b.h), &at),
            };
            scores.laplacian_var = quality::laplacian_variance(&quality::luma(&reference)) as f32;
        }
        if let Some(reason) = quality::check_output(&scores, &spec.quality) {
            out_recs.push(Record {
                reject: reason.into(),
                ..rec
            });
            continue;
        }
        if spec.normalize != normalize::NormalizeMode::None {
            normalize::normalize(&mut img, spec.normalize);
            grey = quality::luma(&img);
        }
        let (phash_flip, dhash_flip) = if spec.dedup.flip {
            let mirror = imageops::flip_horizontal(&grey);
            (hash::phash_of_luma(&mirror), hash::dhash_of_luma(&mirror))
        } else {
            (0, 0)
        };
        // Faces of one file share its bytes and pixels: their exact hashes take the face's
        // box in, so that two faces of a file differ and two copies of it still match.
        let (file, pixels) = match face {
            None => (decoded.file_hash, decoded.pixel_hash),
            Some(_) => (
                face_hash(decoded.file_hash, b),
                face_hash(decoded.pixel_hash, b),
            ),
        };
        let hashes = Hashes {
            file,
            pixels,
            phash: hash::phash_of_luma(&grey),
            dhash: hash::dhash_of_luma(&grey),
            phash_flip,
            dhash_flip,
            chroma: hash::chroma_grid(&img),
            luma: hash::luma_grid(&grey),
        };
        let sums = normalize::ChannelSums::of(&img);
        let output = face_output(out_base, face, spec.format);
        let path = out.join(&output);
        encode::save(&path, &img, spec.format).map_err(out_err(&path))?;
        out_recs.push(Record {
            output,
            hashes: Some(hashes),
            sums: Some(sums),
            ..rec
        });
    }
    let faces = out_recs.len() as u32;
    out_recs.iter_mut().for_each(|r| r.faces = faces);
    Ok(out_recs)
}

/// An exact hash of a whole source narrowed to the face in box `b` of it.
fn face_hash(source: u128, b: crop::CropBox) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(&source.to_le_bytes());
    for v in [b.x, b.y, b.w, b.h] {
        h.update(&v.to_le_bytes());
    }
    h.digest128()
}

/// Per-file reprocessing for kept images whose output went missing (after a resume in
/// which a former duplicate became the keeper). Only rows taken from the journal are
/// checked: this run's own outputs were just written. The new records are journaled.
fn redo_missing(
    out: &Path,
    spec: &PrepSpec,
    cropper: &Cropper,
    inputs: &InputList,
    entries: &mut [Entry],
    journal: &mut Journal,
) -> Result<(), PrepError> {
    let mut redone: HashMap<u32, Vec<(Option<u32>, LinePos, bool)>> = HashMap::new();
    for e in entries.iter_mut() {
        if !e.resumed() || e.rejected() || e.dup_of().is_some() {
            continue;
        }
        if out.join(e.output(inputs, spec.format)).is_file() {
            continue;
        }
        let fresh = match redone.entry(e.input) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let i = e.input as usize;
                let recs = process_input(inputs, i, out, spec, cropper)?;
                let lines = journal
                    .append(&recs)
                    .map_err(out_err(&Journal::path_in(out)))?;
                v.insert(
                    recs.iter()
                        .zip(lines)
                        .map(|(r, line)| (r.face, line, !r.reject.is_empty()))
                        .collect(),
                )
            }
        };
        if let Some(&(_, line, rejected)) = fresh.iter().find(|f| f.0 == e.face()) {
            e.set_line(line);
            e.set_rejected(rejected);
        }
    }
    Ok(())
}
