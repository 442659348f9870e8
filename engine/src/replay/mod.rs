//! Replay of external workloads through the book: the Flash benchmark
//! workloads (conformance) and LOBSTER Nasdaq order flow (real-flow
//! benchmark and book-reconstruction check). Used by `kabuken replay`,
//! `kabuken conformance`, the benchmarks and the Python loaders.

pub mod flash;
pub mod lobster;
pub mod synth;

use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads a whole file, decompressing it when its name ends in `.xz`.
///
/// # Errors
/// I/O or xz decoding errors, with the path in the message.
pub fn read_maybe_xz(path: &Path) -> std::io::Result<Vec<u8>> {
    let with_path =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(with_path)?;
    let mut out = Vec::new();
    if path.extension().is_some_and(|e| e == "xz") {
        xz2::read::XzDecoder::new(std::io::BufReader::new(file))
            .read_to_end(&mut out)
            .map_err(with_path)?;
    } else {
        std::io::BufReader::new(file)
            .read_to_end(&mut out)
            .map_err(with_path)?;
    }
    Ok(out)
}

/// The shared test-data folder: `$KABUKEN_SHARED` if set, else `../shared`
/// beside the repository root (`repo_root` is that root). `None` when it does
/// not exist (a fresh clone without it).
#[must_use]
pub fn shared_dir(repo_root: &Path) -> Option<PathBuf> {
    let dir = match std::env::var_os("KABUKEN_SHARED") {
        Some(d) => PathBuf::from(d),
        None => repo_root.join("..").join("shared"),
    };
    dir.is_dir().then_some(dir)
}
