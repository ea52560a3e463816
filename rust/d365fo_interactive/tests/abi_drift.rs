//! The ABI's facts are written in three places that cannot share code: the Rust core, the C header
//! (include/d365fo_interactive.h) and the C# binding (dotnet-shim/src/Native.cs, Protocol.cs). This test
//! reads the header and the C# sources and fails when any of them disagrees with the core: the ABI version,
//! every result code (name and number), the exported functions, and the operations the protocol knows.

use d365fo_interactive::error::Code;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `D365FO_NAME = n,` lines of the header's result enum, as (NAME, n).
fn header_codes(h: &str) -> BTreeMap<String, i64> {
    h.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("D365FO_")?;
            let (name, value) = rest.split_once('=')?;
            let digits: String = value.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
            Some((name.trim().to_string(), digits.parse().ok()?))
        })
        .collect()
}

/// `Name = n,` lines of C#'s `enum ResultCode`, as (NAME_IN_SCREAMING_SNAKE, n).
fn csharp_codes(cs: &str) -> BTreeMap<String, i64> {
    let start = cs.find("enum ResultCode").expect("C# has enum ResultCode");
    let body = &cs[start..cs[start..].find('}').map(|e| start + e).unwrap()];
    body.lines()
        .filter_map(|l| {
            let (name, value) = l.trim().trim_end_matches(',').split_once('=')?;
            Some((screaming(name.trim()), value.trim().parse().ok()?))
        })
        .collect()
}

fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn rust_codes() -> BTreeMap<String, i64> {
    Code::ALL.iter().map(|c| (c.kind().to_ascii_uppercase(), *c as i64)).collect()
}

#[test]
fn the_abi_version_is_the_same_everywhere() {
    let h = read("rust/d365fo_interactive/include/d365fo_interactive.h");
    let cs = read("dotnet-shim/src/Native.cs");
    let in_header = h.lines().find_map(|l| l.trim().strip_prefix("#define D365FO_ABI_VERSION ")).expect("header defines the version");
    assert_eq!(in_header.trim().parse::<u32>().unwrap(), d365fo_interactive::ABI_VERSION, "header");
    let in_cs = cs.lines().find_map(|l| l.trim().strip_prefix("internal const uint ExpectedAbiVersion = ")).expect("C# states the version");
    assert_eq!(in_cs.trim_end_matches(';').trim().parse::<u32>().unwrap(), d365fo_interactive::ABI_VERSION, "C#");
}

#[test]
fn every_result_code_has_one_name_and_number_in_rust_the_header_and_csharp() {
    let rust = rust_codes();
    let header = header_codes(&read("rust/d365fo_interactive/include/d365fo_interactive.h"));
    let header: BTreeMap<String, i64> = header.into_iter().filter(|(k, _)| k != "ABI_VERSION").collect();
    let cs = csharp_codes(&read("dotnet-shim/src/Native.cs"));
    assert_eq!(header, rust, "header vs Rust");
    assert_eq!(cs, rust, "C# vs Rust");
    // Each number once.
    let mut numbers: Vec<i64> = rust.values().copied().collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), rust.len());
}

#[test]
fn the_exported_functions_are_the_ones_the_header_declares_and_csharp_binds() {
    let h = read("rust/d365fo_interactive/include/d365fo_interactive.h");
    let ffi = read("rust/d365fo_interactive/src/ffi.rs");
    let cs = read("dotnet-shim/src/Native.cs");
    let exported: Vec<String> =
        ffi.split("extern \"C\" fn ").skip(1).filter_map(|rest| rest.split('(').next().map(str::to_string)).collect();
    assert!(exported.len() >= 7, "{exported:?}");
    for f in &exported {
        assert!(h.contains(&format!("{f}(")), "{f} is exported but not declared in the header");
        assert!(cs.contains(&format!("\"{f}\"")), "{f} is exported but the C# binding never binds it");
    }
    let declared = h.matches("d365fo_").count();
    assert!(declared > exported.len());
}

#[test]
fn the_header_and_csharp_know_every_operation_of_the_protocol() {
    let h = read("rust/d365fo_interactive/include/d365fo_interactive.h");
    let proto = read("rust/d365fo_interactive/src/protocol.rs");
    let cs = read("dotnet-shim/src/Protocol.cs");
    // Variants of `enum Request` in snake_case.
    let start = proto.find("pub enum Request {").unwrap();
    let body = &proto[start..start + proto[start..].find("\n}\n").unwrap()];
    let ops: Vec<String> = body
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .filter_map(|l| l.split(['(', ' ', ',', '{']).next())
        .map(|v| screaming(v).to_ascii_lowercase())
        .collect();
    assert!(ops.len() >= 13, "{ops:?}");
    for op in ops.iter().filter(|o| *o != "test_panic") {
        assert!(h.contains(op.as_str()), "the header does not list the operation {op}");
        assert!(cs.contains(&format!("new Request(\"{op}\")")), "Protocol.cs does not build the operation {op}");
    }
}
