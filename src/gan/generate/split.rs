//! `generate` on a `--split-by` run: one model per value of the split attribute, each
//! in its own folder of the run.

use super::grids::{interpolation, mean_sweep};
use super::{
    conditions, load, noise, resolve_fixed, write_images, Fixed, GenerateReport, GenerateSpec,
    Loaded,
};
use crate::gan::monitor;
use crate::gan::outdir::OutDir;
use crate::gan::train::trained_values;
use crate::gan::GanError;

/// One class model of a split run, loaded, with its folder name and fixed attributes.
pub(super) struct ClassModel {
    dir: String,
    l: Loaded,
    fixed: Fixed,
    code: Option<usize>,
}

/// The class models a split run's generate uses: the one `--attr <split>=v` names, or all
/// trained ones with `--per-class`.
pub(super) fn split_models(
    spec: &GenerateSpec,
    split: &crate::gan::data::Attribute,
) -> Result<(Vec<ClassModel>, Vec<String>), GanError> {
    let chosen = spec
        .attrs
        .iter()
        .find(|(a, _)| *a == split.name)
        .map(|(_, v)| v.clone());
    let rest: Vec<(String, String)> = spec
        .attrs
        .iter()
        .filter(|(a, _)| *a != split.name)
        .cloned()
        .collect();
    let trained = trained_values(&spec.run, &split.values);
    let names = |v: &[(&String, String)]| {
        v.iter()
            .map(|(v, _)| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pick: Vec<(&String, String)> = match (&chosen, spec.per_class) {
        (Some(v), _) => {
            if !split.values.contains(v) {
                return Err(GanError::Settings {
                    reason: format!(
                        "{}={v}: unknown value (known: {})",
                        split.name,
                        split.values.join(", ")
                    ),
                });
            }
            let Some(one) = trained.iter().find(|(x, _)| *x == v) else {
                return Err(GanError::Settings {
                    reason: format!(
                        "no model for {}={v} in {}: training skipped that value (fewer than \
                         2 images of it; see summary.csv) or has not reached it yet; models: {}",
                        split.name,
                        spec.run.display(),
                        names(&trained)
                    ),
                });
            };
            vec![one.clone()]
        }
        // Training skips values with too few images: all classes means all models.
        (None, Some(_)) => trained.clone(),
        (None, None) => {
            return Err(GanError::Settings {
                reason: format!(
                    "this run has one model per {} value: give --attr {}=<value> or --per-class N",
                    split.name, split.name
                ),
            })
        }
    };
    if pick.is_empty() {
        return Err(GanError::Settings {
            reason: format!("no class model in {}", spec.run.display()),
        });
    }
    // With --per-class, a class model that lacks a value --attr fixes (its images never
    // had it: each knows only its own) is left out with a warning; the whole call
    // failed on it. One class asked for by name still fails.
    let per_class = chosen.is_none();
    let (mut models, mut warnings, mut first_err) = (Vec::new(), Vec::new(), None);
    for (value, dir) in pick {
        let l = load(&spec.run.join(&dir))?;
        match resolve_fixed(&l, &rest) {
            Ok((fixed, code)) => models.push(ClassModel {
                dir,
                l,
                fixed,
                code,
            }),
            Err(GanError::Settings { reason }) if per_class => {
                warnings.push(format!("{}={value} left out: {reason}", split.name));
                first_err.get_or_insert(GanError::Settings { reason });
            }
            Err(e) => return Err(e),
        }
    }
    match (models.is_empty(), first_err) {
        (true, Some(e)) => Err(e),
        _ => Ok((models, warnings)),
    }
}

/// Each chosen class model's images (in its own folder with `--per-class`), its
/// interpolation and mean sweep beside them, and one grid of every class's row.
pub(super) fn generate_split(
    spec: &GenerateSpec,
    models: &[ClassModel],
    report: &mut GenerateReport,
    out: &mut OutDir,
) -> Result<(), GanError> {
    let per = spec.per_class.unwrap_or(spec.n);
    let mut rows = Vec::new();
    for m in models {
        let l = &m.l;
        let z = noise(spec, 0, per * l.shape.nz);
        let (lab, cd) = conditions(l, &m.fixed, m.code, per, spec.seed);
        let px = l.sample(z, &lab, &cd, per);
        let dir = if spec.per_class.is_none() {
            spec.out.clone()
        } else {
            spec.out.join(&m.dir)
        };
        report.images += write_images(l, &px, per, &dir, out)?;
        // Interpolation and mean sweep come from each class's own model, beside its
        // images.
        if let Some(k) = spec.interpolate {
            report
                .grids
                .push(interpolation(l, spec, &m.fixed, m.code, k, &dir, out)?);
        }
        if spec.mean_sweep {
            report
                .grids
                .push(mean_sweep(l, spec, &m.fixed, m.code, &dir, out)?);
        }
        rows.push((l.classes.channels, l.spec.size as usize, px));
    }
    let (c, side) = rows.first().map_or((3, 1), |r| (r.0, r.1));
    let n = rows.len() * per;
    let all: Vec<f32> = rows.into_iter().flat_map(|r| r.2).collect();
    let g = spec.out.join("grid.png");
    out.save(&g, monitor::grid(&all, n, c, side, per))?;
    report.grids.push(g);
    Ok(())
}
