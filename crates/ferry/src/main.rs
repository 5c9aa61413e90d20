//! The `ferry` binary. Everything lives in the library; this only runs it.

fn main() -> std::process::ExitCode {
    ferry::cli::main()
}
