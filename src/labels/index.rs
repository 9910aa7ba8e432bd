//! The images of a prepared dataset folder and the names users may call them by: the
//! store keys images by their path relative to the folder (`images/...`); truth files
//! and imports may also use the manifest's `source` path, the path under `images/`, or a
//! unique file name.

use super::LabelError;
use crate::dataset::manifest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The kept images of a dataset and a lookup from user-facing names to them.
#[derive(Debug, Clone)]
pub struct DatasetIndex {
    /// The dataset folder.
    pub dir: PathBuf,
    /// Kept images relative to `dir`, with `/` separators, in manifest (or sorted) order.
    pub images: Vec<String>,
    aliases: HashMap<String, usize>,
    /// Names that would stand for several images (`a` for `a.jpg` and `a.png`), which
    /// resolve to none.
    ambiguous: std::collections::HashSet<String>,
}

/// `p` with `/` between its components: a backslash inside a Unix file name stays
/// (replacing every one made `images/back\\slash.png` an `images/back/slash.png` that
/// does not exist, and the image could never be labeled).
fn slash(p: &Path) -> String {
    crate::dataset::walk::relative(Path::new(""), p)
}

/// The forms a user-facing name is looked up in: as written (trimmed, without `./`),
/// then with Windows separators made `/` (a file written on Windows).
fn keys(key: &str) -> impl Iterator<Item = String> + '_ {
    let key = key.trim().trim_start_matches("./");
    let windows = key
        .contains('\\')
        .then(|| key.replace('\\', "/").trim_start_matches("./").to_string());
    std::iter::once(key.to_string()).chain(windows)
}

/// `s` without an image extension (`.png`, `.JPG`...). Any other dot stays: `café.v2`
/// once lost its `.v2` and named `café.png`, and `frame.001` named `frame.png`.
fn strip_ext(s: &str) -> &str {
    match s.rfind('.') {
        Some(i)
            if !s[i..].contains('/')
                && image::ImageFormat::from_extension(&s[i + 1..]).is_some() =>
        {
            &s[..i]
        }
        _ => s,
    }
}

/// Each of `images`' index by its path.
fn by_path(images: &[String]) -> HashMap<&str, usize> {
    images
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect()
}

impl DatasetIndex {
    /// Lists the kept images of `dir` (see [`manifest::kept_images`]).
    pub fn open(dir: &Path) -> Result<DatasetIndex, LabelError> {
        let images: Vec<String> = manifest::kept_images(dir)
            .map_err(|e| LabelError::io(dir, e))?
            .iter()
            .map(|p| slash(p))
            .collect();
        if images.is_empty() {
            return Err(LabelError::NoImages {
                dir: dir.to_path_buf(),
            });
        }
        let mut aliases: HashMap<String, usize> = HashMap::new();
        let mut ambiguous = std::collections::HashSet::new();
        let mut weak = |aliases: &mut HashMap<String, usize>, key: String, i: usize| {
            if let Some(&j) = aliases.get(&key) {
                if j != i {
                    ambiguous.insert(key);
                }
            } else {
                aliases.insert(key, i);
            }
        };
        for (i, img) in images.iter().enumerate() {
            let under = img.strip_prefix("images/").unwrap_or(img);
            weak(&mut aliases, under.to_string(), i);
            weak(&mut aliases, strip_ext(under).to_string(), i);
            let base = under.rsplit('/').next().unwrap_or(under);
            weak(&mut aliases, base.to_string(), i);
            weak(&mut aliases, strip_ext(base).to_string(), i);
            weak(&mut aliases, under.replace('/', "__"), i);
            // `images/5.jpg` in a truth file written for the raw folder: prep made it 5.png.
            weak(&mut aliases, strip_ext(img).to_string(), i);
        }
        for k in &ambiguous {
            aliases.remove(k);
        }
        // The names `label export` gives the images in its ImageFolder tree, each one
        // image's: `a__b.png` of `images/a__b.png` and `a__b~2.png` of `images/a/b.png`
        // were ambiguous or unknown, and a re-import of the tree lost both.
        let exported = crate::labels::session::export::export_names(&images);
        for (i, name) in exported.into_iter().enumerate() {
            ambiguous.remove(&name);
            aliases.insert(name, i);
        }
        let mpath = dir.join(manifest::MANIFEST_FILE);
        if mpath.is_file() {
            let pos = by_path(&images);
            let rows = manifest::read(&mpath).map_err(|e| LabelError::csv(&mpath, e))?;
            // A source name two kept rows share names neither: `a.jpg` and `a.png` share
            // `a`, and non-UTF-8 names can share their lossy text (a later row took it).
            let mut strong: HashMap<String, Option<usize>> = HashMap::new();
            for r in rows {
                if let Some(&i) = pos.get(r.output.as_str()) {
                    for k in [r.source.clone(), strip_ext(&r.source).to_string()] {
                        let e = strong.entry(k).or_insert(Some(i));
                        if *e != Some(i) {
                            *e = None;
                        }
                    }
                }
            }
            for (k, i) in strong {
                match i {
                    Some(i) => {
                        aliases.insert(k, i);
                    }
                    None => {
                        aliases.remove(&k);
                        ambiguous.insert(k);
                    }
                }
            }
        }
        for (i, img) in images.iter().enumerate() {
            aliases.insert(img.clone(), i);
            ambiguous.remove(img);
        }
        Ok(DatasetIndex {
            dir: dir.to_path_buf(),
            images,
            aliases,
            ambiguous,
        })
    }

    /// Whether `key` (as [`Self::resolve`] reads it) would name several images.
    pub fn is_ambiguous(&self, key: &str) -> bool {
        self.resolve(key).is_none()
            && keys(key)
                .any(|k| self.ambiguous.contains(&k) || self.ambiguous.contains(strip_ext(&k)))
    }

    /// The image index a user-facing name refers to: the `images/...` path, a manifest
    /// source path (with or without extension), the path under `images/`, or a unique
    /// file name.
    pub fn resolve(&self, key: &str) -> Option<usize> {
        keys(key).find_map(|k| {
            self.aliases
                .get(&k)
                .or_else(|| self.aliases.get(strip_ext(&k)))
                .copied()
        })
    }

    /// Whether `key` found `image` by its file name alone while the image lies in a
    /// sub-folder (of `images/` in a prep output): a bare name found once in the dataset
    /// may still be another picture of the same name from another set.
    /// (`label export`'s flat names, `a__b.png` for `images/a/b.png`, name the path.)
    pub fn by_file_name_only(&self, key: &str, image: usize) -> bool {
        let key = key.trim().replace('\\', "/");
        let path = &self.images[image];
        let stem = |p: &str| strip_ext(p.rsplit('/').next().unwrap_or(p)).to_string();
        !key.contains('/')
            && stem(&key) == stem(path)
            && path.strip_prefix("images/").unwrap_or(path).contains('/')
    }

    /// Each image's index by its path relative to the folder, the key the store uses:
    /// for looking many labels up at once, without [`Self::resolve`]'s other names.
    pub fn positions(&self) -> HashMap<&str, usize> {
        by_path(&self.images)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images (never true for an opened index).
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Absolute path of image `i`.
    pub fn path(&self, i: usize) -> PathBuf {
        self.dir.join(&self.images[i])
    }
}

/// Names from a labels file matched to a folder's images, as training and eval both read
/// them: a name that is a file of the folder as it is, any other through the folder's
/// [`DatasetIndex`] (opened at the first such name; a folder without one matches none).
pub struct FolderNames<'a> {
    dir: &'a Path,
    index: Option<Option<DatasetIndex>>,
}

impl<'a> FolderNames<'a> {
    /// Names of `dir`'s images.
    pub fn new(dir: &'a Path) -> Self {
        FolderNames { dir, index: None }
    }

    /// The image `name` refers to, as a path relative to the folder.
    pub fn find(&mut self, name: &str) -> Option<String> {
        if let Some(k) = keys(name).find(|k| !k.is_empty() && self.dir.join(k).is_file()) {
            return Some(k);
        }
        let dir = self.dir;
        self.index
            .get_or_insert_with(|| DatasetIndex::open(dir).ok())
            .as_ref()
            .and_then(|ix| ix.resolve(name).map(|i| ix.images[i].clone()))
    }

    /// An image of the folder to show in a message, once the index has been opened.
    pub fn example(&self) -> Option<&str> {
        let ix = self.index.as_ref()?.as_ref()?;
        ix.images.first().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::strip_ext;

    /// Regression: an export of `images/a__b.png` and `images/a/b.png` names them
    /// `a__b.png` and `a__b~2.png`; the first was ambiguous and the second unknown, so a
    /// re-import of the tree lost both.
    #[test]
    fn the_export_tree_names_resolve() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["images/a__b.png", "images/a/b.png", "images/c.png"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            image::RgbImage::new(4, 4).save(&p).unwrap();
        }
        let index = super::DatasetIndex::open(dir.path()).unwrap();
        let name = |key: &str| index.resolve(key).map(|i| index.images[i].clone());
        assert_eq!(name("a__b.png").as_deref(), Some("images/a__b.png"));
        assert_eq!(name("a__b~2.png").as_deref(), Some("images/a/b.png"));
        assert_eq!(name("a/b.png").as_deref(), Some("images/a/b.png"));
        assert_eq!(name("c").as_deref(), Some("images/c.png"));
        // A bare name found in a sub-folder is flagged; a path, a top-level image's name
        // and the export's flat name of the nested image are not.
        std::fs::remove_file(dir.path().join("images/a__b.png")).unwrap();
        let index = super::DatasetIndex::open(dir.path()).unwrap();
        let only = |key: &str| index.by_file_name_only(key, index.resolve(key).unwrap());
        assert!(only("b.png") && only("b"));
        assert!(!only("a/b.png") && !only("images/a/b.png") && !only("c.png"));
        assert!(!only("a__b.png"));
    }

    /// Regression: a backslash in a Unix file name was read as a separator, so the image
    /// was listed at a path that does not exist and could never be labeled. A Windows
    /// CSV's separators still resolve.
    #[cfg(unix)]
    #[test]
    fn a_backslash_in_a_file_name_stays_in_it() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["images/back\\slash.png", "images/c.png"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            image::RgbImage::new(4, 4).save(&p).unwrap();
        }
        let index = super::DatasetIndex::open(dir.path()).unwrap();
        assert!(index.images.contains(&"images/back\\slash.png".to_string()));
        let name = |key: &str| index.resolve(key).map(|i| index.images[i].clone());
        let back = Some("images/back\\slash.png".to_string());
        assert_eq!(name("images/back\\slash.png"), back);
        assert_eq!(name("back\\slash"), back);
        assert_eq!(name("images\\c.png").as_deref(), Some("images/c.png"));
        let mut names = super::FolderNames::new(dir.path());
        assert_eq!(names.find("images/back\\slash.png"), back);
        assert_eq!(
            names.find(".\\images\\c.png").as_deref(),
            Some("images/c.png")
        );
    }

    /// Regression: any dot ended the name, so `café.v2` named `café.png`.
    #[test]
    fn only_image_extensions_are_stripped() {
        assert_eq!(strip_ext("images/5.jpg"), "images/5");
        assert_eq!(strip_ext("a/b.PNG"), "a/b");
        assert_eq!(strip_ext("café.v2"), "café.v2");
        assert_eq!(strip_ext("frame.001"), "frame.001");
        assert_eq!(strip_ext("dir.d/name"), "dir.d/name");
    }
}
