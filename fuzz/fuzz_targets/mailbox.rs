#![no_main]
//! Fuzz target `mailbox`: see `weft_fuzz::mailbox` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::mailbox(data));
