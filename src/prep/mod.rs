//! `prep`: from a messy folder of images to a clean, deduplicated, training-ready dataset.
//!
//! Stages, each its own module: [`scan`] (decode), [`quality`], [`crop`], [`resize`],
//! [`normalize`], [`hash`] + [`dedup`], and [`output`] (images, manifest, stats, report).
//! Files are processed in parallel and streamed: only a small [`record::Record`] per file
//! stays in memory, and each finished file is journaled so an interrupted run resumes.

pub mod crop;
pub mod dedup;
pub mod hash;
pub mod normalize;
pub mod output;
pub mod quality;
pub mod record;
pub mod resample;
pub mod resize;
pub mod scan;
pub mod settings;

pub use output::PrepReport;
pub use settings::{OutputFormat, PrepSection, PrepSpec};

use crate::dataset::walk;
use crate::progress::{self, Verbosity};
use crop::Cropper;
use image::imageops;
use record::{Hashes, Journal, Record};
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
    let files = walk::files(input).map_err(in_err)?;
    std::fs::create_dir_all(out).map_err(out_err(out))?;
    // OUT may sit inside INPUT: never feed our own outputs back in.
    let out_abs = out.canonicalize().map_err(out_err(out))?;
    let inside = input.canonicalize().is_ok_and(|i| out_abs.starts_with(i));
    let files: Vec<PathBuf> = if inside {
        files
            .into_iter()
            .filter(|p| p.canonicalize().map_or(true, |c| !c.starts_with(&out_abs)))
            .collect()
    } else {
        // OUT is elsewhere: no need to resolve every input path (a readlink per component).
        files
    };
    let rels: Vec<String> = files.iter().map(|p| walk::relative(input, p)).collect();
    let names = output::output_names(&rels, spec.format);

    let cropper = Cropper::new(spec.crop.clone())?;
    let fingerprint = spec.fingerprint();
    let mut done = Journal::load(out, &fingerprint).map_err(out_err(&Journal::path_in(out)))?;
    let journal = Journal::open(out, &fingerprint).map_err(out_err(&Journal::path_in(out)))?;
    let journal = Mutex::new(journal);

    // Which files still need work: new, changed, or renamed outputs.
    let mut todo = Vec::new();
    // Records of files an earlier run finished (from its journal), by file.
    let mut earlier: Vec<Option<Vec<Record>>> = vec![None; files.len()];
    for (i, path) in files.iter().enumerate() {
        // Only files the journal knows need a stat here (a fresh run does none).
        match done.remove(&rels[i]) {
            Some(recs)
                if record::file_stamp(path)
                    .is_ok_and(|s| recs.iter().all(|r| (r.size, r.mtime) == s))
                    && recs
                        .iter()
                        .all(|r| r.output.is_empty() || r.output.starts_with(&names[i])) =>
            {
                earlier[i] = Some(recs)
            }
            _ => todo.push(i),
        }
    }
    let resumed = files.len() - todo.len();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.jobs)
        .build()
        .map_err(|e| PrepError::Threads {
            jobs: spec.jobs,
            message: e.to_string(),
        })?;
    let bar = progress::bar(todo.len() as u64, "prep", verbosity);
    let journal_err: Mutex<Option<PrepError>> = Mutex::new(None);
    // Files go through in blocks, and each block's records join the one list in path
    // order at once (resumed files' records in their places): no second copy of every
    // record is ever held.
    let mut records: Vec<Record> = Vec::with_capacity(files.len());
    // Per record: taken from the journal (its output file may have gone since).
    let mut resumed_rec: Vec<bool> = Vec::with_capacity(files.len());
    let mut next = 0; // the first file whose records are not in `records` yet
    let mut take_resumed = |upto: usize, records: &mut Vec<Record>, from: &mut Vec<bool>| {
        for r in earlier[next..upto].iter_mut() {
            let recs = r.take().unwrap_or_default();
            from.resize(from.len() + recs.len(), true);
            records.extend(recs);
        }
        next = upto.max(next);
    };
    for block in todo.chunks(PREP_BLOCK) {
        let fresh: Vec<Vec<Record>> = pool.install(|| {
            use rayon::prelude::*;
            block
                .par_iter()
                .map(|&i| {
                    let recs = process_file(&files[i], &rels[i], &names[i], out, spec, &cropper);
                    let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = j.append(&recs) {
                        let path = j.path().to_path_buf();
                        journal_err
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(PrepError::Output { path, source: e });
                    }
                    bar.inc(1);
                    recs
                })
                .collect()
        });
        let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = journal_err.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(e);
        }
        j.flush().map_err(out_err(&Journal::path_in(out)))?;
        drop(j);
        for (&i, recs) in block.iter().zip(fresh) {
            take_resumed(i, &mut records, &mut resumed_rec);
            resumed_rec.resize(resumed_rec.len() + recs.len(), false);
            records.extend(recs);
            take_resumed(i + 1, &mut records, &mut resumed_rec);
        }
    }
    take_resumed(files.len(), &mut records, &mut resumed_rec);
    bar.finish_and_clear();
    // From here on only the records are needed: free the path lists first.
    let n_files = files.len();
    drop((files, rels, names, done, todo, earlier));

    let (outcome, stats) = output::finish(input, out, spec, records, &resumed_rec, &cropper)?;
    drop(resumed_rec);
    let mut report = PrepReport::new(&outcome, n_files, resumed, started.elapsed());
    report.stats = Some(stats);
    report.input = Some(input.canonicalize().unwrap_or_else(|_| input.to_path_buf()));
    output::write_all(out, &outcome, &report)?;
    // The page reads the manifest back: let it have the records' memory.
    drop(outcome);
    // The page is a view of what was written; failing to draw it never fails the run.
    report.page = crate::report::write_prep_report(out).map_err(|e| e.to_string());
    Ok(report)
}

/// Decodes, checks, crops, resizes, normalizes, hashes and writes one source file;
/// returns its records (one per kept face; one rejected record on failure).
pub fn process_file(
    path: &Path,
    rel: &str,
    out_base: &str,
    out: &Path,
    spec: &PrepSpec,
    cropper: &Cropper,
) -> Vec<Record> {
    let read = scan::read_file(path);
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
    };
    let reject = |reason: String, r: &Record| {
        vec![Record {
            reject: reason,
            ..r.clone()
        }]
    };
    let decoded = match read {
        Ok((data, _)) => match scan::decode_bytes(&data, &spec.decode) {
            Ok(d) => d,
            Err(reason) => return reject(reason, &blank),
        },
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
        if let Some(reason) = quality::check_output(&quality::scores(&grey), &spec.quality) {
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
        let hashes = Hashes {
            file: decoded.file_hash,
            pixels: decoded.pixel_hash,
            phash: hash::phash_of_luma(&grey),
            dhash: hash::dhash_of_luma(&grey),
            phash_flip,
            dhash_flip,
            chroma: hash::chroma_grid(&img),
        };
        let sums = normalize::ChannelSums::of(&img);
        let output = output::face_output(out_base, face, spec.format);
        if let Err(e) = output::save(&out.join(&output), &img, spec.format) {
            out_recs.push(Record {
                reject: format!("write: {e}"),
                ..rec
            });
            continue;
        }
        out_recs.push(Record {
            output,
            hashes: Some(hashes),
            sums: Some(sums),
            ..rec
        });
    }
    out_recs
}

/// Per-file reprocessing for kept images whose output went missing (after a resume in
/// which a former duplicate became the keeper). Only records taken from the journal
/// (`resumed`) are checked: this run's own outputs were just written.
pub(crate) fn redo_missing(
    input: &Path,
    out: &Path,
    spec: &PrepSpec,
    cropper: &Cropper,
    recs: &mut [Record],
    kept: impl Iterator<Item = usize>,
    resumed: &[bool],
) {
    let mut redone: HashMap<String, Vec<Record>> = HashMap::new();
    for i in kept {
        let r = &mut recs[i];
        if r.output.is_empty() || !resumed[i] || out.join(&r.output).is_file() {
            continue;
        }
        let fresh = redone.entry(r.file.clone()).or_insert_with(|| {
            let base = output::strip_ext(&r.output, r.face);
            process_file(&input.join(&r.file), &r.file, &base, out, spec, cropper)
        });
        if let Some(f) = fresh.iter().find(|f| f.face == r.face) {
            *r = f.clone();
        }
    }
}
