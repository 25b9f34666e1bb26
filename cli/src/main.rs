//! The `weft` binary. Everything lives in the library so tests can run it too.

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
