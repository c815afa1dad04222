//! `mqbench`.

fn main() {
    std::process::exit(tools::bench::main());
}
