//! `cdn-onboard templates`: writes the customer's connector role templates from the code's
//! permissions, or, with `--check`, fails when a file differs from what the code grants.

use std::path::{Path, PathBuf};

use crate::customer_template::{file_name, text};
use crate::permissions::Variant;

/// What one run found or did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files that differed (written, unless checking).
    pub differing: Vec<PathBuf>,
}

/// Compares every variant's file under `dir` with its generated text; writes the ones that
/// differ unless `check`.
pub fn sync(dir: &Path, check: bool) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    for variant in Variant::ALL {
        let path = dir.join(file_name(variant));
        let wanted = text(variant);
        if std::fs::read_to_string(&path).is_ok_and(|current| current == wanted) {
            continue;
        }
        if !check {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            std::fs::write(&path, wanted)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        outcome.differing.push(path);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_differs_then_finds_nothing_to_do() {
        let dir =
            std::env::temp_dir().join(format!("cdn-onboard-templates-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            sync(&dir, true).unwrap().differing.len(),
            2,
            "missing files differ"
        );
        assert!(!dir.exists(), "a check writes nothing");
        assert_eq!(sync(&dir, false).unwrap().differing.len(), 2);
        assert_eq!(sync(&dir, true).unwrap(), Outcome::default());
        std::fs::write(dir.join(file_name(Variant::LogOnly)), "{}").unwrap();
        assert_eq!(
            sync(&dir, true).unwrap().differing,
            vec![dir.join(file_name(Variant::LogOnly))]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
