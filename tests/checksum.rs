//! The CRC32C helpers used to prepare input artifacts.

use aignostics::Error;
use aignostics::checksum::{crc32c_base64, crc32c_base64_file, crc32c_base64_reader};

// Proves the known vector: CRC32C("123456789") = 0xE3069283, published as "4waSgw==". (FR-42)
#[test]
fn known_vector() {
    assert_eq!(crc32c_base64(b"123456789"), "4waSgw==");
    assert_eq!(crc32c_base64_reader(&b"123456789"[..]).unwrap(), "4waSgw==");
    assert_eq!(crc32c_base64(b""), "AAAAAA==");
}

// Proves file and reader digests agree with the in-memory one for data larger than one chunk. (FR-42)
#[test]
fn file_reader_and_slice_agree() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let path = std::env::temp_dir().join(format!("aignostics-crc-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let from_file = crc32c_base64_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(from_file, crc32c_base64(&data));
    assert_eq!(crc32c_base64_reader(&data[..]).unwrap(), from_file);
    assert_ne!(from_file, crc32c_base64(&data[1..]));
}

// Proves a missing file is an I/O error naming the file. (FR-42)
#[test]
fn missing_file_names_path() {
    let err = crc32c_base64_file("/nonexistent/aignostics/slide.svs").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("/nonexistent/aignostics/slide.svs")
    );
}
