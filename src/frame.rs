//! A small typed column store for the feature stage: numeric, boolean and categorical
//! columns by name, all of one length. Loading fills it, history adds to it, feature
//! expressions read from it.

use rustc_hash::FxHashMap;

/// One column. Missing numeric values are NaN.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Num(Vec<f64>),
    Flag(Vec<bool>),
    Cat {
        codes: Vec<u32>,
        levels: Vec<String>,
    },
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Num(v) => v.len(),
            Column::Flag(v) => v.len(),
            Column::Cat { codes, .. } => codes.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A categorical column from text values, levels in first-seen order.
    pub fn cat_from_text<'a>(values: impl IntoIterator<Item = &'a str>) -> Column {
        let mut levels: Vec<String> = Vec::new();
        let mut index = rustc_hash::FxHashMap::<String, u32>::default();
        let codes = values
            .into_iter()
            .map(|v| match index.get(v) {
                Some(&code) => code,
                None => {
                    levels.push(v.to_string());
                    let code = (levels.len() - 1) as u32;
                    index.insert(v.to_string(), code);
                    code
                }
            })
            .collect();
        Column::Cat { codes, levels }
    }

    /// The rows `rows` of this column, in that order.
    pub fn select(&self, rows: &[usize]) -> Column {
        match self {
            Column::Num(v) => Column::Num(rows.iter().map(|&r| v[r]).collect()),
            Column::Flag(v) => Column::Flag(rows.iter().map(|&r| v[r]).collect()),
            Column::Cat { codes, levels } => Column::Cat {
                codes: rows.iter().map(|&r| codes[r]).collect(),
                levels: levels.clone(),
            },
        }
    }

    /// The rows `start..end` of this column.
    pub fn slice(&self, start: usize, end: usize) -> Column {
        match self {
            Column::Num(v) => Column::Num(v[start..end].to_vec()),
            Column::Flag(v) => Column::Flag(v[start..end].to_vec()),
            Column::Cat { codes, levels } => Column::Cat {
                codes: codes[start..end].to_vec(),
                levels: levels.clone(),
            },
        }
    }

    /// Appends `other`'s rows. Categorical levels are matched by name; a kind
    /// mismatch returns false and leaves `self` unchanged.
    pub fn append(&mut self, other: &Column) -> bool {
        match (self, other) {
            (Column::Num(a), Column::Num(b)) => a.extend_from_slice(b),
            (Column::Flag(a), Column::Flag(b)) => a.extend_from_slice(b),
            (
                Column::Cat { codes, levels },
                Column::Cat {
                    codes: oc,
                    levels: ol,
                },
            ) => {
                let map: Vec<u32> = ol
                    .iter()
                    .map(|l| match levels.iter().position(|x| x == l) {
                        Some(p) => p as u32,
                        None => {
                            levels.push(l.clone());
                            (levels.len() - 1) as u32
                        }
                    })
                    .collect();
                codes.extend(oc.iter().map(|&c| map[c as usize]));
            }
            _ => return false,
        }
        true
    }

    /// The level of row `row` of a categorical column (`None` for other kinds).
    pub fn level(&self, row: usize) -> Option<&str> {
        match self {
            Column::Cat { codes, levels } => Some(&levels[codes[row] as usize]),
            _ => None,
        }
    }

    /// The text of row `row`, for reasons and messages.
    pub fn display(&self, row: usize) -> String {
        match self {
            Column::Num(v) => format_number(v[row]),
            Column::Flag(v) => v[row].to_string(),
            Column::Cat { codes, levels } => levels[codes[row] as usize].clone(),
        }
    }
}

/// A number as a person would write it: integers without a fraction.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        "missing".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.fract() == 0.0 {
        // A whole number beyond that (every float from 2^53 up is one) has no decimals
        // to show: `{}` writes its digits in full, with no exponent.
        format!("{v}")
    } else {
        format!("{v:.3}")
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    len: usize,
    /// Hashed by name: scoring looks columns up for every change it explains.
    columns: FxHashMap<String, Column>,
}

impl Frame {
    /// An empty frame of `len` rows.
    pub fn new(len: usize) -> Frame {
        Frame {
            len,
            columns: FxHashMap::default(),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds or replaces a column.
    ///
    /// # Panics
    /// If the column's length differs from the frame's: a programming error.
    pub fn insert(&mut self, name: impl Into<String>, column: Column) {
        assert_eq!(column.len(), self.len, "column length must match the frame");
        self.columns.insert(name.into(), column);
    }

    /// The column called `name`.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns.get(name)
    }

    /// Column names in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self.columns.keys().map(String::as_str).collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// The rows `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Frame {
        Frame {
            len: rows.len(),
            columns: self
                .columns
                .iter()
                .map(|(k, c)| (k.clone(), c.select(rows)))
                .collect(),
        }
    }

    /// The rows `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> Frame {
        Frame {
            len: end - start,
            columns: self
                .columns
                .iter()
                .map(|(k, c)| (k.clone(), c.slice(start, end)))
                .collect(),
        }
    }

    /// Appends the rows of `other`. Columns missing on either side, or of another kind,
    /// are reported by name as `Err`.
    pub fn append(&mut self, other: &Frame) -> Result<(), String> {
        if self.columns.len() != other.columns.len() {
            let mine: Vec<&str> = self.names().collect();
            let theirs: Vec<&str> = other.names().collect();
            return Err(format!(
                "columns differ: [{}] vs [{}]",
                mine.join(", "),
                theirs.join(", ")
            ));
        }
        let names: Vec<String> = self.names().map(String::from).collect();
        for name in names {
            let Some(o) = other.columns.get(&name) else {
                return Err(format!("column '{name}' is missing"));
            };
            let col = self.columns.get_mut(&name).expect("a name of this frame");
            if !col.append(o) {
                return Err(format!("column '{name}' has a different type"));
            }
        }
        self.len += other.len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_matches_categorical_levels_by_name() {
        let mut a = Column::cat_from_text(["x", "y"]);
        let b = Column::cat_from_text(["y", "z"]);
        assert!(a.append(&b));
        let shown: Vec<String> = (0..4).map(|r| a.display(r)).collect();
        assert_eq!(shown, ["x", "y", "y", "z"]);
    }

    #[test]
    fn numbers_show_whole_numbers_without_a_fraction() {
        assert_eq!(format_number(42.0), "42");
        assert_eq!(format_number(1e15), "1000000000000000");
        assert_eq!(format_number(-1e20), "-100000000000000000000");
        assert_eq!(format_number(2.5), "2.500");
        assert_eq!(format_number(f64::NAN), "missing");
    }

    #[test]
    fn select_reorders_rows() {
        let mut f = Frame::new(3);
        f.insert("n", Column::Num(vec![1.0, 2.0, 3.0]));
        let s = f.select(&[2, 0]);
        assert_eq!(s.get("n"), Some(&Column::Num(vec![3.0, 1.0])));
    }
}
