//! The Lambda@Edge deployment package: a zip holding `index.mjs`, byte for byte the same for
//! the same source (fixed timestamp and permissions), so Lambda's `CodeSha256` tells whether the
//! deployed code is current.

use std::io::{Cursor, Write};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The handler file's name inside the package (`index.handler` resolves to it).
pub const ENTRY_NAME: &str = "index.mjs";

/// A built package and the hash Lambda reports for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Package {
    pub zip: Vec<u8>,
    /// Base64 of the SHA-256 of `zip`, as Lambda's `CodeSha256`.
    pub code_sha256: String,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("zip_bytes", &self.zip.len())
            .field("code_sha256", &self.code_sha256)
            .finish()
    }
}

pub fn package(source: &str) -> Package {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    // Writing to memory cannot fail short of running out of it.
    writer
        .start_file(ENTRY_NAME, options)
        .expect("a zip entry starts in memory");
    writer
        .write_all(source.as_bytes())
        .expect("a zip entry is written in memory");
    let zip = writer
        .finish()
        .expect("a zip is finished in memory")
        .into_inner();
    let code_sha256 = aws_smithy_types::base64::encode(Sha256::digest(&zip));
    Package { zip, code_sha256 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_same_source_gives_the_same_bytes() {
        let a = package("export const handler = async () => 1;\n");
        let b = package("export const handler = async () => 1;\n");
        assert_eq!(a, b);
        assert_ne!(
            a.code_sha256,
            package("export const handler = 2;\n").code_sha256
        );
        assert_eq!(&a.zip[..4], b"PK\x03\x04");
    }

    #[test]
    fn the_package_holds_exactly_the_handler() {
        let source = "export const handler = async (event) => event;\n";
        let built = package(source);
        let mut archive = zip::ZipArchive::new(Cursor::new(built.zip)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), ENTRY_NAME);
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        assert_eq!(text, source);
    }
}
