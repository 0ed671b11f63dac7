//! What a format parser finds in a file's header.

use super::SlideFormat;

/// Microns per pixel, or why the header gives none.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolution {
    Found(f64),
    Missing(String),
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
