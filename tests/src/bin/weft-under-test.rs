//! The `weft` binary, built inside this package so integration tests can
//! find it through `CARGO_BIN_EXE_weft-under-test`. Same code as `weft`.

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
