//! Reader for OpenCV's cascade XML (`opencv_storage`, as written by
//! `opencv_traincascade`), following `CascadeClassifierImpl::Data::read` and the
//! Haar/LBP `FeatureEvaluator::read` in OpenCV's `cascadedetect.cpp`.
//!
//! Everything the detector later indexes without bounds checks (feature indices, tree
//! links, leaf counts, feature rectangles inside the window) is validated here, so a
//! broken file is an error and never a panic.

use std::path::Path;

use roxmltree::{Document, Node as XmlNode};

use super::cascade::{Cascade, Features, HaarFeature, HaarRect, LbpFeature, Node, Stage};
use super::DetectError;

/// OpenCV subtracts this from every stage threshold (`THRESHOLD_EPS`).
const THRESHOLD_EPS: f32 = 1e-5;

/// Parses cascade XML text; `path` only names the file in errors.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Cascade, DetectError> {
    let fmt = |reason: String| DetectError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let unsupported = |what: String| DetectError::Unsupported {
        path: path.to_path_buf(),
        what,
    };
    let doc = Document::parse(text).map_err(|source| DetectError::Xml {
        path: path.to_path_buf(),
        source,
    })?;
    let storage = doc.root_element();
    if storage.tag_name().name() != "opencv_storage" {
        return Err(fmt(format!(
            "root element is <{}>, expected <opencv_storage>",
            storage.tag_name().name()
        )));
    }
    let root = storage
        .children()
        .find(|n| n.is_element())
        .ok_or_else(|| fmt("<opencv_storage> is empty".into()))?;
    if root.attribute("type_id") == Some("opencv-haar-classifier") || child(root, "size").is_some()
    {
        return Err(unsupported(
            "the old Haar format (opencv-haar-classifier)".into(),
        ));
    }
    let text_of = |name: &str| -> Result<String, DetectError> {
        child(root, name)
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .ok_or_else(|| fmt(format!("missing <{name}>")))
    };
    let stage_type = text_of("stageType")?;
    if stage_type != "BOOST" {
        return Err(unsupported(format!("stage type {stage_type:?}")));
    }
    let feature_type = text_of("featureType")?;
    let width: i32 = parse_num(&text_of("width")?).map_err(|e| fmt(format!("<width>: {e}")))?;
    let height: i32 = parse_num(&text_of("height")?).map_err(|e| fmt(format!("<height>: {e}")))?;
    if !(1..=4096).contains(&width) || !(1..=4096).contains(&height) {
        return Err(fmt(format!("window size {width}x{height} out of range")));
    }
    // OpenCV refuses a file without <featureParams>; its own lbpcascade_frontalface.xml
    // misspells it (<featuhreParams>), so infer the only valid value from the type.
    let max_cat: i32 = match child(root, "featureParams").and_then(|p| child(p, "maxCatCount")) {
        Some(n) => parse_num(n.text().unwrap_or("").trim())
            .map_err(|e| fmt(format!("<maxCatCount>: {e}")))?,
        None if feature_type == "LBP" => 256,
        None => 0,
    };
    let lbp = match feature_type.as_str() {
        "HAAR" if max_cat == 0 => false,
        "LBP" if max_cat == 256 => true,
        "HAAR" | "LBP" => {
            return Err(unsupported(format!(
                "{feature_type} features with maxCatCount {max_cat}"
            )))
        }
        other => return Err(unsupported(format!("feature type {other:?}"))),
    };

    let features_node = child(root, "features").ok_or_else(|| fmt("missing <features>".into()))?;
    let items: Vec<XmlNode> = elements(features_node).collect();
    if items.is_empty() {
        return Err(fmt("<features> is empty".into()));
    }
    let features = if lbp {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let r =
                child(*item, "rect").ok_or_else(|| fmt(format!("feature {i}: missing <rect>")))?;
            let v: Vec<i32> = numbers(r).map_err(|e| fmt(format!("feature {i}: {e}")))?;
            let [x, y, w, h] = v[..] else {
                return Err(fmt(format!("feature {i}: <rect> needs 4 numbers")));
            };
            // In i64: `x + 3 * w` of a crafted file wraps in i32 (a block past the window
            // read out of bounds later, without checks).
            let [x6, y6, w6, h6] = [x, y, w, h].map(i64::from);
            if x < 0
                || y < 0
                || w <= 0
                || h <= 0
                || x6 + 3 * w6 > i64::from(width)
                || y6 + 3 * h6 > i64::from(height)
            {
                return Err(fmt(format!(
                    "feature {i}: LBP block {x} {y} {w} {h} leaves the window"
                )));
            }
            out.push(LbpFeature { x, y, w, h });
        }
        Features::Lbp(out)
    } else {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(
                haar_feature(*item, width, height).map_err(|e| fmt(format!("feature {i}: {e}")))?,
            );
        }
        Features::Haar(out)
    };
    let nfeatures = items.len();

    let stages_node = child(root, "stages").ok_or_else(|| fmt("missing <stages>".into()))?;
    let mut cascade = Cascade::empty(path, (width as u32, height as u32), features);
    for (si, st) in elements(stages_node).enumerate() {
        let thr: f32 = child(st, "stageThreshold")
            .ok_or_else(|| fmt(format!("stage {si}: missing <stageThreshold>")))
            .and_then(|n| {
                parse_num::<f32>(n.text().unwrap_or("").trim())
                    .map_err(|e| fmt(format!("stage {si}: <stageThreshold>: {e}")))
            })?;
        let weak = child(st, "weakClassifiers")
            .ok_or_else(|| fmt(format!("stage {si}: missing <weakClassifiers>")))?;
        let mut ntrees = 0;
        for (wi, tree) in elements(weak).enumerate() {
            read_tree(&mut cascade, tree, lbp, nfeatures)
                .map_err(|e| fmt(format!("stage {si}, weak classifier {wi}: {e}")))?;
            ntrees += 1;
        }
        if ntrees == 0 {
            return Err(fmt(format!("stage {si} has no weak classifiers")));
        }
        cascade.stages.push(Stage {
            ntrees,
            threshold: thr - THRESHOLD_EPS,
        });
    }
    if cascade.stages.is_empty() {
        return Err(fmt("<stages> is empty".into()));
    }
    cascade.finish();
    Ok(cascade)
}

/// Reads one `<rects>` Haar feature and checks it lies inside the window.
fn haar_feature(item: XmlNode, width: i32, height: i32) -> Result<HaarFeature, String> {
    let tilted = match child(item, "tilted") {
        Some(n) => parse_num::<i32>(n.text().unwrap_or("").trim())? != 0,
        None => false,
    };
    let rects = child(item, "rects").ok_or("missing <rects>")?;
    let mut f = HaarFeature {
        rects: [HaarRect::default(); 3],
        tilted,
    };
    let list: Vec<XmlNode> = elements(rects).collect();
    if list.is_empty() || list.len() > 3 {
        return Err(format!("{} rectangles (1 to 3 supported)", list.len()));
    }
    for (ri, r) in list.into_iter().enumerate() {
        let v: Vec<f64> = numbers(r)?;
        let [x, y, w, h, weight] = v[..] else {
            return Err("a rectangle needs 5 numbers".into());
        };
        // Whole numbers within a window's size before any arithmetic: `as i32` saturates
        // (1e300), and sums of large values wrap, which let a rectangle past the window
        // through to reads without bounds checks.
        let whole = |v: f64| v.fract() == 0.0 && (0.0..=4096.0).contains(&v);
        if ![x, y, w, h].into_iter().all(whole) || !weight.is_finite() {
            return Err(format!(
                "rectangle {x} {y} {w} {h} {weight}: coordinates must be whole numbers \
                 0 to 4096 and the weight finite"
            ));
        }
        let (x, y, w, h) = (x as i32, y as i32, w as i32, h as i32);
        let inside = if tilted {
            x - h >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + w + h <= height
        } else {
            x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + h <= height
        };
        if !inside {
            return Err(format!("rectangle {x} {y} {w} {h} leaves the window"));
        }
        f.rects[ri] = HaarRect {
            x,
            y,
            w,
            h,
            weight: weight as f32,
        };
    }
    Ok(f)
}

/// Appends one weak classifier (`internalNodes` + `leafValues`) to the cascade.
fn read_tree(c: &mut Cascade, tree: XmlNode, lbp: bool, nfeatures: usize) -> Result<(), String> {
    let nodes = child(tree, "internalNodes").ok_or("missing <internalNodes>")?;
    let leaves = child(tree, "leafValues").ok_or("missing <leafValues>")?;
    let tokens: Vec<&str> = nodes.text().unwrap_or("").split_whitespace().collect();
    let step = if lbp { 3 + 8 } else { 4 };
    if tokens.is_empty() || !tokens.len().is_multiple_of(step) {
        return Err(format!(
            "<internalNodes> has {} numbers, not a multiple of {step}",
            tokens.len()
        ));
    }
    let count = tokens.len() / step;
    let leaf_values: Vec<f32> = numbers(leaves)?;
    if leaf_values.len() != count + 1 {
        return Err(format!(
            "{count} nodes need {} leaf values, found {}",
            count + 1,
            leaf_values.len()
        ));
    }
    for (ni, chunk) in tokens.chunks(step).enumerate() {
        let left: i32 = parse_num(chunk[0])?;
        let right: i32 = parse_num(chunk[1])?;
        let feature: i32 = parse_num(chunk[2])?;
        if feature < 0 || feature as usize >= nfeatures {
            return Err(format!(
                "feature index {feature} out of range (0..{nfeatures})"
            ));
        }
        for link in [left, right] {
            // Children come after their parent; leaves are 0, -1, ... -(count).
            let ok = if link > 0 {
                (link as usize) < count && link as usize > ni
            } else {
                link.unsigned_abs() as usize <= count
            };
            if !ok {
                return Err(format!("node {ni} links to {link}, outside the tree"));
            }
        }
        let threshold = if lbp {
            let mut subset = [0u32; 8];
            for (k, s) in chunk[3..].iter().enumerate() {
                subset[k] = parse_num::<i32>(s)? as u32;
            }
            c.subsets.push(subset);
            0.0
        } else {
            parse_num::<f32>(chunk[3])?
        };
        c.nodes.push(Node {
            feature: feature as u32,
            threshold,
            left,
            right,
        });
    }
    c.tree_nodes.push(count as u32);
    c.leaves.extend(leaf_values);
    Ok(())
}

/// The first child element called `name`.
fn child<'a, 'i>(node: XmlNode<'a, 'i>, name: &str) -> Option<XmlNode<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// Child elements (OpenCV writes sequence items as `<_>`).
fn elements<'a, 'i>(node: XmlNode<'a, 'i>) -> impl Iterator<Item = XmlNode<'a, 'i>> {
    node.children().filter(|n| n.is_element())
}

/// Whitespace-separated numbers in an element's text.
fn numbers<T: std::str::FromStr>(node: XmlNode) -> Result<Vec<T>, String> {
    node.text()
        .unwrap_or("")
        .split_whitespace()
        .map(parse_num)
        .collect()
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a number of the expected kind"))
}
