//! The `ferry` binary. Everything lives in the library; this only runs it
//! (with mimalloc as the allocator: see the README's "Performance").

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferry::cli::main()
}
