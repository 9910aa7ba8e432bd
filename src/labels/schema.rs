//! Attribute schemas (`labels/*.toml`): which attributes a dataset is labeled with, their
//! values, and for colour attributes the region of the face crop and a reference colour
//! per value that the heuristics match against.

use super::LabelError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Keys offered for the values of an attribute in the web page, in order
/// (`s` and space are kept for skip).
pub const VALUE_KEYS: &str = "1234567890qwertyuiopadfghjklzxcvbnm";

/// How an attribute's values relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Exactly one of several values.
    Categorical,
    /// Exactly two values (yes/no).
    Binary,
}

/// One reference colour or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawColors")]
pub enum Colors {
    /// A single sRGB colour.
    One([u8; 3]),
    /// Several sRGB colours (e.g. a saturated drawing colour and a pale real one).
    Many(Vec<[u8; 3]>),
}

/// [`Colors`] as written, checked into it: a component out of 0..=255 was reported as
/// "data did not match any variant of untagged enum Colors".
#[derive(Deserialize)]
#[serde(untagged, expecting = "an sRGB colour [r, g, b] or a list of them")]
enum RawColors {
    One([i64; 3]),
    Many(Vec<[i64; 3]>),
}

impl TryFrom<RawColors> for Colors {
    type Error = String;

    fn try_from(raw: RawColors) -> Result<Self, String> {
        let rgb = |c: [i64; 3]| -> Result<[u8; 3], String> {
            let mut out = [0u8; 3];
            for (o, v) in out.iter_mut().zip(c) {
                *o = u8::try_from(v).map_err(|_| format!("colour {c:?}: {v} is not in 0..=255"))?;
            }
            Ok(out)
        };
        Ok(match raw {
            RawColors::One(c) => Colors::One(rgb(c)?),
            RawColors::Many(v) => Colors::Many(v.into_iter().map(rgb).collect::<Result<_, _>>()?),
        })
    }
}

impl Colors {
    /// The colours as a slice.
    pub fn as_slice(&self) -> &[[u8; 3]] {
        match self {
            Colors::One(c) => std::slice::from_ref(c),
            Colors::Many(v) => v,
        }
    }
}

/// Which cluster of the region the colour heuristic reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pick {
    /// The largest cluster (hair).
    #[default]
    Dominant,
    /// Light low-chroma pixels (sclera, pale skin) dropped too, then the cluster with the
    /// largest share times chroma (irises among lashes and highlights).
    Chromatic,
}

/// One attribute of a schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    /// Column name (`hair_color`).
    pub name: String,
    /// Categorical or binary.
    pub kind: Kind,
    /// The allowed values, in class-index order.
    pub values: Vec<String>,
    /// Region of the crop the colour heuristic looks at: `[left, top, right, bottom]`
    /// as fractions of the image side. Absent: no colour heuristic.
    #[serde(default)]
    pub region: Option<[f32; 4]>,
    /// Reference sRGB colours per value: one `[r, g, b]` or a list of them (every value
    /// needs at least one when a region is given; the nearest of a value's colours counts).
    #[serde(default)]
    pub colors: BTreeMap<String, Colors>,
    /// Which cluster the heuristic reads (default `dominant`).
    #[serde(default)]
    pub pick: Pick,
    /// Factor on the heuristic's confidence, 0..1 (default 1): how far its votes are
    /// trusted (a weak heuristic's votes then stay below the training threshold).
    #[serde(default = "one")]
    pub trust: f32,
    /// Another attribute with a region whose dominant colour the heuristic drops from
    /// this region before clustering (`eye_color` excludes `hair_color`: fringes and side
    /// locks cross the eye band). Eyes of the hair's own colour are then not read: the
    /// vote abstains or takes the next cluster, a cost the measured gain outweighs
    /// (BENCHMARKS.md, label, session 22).
    #[serde(default)]
    pub exclude: Option<String>,
}

fn one() -> f32 {
    1.0
}

impl Attribute {
    /// Index of `value` among the values.
    pub fn index_of(&self, value: &str) -> Option<usize> {
        self.values.iter().position(|v| v == value)
    }

    /// Whether the colour heuristic applies to this attribute.
    pub fn has_color_heuristic(&self) -> bool {
        self.region.is_some() && !self.colors.is_empty()
    }

    /// The keyboard key for the value at `index` in the web page: the value itself when
    /// every value is one key (digits: pressing 7 answers `7`), else by position.
    pub fn key_of(&self, index: usize) -> Option<char> {
        let own = |v: &String| {
            let mut c = v.chars();
            match (c.next(), c.next()) {
                (Some(k), None) if VALUE_KEYS.contains(k) => Some(k),
                _ => None,
            }
        };
        if self.values.iter().all(|v| own(v).is_some()) {
            return self.values.get(index).and_then(own);
        }
        VALUE_KEYS.chars().nth(index)
    }
}

/// A parsed and checked schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Short name (`anime`).
    pub name: String,
    /// The attributes, in column order.
    #[serde(rename = "attribute")]
    pub attributes: Vec<Attribute>,
    /// Whether a mirrored image has the same labels (default true): the classifier
    /// trains and predicts on mirrored views only then (`false` for digits).
    #[serde(default = "mirror_default")]
    pub mirror: bool,
}

fn mirror_default() -> bool {
    true
}

impl Schema {
    /// Reads and validates a schema file.
    pub fn load(path: &Path) -> Result<Schema, LabelError> {
        let text = std::fs::read_to_string(path).map_err(|e| LabelError::io(path, e))?;
        Schema::parse(&text, path)
    }

    /// Parses and validates schema text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Schema, LabelError> {
        let schema: Schema = toml::from_str(text).map_err(|e| LabelError::Schema {
            path: path.to_path_buf(),
            reason: crate::config::toml_reason(text, &e),
        })?;
        schema.validate().map_err(|reason| LabelError::Schema {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(schema)
    }

    fn validate(&self) -> Result<(), String> {
        if self.attributes.is_empty() {
            return Err("no [[attribute]] declared".into());
        }
        // Names and values become CSV cells and `label export`'s folders
        // (`imagefolder/<attribute>/<value>/`): a `/` nested a folder, `..` wrote outside
        // the tree, and a space at an end never matched an imported (trimmed) value. A
        // leading `.` made a hidden folder that training's listing passes over.
        // Windows and macOS file systems ignore case (`Red/` and `red/` are one folder)
        // and Windows refuses `<>:|?*` and control characters: such names merged or
        // failed as folders there.
        let unfit = |t: &str| {
            t.is_empty()
                || t.contains([
                    ',', '"', '\n', '\r', '/', '\\', '<', '>', ':', '|', '?', '*',
                ])
                || t.chars().any(char::is_control)
                || t.trim() != t
                || t.starts_with('.')
        };
        let mut names = std::collections::BTreeSet::new();
        for a in &self.attributes {
            if unfit(&a.name) || a.name == "file" {
                return Err(format!(
                    "bad attribute name {:?} (names are folder names in exports: no \
                     comma, quote, slash, <>:|?*, control character, end spaces or \
                     leading dot)",
                    a.name
                ));
            }
            if !names.insert(a.name.to_lowercase()) {
                return Err(format!(
                    "attribute {} declared twice (names are compared ignoring case: they \
                     are folder names)",
                    a.name
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for v in &a.values {
                if unfit(v) || v == "skip" {
                    return Err(format!(
                        "attribute {}: bad value {v:?} (values are folder names in exports: \
                         no comma, quote, slash, <>:|?*, control character, end spaces or \
                         leading dot; `skip` is taken)",
                        a.name
                    ));
                }
                if !seen.insert(v.to_lowercase()) {
                    return Err(format!(
                        "attribute {}: value {v} listed twice (values are compared ignoring \
                         case: they are folder names)",
                        a.name
                    ));
                }
            }
            match a.kind {
                Kind::Binary if a.values.len() != 2 => {
                    return Err(format!(
                        "attribute {}: binary needs exactly 2 values",
                        a.name
                    ))
                }
                Kind::Categorical if a.values.len() < 2 => {
                    return Err(format!("attribute {}: needs at least 2 values", a.name))
                }
                _ => {}
            }
            if a.values.len() > VALUE_KEYS.len() {
                return Err(format!(
                    "attribute {}: more than {} values",
                    a.name,
                    VALUE_KEYS.len()
                ));
            }
            if !(0.0..=1.0).contains(&a.trust) {
                return Err(format!(
                    "attribute {}: trust {} is not in 0..1",
                    a.name, a.trust
                ));
            }
            if let Some(r) = a.region {
                if !r.iter().all(|f| (0.0..=1.0).contains(f)) {
                    return Err(format!(
                        "attribute {}: region {r:?} is not inside [0, 1]",
                        a.name
                    ));
                }
                if !(r[0] < r[2] && r[1] < r[3]) {
                    return Err(format!(
                        "attribute {}: region {r:?} is empty: it is [left, top, right, \
                         bottom], and needs left < right and top < bottom",
                        a.name
                    ));
                }
                for v in &a.values {
                    if !a.colors.contains_key(v) {
                        return Err(format!("attribute {}: no reference colour for {v}", a.name));
                    }
                }
            }
            if let Some(x) = &a.exclude {
                let other = self
                    .attributes
                    .iter()
                    .find(|o| &o.name == x && o.name != a.name);
                if other.is_none_or(|o| o.region.is_none()) {
                    return Err(format!(
                        "attribute {}: exclude names {x:?}, not another attribute with a region",
                        a.name
                    ));
                }
            }
            if a.colors.values().any(|c| c.as_slice().is_empty()) {
                return Err(format!("attribute {}: an empty colour list", a.name));
            }
            for k in a.colors.keys() {
                if a.index_of(k).is_none() {
                    return Err(format!(
                        "attribute {}: colour for unknown value {k}",
                        a.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Index of the attribute called `name`.
    pub fn attribute_index(&self, name: &str) -> Option<usize> {
        self.attributes.iter().position(|a| a.name == name)
    }

    /// Attribute names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.attributes.iter().map(|a| a.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_schemas_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labels");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                Schema::load(&p).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 3);
        let anime = Schema::load(&dir.join("anime.toml")).unwrap();
        assert_eq!(anime.attribute("hair_color").unwrap().values.len(), 12);
        assert_eq!(anime.attribute("eye_color").unwrap().values.len(), 10);
        // Digit values keep their own keys; other values take keys by position.
        let digits = Schema::load(&dir.join("digits.toml")).unwrap();
        let digit = &digits.attributes[0];
        let keys: String = (0..10).filter_map(|i| digit.key_of(i)).collect();
        let values: String = digit.values.concat();
        assert_eq!(keys, values);
        let hair = anime.attribute("hair_color").unwrap();
        assert_eq!((hair.key_of(0), hair.key_of(10)), (Some('1'), Some('q')));
        // A mirrored digit is no digit; a mirrored face keeps its colours.
        assert!(!digits.mirror && anime.mirror);
    }

    #[test]
    fn bad_schemas_are_rejected() {
        let p = Path::new("x.toml");
        let bin3 = "name='x'\n[[attribute]]\nname='g'\nkind='binary'\nvalues=['a','b','c']\n";
        let e = Schema::parse(bin3, p).unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("binary"), "{e}");
        let nocol = "name='x'\n[[attribute]]\nname='h'\nkind='categorical'\nvalues=['a','b']\nregion=[0,0,1,1]\ncolors={a=[1,2,3]}\n";
        let e = Schema::parse(nocol, p).unwrap_err().to_string();
        assert!(e.contains("no reference colour for b"), "{e}");
        let unknown =
            "name='x'\nbogus=1\n[[attribute]]\nname='h'\nkind='categorical'\nvalues=['a','b']\n";
        let e = Schema::parse(unknown, p).unwrap_err().to_string();
        // One line, placed (toml's own text is an excerpt with a caret).
        assert!(
            e.contains("line 2, column 1") && e.contains("bogus") && !e.contains('\n'),
            "{e}"
        );
        // Regressions: an out-of-range colour said "did not match any variant of untagged
        // enum Colors"; a region with left > right said "is not inside [0, 1]".
        let two = "name='x'\n[[attribute]]\nname='h'\nkind='categorical'\nvalues=['a','b']\n";
        let e = Schema::parse(
            &format!("{two}region=[0,0,1,1]\ncolors={{a=[1,2,300],b=[4,5,6]}}\n"),
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("300 is not in 0..=255") && e.contains("line 7"),
            "{e}"
        );
        let e = Schema::parse(
            &format!("{two}region=[0,0,1,1]\ncolors={{a='red',b=[4,5,6]}}\n"),
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("an sRGB colour [r, g, b]"), "{e}");
        let many = format!("{two}region=[0,0,1,1]\ncolors={{a=[[1,2,3],[4,5,6]],b=[4,5,6]}}\n");
        assert_eq!(
            Schema::parse(&many, p).unwrap().attributes[0].colors["a"]
                .as_slice()
                .len(),
            2
        );
        let e = Schema::parse(
            &format!("{two}region=[0.8,0,0.2,1]\ncolors={{a=[1,2,3],b=[4,5,6]}}\n"),
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("left < right"), "{e}");
        // Regression: values that are no folder name broke `label export`'s tree.
        for bad in ["n/a", "..", " red", "a\\b", ".5", "a:b", "why?", "tab\t"] {
            let text = format!(
                "name='x'\n[[attribute]]\nname='g'\nkind='binary'\nvalues=['ok', {bad:?}]\n"
            );
            let e = Schema::parse(&text, p).unwrap_err().to_string();
            assert!(e.contains("bad value"), "{bad}: {e}");
        }
        // Regression: values or names one letter's case apart are one folder on Windows
        // and macOS: the export merged their images.
        let e = Schema::parse(
            "name='x'\n[[attribute]]\nname='g'\nkind='binary'\nvalues=['Red','red']\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("listed twice") && e.contains("case"), "{e}");
        let two_names = "name='x'\n[[attribute]]\nname='Hair'\nkind='binary'\nvalues=['a','b']\n\
                         [[attribute]]\nname='hair'\nkind='binary'\nvalues=['a','b']\n";
        let e = Schema::parse(two_names, p).unwrap_err().to_string();
        assert!(e.contains("declared twice"), "{e}");
        // `exclude` must name another attribute that has a region.
        let attr = |name: &str, extra: &str| {
            format!("[[attribute]]\nname='{name}'\nkind='binary'\nvalues=['a','b']\n{extra}")
        };
        let region = "region=[0,0,1,1]\ncolors={a=[1,2,3],b=[4,5,6]}\n";
        for (text, ok) in [
            (attr("e", "exclude='h'\n") + &attr("h", region), true),
            (attr("e", "exclude='h'\n") + &attr("h", ""), false),
            (attr("e", "exclude='z'\n") + &attr("h", region), false),
            (attr("e", &format!("exclude='e'\n{region}")), false),
        ] {
            let r = Schema::parse(&format!("name='x'\n{text}"), p);
            assert_eq!(r.is_ok(), ok, "{text}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("exclude"), "{e}");
            }
        }
    }
}
