//! One column of the cohort table as rows arrive: integers while every value is one, then
//! decimals, then text (earlier numbers written back as text); `N/A` and empty cells are null.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow_schema::DataType;

/// The cells of one column so far, in the narrowest type that holds them all.
#[derive(Debug)]
pub(crate) enum Column {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

/// Whether a cell means "no value" (the platform writes `N/A`).
fn is_null(text: &str) -> bool {
    matches!(text.trim(), "" | "N/A")
}

impl Column {
    /// A column of `rows` nulls (it first appears after them).
    pub(crate) fn nulls(rows: usize) -> Self {
        Self::Int(vec![None; rows])
    }

    /// A text column (metadata: ids, states, messages).
    pub(crate) fn text(rows: usize) -> Self {
        Self::Text(vec![None; rows])
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Int(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::Text(v) => v.len(),
        }
    }

    /// Appends a null.
    pub(crate) fn push_null(&mut self) {
        match self {
            Self::Int(v) => v.push(None),
            Self::Float(v) => v.push(None),
            Self::Text(v) => v.push(None),
        }
    }

    /// Appends text as it is (metadata cells).
    pub(crate) fn push_text(&mut self, value: Option<&str>) {
        if !matches!(self, Self::Text(_)) {
            self.widen_to_text();
        }
        if let Self::Text(v) = self {
            v.push(value.map(str::to_string));
        }
    }

    /// Appends a readout cell, widening the column's type when the value needs it.
    pub(crate) fn push(&mut self, raw: &str) {
        if is_null(raw) {
            return self.push_null();
        }
        let value = raw.trim();
        let int = (!value.contains(['.', 'e', 'E']))
            .then(|| value.parse::<i64>().ok())
            .flatten();
        let float = value.parse::<f64>().ok();
        match (&mut *self, int, float) {
            (Self::Int(v), Some(i), _) => v.push(Some(i)),
            (Self::Int(v), None, Some(f)) => {
                let mut widened: Vec<Option<f64>> = v.iter().map(|c| c.map(|i| i as f64)).collect();
                widened.push(Some(f));
                *self = Self::Float(widened);
            }
            (Self::Float(v), _, Some(f)) => v.push(Some(f)),
            (Self::Text(v), _, _) => v.push(Some(raw.to_string())),
            _ => {
                self.widen_to_text();
                if let Self::Text(v) = self {
                    v.push(Some(raw.to_string()));
                }
            }
        }
    }

    fn widen_to_text(&mut self) {
        let text: Vec<Option<String>> = match self {
            Self::Int(v) => v.iter().map(|c| c.map(|i| i.to_string())).collect(),
            Self::Float(v) => v.iter().map(|c| c.map(|f| f.to_string())).collect(),
            Self::Text(_) => return,
        };
        *self = Self::Text(text);
    }

    /// The Arrow type the column ends as.
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            Self::Int(_) => DataType::Int64,
            Self::Float(_) => DataType::Float64,
            Self::Text(_) => DataType::Utf8,
        }
    }

    /// The column as decimals (integers converted), for a schema that says `Float64`; text
    /// stays text.
    pub(crate) fn into_float_array(self) -> ArrayRef {
        match self {
            Self::Int(v) => Arc::new(Float64Array::from(
                v.into_iter()
                    .map(|c| c.map(|i| i as f64))
                    .collect::<Vec<_>>(),
            )),
            other => other.into_array(),
        }
    }

    pub(crate) fn into_array(self) -> ArrayRef {
        match self {
            Self::Int(v) => Arc::new(Int64Array::from(v)),
            Self::Float(v) => Arc::new(Float64Array::from(v)),
            Self::Text(v) => Arc::new(StringArray::from(v)),
        }
    }
}

/// The cell of `row` of a table column as CSV text (empty for null).
pub(crate) fn cell_text(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return String::new();
    }
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        a.value(row).to_string()
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        a.value(row).to_string()
    } else if let Some(a) = any.downcast_ref::<StringArray>() {
        a.value(row).to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves columns stay integers while they can, widen to decimals and then to text without
    // losing earlier cells, and read `N/A` and empty cells as null. (FR-91)
    #[test]
    fn columns_widen_as_values_need() {
        let mut c = Column::nulls(1);
        for v in ["3", "N/A", "4"] {
            c.push(v);
        }
        assert_eq!(c.data_type(), DataType::Int64);
        c.push("2.5");
        assert_eq!(c.data_type(), DataType::Float64);
        c.push("Fibroblast;Other");
        assert_eq!(c.data_type(), DataType::Utf8);
        assert_eq!(c.len(), 6);
        let text = c.into_array();
        assert_eq!(
            (0..6)
                .map(|r| cell_text(text.as_ref(), r))
                .collect::<Vec<_>>(),
            ["", "3", "", "4", "2.5", "Fibroblast;Other"]
        );
        let mut f = Column::nulls(0);
        f.push("1e3");
        assert_eq!(f.data_type(), DataType::Float64);
        assert_eq!(cell_text(f.into_array().as_ref(), 0), "1000");
    }
}
