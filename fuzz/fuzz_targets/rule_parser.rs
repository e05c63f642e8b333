//! The rule parser on arbitrary text: every input gives rules or
//! diagnostics, never a panic.
#![no_main]

use canhgac::detect::signature::{Vars, options::Names, parse_rules_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut names = Names::default();
    let _ = parse_rules_with("fuzz.rules", &text, &Vars::default(), &mut names);
});
