//! Fails when `include/kabuken.h` differs from what cbindgen generates from
//! this crate. Regenerate with
//! `KABUKEN_BLESS=1 cargo test -p kabuken-ffi --test header`.

use std::path::PathBuf;

#[test]
fn header_is_current() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("../include/kabuken.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    // The version macros in cbindgen.toml must follow the package version.
    let v = env!("CARGO_PKG_VERSION");
    assert!(
        generated.contains(&format!("#define KBK_VERSION_STRING \"{v}\"")),
        "update the version macros in ffi/cbindgen.toml (and lib.rs) to {v}"
    );
    if std::env::var_os("KABUKEN_BLESS").is_some() {
        std::fs::write(&header, &generated).expect("write include/kabuken.h");
        return;
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/kabuken.h is stale; regenerate it with:\n  KABUKEN_BLESS=1 cargo test -p kabuken-ffi --test header"
    );
}
