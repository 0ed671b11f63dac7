//! What a format parser finds in a file's header.

use super::SlideFormat;

/// Microns per pixel, or why the header gives none.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolution {
    /// Finite and positive: made only by [`Resolution::measured`].
    Found(f64),
    Missing(String),
}

impl Resolution {
    /// `mpp` microns per pixel computed from `source` (a tag or field), when it is a finite
    /// positive number; an overflow (`1e308` mm), an underflow to zero or a NaN is no
    /// resolution, named as such.
    pub(crate) fn measured(mpp: f64, source: &str) -> Resolution {
        if mpp.is_finite() && mpp > 0.0 {
            Resolution::Found(mpp)
        } else {
            Resolution::Missing(format!(
                "{source} gives {mpp} microns per pixel, not a finite positive length"
            ))
        }
    }
}

/// Level-0 size and resolution of one slide, from its header alone.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    pub(crate) format: SlideFormat,
    pub(crate) width: u64,
    pub(crate) height: u64,
    pub(crate) resolution: Resolution,
}

impl Header {
    pub(crate) fn new(
        format: SlideFormat,
        width: u64,
        height: u64,
        resolution: Resolution,
    ) -> Self {
        Self {
            format,
            width,
            height,
            resolution,
        }
    }
}
