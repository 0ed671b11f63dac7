//! Property tests of the slide header parsers: arbitrary and mutated bytes give a slide or a
//! typed error, never a panic or a hang.
#![cfg(feature = "slides")]

mod slides_support;

use aignostics::slides::Inspector;
use proptest::prelude::*;
use slides_support::*;

/// Valid files of every format and variant, small enough to mutate thousands of times.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(make_seeds)
}

fn make_seeds() -> Vec<Vec<u8>> {
    let mut dicom_implicit = Dicom::new(5000, 4000, "0.00025\\0.00025");
    dicom_implicit.syntax = Syntax::ImplicitLittle;
    let mut dicom_undefined = Dicom::new(5000, 4000, "0.00025\\0.00025");
    dicom_undefined.undefined_lengths = true;
    let mut dicom_big = dicom_undefined.clone();
    dicom_big.syntax = Syntax::ExplicitBig;
    vec![
        generic(60, 50, 40_000, 1, 3).tile(16).to_vec(),
        generic(60, 50, 40_000, 1, 3).tile(16).big_endian().to_vec(),
        generic(60, 50, 40_000, 1, 3).tile(16).bigtiff().to_vec(),
        generic(60, 50, 40_000, 1, 3)
            .tile(16)
            .bigtiff()
            .big_endian()
            .to_vec(),
        aperio(60, 50, "0.25").tile(16).to_vec(),
        philips(60, 50, "0.00025").tile(16).to_vec(),
        ome(60, 50, "0.25", "µm").tile(16).to_vec(),
        ndpi(60, 50, 40_000).tile(16).to_vec(),
        Dicom::new(5000, 4000, "0.00025\\0.00025").to_vec(),
        dicom_implicit.to_vec(),
        dicom_undefined.to_vec(),
        dicom_big.to_vec(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    // Proves mutated and truncated slides of every format are read or refused with a typed
    // error naming the file, without panicking or hanging. (FR-61)
    #[test]
    fn mutated_slides_never_panic(
        seed in 0usize..12,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = seeds()[seed].clone();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        match Inspector::new().checksum(false).inspect_bytes("mutant.tif", &bytes) {
            Ok(slide) => prop_assert!(slide.width_px > 0 && slide.height_px > 0),
            Err(err) => prop_assert!(err.to_string().starts_with("mutant.tif: ")),
        }
    }

    // Proves arbitrary bytes behind a TIFF, BigTIFF or DICOM signature never panic. (FR-61)
    #[test]
    fn arbitrary_headers_never_panic(
        magic in 0usize..5,
        body in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = match magic {
            0 => b"II*\0".to_vec(),
            1 => b"MM\0*".to_vec(),
            2 => b"II+\0\x08\0\0\0".to_vec(),
            3 => b"MM\0+\0\x08\0\0".to_vec(),
            _ => {
                let mut d = vec![0u8; 128];
                d.extend_from_slice(b"DICM");
                d
            }
        };
        bytes.extend(body);
        let result = Inspector::new().inspect_bytes("random", &bytes);
        if let Err(err) = result {
            prop_assert!(err.to_string().starts_with("random: "));
        }
    }
}
